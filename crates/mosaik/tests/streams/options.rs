//! Builder options: require (both sides, re-evaluated), tickets with
//! expiry, lagging policy, buffer sizes, undelivered sink, criteria.

use {
    crate::util::{cluster, eventually, within},
    core::time::Duration,
    mosaik::{
        Tag, TicketClass, UniqueId,
        discovery::PeerEntry,
        streams::{Criteria, State},
        tickets::{Expiration, InvalidTicket, Ticket, TicketValidator},
    },
    std::time::Instant,
};

const CLASS: TicketClass = mosaik::unique_id!("streams-test-ticket");

/// Accepts tickets whose data is an expiry time in unix milliseconds (big
/// endian i64), valid until then.
struct UntilValidator;

impl TicketValidator for UntilValidator {
    fn class(&self) -> TicketClass {
        CLASS
    }

    fn signature(&self) -> UniqueId {
        UniqueId::from("until-validator")
    }

    fn validate(&self, ticket: &[u8], _: &PeerEntry) -> Result<Expiration, InvalidTicket> {
        let bytes: [u8; 8] = ticket
            .try_into()
            .map_err(|_| InvalidTicket::new("ticket is not 8 bytes"))?;
        let at = chrono::DateTime::from_timestamp_millis(i64::from_be_bytes(bytes))
            .ok_or_else(|| InvalidTicket::new("bad timestamp"))?;
        Ok(Expiration::At(at))
    }
}

fn ticket_valid_for(d: Duration) -> Ticket {
    let at = chrono::Utc::now() + chrono::Duration::from_std(d).unwrap();
    Ticket::new(CLASS, at.timestamp_millis().to_be_bytes().to_vec().into())
}

#[tokio::test]
async fn producer_tickets_admit_and_expire() {
    let nodes = cluster("streams-tickets", 3).await;
    let (p, without, with) = (&nodes[0], &nodes[1], &nodes[2]);
    let expiry = Duration::from_secs(3);
    with.discovery().add_ticket(ticket_valid_for(expiry));
    let issued = Instant::now();
    until_ticket_seen(p, with).await;
    let producer = p
        .streams()
        .producer::<u8>()
        .require_ticket(UntilValidator)
        .build()
        .unwrap();
    let _refused = without.streams().consume::<u8>();
    let _admitted = with.streams().consume::<u8>();
    within("ticket holder subscribes", producer.when().subscribed()).await;
    let ids: Vec<_> = producer.consumers().map(|c| c.consumer_id()).collect();
    assert_eq!(ids, vec![with.local().id()]);
    within("expiry disconnects", producer.when().unsubscribed()).await;
    assert!(issued.elapsed() >= expiry.saturating_sub(Duration::from_millis(500)));
    assert_eq!(producer.consumers().count(), 0);
}

async fn until_ticket_seen(observer: &mosaik::Network, holder: &mosaik::Network) {
    let id = holder.local().id();
    crate::util::until(observer, |c| {
        c.get(&id).is_some_and(|p| p.tickets_of(CLASS).count() > 0)
    })
    .await;
}

#[tokio::test]
async fn consumer_tickets_and_require_follow_catalog_changes() {
    let nodes = cluster("streams-consumer-rules", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    let vip = Tag::from("vip");
    let producer = p.streams().produce::<u64>();
    let consumer = c
        .streams()
        .consumer::<u64>()
        .require(move |peer| peer.tags().contains(&vip))
        .require_ticket(UntilValidator)
        .build();
    // Neither tag nor ticket: no subscription.
    crate::util::until(c, |cat| {
        cat.get(&p.local().id())
            .is_some_and(|e| e.streams().contains(producer.stream_id()))
    })
    .await;
    assert_eq!(consumer.producers().count(), 0);
    p.discovery().add_tags([vip]);
    p.discovery()
        .add_ticket(ticket_valid_for(Duration::from_mins(1)));
    within("both rules met", producer.when().subscribed()).await;
    // The producer loses the tag: the consumer drops it.
    p.discovery().remove_tags([vip]);
    within("re-evaluated", producer.when().unsubscribed()).await;
    eventually("consumer forgot producer", || {
        consumer.producers().count() == 0
    })
    .await;
}

#[tokio::test]
async fn producer_require_is_re_evaluated() {
    let nodes = cluster("streams-producer-rules", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    let banned = Tag::from("banned");
    let producer = p
        .streams()
        .producer::<u64>()
        .require(move |peer| !peer.tags().contains(&banned))
        .require(|peer| peer.rtt_below(Duration::from_secs(5)))
        .build()
        .unwrap();
    let consumer = c.streams().consume::<u64>();
    within("subscribed", producer.when().subscribed()).await;
    let channel = consumer.producers().next().unwrap();
    c.discovery().add_tags([banned]);
    within("banned consumer dropped", producer.when().unsubscribed()).await;
    within("consumer side terminated", channel.disconnected()).await;
    assert_eq!(channel.state(), State::Terminated);
}

#[tokio::test]
async fn slow_consumer_does_not_slow_a_fast_one() {
    let nodes = cluster("streams-slow", 3).await;
    let (p, fast_node, slow_node) = (&nodes[0], &nodes[1], &nodes[2]);
    let producer = p
        .streams()
        .producer::<Vec<u8>>()
        .with_buffer_size(64)
        .disconnect_lagging(false)
        .online_when(|c| c.minimum_of(2))
        .build()
        .unwrap();
    let mut fast = fast_node.streams().consume::<Vec<u8>>();
    // Never read: its delivery channel (1 slot) fills, then QUIC flow
    // control, then its queue at the producer.
    let slow = slow_node
        .streams()
        .consumer::<Vec<u8>>()
        .with_buffer_size(1)
        .build();
    within("both subscribed", producer.when().online()).await;
    let total: usize = 1000;
    let chunk = vec![1u8; 16 * 1024];
    let started = Instant::now();
    for batch in 0..total / 100 {
        for _ in 0..100 {
            producer.send(chunk.clone()).await.unwrap();
        }
        for _ in 0..100 {
            let got = within("fast consumer keeps up", fast.recv()).await.unwrap();
            assert_eq!(got.len(), chunk.len(), "batch {batch}");
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(fast.stats().datums(), total);
    let slow_channel = producer
        .consumers()
        .find(|c| c.consumer_id() == slow_node.local().id())
        .expect("slow consumer still subscribed (datums dropped, not disconnected)");
    assert!(slow_channel.stats().datums() < total);
    assert!(slow.stats().datums() < total);
    assert!(
        elapsed < Duration::from_secs(30),
        "fast consumer took {elapsed:?}"
    );
}

#[tokio::test]
async fn undelivered_sink_and_criteria() {
    let nodes = cluster("streams-undelivered", 2).await;
    // unbounded: the API takes an UnboundedSender; this test sends a handful of datums.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let producer = nodes[0]
        .streams()
        .producer::<u32>()
        .online_when(|c| c.minimum_of(0))
        .with_undelivered_sink(tx)
        .build()
        .unwrap();
    assert!(producer.is_online());
    producer.try_send(1).unwrap();
    assert_eq!(within("undelivered", rx.recv()).await, Some(1));
    let mut consumer = nodes[1]
        .streams()
        .consumer::<u32>()
        .with_criteria(Criteria::default())
        .build();
    assert_eq!(consumer.config().criteria, Criteria::default());
    within("subscribed", producer.when().subscribed()).await;
    producer.send(2).await.unwrap();
    assert_eq!(within("delivered", consumer.recv()).await, Some(2));
    assert!(
        rx.try_recv().is_err(),
        "delivered datums do not reach the sink"
    );
    assert_eq!(
        consumer.producers().next().unwrap().criteria(),
        &Criteria::default()
    );
}

#[tokio::test]
async fn consumer_drops_a_producer_whose_ticket_expires() {
    let nodes = cluster("streams-consumer-expiry", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    let expiry = Duration::from_secs(2);
    p.discovery().add_ticket(ticket_valid_for(expiry));
    let issued = Instant::now();
    until_ticket_seen(c, p).await;
    let producer = p.streams().produce::<u8>();
    let consumer = c
        .streams()
        .consumer::<u8>()
        .require_ticket(UntilValidator)
        .build();
    within("subscribed", producer.when().subscribed()).await;
    let channel = consumer.producers().next().expect("one producer");
    within("expiry ends the receiver", channel.disconnected()).await;
    assert!(issued.elapsed() >= expiry.saturating_sub(Duration::from_millis(500)));
    within("producer sees it leave", producer.when().unsubscribed()).await;
}
