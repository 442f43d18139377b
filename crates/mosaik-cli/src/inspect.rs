//! `mosaik inspect`: join a network through bootstrap peers and show what
//! its catalog knows — peers with tags, streams and groups, and RTTs.
//!
//! Group leaders are not part of peer entries, so they cannot be seen from
//! outside a group: the report lists each group's members instead.

use {
    crate::args::PeerAddr,
    anyhow::Context,
    core::time::Duration,
    mosaik::{Network, discovery::PeerEntry, futures::future::join_all, iroh::RelayMode},
    serde::Serialize,
    std::{collections::BTreeMap, time::Instant},
};

/// The catalog counts as synced once it has not changed for this long.
const SETTLE: Duration = Duration::from_millis(1500);

/// Time each peer gets to answer the RTT ping.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// `mosaik inspect` flags.
#[derive(Debug, clap::Args)]
pub struct Inspect {
    /// Network id: 64 hex characters, or any text (hashed).
    #[arg(short, long)]
    network: String,
    /// Bootstrap peers: `<peer id>@<ip:port>,...` (as `mosaik beacon`
    /// prints it), or a bare `<peer id>`.
    #[arg(short, long = "peer", required = true, num_args = 1..)]
    peers: Vec<PeerAddr>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Longest wait for the catalog to sync, in seconds.
    #[arg(short, long, default_value_t = 10)]
    wait: u64,
    /// Disable relays (direct addresses only).
    #[arg(long)]
    no_relay: bool,
    /// Instead of printing once, serve the live dashboard on this address
    /// (e.g. 127.0.0.1:8080) until interrupted.
    #[arg(long, value_name = "ADDR")]
    web: Option<std::net::SocketAddr>,
    /// With `--web`: tag names the page shows by name (the catalog only
    /// carries tags' digests), e.g. `--tag-name validator,sequencer`.
    #[arg(long = "tag-name", value_name = "NAME", value_delimiter = ',')]
    tag_names: Vec<String>,
}

/// One peer as reported.
#[derive(Debug, Serialize)]
struct Peer {
    id: String,
    addresses: Vec<String>,
    relays: Vec<String>,
    tags: Vec<String>,
    streams: Vec<String>,
    groups: Vec<String>,
    protocol: String,
    uptime_s: u64,
    rtt_ms: Option<f64>,
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    network: String,
    synced: bool,
    peers: Vec<Peer>,
    /// Stream id → ids of the peers producing it.
    streams: BTreeMap<String, Vec<String>>,
    /// Group id → ids of the peers that are members.
    groups: BTreeMap<String, Vec<String>>,
}

impl Inspect {
    /// Joins, waits for the catalog to settle, prints, leaves.
    pub async fn run(self) -> anyhow::Result<()> {
        let discovery = mosaik::discovery::Config::builder()
            .no_dht_bootstrap()
            .with_tags(["mosaik-inspect"])
            .with_bootstrap(self.peers.iter().map(|p| p.0.clone()));
        let mut builder =
            Network::builder(crate::args::network(&self.network)).with_discovery(discovery);
        if self.no_relay {
            builder = builder.with_relay_mode(RelayMode::Disabled);
        }
        if let Some(addr) = self.web {
            let names = self
                .tag_names
                .iter()
                .cloned()
                .chain(["mosaik-inspect".into()]);
            builder = builder.with_dashboard_config(
                mosaik::dashboard::DashboardConfig::new(addr).with_tag_names(names),
            );
        }
        let node = builder.build().await.context("starting the node")?;
        if let Some(bound) = node.dashboard_addr() {
            // An observer: it joins no group and produces nothing, so the
            // page shows the catalog's view of the network.
            println!("dashboard: http://{bound}/ (Ctrl-C to stop)");
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            node.shutdown().await;
            return Ok(());
        }
        let synced = settle(&node, Duration::from_secs(self.wait)).await;
        let report = report(&node, synced).await;
        node.shutdown().await;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_table(&report);
        }
        anyhow::ensure!(!report.peers.is_empty(), "no peer answered");
        Ok(())
    }
}

/// Waits until the catalog has peers and stopped changing; false if the
/// deadline came first.
async fn settle(node: &Network, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut last = (0, Instant::now());
    let mut catalog = node.discovery().catalog_watch();
    while Instant::now() < deadline {
        let count = catalog.borrow_and_update().signed_peers_count();
        if count != last.0 {
            last = (count, Instant::now());
        } else if count > 0 && last.1.elapsed() >= SETTLE {
            return true;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), catalog.changed()).await;
    }
    false
}

async fn report(node: &Network, synced: bool) -> Report {
    let catalog = node.discovery().catalog();
    let entries: Vec<PeerEntry> = catalog
        .signed_peers()
        .map(|e| e.clone().into_unsigned())
        .collect();
    let pings = join_all(entries.iter().map(|e| {
        let ping = node.discovery().ping(e.address().clone());
        async move { tokio::time::timeout(PING_TIMEOUT, ping).await.ok()?.ok() }
    }))
    .await;
    let mut streams: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut peers = Vec::with_capacity(entries.len());
    for (entry, ping) in entries.iter().zip(pings) {
        let id = entry.id().to_string();
        for s in entry.streams() {
            streams.entry(s.to_string()).or_default().push(id.clone());
        }
        for g in entry.groups() {
            groups.entry(g.to_string()).or_default().push(id.clone());
        }
        let rtt = ping.map(|(_, rtt)| rtt).or_else(|| catalog.rtt(entry.id()));
        peers.push(Peer {
            id,
            addresses: entry
                .address()
                .ip_addrs()
                .map(ToString::to_string)
                .collect(),
            relays: entry
                .address()
                .relay_urls()
                .map(ToString::to_string)
                .collect(),
            tags: entry.tags().iter().map(ToString::to_string).collect(),
            streams: entry.streams().iter().map(ToString::to_string).collect(),
            groups: entry.groups().iter().map(ToString::to_string).collect(),
            protocol: entry.protocol_version().to_string(),
            uptime_s: entry.uptime().as_secs(),
            rtt_ms: rtt.map(|d| d.as_secs_f64() * 1000.0),
        });
    }
    Report {
        network: node.network_id().to_string(),
        synced,
        peers,
        streams,
        groups,
    }
}

/// First 10 hex characters, as the rest of mosaik shows ids.
fn short(hex: &str) -> &str {
    hex.get(..10).unwrap_or(hex)
}

fn shorts(ids: &[String]) -> String {
    if ids.is_empty() {
        return "-".to_owned();
    }
    ids.iter().map(|i| short(i)).collect::<Vec<_>>().join(",")
}

fn print_table(report: &Report) {
    println!(
        "network {} · {} peers{}",
        short(&report.network),
        report.peers.len(),
        if report.synced {
            ""
        } else {
            " (catalog still changing)"
        }
    );
    println!();
    println!(
        "{:<12} {:<24} {:>9} {:>8}  {:<24} {:<24} groups",
        "peer", "address", "rtt", "uptime", "tags", "streams"
    );
    for p in &report.peers {
        let rtt = p
            .rtt_ms
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.2} ms"));
        println!(
            "{:<12} {:<24} {:>9} {:>7}s  {:<24} {:<24} {}",
            short(&p.id),
            p.addresses.first().map_or("-", String::as_str),
            rtt,
            p.uptime_s,
            shorts(&p.tags),
            shorts(&p.streams),
            shorts(&p.groups),
        );
    }
    let sections = [
        ("streams (producers)", &report.streams),
        (
            "groups (members; leaders are not advertised)",
            &report.groups,
        ),
    ];
    for (title, map) in sections {
        println!();
        println!("{title}:");
        if map.is_empty() {
            println!("  none");
        }
        for (id, peers) in map {
            println!("  {}  {}", short(id), shorts(peers));
        }
    }
}
