//! The `mosaik` command-line tool.
//!
//! - `mosaik demo`: a self-organizing local cluster, shown live.
//! - `mosaik beacon`: a long-lived bootstrap node.
//! - `mosaik inspect`: join a network and show its peers, streams, groups.
//! - `mosaik dht`: show a network's DHT bootstrap slots.
//!
//! Logs go to stderr, filtered by `RUST_LOG`.

mod args;
mod beacon;
mod demo;
mod dht;
mod inspect;

use {
    clap::{Parser, Subcommand},
    core::time::Duration,
    std::io::IsTerminal,
};

#[derive(Parser)]
#[command(
    name = "mosaik",
    about = "mosaik: self-organizing distributed systems",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a self-organizing cluster on this machine and shows what the
    /// runtime does: discovery, a stream, a replicated store, leader
    /// failover. Needs no configuration and no internet.
    Demo {
        /// Members to start (at least 3).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(3..=64))]
        nodes: u16,
        /// Seconds the stream and the writers run; the leader is killed
        /// halfway.
        #[arg(long, default_value_t = 30)]
        duration: u64,
        /// Line-oriented output (chosen automatically when stdout is not a
        /// terminal).
        #[arg(long)]
        plain: bool,
        /// Serve the live dashboard on this address (e.g. 127.0.0.1:8080)
        /// from one more node that watches the cluster.
        #[arg(long, value_name = "ADDR")]
        web: Option<std::net::SocketAddr>,
    },
    /// Runs a bootstrap node with a stable identity.
    Beacon(beacon::Beacon),
    /// Joins a network through bootstrap peers and prints its peers with
    /// tags, streams, groups and RTTs.
    Inspect(inspect::Inspect),
    /// Shows the DHT bootstrap slots of a network.
    Dht(dht::Dht),
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    // Boxed: the demo's future is large, and main's stack need not hold it.
    if let Err(error) = Box::pin(run(Cli::parse().command)).await {
        // One line with its causes; no backtrace (these are user-facing).
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo {
            nodes,
            duration,
            plain,
            web,
        } => {
            let options = demo::Options {
                nodes: usize::from(nodes),
                duration: Duration::from_secs(duration),
                plain: plain || !std::io::stdout().is_terminal(),
                web,
            };
            let summary = Box::pin(demo::run(options)).await?;
            if !summary.ok() {
                // Lost writes or no failover: the demo failed its promise.
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Beacon(beacon) => beacon.run().await,
        Command::Inspect(inspect) => inspect.run().await,
        Command::Dht(dht) => dht.run().await,
    }
}
