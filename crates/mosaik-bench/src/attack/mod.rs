//! `mosaik-bench attack`: each attack of issue 17 against a live 3-node
//! loopback cluster running a stream (victim → honest node, a fixed
//! offered load of 1,000 datums/s) and a committing group (a client on an
//! honest node, one command in flight). The attacker is a child process
//! (`attack-run`), so this process's RSS is the cluster's.
//!
//! Reports per attack: cluster RSS above idle (peak), stream and commit
//! rates vs idle, leader changes, how long an honest newcomer takes to
//! bond with the victim, and how long after the attack the victim's
//! attack-facing resources (unauthenticated bytes, connections) are back
//! to idle. Figures only: nothing fails on them.

#[path = "../../../mosaik/tests/hostile/attacks.rs"]
mod attacks;
mod child;
mod probe;

pub use child::{Kind, run as run_attacker};

use {
    crate::groups::{Logs, trio},
    attacks::rss,
    clap::ValueEnum,
    mosaik::{groups::ConsensusConfig, network::Protocol},
    probe::{Probe, Rates},
    std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        time::{Duration, Instant},
    },
    tokio::process::Command,
};

const NET: &str = "mosaik-bench-attack";

/// The ALPNs an attack holds connections on (their count must come back).
const ALPNS: [&[u8]; 3] = [
    mosaik::discovery::SyncProtocol::ALPN,
    mosaik::discovery::ANNOUNCE_ALPN,
    attacks::GROUPS_ALPN,
];

/// Runs `kinds` (all when empty), each for `secs` seconds.
pub async fn attacks(kinds: &[Kind], secs: u64) -> anyhow::Result<()> {
    let (nets, groups) = trio(NET, &ConsensusConfig::default(), &Logs::Memory).await?;
    let victim = &nets[0];
    let probe = Probe::start(&nets, &groups).await?;
    let all = Kind::value_variants();
    let kinds = if kinds.is_empty() { all } else { kinds };
    let window = Duration::from_secs(secs);
    for (round, &kind) in kinds.iter().enumerate() {
        // Idle figures right before each attack: earlier attacks may have
        // left a larger heap or catalog behind.
        let idle_rss = rss();
        let idle_conns = ALPNS.map(|a| victim.connections_of(a));
        let idle = probe.rates(Duration::from_secs(3)).await;
        let catalog_before = victim.discovery().catalog().signed_peers_count();

        let target = serde_json::to_string(&victim.local().addr())?;
        let mut attacker = Command::new(std::env::current_exe()?)
            .args(["attack-run", "--kind", name(kind), "--network", NET])
            .args(["--target", &target])
            .kill_on_drop(true)
            .spawn()?;

        // Peak RSS over the whole attack, sampled in the background.
        let peak = Arc::new(AtomicUsize::new(rss()));
        let sampler = tokio::spawn({
            let peak = peak.clone();
            async move {
                loop {
                    peak.fetch_max(rss(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });

        // Let the attack ramp up (a benchmark, not a test: a fixed ramp
        // keeps attacks comparable), then measure the service and a
        // newcomer.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let leader_changes = probe.leader_changes();
        let attacked = probe.rates(window).await;
        let changes = probe.leader_changes() - leader_changes;
        let bond = probe.newcomer_bond(victim, round).await;
        let during_conns = ALPNS.map(|a| victim.connections_of(a));
        let during_unauth = victim.unauthenticated_bytes();
        let catalog_during = victim.discovery().catalog().signed_peers_count();
        let peak = peak.load(Ordering::Relaxed).max(rss());

        attacker.kill().await?;
        sampler.abort();
        let stopped = Instant::now();
        let back = wait_for(Duration::from_secs(30), || {
            victim.unauthenticated_bytes() == 0
                && ALPNS
                    .iter()
                    .zip(idle_conns)
                    .all(|(a, idle)| victim.connections_of(a) <= idle)
        })
        .await
        .map(|()| stopped.elapsed());
        let rss_after = rss();

        report(&Report {
            kind,
            idle: &idle,
            attacked: &attacked,
            idle_rss,
            peak,
            rss_after,
            changes,
            bond,
            back,
            during_conns,
            during_unauth,
            catalog: (catalog_before, catalog_during),
        });
    }
    drop(groups);
    drop(nets);
    Ok(())
}

fn name(kind: Kind) -> &'static str {
    match kind {
        Kind::Sybil => "sybil",
        Kind::Memory => "memory",
        Kind::Bonds => "bonds",
        Kind::Gossip => "gossip",
        Kind::Amplify => "amplify",
    }
}

/// Polls `pred` every 20 ms until it holds or `limit` passes.
async fn wait_for(limit: Duration, mut pred: impl FnMut() -> bool) -> Option<()> {
    let started = Instant::now();
    while !pred() {
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some(())
}

/// One attack's figures.
struct Report<'a> {
    kind: Kind,
    idle: &'a Rates,
    attacked: &'a Rates,
    idle_rss: usize,
    peak: usize,
    rss_after: usize,
    changes: u64,
    bond: Option<Duration>,
    back: Option<Duration>,
    during_conns: [usize; 3],
    during_unauth: usize,
    catalog: (usize, usize),
}

/// One summary line and one JSON record.
fn report(r: &Report<'_>) {
    let mb = |b: usize| b as f64 / f64::from(1 << 20);
    let above = mb(r.peak.saturating_sub(r.idle_rss));
    let stream_pct = 100.0 * r.attacked.stream / r.idle.stream.max(1e-9);
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    println!(
        "attack {}: RSS +{above:.0} MB peak (idle {:.0} MB, {:.0} MB at baseline), stream {:.0}/s vs {:.0}/s idle ({stream_pct:.0} %), commits {:.0}/s vs {:.0}/s idle, {} leader change(s), newcomer bonded in {}, baseline {} after, victim held sync/gossip/groups connections {:?}, unauthenticated {} B, catalog {} -> {}",
        name(r.kind),
        mb(r.idle_rss),
        mb(r.rss_after),
        r.attacked.stream,
        r.idle.stream,
        r.attacked.commits,
        r.idle.commits,
        r.changes,
        ms(r.bond).map_or("never (30 s)".into(), |m| format!("{m:.0} ms")),
        ms(r.back).map_or("not reached (30 s)".into(), |m| format!("{m:.0} ms")),
        r.during_conns,
        r.during_unauth,
        r.catalog.0,
        r.catalog.1,
    );
    println!(
        "{}",
        serde_json::json!({
            "scenario": "attack",
            "attack": name(r.kind),
            "rss_idle_mb": mb(r.idle_rss),
            "rss_above_idle_mb": above,
            "rss_after_mb": mb(r.rss_after),
            "stream_idle_per_s": r.idle.stream,
            "stream_attacked_per_s": r.attacked.stream,
            "stream_pct_of_idle": stream_pct,
            "commits_idle_per_s": r.idle.commits,
            "commits_attacked_per_s": r.attacked.commits,
            "leader_changes": r.changes,
            "newcomer_bond_ms": ms(r.bond),
            "baseline_after_ms": ms(r.back),
            "held_connections": r.during_conns,
            "unauthenticated_bytes": r.during_unauth,
            "catalog_before": r.catalog.0,
            "catalog_during": r.catalog.1,
        })
    );
}
