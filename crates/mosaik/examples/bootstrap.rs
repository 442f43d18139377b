//! A long-lived bootstrap node: other nodes list it as their first peer.
//!
//! ```sh
//! cargo run --example bootstrap -- --network-id my-app --secret my-seed
//! MOSAIK_BOOTSTRAP_NETWORK_ID=my-app MOSAIK_BOOTSTRAP_SECRET=my-seed cargo run --example bootstrap
//! ```
//!
//! The same `--secret` always gives the same peer id, so the address it
//! prints can be written into other nodes' configuration once.

use {
    clap::{ArgAction, Parser},
    mosaik::{Digest, Network, NetworkId, PeerId, SecretKey, Tag, discovery, iroh::RelayMode},
};

/// Every flag can also be set through a `MOSAIK_BOOTSTRAP_*` variable.
#[derive(Parser)]
#[command(about = "A mosaik bootstrap node with a stable identity")]
struct Args {
    /// Secret key: 64 hex characters, or any text used as a seed.
    /// Random when absent (a new peer id each run).
    #[arg(short, long, env = "MOSAIK_BOOTSTRAP_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Network to serve: 64 hex characters, or any text (hashed).
    #[arg(
        short,
        long,
        env = "MOSAIK_BOOTSTRAP_NETWORK_ID",
        default_value = "mosaik"
    )]
    network_id: String,
    /// Other bootstrap peers, by peer id.
    #[arg(short, long, env = "MOSAIK_BOOTSTRAP_PEERS", value_delimiter = ',')]
    peers: Vec<PeerId>,
    /// Tags this node advertises.
    #[arg(
        short,
        long,
        env = "MOSAIK_BOOTSTRAP_TAGS",
        value_delimiter = ',',
        default_value = "bootstrap"
    )]
    tags: Vec<String>,
    /// Disable relays (direct addresses only).
    #[arg(long, env = "MOSAIK_BOOTSTRAP_NO_RELAY")]
    no_relay: bool,
    /// More logging: `-v` info, `-vv` debug (`RUST_LOG` overrides).
    #[arg(short, action = ArgAction::Count, env = "MOSAIK_BOOTSTRAP_VERBOSE")]
    verbose: u8,
    /// No logging at all.
    #[arg(
        short,
        long,
        env = "MOSAIK_BOOTSTRAP_QUIET",
        conflicts_with = "verbose"
    )]
    quiet: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let level = match (args.quiet, args.verbose) {
        (true, _) => "off",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let mut config =
        discovery::Config::builder().with_tags(args.tags.iter().map(|t| Tag::from(t.as_str())));
    for peer in &args.peers {
        config = config.with_bootstrap_peer(*peer);
    }
    let mut builder =
        Network::builder(NetworkId::from(args.network_id.as_str())).with_discovery(config);
    if let Some(secret) = &args.secret {
        let key: SecretKey = Digest::from(secret.as_str()).into();
        builder = builder.with_secret_key(key);
    }
    if args.no_relay {
        builder = builder.with_relay_mode(RelayMode::Disabled);
    }
    let network = builder.build().await?;
    network.online().await;

    let addr = network.local().addr();
    println!("network  {}", network.network_id());
    println!("peer id  {}", network.local().id());
    for ip in addr.ip_addrs() {
        println!("ip       {ip}");
    }
    for relay in addr.relay_urls() {
        println!("relay    {relay}");
    }
    println!("tags     {}", args.tags.join(", "));

    // Report who joins and leaves until Ctrl-C.
    let mut events = network.discovery().events();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            event = events.recv() => match event {
                Ok(event) => tracing::info!(?event, "discovery"),
                // Lagged: some events were skipped; the catalog is still right.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    println!(
        "peers seen: {}",
        network.discovery().catalog().signed_peers_count()
    );
    network.shutdown().await;
    Ok(())
}
