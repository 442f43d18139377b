//! B1 on the original mosaik 0.3.18: three members on loopback with
//! in-memory logs, N closed-loop clients on the leader, each committing
//! 1,280-byte commands (256 B key + 1 KiB value) with `execute`. Prints the
//! same summary line and JSON record as `mosaik-bench groups`, tagged
//! `"system":"original"`, so the driver can pair them.
//!
//! Usage: `mosaik-bench-original <clients,...> <commits>`.

use {
    mosaik::{
        Network, UniqueId,
        discovery::Config,
        groups::{ApplyContext, GroupKey, LogReplaySync, StateMachine},
        iroh::RelayMode,
    },
    std::time::{Duration, Instant},
};

const PAYLOAD: usize = 256 + 1024;

#[derive(Debug, Clone, Default)]
struct Sink {
    bytes: u64,
}

impl StateMachine for Sink {
    type Command = Vec<u8>;
    type Query = ();
    type QueryResult = u64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("mosaik-bench-sink-v1")
    }

    fn apply(&mut self, command: Vec<u8>, _: &dyn ApplyContext) {
        self.bytes += command.len() as u64;
    }

    fn query(&self, (): ()) -> u64 {
        self.bytes
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}

async fn node(name: &str, bootstrap: Option<mosaik::iroh::EndpointAddr>) -> anyhow::Result<Network> {
    let mut config = Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1));
    if let Some(addr) = bootstrap {
        config = config.with_bootstrap(addr);
    }
    Ok(Network::builder(name)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse()?])
        .with_discovery(config)
        .build()
        .await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let clients: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "1,8,64,256".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let total: usize = args.next().unwrap_or_else(|| "4000".into()).parse()?;

    let name = "bench-b1-original";
    let first = node(name, None).await?;
    let addr = first.local().addr();
    let mut nets = vec![first];
    for _ in 1..3 {
        nets.push(node(name, Some(addr.clone())).await?);
    }
    // Offline, the original resolves peers' addresses only through n0's DNS
    // service; an explicit exchange with every other member (full
    // addresses) puts their entries in each catalog instead.
    for (i, a) in nets.iter().enumerate() {
        for (j, b) in nets.iter().enumerate() {
            if i < j {
                a.discovery()
                    .sync_with(b.local().addr())
                    .await
                    .map_err(|e| anyhow::anyhow!("catalog sync: {e}"))?;
            }
        }
    }
    let key = GroupKey::from_secret(name);
    let groups: Vec<_> = nets
        .iter()
        .map(|n| n.groups().with_key(key).with_state_machine(Sink::default()).join())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let leader = groups[0].leader();
        let agreed = leader.is_some()
            && groups
                .iter()
                .all(|g| g.leader() == leader && g.bonds().len() == 2);
        if agreed {
            break;
        }
        if Instant::now() >= deadline {
            let state: Vec<_> = groups
                .iter()
                .zip(&nets)
                .map(|(g, n)| (g.leader(), g.bonds().len(), n.discovery().catalog().signed_peers().count()))
                .collect();
            anyhow::bail!("no agreed leader within 60 s: (leader, bonds, catalog) per member {state:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Group handles are not Clone in 0.3.18: the clients share them.
    let at = groups.iter().position(|g| g.is_leader()).expect("a leader");
    let groups = std::sync::Arc::new(groups);
    for n in clients {
        let per_client = (total / n).max(1);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let groups = groups.clone();
            tasks.spawn(async move {
                let group = &groups[at];
                let mut latencies = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let t = Instant::now();
                    group
                        .execute(vec![7u8; PAYLOAD])
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    latencies.push(t.elapsed());
                }
                anyhow::Ok(latencies)
            });
        }
        let mut all = Vec::new();
        while let Some(done) = tasks.join_next().await {
            all.extend(done??);
        }
        let elapsed = started.elapsed();
        all.sort();
        let rate = all.len() as f64 / elapsed.as_secs_f64();
        let at = |p: f64| all[((all.len() - 1) as f64 * p).round() as usize];
        let (p50, p99) = (at(0.5), at(0.99));
        println!(
            "B1: original mosaik 0.3.18, 3-member group, in-memory log, {n} clients: {rate:.0} commits/s, p50 {p50:?}, p99 {p99:?} ({} commits)",
            all.len()
        );
        println!(
            "{{\"scenario\":\"B1\",\"system\":\"original\",\"clients\":{n},\"commits\":{},\"commits_per_s\":{rate:.1},\"p50_us\":{},\"p99_us\":{}}}",
            all.len(),
            p50.as_micros(),
            p99.as_micros()
        );
    }
    std::process::exit(0);
}
