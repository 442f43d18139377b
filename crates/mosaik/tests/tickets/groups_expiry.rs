//! Bonds with real JWTs: a member whose ticket expires leaves the group's
//! bonds, a refreshed ticket keeps the bond up, and validators are part of
//! the group id.

use {
    crate::net::{
        EXPIRY_SLACK, Issuer, cluster, eventually, until_instant, until_tickets_seen, within,
    },
    chrono::Utc,
    core::time::Duration,
    mosaik::{
        Network,
        groups::{ConsensusConfig, Group, GroupKey, NoOp},
        tickets::jwt::{Hs256, Jwt},
    },
};

/// Short consensus timing so bonds form within a second or two.
fn timing() -> ConsensusConfig {
    ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_heartbeat_jitter(Duration::from_millis(30))
        .with_max_missed_heartbeats(10)
        .with_election_timeout(Duration::from_millis(600))
        .with_election_timeout_jitter(Duration::from_millis(300))
        .with_bootstrap_delay(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn join(net: &Network, key: &str, validator: Jwt) -> Group<NoOp> {
    net.groups()
        .with_key(GroupKey::from_secret(key))
        .with_consensus_config(timing())
        .require_ticket(validator)
        .join()
}

#[tokio::test]
async fn a_member_whose_ticket_expires_leaves_the_bonds() {
    let nodes = cluster("tickets-bond-expiry", 2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let issuer = Issuer::new();
    let (long, _) = issuer.ticket(&a.local().id(), Duration::from_mins(1));
    let (short, expires) = issuer.ticket(&b.local().id(), Duration::from_secs(4));
    a.discovery().add_ticket(long);
    b.discovery().add_ticket(short);
    until_tickets_seen(a, b, 1).await;
    until_tickets_seen(b, a, 1).await;
    let ga = join(a, "expiry", issuer.validator());
    let gb = join(b, "expiry", issuer.validator());
    eventually("bonded", || {
        ga.bonds().contains_peer(&b.local().id()) && gb.bonds().contains_peer(&a.local().id())
    })
    .await;
    assert!(Utc::now() < expires, "bond formed after the ticket expired");
    let bond = ga.bonds().get(&b.local().id()).unwrap();
    within("expired member's bond closes", bond.terminated()).await;
    let late = Utc::now() - expires;
    assert!(
        late > -chrono::Duration::milliseconds(200),
        "bond closed {late} before expiry"
    );
    assert!(
        late.to_std().unwrap_or_default() < EXPIRY_SLACK,
        "bond closed {late} after expiry"
    );
    eventually("both sides drop the bond", || {
        ga.bonds().is_empty() && gb.bonds().is_empty()
    })
    .await;
    // The expired member cannot bond again.
    tokio::time::sleep(Duration::from_secs(1)).await; // observe a quiet period
    assert!(ga.bonds().is_empty(), "expired member bonded again");
}

#[tokio::test]
async fn a_refreshed_ticket_keeps_the_bond() {
    let nodes = cluster("tickets-bond-refresh", 2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let issuer = Issuer::new();
    let (long, _) = issuer.ticket(&a.local().id(), Duration::from_mins(1));
    let (short, expires) = issuer.ticket(&b.local().id(), Duration::from_secs(4));
    a.discovery().add_ticket(long);
    b.discovery().add_ticket(short);
    until_tickets_seen(a, b, 1).await;
    until_tickets_seen(b, a, 1).await;
    let ga = join(a, "refresh", issuer.validator());
    let gb = join(b, "refresh", issuer.validator());
    eventually("bonded", || {
        ga.bonds().contains_peer(&b.local().id()) && gb.bonds().contains_peer(&a.local().id())
    })
    .await;
    let bond = ga.bonds().get(&b.local().id()).unwrap();
    let (later, _) = issuer.ticket(&b.local().id(), Duration::from_mins(1));
    b.discovery().add_ticket(later);
    until_tickets_seen(a, b, 2).await;
    assert!(
        Utc::now() < expires,
        "refresh arrived after the first expiry"
    );
    // Observe past the first expiry plus the enforcement slack.
    let quiet = until_instant(expires) + EXPIRY_SLACK;
    let closed = tokio::time::timeout(quiet, bond.terminated()).await;
    assert!(closed.is_err(), "the refreshed member's bond was closed");
    let now = ga.bonds().get(&b.local().id()).expect("still bonded");
    assert_eq!(now.id(), bond.id(), "the bond was replaced, not kept");
}

#[tokio::test]
async fn different_validators_give_different_group_ids() {
    let nodes = cluster("tickets-group-ids", 1).await;
    let net = &nodes[0];
    let secret = Hs256::random();
    let base = join(net, "ids", Jwt::with_key(secret));
    let same = join(net, "ids", Jwt::with_key(secret));
    assert_eq!(base.id(), same.id(), "the same rules must give the same id");
    let variants = [
        Jwt::with_key(Hs256::random()),
        Jwt::with_key(secret).allow_issuer("someone"),
        Jwt::with_key(secret).allow_audience("somewhere"),
        Jwt::with_key(secret).allow_non_expiring(),
    ];
    let mut ids = vec![*base.id()];
    for validator in variants {
        let id = *join(net, "ids", validator).id();
        assert!(!ids.contains(&id), "two validators share a group id");
        ids.push(id);
    }
    let without = net
        .groups()
        .with_key(GroupKey::from_secret("ids"))
        .with_consensus_config(timing())
        .join();
    assert!(
        !ids.contains(without.id()),
        "a validator must change the id"
    );
    // The key derived from a validator differs per validator too.
    let from_a = net
        .groups()
        .with_key(GroupKey::from(&Jwt::with_key(secret)))
        .join();
    let from_b = net
        .groups()
        .with_key(GroupKey::from(&Jwt::with_key(Hs256::random())))
        .join();
    assert_ne!(from_a.id(), from_b.id());
}
