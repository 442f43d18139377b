//! The `mosaik` command-line tool.
//!
//! `mosaik node` starts a plain node that prints its identity and address
//! and runs until interrupted.

use {
    anyhow::Context,
    clap::{Parser, Subcommand},
    mosaik::{Network, iroh::RelayMode},
    std::net::SocketAddr,
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
        Command::Node {
            network,
            secret,
            bind,
            no_relay,
            once,
        } => {
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
    }
}
