//! `all`: every scenario in one run, with the peer systems that are
//! installed (etcd, nats-server, serf, iperf3) or that cargo can build (Zenoh, in
//! `bench/zenoh`), and B1/B2 with their etcd ratios (also the `groups`
//! scenario). One scenario failing is reported and the others still run;
//! the run then ends with an error naming the failed ones.

use {
    crate::{
        collections, collections_etcd, discovery, durable, groups, groups_etcd, streams, transport,
        zenoh,
    },
    std::{future::Future, path::Path, pin::Pin, time::Instant},
};

/// B1 (in memory) and B2, and the same on a 3-member etcd when `etcd`.
pub async fn groups(
    clients: &[usize],
    commits: usize,
    failover_runs: usize,
    etcd: bool,
) -> anyhow::Result<()> {
    let ours = groups::commits(
        clients,
        commits,
        mosaik::groups::ConsensusConfig::default(),
        &groups::Logs::Memory,
    )
    .await?;
    if etcd {
        let theirs = groups_etcd::commits(clients, commits, None).await?;
        for ((n, a), b) in clients.iter().zip(&ours).zip(&theirs) {
            println!(
                "B1 ratio: {n} clients: mosaik/etcd commits/s = {:.2}",
                a.rate / b.rate
            );
        }
    }
    if failover_runs > 0 {
        let matched = groups::failover(failover_runs, "100ms/1s", groups::matched_timing()).await?;
        let defaults = mosaik::groups::ConsensusConfig::default();
        groups::failover(failover_runs, "defaults", defaults).await?;
        if etcd {
            let theirs = groups_etcd::failover(failover_runs).await?;
            println!(
                "B2 ratio: matched timing: mosaik/etcd failover = {:.2}",
                matched.as_secs_f64() / theirs.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Whether `binary` is on the `PATH`.
pub(crate) fn installed(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(binary).is_file()))
}

/// `cargo` of the toolchain that built this bench, for building the peer
/// crates (`bench/original`, `bench/zenoh`), with that toolchain's `rustc`
/// pinned: through rustup's proxy, `rustc` follows a `rust-toolchain.toml`
/// in the directory it compiles in, and one dependency of the original
/// (`convert_case` 0.10) ships one naming a toolchain that is not installed.
pub(crate) fn cargo() -> std::process::Command {
    let cargo = Path::new(env!("CARGO"));
    let mut command = std::process::Command::new(cargo);
    let rustc = cargo.with_file_name("rustc");
    if rustc.is_file() {
        command.env("RUSTC", rustc);
    }
    // The peers' crates (`bench/original`, `bench/zenoh`) build as they
    // would on their own: without this workspace's `.cargo/config.toml`
    // flags (`--cfg tokio_unstable`, there for the simulator), which cargo
    // would otherwise apply from the working directory. Flags the user set
    // in the environment still apply to both sides.
    if std::env::var_os("RUSTFLAGS").is_none()
        && std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_none()
    {
        command.env("CARGO_ENCODED_RUSTFLAGS", "");
    }
    command
}

/// Runs one scenario, printing its name and time; records a failure.
/// Scenarios are boxed: their futures are tens of kilobytes each.
async fn run(
    name: &str,
    failed: &mut Vec<String>,
    scenario: Pin<Box<dyn Future<Output = anyhow::Result<()>> + '_>>,
) {
    println!("== {name}");
    let started = Instant::now();
    match scenario.await {
        Ok(()) => println!(
            "== {name}: done in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        Err(err) => {
            println!("== {name}: FAILED: {err:#}");
            failed.push(name.to_owned());
        }
    }
}

/// Every scenario; `quick` uses small sizes and one run each.
pub async fn all(quick: bool, dir: &Path) -> anyhow::Result<()> {
    let etcd = installed("etcd");
    let nats = installed("nats-server");
    let serf = installed("serf");
    let iperf3 = installed("iperf3");
    let found = |yes: bool| {
        if yes {
            "installed"
        } else {
            "not installed (skipped)"
        }
    };
    // Built before anything is timed: the first build compiles Zenoh (a
    // few minutes on two cores, once); later ones are cargo's up-to-date
    // check.
    let zenoh = zenoh::available();
    println!(
        "mosaik-bench all{}: etcd {}, nats-server {}, serf {}, iperf3 {}, zenoh {}",
        if quick { " --quick" } else { "" },
        found(etcd),
        found(nats),
        found(serf),
        found(iperf3),
        if zenoh {
            "built"
        } else {
            "not buildable (skipped)"
        },
    );
    let q = |quick_value, full_value| if quick { quick_value } else { full_value };
    let mut failed = Vec::new();
    run(
        "startup",
        &mut failed,
        Box::pin(transport::startup(q(5, 20))),
    )
    .await;
    let clients: &[usize] = if quick { &[1, 64] } else { &[1, 8, 64, 256] };
    let b1 = groups(clients, q(1_000, 4_000), q(1, 3), etcd);
    run("B1/B2 groups (in memory)", &mut failed, Box::pin(b1)).await;
    let durable = durable::commits(dir, &[1, 64], q(500, 2_000), q(1, 3), (etcd, false));
    run("B1 durable", &mut failed, Box::pin(durable)).await;
    let sizes: &[usize] = if quick {
        &[64, 1024, 65536]
    } else {
        &[64, 1024, 65536, 1 << 20]
    };
    let consumers: &[usize] = if quick { &[1] } else { &[1, 4] };
    let b3 = streams::throughput(
        sizes,
        consumers,
        q(8, 64),
        streams::Payload::Bytes,
        nats,
        zenoh,
    );
    run("B3 streams", &mut failed, Box::pin(b3)).await;
    let b4 = streams::rtt(
        &[64, 1024],
        q(500, 2_000),
        streams::Payload::Bytes,
        nats,
        zenoh,
    );
    run("B4 streams-rtt", &mut failed, Box::pin(b4)).await;
    let nodes: &[usize] = if quick { &[5, 10] } else { &[5, 10, 20, 40] };
    run(
        "B5 discovery",
        &mut failed,
        Box::pin(discovery::convergence(nodes, q(1, 3), serf)),
    )
    .await;
    let b6 = collections::catch_up(
        if quick { 10_000 } else { 100_000 },
        1024,
        3,
        streams::Payload::Bytes,
    );
    run("B6 collections", &mut failed, Box::pin(b6)).await;
    if etcd {
        let b6 = collections_etcd::catch_up(if quick { 10_000 } else { 100_000 }, 1024);
        run("B6 etcd", &mut failed, Box::pin(b6)).await;
    }
    run(
        "B7 transport",
        &mut failed,
        Box::pin(transport::throughput(1024, q(32, 256), iperf3)),
    )
    .await;
    anyhow::ensure!(failed.is_empty(), "failed scenarios: {failed:?}");
    Ok(())
}
