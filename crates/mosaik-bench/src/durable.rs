//! B1 durable: the 3-member commit path with every member on a
//! `DurableStore`, next to a 3-member etcd whose data is on the same disk,
//! in the same run, with the physical floor (`floor.rs`) measured before
//! each run. Runs alternate which system goes first, so a change in the
//! machine's load does not favour one side; medians over the runs are
//! reported with the goal checks:
//!
//! - 64 clients: mosaik commits/s ≥ etcd's;
//! - 1 client: mosaik p50 ≤ one `fdatasync` + 2 loopback RTTs + apply.

use {
    crate::{
        floor::{Floor, ensure_disk},
        groups::{self, Logs, Sample},
        groups_etcd,
    },
    mosaik::groups::ConsensusConfig,
    std::{fmt::Write as _, path::Path, time::Duration},
};

/// Runs B1 durable `runs` times with data under `dir` (must be a disk);
/// `strict` runs the group in strict mode (`min_quorum` 2).
pub async fn commits(
    dir: &Path,
    clients: &[usize],
    total: usize,
    runs: usize,
    (etcd, strict): (bool, bool),
) -> anyhow::Result<()> {
    let config = if strict {
        println!("B1 durable: the group runs in strict mode (min_quorum 2)");
        ConsensusConfig::builder().with_min_quorum(2).build()?
    } else {
        ConsensusConfig::default()
    };
    std::fs::create_dir_all(dir)?;
    ensure_disk(dir)?;
    let mut floors = Vec::new();
    let mut ours: Vec<Vec<Sample>> = Vec::new();
    let mut theirs: Vec<Vec<Sample>> = Vec::new();
    for run in 0..runs.max(1) {
        let base = dir.join(format!("run-{}-{run}", std::process::id()));
        let floor = Floor::measure(&base).await?;
        floor.report();
        floors.push(floor);
        // Odd runs measure etcd first.
        let etcd_first = etcd && run % 2 == 1;
        if etcd_first {
            theirs.push(etcd_run(&base, clients, total).await?);
        }
        let logs = Logs::Durable(base.join("mosaik"));
        let result = groups::commits(clients, total, config.clone(), &logs).await;
        let _ = std::fs::remove_dir_all(base.join("mosaik"));
        ours.push(result?);
        if etcd && !etcd_first {
            theirs.push(etcd_run(&base, clients, total).await?);
        }
        let _ = std::fs::remove_dir_all(&base);
    }
    summarize(clients, &floors, &ours, &theirs);
    Ok(())
}

async fn etcd_run(base: &Path, clients: &[usize], total: usize) -> anyhow::Result<Vec<Sample>> {
    let dir = base.join("etcd");
    std::fs::create_dir_all(&dir)?;
    let result = groups_etcd::commits(clients, total, Some(&dir)).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn median_by<T>(items: &[T], key: impl Fn(&T) -> Duration) -> Duration {
    let mut values: Vec<_> = items.iter().map(key).collect();
    values.sort();
    values[values.len() / 2]
}

fn median_rate(samples: &[&Sample]) -> f64 {
    let mut rates: Vec<f64> = samples.iter().map(|s| s.rate).collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// The medians over runs, per client count, their ratios and the goals.
fn summarize(clients: &[usize], floors: &[Floor], ours: &[Vec<Sample>], theirs: &[Vec<Sample>]) {
    let runs = ours.len();
    let fsync = median_by(floors, |f| f.fsync_p50);
    let budget = median_by(floors, Floor::budget);
    println!(
        "B1 durable floor (median of {runs} runs): fdatasync p50 {fsync:?}, QUIC RTT p50 {:?}, TCP RTT p50 {:?}, apply {:?}, 1-client budget {budget:?}",
        median_by(floors, |f| f.quic_rtt_p50),
        median_by(floors, |f| f.tcp_rtt_p50),
        median_by(floors, |f| f.apply),
    );
    for (i, &n) in clients.iter().enumerate() {
        let a: Vec<&Sample> = ours.iter().map(|r| &r[i]).collect();
        let (rate, p50, p99) = (
            median_rate(&a),
            median_by(&a, |s| s.p50),
            median_by(&a, |s| s.p99),
        );
        let mut line = format!(
            "B1 durable, {n} clients (median of {runs} runs): mosaik {rate:.0} commits/s p50 {p50:?} p99 {p99:?}"
        );
        let mut json = format!(
            "{{\"scenario\":\"B1-durable\",\"clients\":{n},\"runs\":{runs},\"commits_per_s\":{rate:.1},\"p50_us\":{},\"p99_us\":{},\"fdatasync_p50_us\":{},\"budget_us\":{}",
            p50.as_micros(),
            p99.as_micros(),
            fsync.as_micros(),
            budget.as_micros()
        );
        if !theirs.is_empty() {
            let b: Vec<&Sample> = theirs.iter().map(|r| &r[i]).collect();
            let (e_rate, e50, e99) = (
                median_rate(&b),
                median_by(&b, |s| s.p50),
                median_by(&b, |s| s.p99),
            );
            let ratio = rate / e_rate;
            let _ = write!(
                line,
                "; etcd {e_rate:.0} commits/s p50 {e50:?} p99 {e99:?}; mosaik/etcd commits/s {ratio:.2}"
            );
            let _ = write!(
                json,
                ",\"etcd_commits_per_s\":{e_rate:.1},\"etcd_p50_us\":{},\"etcd_p99_us\":{},\"ratio\":{ratio:.3}",
                e50.as_micros(),
                e99.as_micros()
            );
            if n >= 64 {
                let met = if ratio >= 1.0 { "met" } else { "NOT met" };
                let _ = write!(line, " (goal >= etcd: {met})");
            }
        }
        if n == 1 {
            let met = if p50 <= budget { "met" } else { "NOT met" };
            let _ = write!(
                line,
                " (goal p50 <= fdatasync + 2 RTT + apply = {budget:?}: {met}, {:.2}x)",
                p50.as_secs_f64() / budget.as_secs_f64()
            );
        }
        println!("{line}");
        println!("{json}}}");
    }
}
