//! Bond starvation by constantly reopened connections, and pre-auth
//! amplification through a handshake replaying one entry thousands of times.

use {
    crate::{
        attacks::{GROUPS_ALPN, OnOpen, amplified_handshake, reopen_until},
        util::{Counter, attacker, close_code, fast, node, raw, timing, until, within},
    },
    core::time::Duration,
    mosaik::groups::GroupKey,
    std::{
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
        time::Instant,
    },
};

const NET: &str = "hostile-bonds";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopened_connections_cannot_starve_an_honest_bond() {
    let victim = node(NET, fast()).await;
    let member = node(NET, fast().with_bootstrap([victim.local().addr()])).await;
    let key = GroupKey::from_secret("hostile-bonds");
    let join = |net: &mosaik::Network| {
        net.groups()
            .with_key(key)
            .with_state_machine(Counter::default())
            .with_consensus_config(timing())
            .join()
    };
    let ga = join(&victim);
    let gb = join(&member);
    until("first bond", || ga.bonds().len() == 1).await;
    within("leader", gb.when().leader_elected()).await;

    // 200 silent connections on the groups ALPN, reopened as soon as they
    // close, until the attack stops.
    let attacker = Arc::new(attacker().await);
    let stop = Arc::new(AtomicBool::new(false));
    let victim_addr = victim.local().addr();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (attacker, stop, addr) = (attacker.clone(), stop.clone(), victim_addr.clone());
        tasks.push(tokio::spawn(reopen_until(
            attacker,
            addr,
            GROUPS_ALPN,
            stop,
            OnOpen::Silence,
        )));
    }
    until("attack running", || {
        victim.connections_of(GROUPS_ALPN) >= 16
    })
    .await;

    // The group keeps committing during the attack.
    for i in 0..20 {
        within("commit during attack", gb.execute(i)).await.unwrap();
    }
    // An honest new member bonds.
    let started = Instant::now();
    let newcomer = node(NET, fast().with_bootstrap([victim.local().addr()])).await;
    let gc = join(&newcomer);
    let took = until("newcomer bonded", || ga.bonds().len() == 2).await;
    let held = victim.connections_of(GROUPS_ALPN);
    let limits = victim.limits();
    println!(
        "bond starvation: 200 reopening attackers, newcomer bonded after {took:?} ({:?} incl. start), victim holds {held} groups connections",
        started.elapsed()
    );
    assert!(took < Duration::from_secs(2), "newcomer took {took:?}");
    assert!(held <= limits.max_unknown_connections + 4);
    within("newcomer catches up", gc.when().leader_elected()).await;

    stop.store(true, Ordering::Relaxed);
    let took = until("attack connections gone", || {
        victim.connections_of(GROUPS_ALPN) <= 2
    })
    .await;
    println!("bond starvation: back to the 2 bonds after {took:?}");
    assert!(took < Duration::from_secs(10));
    for task in tasks {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_handshake_entries_are_refused_before_verification() {
    let victim = node(NET, fast()).await;
    let key = GroupKey::from_secret("hostile-amplify");
    let _group = victim
        .groups()
        .with_key(key)
        .with_state_machine(Counter::default())
        .with_consensus_config(timing())
        .join();
    let attacker = attacker().await;
    // The bond list alone replays one valid entry 5,000 times.
    let frame = amplified_handshake(&attacker, NET, 5_000);
    let conn = raw(&attacker, &victim, GROUPS_ALPN)
        .await
        .expect("connects");
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    let started = Instant::now();
    let _ = send.write_all(&frame).await;
    let code = close_code(&conn, Duration::from_secs(2)).await;
    println!(
        "amplification: {} byte handshake with 5000 replayed entries closed with {code:?} after {:?}",
        frame.len(),
        started.elapsed()
    );
    // InvalidHandshake (the list is over the cap) or ProtocolViolation (the
    // frame is over the handshake limit): refused either way, unverified.
    assert!(matches!(code, Some(30_400 | 400)), "{code:?}");
    assert!(started.elapsed() < Duration::from_millis(500));
}
