//! The `mosaik` command-line tool.
//!
//! - `mosaik demo`: a self-organizing local cluster, shown live.
//! - `mosaik node`: a plain node that prints its identity and address.

mod demo;

use {
    anyhow::Context,
    clap::{Parser, Subcommand},
    core::time::Duration,
    mosaik::{Network, iroh::RelayMode},
    std::{io::IsTerminal, net::SocketAddr},
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
    },
    /// Starts a node, prints its id and address, and waits for Ctrl-C.
    Node {
        /// Network id: 64 hex characters, or any text (hashed).
        #[arg(short, long, default_value = "mosaik-demo")]
        network: String,
        /// Secret key seed: 64 hex characters or any text (hashed); random
        /// when absent.
        #[arg(short, long)]
        secret: Option<String>,
        /// Addresses to bind (default: all interfaces, random port).
        #[arg(short, long)]
        bind: Vec<SocketAddr>,
        /// Disable relays (local networks only).
        #[arg(long)]
        no_relay: bool,
        /// Exit right after printing the address (for scripts and smoke
        /// tests).
        #[arg(long)]
        once: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Demo {
            nodes,
            duration,
            plain,
        } => {
            let options = demo::Options {
                nodes: usize::from(nodes),
                duration: Duration::from_secs(duration),
                plain: plain || !std::io::stdout().is_terminal(),
            };
            let summary = demo::run(options).await?;
            if !summary.ok() {
                // Lost writes or no failover: the demo failed its promise.
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Node {
            network,
            secret,
            bind,
            no_relay,
            once,
        } => node(network, secret, bind, no_relay, once).await,
    }
}

async fn node(
    network: String,
    secret: Option<String>,
    bind: Vec<SocketAddr>,
    no_relay: bool,
    once: bool,
) -> anyhow::Result<()> {
    let mut builder = Network::builder(network.as_str()).with_addresses(bind);
    if let Some(secret) = secret {
        builder = builder.with_secret_key(mosaik::Digest::from(secret.as_str()).into());
    }
    if no_relay {
        builder = builder.with_relay_mode(RelayMode::Disabled);
    }
    let node = builder.build().await.context("starting the node")?;
    node.online().await;
    println!("network: {}", node.network_id());
    println!("peer id: {}", node.local().id());
    for addr in node.local().addr().ip_addrs() {
        println!("address: {addr}");
    }
    if !once {
        println!("running; press Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
    }
    node.shutdown().await;
    Ok(())
}
