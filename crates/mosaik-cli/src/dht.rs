//! `mosaik dht`: show a network's DHT bootstrap slots.
//!
//! Resolves the 16 slots, prints each record (peer, age, addresses,
//! relays), optionally pings every recorded peer, and sums up occupancy.
//! Without internet it fails within `--timeout` with one clear line.

use {
    anyhow::{Context, bail},
    core::time::Duration,
    mosaik::{
        Network,
        discovery::dht::{Lookup, SLOT_COUNT, SlotClient, SlotRecord, slot_public_keys},
        futures::future::join_all,
    },
    std::time::{SystemTime, UNIX_EPOCH},
};

/// Bound on one DHT request (SPEC: 5 s); shorter when `--timeout` is short,
/// so a lookup (a few request rounds) still fits in it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Time each recorded peer gets to answer the health ping.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// `mosaik dht` flags (SPEC §1.10).
#[derive(Debug, clap::Args)]
pub struct Dht {
    /// Network id: 64 hex characters, or any text (hashed).
    #[arg(short, long)]
    network: String,
    /// Ping each recorded peer and report it healthy or unhealthy.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    check_status: bool,
    /// Give up after this many seconds.
    #[arg(short, long, default_value_t = 10)]
    timeout: u64,
    /// DHT bootstrap nodes (`host:port`) instead of the public Mainline
    /// ones, e.g. a local testnet.
    #[arg(long = "dht-bootstrap", hide = true)]
    bootstrap_nodes: Vec<String>,
}

impl Dht {
    /// Runs the inspection.
    pub async fn run(self) -> anyhow::Result<()> {
        let network = crate::args::network(&self.network);
        let timeout = Duration::from_secs(self.timeout.max(1));
        let request = REQUEST_TIMEOUT.min(timeout / 5);
        let lookups = tokio::time::timeout(timeout, self.resolve(network, request))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "the Mainline DHT did not answer within {}s (offline?)",
                    timeout.as_secs()
                )
            })??;
        if lookups.iter().all(|l| *l == Lookup::Unreachable) {
            bail!("no DHT node answered (offline, or the DHT is unreachable)");
        }
        println!("network {network}: {SLOT_COUNT} bootstrap slots");
        let records: Vec<(usize, &SlotRecord)> = lookups
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match l {
                Lookup::Record(r) => Some((i, r)),
                _ => None,
            })
            .collect();
        let health = if self.check_status && !records.is_empty() {
            check(network, &records).await?
        } else {
            vec![None; records.len()]
        };
        let mut healthy_count = 0;
        let mut by_slot = records.iter().zip(&health).peekable();
        for (slot, lookup) in lookups.iter().enumerate() {
            match lookup {
                Lookup::Record(record) => {
                    let (_, status) = by_slot.next().expect("one status per record");
                    let status = match status {
                        Some(Some(uptime)) => {
                            healthy_count += 1;
                            format!("healthy, up {}s", uptime.as_secs())
                        }
                        Some(None) => "unhealthy".to_owned(),
                        None => "not checked".to_owned(),
                    };
                    println!("slot {slot:>2}  {}  {status}", describe(record));
                }
                Lookup::Empty => println!("slot {slot:>2}  empty"),
                Lookup::Malformed { .. } => println!("slot {slot:>2}  malformed record"),
                Lookup::Unreachable => {
                    println!("slot {slot:>2}  unreadable (no DHT node answered)");
                }
            }
        }
        print!("occupied {}/{SLOT_COUNT}", records.len());
        if self.check_status {
            print!(", healthy {healthy_count}");
        }
        println!();
        Ok(())
    }

    async fn resolve(
        &self,
        network: mosaik::NetworkId,
        request: Duration,
    ) -> anyhow::Result<Vec<Lookup>> {
        let bootstrap =
            (!self.bootstrap_nodes.is_empty()).then_some(self.bootstrap_nodes.as_slice());
        let client = SlotClient::connect(bootstrap, request)
            .await
            .context("cannot reach the Mainline DHT (offline?)")?;
        let keys = slot_public_keys(network);
        Ok(join_all(keys.iter().map(|key| client.lookup(key))).await)
    }
}

fn describe(record: &SlotRecord) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let age = Duration::from_micros(now.saturating_sub(record.timestamp));
    let ips: Vec<String> = record.ips.iter().map(ToString::to_string).collect();
    format!(
        "peer {}  published {}s ago  ips [{}]  relays [{}]",
        record.peer,
        age.as_secs(),
        ips.join(", "),
        record.relays.join(", ")
    )
}

/// Pings each recorded peer from a throwaway node on the network: `Some(uptime)`
/// when it answered as a healthy member.
async fn check(
    network: mosaik::NetworkId,
    records: &[(usize, &SlotRecord)],
) -> anyhow::Result<Vec<Option<Option<Duration>>>> {
    let discovery = mosaik::discovery::Config::builder().no_dht_bootstrap();
    let node = Network::builder(network)
        .with_discovery(discovery)
        .build()
        .await
        .context("starting the node used for health checks")?;
    let pings = records.iter().map(|(_, record)| {
        let ping = node.discovery().ping(record.to_endpoint_addr());
        async move {
            let answer = tokio::time::timeout(PING_TIMEOUT, ping).await.ok()?.ok()?;
            Some(answer.0.uptime())
        }
    });
    let results = join_all(pings).await.into_iter().map(Some).collect();
    node.shutdown().await;
    Ok(results)
}
