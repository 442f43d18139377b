//! Startup without internet and shutdown on drop.

use {
    crate::util::{Echo, loopback, within},
    core::time::Duration,
    mosaik::iroh::endpoint::ConnectionError,
    mosaik::{
        Network,
        network::{Cancelled, RecvError},
    },
    std::time::Instant,
};

#[tokio::test]
async fn network_new_is_ready_quickly_without_internet() {
    // Default settings (relays on): must not wait for a relay.
    let started = Instant::now();
    let network = Network::new("lifecycle-startup").await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "Network::new took {elapsed:?}"
    );
    within(network.online()).await;
    assert!(!network.local().addr().is_empty());
}

#[tokio::test]
async fn builder_requires_network_id_and_reports_it() {
    let err = mosaik::network::NetworkBuilder::default()
        .build()
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        mosaik::network::NetworkError::MissingNetworkId
    ));
    let net = loopback("lifecycle-ids").await;
    assert_eq!(*net.network_id(), mosaik::NetworkId::from("lifecycle-ids"));
    assert_eq!(net.local().id(), net.local().secret_key().public());
}

#[tokio::test]
async fn dropping_a_network_closes_its_links() {
    let a = loopback("lifecycle-drop").await;
    let b = loopback("lifecycle-drop").await;
    let mut listener = b.listen::<Echo>().unwrap();
    let mut link = within(a.local().connect::<Echo>(b.local().addr()))
        .await
        .unwrap();
    link.send(&1u32).await.unwrap();
    let mut remote = within(listener.accept()).await.unwrap().unwrap();
    assert_eq!(remote.recv::<u32>().await.unwrap(), 1);

    drop(a);
    // The local side is cancelled...
    let err = within(link.recv::<u32>()).await.unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    // ...and the peer sees the link closed: with `Cancelled` when the link
    // noticed the shutdown first, or by the endpoint closing.
    let err = within(remote.recv::<u32>()).await.unwrap_err();
    match &err {
        RecvError::Io(ConnectionError::ApplicationClosed(close)) => {
            assert!(
                *close == Cancelled || close.error_code.into_inner() == 0,
                "{close:?}"
            );
        }
        RecvError::Io(_) => {}
        other => panic!("unexpected: {other:?}"),
    }
}

#[tokio::test]
async fn one_listener_per_protocol() {
    let a = loopback("lifecycle-listen").await;
    let first = a.listen::<Echo>().unwrap();
    assert!(a.listen::<Echo>().is_err());
    drop(first);
    assert!(a.listen::<Echo>().is_ok());
}
