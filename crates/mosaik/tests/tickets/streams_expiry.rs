//! Stream links with real JWTs: a consumer whose ticket expires is
//! disconnected with `NotAllowed`, a refreshed ticket keeps it connected, and
//! a ticket copied from another peer's entry admits nobody.

use {
    crate::net::{
        EXPIRY_SLACK, Issuer, TIMEOUT, cluster, eventually, until_instant, until_tickets_seen,
        within,
    },
    chrono::Utc,
    core::time::Duration,
    mosaik::{streams::State, tickets::jwt::Jwt},
};

#[tokio::test]
async fn an_expired_consumer_ticket_disconnects_with_not_allowed() {
    let nodes = cluster("tickets-stream-expiry", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    let issuer = Issuer::new();
    let (ticket, expires) = issuer.ticket(&c.local().id(), Duration::from_secs(3));
    c.discovery().add_ticket(ticket);
    until_tickets_seen(p, c, 1).await;
    let producer = p
        .streams()
        .producer::<u8>()
        .require_ticket(issuer.validator())
        .build()
        .unwrap();
    let consumer = c.streams().consume::<u8>();
    within("ticket holder subscribes", producer.when().subscribed()).await;
    eventually("consumer sees the producer", || {
        consumer.producers().count() == 1
    })
    .await;
    let channel = consumer.producers().next().unwrap();
    within("expiry disconnects", producer.when().unsubscribed()).await;
    let late = Utc::now() - expires;
    assert!(
        late > -chrono::Duration::milliseconds(200),
        "disconnected {late} before expiry"
    );
    assert!(
        late.to_std().unwrap_or_default() < EXPIRY_SLACK,
        "disconnected {late} after expiry"
    );
    // `NotAllowed` is final for the consumer: it stops instead of retrying.
    within("consumer side terminated", channel.disconnected()).await;
    assert_eq!(channel.state(), State::Terminated);
    assert_eq!(producer.consumers().count(), 0);
}

#[tokio::test]
async fn a_refreshed_consumer_ticket_keeps_the_link() {
    let nodes = cluster("tickets-stream-refresh", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    let issuer = Issuer::new();
    let (first, expires) = issuer.ticket(&c.local().id(), Duration::from_secs(3));
    c.discovery().add_ticket(first);
    until_tickets_seen(p, c, 1).await;
    let producer = p
        .streams()
        .producer::<u8>()
        .require_ticket(issuer.validator())
        .build()
        .unwrap();
    let consumer = c.streams().consume::<u8>();
    within("ticket holder subscribes", producer.when().subscribed()).await;
    eventually("consumer sees the producer", || {
        consumer.producers().count() == 1
    })
    .await;
    let channel = consumer.producers().next().unwrap();
    // Publish a later ticket before the first expires.
    let (second, _) = issuer.ticket(&c.local().id(), Duration::from_mins(1));
    c.discovery().add_ticket(second);
    until_tickets_seen(p, c, 2).await;
    assert!(
        Utc::now() < expires,
        "refresh arrived after the first expiry"
    );
    // Observe past the first expiry plus the enforcement slack: a drop
    // would have happened by then.
    let quiet = until_instant(expires) + EXPIRY_SLACK;
    let dropped = tokio::time::timeout(quiet, producer.when().unsubscribed()).await;
    assert!(dropped.is_err(), "refreshed consumer was disconnected");
    assert_eq!(producer.consumers().count(), 1);
    assert_ne!(channel.state(), State::Terminated);
    producer.send(7).await.unwrap();
    let mut consumer = consumer;
    let got = tokio::time::timeout(TIMEOUT, consumer.recv())
        .await
        .unwrap();
    assert_eq!(got, Some(7));
}

#[tokio::test]
async fn a_ticket_copied_from_another_peer_is_refused() {
    let nodes = cluster("tickets-stream-copied", 3).await;
    let (p, holder, thief) = (&nodes[0], &nodes[1], &nodes[2]);
    let issuer = Issuer::new();
    let (ticket, _) = issuer.ticket(&holder.local().id(), Duration::from_mins(1));
    holder.discovery().add_ticket(ticket);
    // The thief lifts the ticket from the holder's signed entry as it sees
    // it in its own catalog, and publishes it as its own.
    until_tickets_seen(thief, holder, 1).await;
    let lifted = thief
        .discovery()
        .catalog()
        .get(&holder.local().id())
        .unwrap()
        .tickets_of(Jwt::CLASS)
        .next()
        .unwrap()
        .clone();
    thief.discovery().add_ticket(lifted);
    until_tickets_seen(p, holder, 1).await;
    until_tickets_seen(p, thief, 1).await;
    let producer = p
        .streams()
        .producer::<u8>()
        .require_ticket(issuer.validator())
        .build()
        .unwrap();
    let _thief_consumer = thief.streams().consume::<u8>();
    let _holder_consumer = holder.streams().consume::<u8>();
    within("holder subscribes", producer.when().subscribed()).await;
    // Observe a quiet period: the thief's attempts must all be refused.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ids: Vec<_> = producer.consumers().map(|c| c.consumer_id()).collect();
    assert_eq!(ids, vec![holder.local().id()]);
}
