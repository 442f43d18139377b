//! Benchmark driver: prints one summary line and one JSON record per
//! scenario. Figures are for comparison within one run; nothing here fails
//! on speed.

// Figures are reported as floating point; precision loss is irrelevant here.
#![allow(clippy::cast_precision_loss)]

mod all;
mod attack;
mod collections;
mod collections_etcd;
mod cpu;
mod discovery;
mod durable;
mod etcd;
mod floor;
mod groups;
mod groups_etcd;
mod iperf3;
mod log_sync;
mod nats;
mod original;
mod pingpong;
mod plot;
mod recovery;
mod serf;
mod streams;
mod sync;
mod transport;
mod zenoh;

use {
    clap::{Parser, Subcommand},
    std::path::PathBuf,
};

#[derive(Parser)]
#[command(about = "mosaik benchmarks")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Every scenario in one run, each peer system included when its
    /// binary is installed (etcd from `etcd-server`, `nats-server`).
    All {
        /// Small sizes and one run each: finishes in a few minutes.
        #[arg(long)]
        quick: bool,
        /// Directory on a disk for the durable scenario.
        #[arg(long, default_value = "/var/tmp/mosaik-bench")]
        dir: PathBuf,
    },
    /// `Network::new` start-up time (median of N).
    Startup {
        /// How many networks to start.
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// B5: discovery convergence and departure propagation.
    Discovery {
        /// Cluster sizes.
        #[arg(long, value_delimiter = ',', default_values_t = [5, 10, 20])]
        nodes: Vec<usize>,
        /// Trials per size (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Also time the same convergence with `serf` agents (Debian's
        /// serf).
        #[arg(long)]
        serf: bool,
    },
    /// B1 next to the original mosaik 0.3.18 (built from crates.io by
    /// `bench/original` on first use) and etcd when installed, in
    /// interleaved runs; prints the medians and their ratios.
    Original {
        /// Concurrent client counts.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 64, 256])]
        clients: Vec<usize>,
        /// Commits per client count.
        #[arg(long, default_value_t = 4000)]
        commits: usize,
        /// Interleaved runs (medians are reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Leave etcd out even when installed.
        #[arg(long)]
        no_etcd: bool,
    },
    /// B1: 3-member group commit throughput and latency (in-memory log).
    Groups {
        /// Concurrent client counts.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 64])]
        clients: Vec<usize>,
        /// Commits per client count.
        #[arg(long, default_value_t = 2000)]
        commits: usize,
        /// Also run B2 (failover) with this many trials per timing (0 = skip).
        #[arg(long, default_value_t = 3)]
        failover_runs: usize,
        /// Also run both against a 3-member etcd cluster (needs `etcd` from
        /// Debian's etcd-server) and print the ratios.
        #[arg(long)]
        etcd: bool,
    },
    /// B1 durable: the 3 members on `DurableStore`s and a 3-member etcd,
    /// both with their data under `--dir` (a disk, not tmpfs), next to the
    /// disk's fdatasync and the loopback RTT, same run.
    GroupsDurable {
        /// Directory for the data (refused if on tmpfs/ramfs).
        #[arg(long, default_value = "/var/tmp/mosaik-bench")]
        dir: PathBuf,
        /// Concurrent client counts.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 64])]
        clients: Vec<usize>,
        /// Commits per client count.
        #[arg(long, default_value_t = 2000)]
        commits: usize,
        /// Runs (medians are reported; odd runs measure etcd first).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Skip etcd.
        #[arg(long)]
        no_etcd: bool,
        /// Run the group in strict mode (`min_quorum` 2), where a commit
        /// record needs no sync of its own.
        #[arg(long)]
        strict: bool,
    },
    /// Recovery time of a durable member with a long log: open, election,
    /// re-commit and apply of every entry; warm and cold page cache.
    Recovery {
        /// Directory for the data (refused if on tmpfs/ramfs).
        #[arg(long, default_value = "/var/tmp/mosaik-bench")]
        dir: PathBuf,
        /// Log entries.
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Command size in bytes.
        #[arg(long, default_value_t = 1024)]
        entry_size: usize,
        /// Restarts per cache state (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// State sync: a late joiner catches up a `SnapshotSync` snapshot of
    /// `items` x 1 KiB values from 3 members.
    Sync {
        /// Items in the snapshot.
        #[arg(long, default_value_t = 100_000)]
        items: u64,
    },
    /// Log catch-up: a late joiner replays `entries` x 1 KiB commands,
    /// fetched from all members vs streamed by the leader (same run).
    LogSync {
        /// Log entries.
        #[arg(long, default_value_t = 100_000)]
        entries: u64,
        /// Runs per path (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// B6: a late joiner catches up a large replicated map by snapshot
    /// while writes continue.
    Collections {
        /// Map entries.
        #[arg(long, default_value_t = 100_000)]
        entries: u64,
        /// Value size in bytes.
        #[arg(long, default_value_t = 1024)]
        value_size: usize,
        /// Writer members before the late member joins.
        #[arg(long, default_value_t = 3)]
        members: usize,
        /// Map value type.
        #[arg(long, value_enum, default_value_t = streams::Payload::Bytes)]
        payload: streams::Payload,
        /// Also run it against a learner added to a 3-member etcd (needs
        /// `etcd` from Debian's etcd-server).
        #[arg(long)]
        etcd: bool,
    },
    /// Hostile peers (issue 17): each attack against a 3-node cluster
    /// running a stream and a committing group; service figures vs idle.
    Attack {
        /// Attacks to run (all when omitted).
        #[arg(long, value_enum, value_delimiter = ',')]
        kinds: Vec<attack::Kind>,
        /// Seconds each attack's service window lasts.
        #[arg(long, default_value_t = 10)]
        secs: u64,
    },
    /// The attacker process of `attack` (runs until killed).
    #[command(hide = true)]
    AttackRun {
        /// The attack.
        #[arg(long, value_enum)]
        kind: attack::Kind,
        /// The victim's network id.
        #[arg(long)]
        network: String,
        /// The victim's address (JSON).
        #[arg(long)]
        target: String,
    },
    /// B7: Link framing throughput next to a raw iroh stream, same run.
    Transport {
        /// Frame size in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Megabytes to move per system.
        #[arg(long, default_value_t = 256)]
        megabytes: usize,
        /// Also move the same bytes over loopback TCP with `iperf3`
        /// (Debian package `iperf3`).
        #[arg(long)]
        iperf3: bool,
    },
    /// B3: stream throughput, 1 producer to 1 and to 4 consumers, next to raw
    /// iroh streams, same run.
    Streams {
        /// Payload sizes in bytes.
        #[arg(long, value_delimiter = ',', default_values_t = [16, 1024, 65536])]
        sizes: Vec<usize>,
        /// Consumer counts.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 4])]
        consumers: Vec<usize>,
        /// Megabytes per consumer per run (capped at 1M messages).
        #[arg(long, default_value_t = 64)]
        megabytes: usize,
        /// Datum type carried by the stream.
        #[arg(long, value_enum, default_value_t = streams::Payload::Bytes)]
        payload: streams::Payload,
        /// Also run it on a local `nats-server` (Debian's nats-server).
        #[arg(long)]
        nats: bool,
        /// Also run it on Zenoh sessions in peer mode over loopback TCP
        /// (`bench/zenoh`, built from crates.io on first use).
        #[arg(long)]
        zenoh: bool,
    },
    /// B4: stream ping-pong RTT next to a raw iroh echo, same run.
    StreamsRtt {
        /// Payload sizes in bytes.
        #[arg(long, value_delimiter = ',', default_values_t = [64, 1024])]
        sizes: Vec<usize>,
        /// Measured round trips per size.
        #[arg(long, default_value_t = 2000)]
        rounds: usize,
        /// Datum type carried by the streams.
        #[arg(long, value_enum, default_value_t = streams::Payload::Bytes)]
        payload: streams::Payload,
        /// Also run it on a local `nats-server` (Debian's nats-server).
        #[arg(long)]
        nats: bool,
        /// Also run it on Zenoh sessions in peer mode over loopback TCP
        /// (`bench/zenoh`, built from crates.io on first use).
        #[arg(long)]
        zenoh: bool,
    },
    /// Draws the scaling curves (B1, B1 durable, B3, B4, B5, B7) as PNGs
    /// from saved output of runs (`mosaik-bench all | tee run.log`);
    /// repeated points are plotted as their median.
    Plot {
        /// Saved stdout of bench runs; lines that are not JSON records are
        /// ignored.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Directory the PNGs are written to.
        #[arg(long, default_value = "docs/plots")]
        out: PathBuf,
    },
}

/// Environment variable for A/B runs of the datagram bound: the
/// `with_max_datagram_size` of every node the bench starts (1452: iroh's
/// own bound, as before mosaik raised it).
const MAX_DATAGRAM_ENV: &str = "MOSAIK_BENCH_MAX_DATAGRAM";

/// A node on loopback with relays off, and the datagram bound of
/// [`MAX_DATAGRAM_ENV`] when set.
pub(crate) fn loopback_node(network: &str) -> mosaik::network::NetworkBuilder {
    let mut builder = mosaik::Network::builder(network)
        .with_relay_mode(mosaik::iroh::RelayMode::Disabled)
        .with_addresses([std::net::SocketAddr::from(([127, 0, 0, 1], 0))]);
    if let Some(bytes) = std::env::var(MAX_DATAGRAM_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder = builder.with_max_datagram_size(bytes);
    }
    builder
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().scenario {
        Scenario::Startup { runs } => transport::startup(runs).await,
        Scenario::Sync { items } => sync::catch_up(items).await,
        Scenario::LogSync { entries, runs } => log_sync::catch_up(entries, runs).await,
        Scenario::Discovery { nodes, runs, serf } => {
            discovery::convergence(&nodes, runs, serf).await
        }
        Scenario::Groups {
            clients,
            commits,
            failover_runs,
            etcd,
        } => all::groups(&clients, commits, failover_runs, etcd).await,
        Scenario::All { quick, dir } => all::all(quick, &dir).await,
        Scenario::Original {
            clients,
            commits,
            runs,
            no_etcd,
        } => original::b1(&clients, commits, runs, !no_etcd && all::installed("etcd")).await,
        Scenario::GroupsDurable {
            dir,
            clients,
            commits,
            runs,
            no_etcd,
            strict,
        } => durable::commits(&dir, &clients, commits, runs, (!no_etcd, strict)).await,
        Scenario::Recovery {
            dir,
            entries,
            entry_size,
            runs,
        } => recovery::recovery(&dir, entries, entry_size, runs).await,
        Scenario::Collections {
            entries,
            value_size,
            members,
            payload,
            etcd,
        } => {
            collections::catch_up(entries, value_size, members, payload).await?;
            if etcd {
                collections_etcd::catch_up(entries, value_size).await?;
            }
            Ok(())
        }
        Scenario::Transport {
            size,
            megabytes,
            iperf3,
        } => transport::throughput(size, megabytes, iperf3).await,
        Scenario::Streams {
            sizes,
            consumers,
            megabytes,
            payload,
            nats,
            zenoh,
        } => streams::throughput(&sizes, &consumers, megabytes, payload, nats, zenoh).await,
        Scenario::StreamsRtt {
            sizes,
            rounds,
            payload,
            nats,
            zenoh,
        } => streams::rtt(&sizes, rounds, payload, nats, zenoh).await,
        Scenario::Plot { inputs, out } => plot::plot(&inputs, &out),
        Scenario::Attack { kinds, secs } => attack::attacks(&kinds, secs).await,
        Scenario::AttackRun {
            kind,
            network,
            target,
        } => attack::run_attacker(kind, &network, &target).await,
    }
}
