//! Forged entries, foreign entries, oversized snapshots, silent peers.

use {
    crate::util::{RawSnapshot, Wire, cluster, converged, exchange, fast, node, until},
    mosaik::{
        discovery::{GracefulDeparture, PeerEntry, SyncProtocol},
        iroh::SecretKey,
    },
};

async fn push_snapshot(target: &mosaik::Network, from: &mosaik::Network, entries: RawSnapshot) {
    // The target answers with its snapshot (or closes if it refused ours).
    let _ = exchange(from, target, &(entries, Vec::new())).await;
}

#[tokio::test]
async fn forged_and_foreign_entries_are_rejected() {
    let target = node("disc-forged", fast()).await;
    let sender = node("disc-forged", fast()).await;
    let honest = sender.discovery().me();

    // A forged entry: a third peer's entry signed with the wrong key.
    let victim = SecretKey::generate();
    let forged_entry = PeerEntry::new(
        mosaik::NetworkId::from("disc-forged"),
        mosaik::iroh::EndpointAddr::new(victim.public()),
    );
    let forged_sig = SecretKey::generate().sign(forged_entry.digest().as_bytes());
    // A correctly signed entry of another network.
    let foreign_key = SecretKey::generate();
    let foreign = PeerEntry::new(
        mosaik::NetworkId::from("another-network"),
        mosaik::iroh::EndpointAddr::new(foreign_key.public()),
    )
    .sign(&foreign_key)
    .unwrap();

    let raw = vec![
        (honest.clone().into_unsigned(), *honest.signature()),
        (forged_entry, forged_sig),
        (foreign.clone().into_unsigned(), *foreign.signature()),
    ];
    push_snapshot(&target, &sender, raw).await;
    until(&target, |c| c.get_signed(&sender.local().id()).is_some()).await;
    let cat = target.discovery().catalog();
    assert!(cat.get(&victim.public()).is_none(), "forged entry accepted");
    assert!(
        cat.get(&foreign_key.public()).is_none(),
        "foreign entry accepted"
    );
    assert_eq!(cat.signed_peers_count(), 1, "the honest entry is kept");
}

#[tokio::test]
async fn oversized_snapshots_are_rejected_whole() {
    let nodes = cluster("disc-oversize", 4).await;
    converged(&nodes).await;
    let small = node("disc-oversize", fast().with_max_snapshot_entries(2)).await;
    // nodes[0] sends 4 entries (itself + 3 peers): over the limit.
    assert!(
        nodes[0]
            .discovery()
            .sync_with(small.local().addr())
            .await
            .is_err()
            || small.discovery().catalog().signed_peers_count() == 0
    );
    assert_eq!(small.discovery().catalog().signed_peers_count(), 0);
}

/// Departure notices in a snapshot count against `max_snapshot_entries`
/// like entries: a list over it is refused whole (valid notices included)
/// and the connection closed; within it, a valid notice is taken.
#[tokio::test]
async fn oversized_departure_lists_are_refused_whole() {
    let small = node("disc-deplist", fast().with_max_snapshot_entries(2)).await;
    let held = node(
        "disc-deplist",
        fast().with_bootstrap([small.local().addr()]),
    )
    .await;
    let held_id = held.local().id();
    until(&small, |c| c.get_signed(&held_id).is_some()).await;
    let notice =
        |key: &SecretKey| GracefulDeparture::new(key, held.discovery().me().update_version());
    let valid = notice(held.local().secret_key());
    let flood = vec![
        valid.clone(),
        notice(&SecretKey::generate()),
        notice(&SecretKey::generate()),
    ];
    let attacker = node("disc-deplist", fast()).await;
    let mut link = attacker
        .local()
        .connect::<SyncProtocol>(small.local().addr())
        .await
        .unwrap();
    let wire: Wire = (Vec::new(), flood);
    link.send(&wire).await.unwrap();
    let _ = link.recv::<Wire>().await;
    // The target closes the link once it has refused the snapshot.
    let closed = tokio::time::timeout(crate::util::TIMEOUT, link.closed()).await;
    assert!(closed.is_ok(), "the target closes a refused exchange");
    assert!(small.discovery().catalog().get_signed(&held_id).is_some());
    let wire: Wire = (Vec::new(), vec![valid]);
    let mut link = attacker
        .local()
        .connect::<SyncProtocol>(small.local().addr())
        .await
        .unwrap();
    link.send(&wire).await.unwrap();
    let _ = link.recv::<Wire>().await;
    until(&small, |c| c.get_signed(&held_id).is_none()).await;
}

#[tokio::test]
async fn silent_peers_do_not_stall_discovery() {
    let a = node("disc-silent", fast()).await;
    let silent = node("disc-silent", fast()).await;
    // Open sync links to A and never send anything; also raw connections
    // that never open a stream.
    let mut held = Vec::new();
    for _ in 0..20 {
        let conn = silent
            .local()
            .endpoint()
            .connect(
                a.local().addr(),
                <SyncProtocol as mosaik::network::Protocol>::ALPN,
            )
            .await
            .unwrap();
        let (send, recv) = conn.open_bi().await.unwrap();
        held.push((conn, send, recv));
    }
    // Meanwhile honest nodes still discover A and each other.
    let b = node("disc-silent", fast().with_bootstrap([a.local().addr()])).await;
    let c = node("disc-silent", fast().with_bootstrap([a.local().addr()])).await;
    converged(&[a, b, c]).await;
    drop(held);
}
