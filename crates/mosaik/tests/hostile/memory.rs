//! Memory flood: connections announcing almost-complete large frames, and
//! large prefixes on protocols whose handshakes are small.

use {
    crate::{
        attacks::{almost_complete_frame, rss},
        util::{Counter, attacker, close_code, fast, node, node_with, raw, timing, until},
    },
    core::time::Duration,
    mosaik::{
        groups::GroupKey,
        network::{ConnectionLimit, Protocol, ProtocolViolation},
    },
    std::{
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
        time::Instant,
    },
};

const NET: &str = "hostile-memory";
const BUDGET: usize = 4 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_flood_stays_within_the_budget_and_recovers() {
    let victim = node_with(NET, fast(), |b| b.with_max_unauthenticated_bytes(BUDGET)).await;
    let attacker = attacker().await;
    let frame = 2 * 1024 * 1024 - 1;
    let alpn = mosaik::discovery::SyncProtocol::ALPN;
    let mut held = Vec::new();
    let mut peak = 0;
    for _ in 0..12 {
        let conn = raw(&attacker, &victim, alpn).await.expect("connects");
        let Ok((mut send, recv)) = conn.open_bi().await else {
            continue;
        };
        let mut bytes = u32::try_from(frame).unwrap().to_be_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(7u8, 64 * 1024));
        let _ = send.write_all(&bytes).await;
        peak = peak.max(victim.unauthenticated_bytes());
        held.push((conn, send, recv));
    }
    until("frames reach the victim", || {
        peak = peak.max(victim.unauthenticated_bytes());
        peak >= frame
    })
    .await;
    assert!(
        peak <= BUDGET,
        "buffered {peak} bytes over a {BUDGET} budget"
    );
    let mut refused = 0;
    for (conn, _, _) in &held {
        if close_code(conn, Duration::from_millis(200)).await == Some(ConnectionLimit::CODE.into())
        {
            refused += 1;
        }
    }
    println!(
        "memory flood: 12 x {frame} byte frames, peak unauthenticated {peak} bytes (budget {BUDGET}), {refused} refused with ConnectionLimit"
    );
    assert!(refused >= 10, "only {refused} over-budget frames refused");
    // Recovery: the held frames time out and the budget comes back.
    let took = until("budget released", || victim.unauthenticated_bytes() == 0).await;
    println!("memory flood: budget back to 0 after {took:?}");
    assert!(took < Duration::from_secs(10));
    drop(held);
}

/// The attack of the issue with default limits: 64 connections each
/// sending all but one byte of a 16 MiB frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_budget_holds_sixty_four_almost_complete_16_mib_frames() {
    let victim = node(NET, fast()).await;
    let budget = victim.limits().max_unauthenticated_bytes;
    let attacker = std::sync::Arc::new(attacker().await);
    let before = rss();
    let frame = 16 * 1024 * 1024 - 1;
    let alpn = mosaik::discovery::SyncProtocol::ALPN;
    let mut senders = Vec::new();
    for _ in 0..64 {
        let (attacker, addr) = (attacker.clone(), victim.local().addr());
        // All but one byte.
        senders.push(tokio::spawn(async move {
            almost_complete_frame(&attacker, addr, alpn, frame, 1).await
        }));
    }
    let mut peak = 0;
    let mut peak_rss = 0;
    let mut conns = Vec::new();
    for sender in senders {
        peak = peak.max(victim.unauthenticated_bytes());
        peak_rss = peak_rss.max(rss());
        conns.extend(sender.await.unwrap());
    }
    peak = peak.max(victim.unauthenticated_bytes());
    peak_rss = peak_rss.max(rss());
    println!(
        "16 MiB flood: 64 connections, peak unauthenticated {peak} bytes (budget {budget}), process RSS {} MiB -> peak {} MiB (victim and attacker share the process)",
        before >> 20,
        peak_rss >> 20
    );
    assert!(peak <= budget);
    let took = until("budget released", || victim.unauthenticated_bytes() == 0).await;
    println!("16 MiB flood: budget back to 0 after {took:?}");
    drop(conns);
}

/// While large frames hold every byte of the budget they may take, an
/// honest newcomer's catalog sync and bond handshake (small frames) still
/// fit in the reserve: the newcomer bonds with the victim within 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomer_gets_in_while_large_frames_fill_the_budget() {
    let victim = node(NET, fast()).await;
    let budget = victim.limits().max_unauthenticated_bytes;
    let attacker = Arc::new(attacker().await);
    let stop = Arc::new(AtomicBool::new(false));
    let alpn = mosaik::discovery::SyncProtocol::ALPN;
    let mut tasks = Vec::new();
    // 16 connections, each sending all but one byte of a 16 MiB - 1 frame
    // and reconnecting when closed (as `mosaik-bench attack`): four would
    // fill the whole default budget, and the unadmitted read rate makes
    // each frame take seconds.
    for _ in 0..16 {
        let (attacker, stop, addr) = (attacker.clone(), stop.clone(), victim.local().addr());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let frame = 16 * 1024 * 1024 - 1;
                match almost_complete_frame(&attacker, addr.clone(), alpn, frame, 1).await {
                    Some(conn) => drop(conn.closed().await),
                    None => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }));
    }
    let large = 16 * 1024 * 1024 - 1;
    let full = budget - budget / 4 - large;
    until("large frames fill the budget", || {
        victim.unauthenticated_bytes() > full
    })
    .await;
    // The newcomer bonds with the victim in a group: its catalog sync and
    // its bond handshake are both small frames on unadmitted links.
    let key = GroupKey::from_secret("hostile-memory-newcomer");
    let join = |net: &mosaik::Network| {
        net.groups()
            .with_key(key)
            .with_state_machine(Counter::default())
            .with_consensus_config(timing())
            .join()
    };
    let on_victim = join(&victim);
    let started = Instant::now();
    let newcomer = node(NET, fast().with_bootstrap([victim.local().addr()])).await;
    let joined = join(&newcomer);
    let mut low = budget;
    let took = until("newcomer bonded", || {
        low = low.min(victim.unauthenticated_bytes());
        !on_victim.bonds().is_empty()
    })
    .await;
    println!(
        "large-frame flood: newcomer bonded after {took:?} ({:?} incl. start), at least {low} of {budget} unauthenticated bytes held meanwhile",
        started.elapsed()
    );
    drop(joined);
    assert!(
        low > full,
        "the flood let go of the budget ({low} bytes held)"
    );
    assert!(took < Duration::from_secs(2), "newcomer took {took:?}");
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    until("budget released", || victim.unauthenticated_bytes() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_protocols_refuse_large_prefixes_at_once() {
    let victim = node(NET, fast()).await;
    let attacker = attacker().await;
    let alpns: [&[u8]; 4] = [
        mosaik::discovery::PingProtocol::ALPN,
        mosaik::discovery::DepartProtocol::ALPN,
        mosaik::streams::StreamsProtocol::ALPN,
        b"/mosaik/groups/1",
    ];
    for alpn in alpns {
        let conn = raw(&attacker, &victim, alpn).await.expect("connects");
        let (mut send, _recv) = conn.open_bi().await.unwrap();
        let started = Instant::now();
        // A 16 MiB - 1 frame header and a little of its body.
        let mut bytes = (16u32 * 1024 * 1024 - 1).to_be_bytes().to_vec();
        bytes.extend([0u8; 1024]);
        let _ = send.write_all(&bytes).await;
        let code = close_code(&conn, Duration::from_secs(2)).await;
        println!(
            "{}: 16 MiB prefix closed with {code:?} after {:?}",
            String::from_utf8_lossy(alpn),
            started.elapsed()
        );
        assert_eq!(code, Some(ProtocolViolation::CODE.into()));
        assert_eq!(victim.unauthenticated_bytes(), 0);
    }
}
