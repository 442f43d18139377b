//! The consumer's RTT probe (SPEC §1.4): a producer without an RTT sample
//! is pinged before the consumer decides on it.

use {
    crate::util::{node_with, quick_backoff},
    core::time::Duration,
};

#[tokio::test]
async fn producer_without_rtt_is_probed_before_the_decision() {
    // Periodic RTT probes start 15 s or more after start-up, and the nodes
    // never met, so only the consumer's own probe can measure an RTT
    // within the wait below.
    let slow_probes = || mosaik::discovery::Config::builder().no_dht_bootstrap();
    let p = node_with("streams-probe", slow_probes()).await;
    let c = node_with("streams-probe", slow_probes()).await;
    let producer = p.streams().produce::<u32>();
    let p_id = p.local().id();
    assert!(c.discovery().feed(p.discovery().me()));
    assert!(c.discovery().catalog().rtt(&p_id).is_none());
    // Only a producer with a known RTT passes: without the probe this
    // consumer would not subscribe until a periodic probe, much later.
    let mut consumer = c
        .streams()
        .consumer::<u32>()
        .require(|peer| peer.rtt().is_some())
        .with_backoff(quick_backoff())
        .build();
    tokio::time::timeout(Duration::from_secs(8), producer.when().online())
        .await
        .expect("subscribed after the probe");
    assert!(c.discovery().catalog().rtt(&p_id).is_some());
    producer.send(7).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(8), consumer.recv()).await;
    assert_eq!(got.expect("datum in time"), Some(7));
}
