//! Over loopback: a stream producer that requires a TDX ticket refuses a
//! consumer presenting a forged one (a genuine Intel-signed quote that
//! does not bind the consumer), while the same consumer subscribes to a
//! producer without the requirement.

use {
    crate::util::{COLLATERAL, ticket},
    chrono::Utc,
    core::time::Duration,
    mosaik::{
        Network,
        discovery::ConfigBuilder,
        iroh::RelayMode,
        streams::State,
        tdx::{Collateral, Tdx},
        tickets::{Expiration, Ticket},
    },
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn fast() -> ConfigBuilder {
    mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1))
}

async fn node(network: &str, config: ConfigBuilder) -> Network {
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(config)
        .build()
        .await
        .expect("network starts")
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
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
