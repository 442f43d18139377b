//! B1 against the original mosaik 0.3.18 (and etcd when installed), in
//! interleaved runs: each run measures every system at every client count,
//! the order of the systems alternating between runs, and the summary gives
//! each system's median and the ratios of the medians.
//!
//! The original is built from crates.io by the separate crate
//! `bench/original` (not a workspace member: the gate never builds it) the
//! first time this scenario runs; it prints the same JSON records as
//! `groups`, tagged `"system":"original"`. Offline it cannot start as
//! published (it waits for a relay server, and finds peers' addresses only
//! through n0's DNS service): `bench/original/prepare.sh` swaps the waits
//! for a wait on a direct address, and the driver meets its three members
//! with explicit catalog syncs.
//!
//! Ours runs in a fresh process of its own per run too (this binary's
//! `groups` scenario), as the original's driver does: the first group a
//! process starts commits about a third slower than the ones after it (at
//! 8 clients, 28.7k against 39.7–43.8k commits/s in one process, 4 Dec
//! 2026), so running ours in the driver's process, where every run after
//! the first was warm, compared a warm mosaik with a cold original.

use {
    crate::groups::Sample,
    anyhow::Context,
    std::{path::PathBuf, process::Command},
};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/original")
}

/// Fetches and patches the original (`prepare.sh`: its waits for a relay
/// server become waits for a direct address), then builds its driver (a
/// no-op when up to date); the driver's binary.
fn build() -> anyhow::Result<PathBuf> {
    let dir = crate_dir();
    let status = Command::new(dir.join("prepare.sh"))
        .status()
        .context("running bench/original/prepare.sh")?;
    anyhow::ensure!(status.success(), "preparing the original failed");
    let manifest = dir.join("Cargo.toml");
    let status = crate::all::cargo()
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .status()
        .context("running cargo for bench/original")?;
    anyhow::ensure!(status.success(), "building bench/original failed");
    Ok(dir.join("target/release/mosaik-bench-original"))
}

/// The client counts as one comma-separated argument.
fn client_list(clients: &[usize]) -> String {
    clients
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `command` (one B1 run at every client count, printing a JSON
/// record per count), echoes its output and returns commits/s per count.
fn run_records(mut command: Command, what: &str, clients: usize) -> anyhow::Result<Vec<f64>> {
    let out = command
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        // Its `Error:` lines, without the log and backtrace around them.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error:")).collect();
        anyhow::bail!("{what} failed ({}): {}", out.status, errors.join(" / "));
    }
    let mut rates = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("{line}");
        if line.starts_with('{') {
            let record: serde_json::Value = serde_json::from_str(line)?;
            rates.push(record["commits_per_s"].as_f64().context("no rate")?);
        }
    }
    anyhow::ensure!(rates.len() == clients, "missing records from {what}");
    Ok(rates)
}

/// One run of the original at every client count: commits/s per count.
fn run_original(bin: &PathBuf, clients: &[usize], commits: usize) -> anyhow::Result<Vec<f64>> {
    let mut command = Command::new(bin);
    command.args([client_list(clients), commits.to_string()]);
    run_records(command, "the original's driver", clients.len())
}

/// One run of ours at every client count, in a fresh process (see the
/// module docs): commits/s per count.
fn run_ours(clients: &[usize], commits: usize) -> anyhow::Result<Vec<f64>> {
    let mut command = Command::new(std::env::current_exe().context("this binary's path")?);
    command
        .args(["groups", "--clients", &client_list(clients), "--commits"])
        .arg(commits.to_string())
        .args(["--failover-runs", "0"]);
    run_records(command, "our groups scenario", clients.len())
}

/// Attempts per run of one system before the scenario fails.
const ATTEMPTS: usize = 3;

/// The systems, by step number.
const NAMES: [&str; 3] = ["mosaik", "the original", "etcd"];

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// `runs` interleaved runs of B1 on ours, the original and (when `etcd`)
/// a 3-member etcd on tmpfs.
pub async fn b1(clients: &[usize], commits: usize, runs: usize, etcd: bool) -> anyhow::Result<()> {
    let bin = build()?;
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    let mut theirs = ours.clone();
    let mut etcds = ours.clone();
    let mut failed = [0usize; 3];
    let rates = |samples: Vec<Sample>| samples.into_iter().map(|s| s.rate).collect::<Vec<_>>();
    for run in 0..runs {
        println!("B1 interleaved run {}/{runs}", run + 1);
        let mut steps: Vec<u8> = if etcd { vec![0, 1, 2] } else { vec![0, 1] };
        let turn = run % steps.len();
        steps.rotate_left(turn);
        for step in steps {
            // A run that fails (the original now and then never agrees on
            // a leader: "no agreed leader within 60 s") is reported and
            // run again, at most `ATTEMPTS` times in all.
            let mut attempt = 1;
            let got = loop {
                let got = match step {
                    0 => run_ours(clients, commits),
                    1 => run_original(&bin, clients, commits),
                    _ => crate::groups_etcd::commits(clients, commits, None)
                        .await
                        .map(rates),
                };
                match got {
                    Ok(got) => break got,
                    Err(e) if attempt < ATTEMPTS => {
                        failed[usize::from(step)] += 1;
                        println!(
                            "B1 run {} of {}: failed, run again: {e:#}",
                            run + 1,
                            NAMES[usize::from(step)]
                        );
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            };
            let into = match step {
                0 => &mut ours,
                1 => &mut theirs,
                _ => &mut etcds,
            };
            for (slot, rate) in into.iter_mut().zip(got) {
                slot.push(rate);
            }
        }
    }
    println!("B1 medians of {runs} interleaved runs:");
    for (name, failed) in NAMES.iter().zip(failed) {
        if failed > 0 {
            println!("B1: {failed} failed run(s) of {name} were run again");
        }
    }
    for (i, &n) in clients.iter().enumerate() {
        let (a, b) = (median(ours[i].clone()), median(theirs[i].clone()));
        let etcd_rate = (!etcds[i].is_empty()).then(|| median(etcds[i].clone()));
        let vs_etcd = etcd_rate.map_or(String::new(), |e| {
            format!(", etcd {e:.0}, mosaik/etcd {:.2}", a / e)
        });
        println!(
            "B1 {n} clients: mosaik {a:.0} commits/s, original {b:.0}, mosaik/original {:.2}{vs_etcd}",
            a / b
        );
        println!(
            "{{\"scenario\":\"B1\",\"system\":\"summary\",\"clients\":{n},\"runs\":{runs},\"mosaik_commits_per_s\":{a:.1},\"original_commits_per_s\":{b:.1},\"etcd_commits_per_s\":{},\"mosaik_over_original\":{:.3}}}",
            etcd_rate.map_or("null".to_owned(), |e| format!("{e:.1}")),
            a / b
        );
    }
    Ok(())
}
