//! Behaviour the original's users rely on (issue 19): the producer samples
//! RTT when it accepts a subscription, and a consumer notices a producer
//! whose whole network went away.

use {
    crate::util::{node_with, quick_backoff, within},
    core::time::Duration,
};

/// Periodic RTT probes start 15 s or more after start-up, so within this
/// test only the stream accept itself can give the producer a sample.
fn slow_probes() -> mosaik::discovery::ConfigBuilder {
    mosaik::discovery::Config::builder().no_dht_bootstrap()
}

#[tokio::test]
async fn producer_samples_rtt_at_accept_before_require() {
    let p = node_with("streams-accept-rtt", slow_probes()).await;
    let c = node_with("streams-accept-rtt", slow_probes()).await;
    // Admits only consumers it has measured: without a sample taken at
    // accept, this rule refuses every first subscription.
    let producer = p
        .streams()
        .producer::<u32>()
        .require(|peer| peer.rtt().is_some())
        .build()
        .expect("new producer");
    // Each learns of the other only here (the producer already advertised),
    // and no probe has run: the producer has no RTT sample of `c` yet.
    let c_id = c.local().id();
    assert!(p.discovery().feed(c.discovery().me()));
    assert!(c.discovery().feed(p.discovery().me()));
    assert!(p.discovery().catalog().rtt(&c_id).is_none());
    let mut consumer = c
        .streams()
        .consumer::<u32>()
        .with_backoff(quick_backoff())
        .build();
    // Well before the first periodic probe (15 s or more after start-up).
    tokio::time::timeout(Duration::from_secs(8), producer.when().online())
        .await
        .expect("admitted at once, with the RTT sampled at accept");
    assert!(p.discovery().catalog().rtt(&c_id).is_some());
    producer.send(1).await.unwrap();
    assert_eq!(within("datum", consumer.recv()).await, Some(1));
}

#[tokio::test]
async fn consumer_goes_offline_when_the_producer_network_is_dropped() {
    let p = node_with("streams-network-drop", slow_probes()).await;
    let c = node_with(
        "streams-network-drop",
        slow_probes().with_bootstrap(p.local().addr()),
    )
    .await;
    let producer = p.streams().produce::<u32>();
    let consumer = c
        .streams()
        .consumer::<u32>()
        .online_when(|when| when.minimum_of(1))
        .with_backoff(quick_backoff())
        .build();
    within("consumer online", consumer.when().online()).await;
    within("producer online", producer.when().online()).await;
    // The producer handle outlives its network, as when it is stored
    // elsewhere in the program.
    drop(p);
    within("consumer offline", consumer.when().offline()).await;
    assert_eq!(
        consumer
            .producers()
            .filter(mosaik::streams::ChannelInfo::is_connected)
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn consumer_goes_offline_when_the_producer_network_is_dropped_off_runtime() {
    let p = node_with("streams-network-drop-thread", slow_probes()).await;
    let c = node_with(
        "streams-network-drop-thread",
        slow_probes().with_bootstrap(p.local().addr()),
    )
    .await;
    let producer = p.streams().produce::<u32>();
    let consumer = c
        .streams()
        .consumer::<u32>()
        .online_when(|when| when.minimum_of(1))
        .with_backoff(quick_backoff())
        .build();
    within("consumer online", consumer.when().online()).await;
    within("producer online", producer.when().online()).await;
    // Dropped where no runtime is current (a plain thread), while the
    // producer handle lives on.
    std::thread::spawn(move || drop(p)).join().unwrap();
    within("consumer offline", consumer.when().offline()).await;
    assert_eq!(
        consumer
            .producers()
            .filter(mosaik::streams::ChannelInfo::is_connected)
            .count(),
        0
    );
}
