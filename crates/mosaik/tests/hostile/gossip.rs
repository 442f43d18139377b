//! The gossip ALPN: garbage, a 4 GiB prefix, slow bytes and silence from
//! peers the catalog does not know are closed, and bounded in number.

use {
    crate::{
        attacks::gossip_misuse,
        util::{attacker, close_code, fast, node, raw, until},
    },
    core::time::Duration,
    mosaik::{
        discovery::ANNOUNCE_ALPN,
        network::{ConnectionLimit, UnknownPeer},
    },
    std::time::Instant,
};

const NET: &str = "hostile-gossip";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_garbage_and_silence_are_closed_and_bounded() {
    let victim = node(NET, fast()).await;
    let attacker = attacker().await;
    let started = Instant::now();
    let mut conns = Vec::new();
    let mut peak = 0;
    for i in 0..120 {
        let Some(conn) = raw(&attacker, &victim, ANNOUNCE_ALPN).await else {
            continue;
        };
        gossip_misuse(&conn, i).await;
        peak = peak.max(victim.connections_of(ANNOUNCE_ALPN));
        conns.push(conn);
    }
    let limits = victim.limits();
    assert!(
        peak <= limits.max_unknown_connections,
        "held {peak} gossip connections"
    );
    let (mut unknown, mut refused) = (0, 0);
    for conn in &conns {
        // Generous: under load a connection may wait in the listener backlog
        // behind the gossip actor before its watcher starts.
        match close_code(conn, Duration::from_secs(15)).await {
            Some(c) if c == u64::from(UnknownPeer::CODE) => unknown += 1,
            Some(c) if c == u64::from(ConnectionLimit::CODE) => refused += 1,
            other => panic!(
                "gossip connection not closed by name: {other:?} ({:?})",
                conn.close_reason()
            ),
        }
    }
    println!(
        "gossip: {} hostile connections, peak held {peak}, {unknown} closed UnknownPeer, {refused} refused ConnectionLimit, all closed after {:?}",
        conns.len(),
        started.elapsed()
    );
    let took = until("gossip connections gone", || {
        victim.connections_of(ANNOUNCE_ALPN) == 0
    })
    .await;
    assert!(took < Duration::from_secs(10));

    // Gossip still works for honest peers afterwards.
    let honest = node(NET, fast().with_bootstrap([victim.local().addr()])).await;
    until("honest peer known", || {
        victim
            .discovery()
            .catalog()
            .get_signed(&honest.local().id())
            .is_some()
    })
    .await;
}
