//! Over loopback: a stream producer that requires a TDX ticket refuses a
//! consumer presenting a forged one (a genuine Intel-signed quote that
//! does not bind the consumer), while the same consumer subscribes to a
//! producer without the requirement; group members requiring TDX never
//! bond with peers presenting forged tickets, while the same nodes bond in
//! a group without the requirement.

use {
    crate::{
        recorder::refused_bonds,
        util::{COLLATERAL, ticket},
    },
    chrono::Utc,
    core::time::Duration,
    mosaik::{
        Network,
        discovery::ConfigBuilder,
        groups::{ConsensusConfig, GroupKey},
        iroh::RelayMode,
        streams::State,
        tdx::{Collateral, Tdx},
        tickets::{Expiration, Ticket},
    },
};

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn fast() -> ConfigBuilder {
    mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1))
}

pub async fn node(network: &str, config: ConfigBuilder) -> Network {
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(config)
        .build()
        .await
        .expect("network starts")
}

pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    within(what, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn producer_requiring_tdx_refuses_a_forged_ticket() {
    let p = node("tdx-net-test", fast()).await;
    let c = node("tdx-net-test", fast().with_bootstrap([p.local().addr()])).await;

    // The consumer publishes a ticket around a real quote claiming itself.
    let now = Utc::now();
    let forged = ticket(c.local().id(), now, Expiration::in_1h());
    let forged = Ticket::try_from(forged).unwrap();
    c.discovery().add_ticket(forged.clone());
    let mut watch = p.discovery().catalog_watch();
    within(
        "producer sees the consumer's ticket",
        watch.wait_for(|cat| {
            cat.signed_peers()
                .any(|e| e.tickets().values().any(|t| *t == forged))
        }),
    )
    .await
    .expect("discovery runs");

    let tdx = Tdx::new().with_collateral(Collateral::from_json(COLLATERAL).unwrap());
    let gated = p
        .streams()
        .producer::<u8>()
        .require_ticket(tdx)
        .build()
        .unwrap();
    let open = p.streams().produce::<u16>();
    let refused = c.streams().consume::<u8>();
    let admitted = c.streams().consume::<u16>();

    // Control: the same consumer node is admitted where no ticket is needed.
    within(
        "ungated producer admits the consumer",
        open.when().subscribed(),
    )
    .await;
    drop(admitted);

    eventually("consumer sees the gated producer", || {
        refused.producers().count() == 1
    })
    .await;
    let channel = refused.producers().next().unwrap();
    within("refused link ends", channel.disconnected()).await;
    assert_eq!(channel.state(), State::Terminated);
    assert_eq!(gated.consumers().count(), 0);
}

pub fn timing() -> ConsensusConfig {
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

#[tokio::test]
async fn group_members_requiring_tdx_do_not_bond_with_forged_tickets() {
    let network = mosaik::NetworkId::from("tdx-group-test");
    let refused_before = refused_bonds(&network);
    let a = node("tdx-group-test", fast()).await;
    let b = node("tdx-group-test", fast().with_bootstrap([a.local().addr()])).await;
    let now = Utc::now();
    for n in [&a, &b] {
        let forged = Ticket::try_from(ticket(n.local().id(), now, Expiration::in_1h())).unwrap();
        n.discovery().add_ticket(forged);
    }
    for (observer, holder) in [(&a, &b), (&b, &a)] {
        let id = holder.local().id();
        let mut watch = observer.discovery().catalog_watch();
        within(
            "tickets propagate",
            watch.wait_for(|c| c.get_signed(&id).is_some_and(|e| !e.tickets().is_empty())),
        )
        .await
        .expect("discovery runs");
    }
    let tdx = || Tdx::new().with_collateral(Collateral::from_json(COLLATERAL).unwrap());
    let join = |n: &Network, key: &str, gated: bool| {
        let builder = n
            .groups()
            .with_key(GroupKey::from_secret(key))
            .with_consensus_config(timing());
        if gated {
            builder.require_ticket(tdx()).join()
        } else {
            builder.join()
        }
    };
    let (ga, gb) = (join(&a, "tdx-gated", true), join(&b, "tdx-gated", true));
    let (ca, cb) = (
        join(&a, "tdx-control", false),
        join(&b, "tdx-control", false),
    );
    eventually("control group bonds", || {
        ca.bonds().contains_peer(&b.local().id()) && cb.bonds().contains_peer(&a.local().id())
    })
    .await;
    // The control bonded. The gated members must have tried too: wait
    // until their ticket checks refused the other side a few times (a
    // dialer checks before it connects, an acceptor on the handshake).
    eventually("gated members refuse each other", || {
        refused_bonds(&network) >= refused_before + 3
    })
    .await;
    assert!(ga.bonds().is_empty(), "bonded with a forged TDX ticket");
    assert!(gb.bonds().is_empty(), "bonded with a forged TDX ticket");
}
