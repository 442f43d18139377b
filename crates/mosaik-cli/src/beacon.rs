//! `mosaik beacon`: a long-lived bootstrap node.
//!
//! A normal node with a stable identity (from `--secret`) and role tags;
//! others list it as their bootstrap peer. It joins the DHT bootstrap like
//! any node unless `--no-dht`.

use {
    crate::args::{PeerAddr, display_addr},
    anyhow::Context,
    mosaik::{Network, Tag, iroh::RelayMode},
    std::net::SocketAddr,
};

/// `mosaik beacon` flags (SPEC §1.10, plus `--bind`, `--no-dht`, `--once`).
#[derive(Debug, clap::Args)]
pub struct Beacon {
    /// Network id: 64 hex characters, or any text (hashed).
    #[arg(short, long)]
    network: String,
    /// Secret key: 64 hex characters, or any text used as a seed; the same
    /// seed always gives the same peer id. Random when absent.
    #[arg(short, long)]
    secret: Option<String>,
    /// Other bootstrap peers: `<peer id>` or `<peer id>@<ip:port>,...`.
    #[arg(short, long, num_args = 1..)]
    peers: Vec<PeerAddr>,
    /// Tags this node advertises.
    #[arg(short, long, num_args = 1.., default_value = "beacon-node")]
    tags: Vec<String>,
    /// Disable relays (direct addresses only).
    #[arg(long)]
    no_relay: bool,
    /// Do not use the Mainline DHT bootstrap.
    #[arg(long)]
    no_dht: bool,
    /// Addresses to bind (default: all interfaces, random port).
    #[arg(short, long)]
    bind: Vec<SocketAddr>,
    /// Exit right after printing the identity (for scripts and tests).
    #[arg(long)]
    once: bool,
}

impl Beacon {
    /// Runs the beacon until Ctrl-C (or at once with `--once`).
    pub async fn run(self) -> anyhow::Result<()> {
        let mut discovery = mosaik::discovery::Config::builder()
            .with_tags(self.tags.iter().map(|t| Tag::from(t.as_str())))
            .with_bootstrap(self.peers.into_iter().map(|p| p.0));
        if self.no_dht {
            discovery = discovery.no_dht_bootstrap();
        }
        let mut builder = Network::builder(crate::args::network(&self.network))
            .with_addresses(self.bind)
            .with_discovery(discovery);
        if let Some(secret) = &self.secret {
            builder = builder.with_secret_key(crate::args::secret(secret));
        }
        if self.no_relay {
            builder = builder.with_relay_mode(RelayMode::Disabled);
        }
        let node = builder.build().await.context("starting the beacon")?;
        node.online().await;
        let addr = node.local().addr();
        println!("network:   {}", node.network_id());
        println!("peer id:   {}", node.local().id());
        for ip in addr.ip_addrs() {
            println!("ip:        {ip}");
        }
        for relay in addr.relay_urls() {
            println!("relay:     {relay}");
        }
        println!("tags:      {}", self.tags.join(", "));
        println!("bootstrap: {}", display_addr(&addr));
        if !self.once {
            println!("running; press Ctrl-C to stop");
            tokio::signal::ctrl_c().await?;
        }
        node.shutdown().await;
        Ok(())
    }
}
