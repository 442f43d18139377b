//! Network-level streams configuration (`NetworkBuilder::with_streams`).

use {
    crate::util::{eventually, fast, node, until},
    core::time::Duration,
    mosaik::{Network, iroh::RelayMode, streams::Backoff},
    std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

/// A backoff that counts how often it was asked for a delay.
#[derive(Clone)]
struct Counting(Arc<AtomicUsize>);

impl Backoff for Counting {
    fn next_backoff(&mut self) -> Option<Duration> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Some(Duration::from_millis(20))
    }

    fn reset(&mut self) {}
}

#[tokio::test]
async fn network_wide_backoff_is_used_by_consumers() {
    let p = node("streams-config", None).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Network::builder("streams-config")
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(fast().with_bootstrap([p.local().addr()]))
        .with_streams(mosaik::streams::Config::builder().with_backoff(Counting(calls.clone())))
        .build()
        .await
        .expect("network starts");
    until(&c, |cat| cat.signed_peers_count() == 1).await;
    // A producer that refuses everyone with `NoCapacity`, which consumers
    // retry after their backoff: the delays must come from our policy.
    let _producer = p
        .streams()
        .producer::<u16>()
        .with_max_consumers(0)
        .build()
        .expect("producer builds");
    let _consumer = c.streams().consume::<u16>();
    eventually("the configured backoff is asked twice", || {
        calls.load(Ordering::SeqCst) >= 2
    })
    .await;
}
