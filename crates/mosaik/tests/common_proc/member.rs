//! One group member, run as its own OS process (`<exe> member ...`).
//!
//! The process is what the crash test kills. Without `--data-dir` everything
//! it knows lives in memory, so a SIGKILL loses it all, exactly like a
//! crashed server with in-memory storage; with `--data-dir <dir>` its log,
//! hard state and snapshot live in a `DurableStore` in `<dir>` and survive.
//! A store that does not open (damaged data) ends the process with exit
//! status 3 and the store's error on stderr. With `--map` the member
//! replicates a `collections::Map` instead (`map_member.rs`; its data
//! directory goes to `CollectionConfig::with_storage`). What else must
//! survive a restart is given on argv:
//! the secret key (same peer id) and the UDP port (same address), so the
//! restarted process is, to the other members, the same member again.
//!
//! Protocol with the test (one line each):
//! - stdout `ack <value> <index>`: `execute(value)` returned `Ok(index)`;
//!   only then is the write acknowledged.
//! - stdin `status` → stdout `status {"committed":..,"is_leader":..,"leader":..}`.
//! - stdin `dump` → stdout `dump {"committed":..,"applied":[..]}`: every value
//!   applied so far, in order (a weak query of the local state).
//! - stdin `stop-writing` → stdout `stopped` once the writer has returned.
//! - stdin closed → the process exits (so an orphan never outlives a dead
//!   test).

use {
    crate::{
        map_member,
        protocol::{Dump, Status, encode_value},
    },
    clap::Parser,
    core::time::Duration,
    mosaik::{
        Network, PeerId, SecretKey, UniqueId, Weak,
        discovery::Discovery,
        groups::{
            ApplyContext, ConsensusConfig, DurableStore, Group, GroupKey, LogReplaySync,
            StateMachine,
        },
        iroh::{EndpointAddr, RelayMode},
    },
    std::{
        net::SocketAddr,
        path::PathBuf,
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
    },
    tokio::{
        io::{AsyncBufReadExt, BufReader},
        task::JoinHandle,
    },
};

/// How long one `execute` may take before the writer gives up on it (it
/// is then not acknowledged, whatever becomes of it later).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// Pause after a failed write, so a member without a leader does not spin.
pub const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// How often a member re-dials the fixed addresses of peers it does not
/// know (yet or any more).
const REDIAL_INTERVAL: Duration = Duration::from_millis(500);

/// The member's command line.
#[derive(Debug, Parser)]
pub struct Args {
    /// The mosaik network name (one per scenario).
    #[arg(long)]
    pub network: String,
    /// Position of this member in the cluster (part of every written value).
    #[arg(long)]
    pub index: u64,
    /// How many times this member was started before (part of every value).
    #[arg(long)]
    pub incarnation: u64,
    /// The member's secret key, hex: the same key after a restart.
    #[arg(long)]
    pub secret: String,
    /// The fixed 127.0.0.1 UDP port: the same address after a restart.
    #[arg(long)]
    pub port: u16,
    /// The other members as `<peer id>@<ip:port>`.
    #[arg(long = "peer")]
    pub peers: Vec<String>,
    /// Strict mode: `with_min_quorum(2)`.
    #[arg(long)]
    pub strict: bool,
    /// Durable storage: a `DurableStore` in this directory (created if
    /// missing). Without it the member's storage is in memory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Replicate a `collections::Map<u64, u64>` (`map_member.rs`) instead
    /// of a group with the `Log` machine.
    #[arg(long)]
    pub map: bool,
}

/// Exit status of a member whose `DurableStore` does not open.
pub const EXIT_STORE: i32 = 3;

/// Every applied value, in order.
#[derive(Debug, Clone, Default)]
struct Log(Vec<u64>);

impl StateMachine for Log {
    /// A copy lets the group rebuild this machine after a dynamic-mode revert.
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }

    type Command = u64;
    type Query = ();
    type QueryResult = Vec<u64>;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("restart-test-applied-log-v1")
    }

    fn apply(&mut self, command: u64, _: &dyn ApplyContext) {
        self.0.push(command);
    }

    fn query(&self, (): ()) -> Vec<u64> {
        self.0.clone()
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}

/// The fast timing of `tests/groups/util.rs`, optionally strict.
pub fn consensus(strict: bool) -> ConsensusConfig {
    let builder = ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_heartbeat_jitter(Duration::from_millis(30))
        .with_max_missed_heartbeats(10)
        .with_election_timeout(Duration::from_millis(600))
        .with_election_timeout_jitter(Duration::from_millis(300))
        .with_bootstrap_delay(Duration::from_millis(500));
    let builder = if strict {
        builder.with_min_quorum(2)
    } else {
        builder
    };
    builder.build().unwrap()
}

fn parse_peer(text: &str) -> EndpointAddr {
    let (id, addr) = text.split_once('@').expect("peer is <id>@<ip:port>");
    let id: PeerId = id.parse().expect("peer id");
    let addr: SocketAddr = addr.parse().expect("peer address");
    EndpointAddr::new(id).with_ip_addr(addr)
}

fn parse_secret(hex_key: &str) -> SecretKey {
    let bytes: [u8; 32] = hex::decode(hex_key)
        .expect("secret is hex")
        .try_into()
        .expect("secret is 32 bytes");
    SecretKey::from_bytes(&bytes)
}

/// Runs the member until stdin closes (or the test kills it).
pub fn run(args: &[String]) {
    let args = Args::parse_from(args);
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(serve(args));
}

async fn serve(args: Args) {
    if args.map {
        map_member::serve(args).await;
        return;
    }
    // Opened before the network starts, so a damaged store ends the process
    // before it talks to anyone.
    let store = args.data_dir.as_ref().map(|dir| {
        let opened = std::fs::create_dir_all(dir)
            .map_err(|err| err.to_string())
            .and_then(|()| DurableStore::<u64>::open(dir).map_err(|err| err.to_string()));
        opened.unwrap_or_else(|err| refuse(&args, dir, &err))
    });
    let network = start_network(&args).await;
    let builder = network
        .groups()
        .with_key(GroupKey::from_secret("restart-test"))
        .with_state_machine(Log::default())
        .with_consensus_config(consensus(args.strict));
    let group = match store {
        Some(store) => builder.with_log_storage(store).join(),
        None => builder.join(),
    };

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write(
        group.clone(),
        args.index,
        args.incarnation,
        stop.clone(),
    ));
    answer(args.index, &GroupReplica(group), stop, writer).await;
}

/// Ends the process: the store in `dir` did not open.
pub fn refuse(args: &Args, dir: &std::path::Path, err: &dyn std::fmt::Display) -> ! {
    eprintln!(
        "member {}: cannot open the store in {}: {err}",
        args.index,
        dir.display()
    );
    std::process::exit(EXIT_STORE);
}

/// Starts the member's network on its fixed key and port and keeps it
/// dialing the other members.
pub async fn start_network(args: &Args) -> Network {
    let peers: Vec<EndpointAddr> = args.peers.iter().map(|p| parse_peer(p)).collect();
    let discovery = mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1))
        .with_rtt_probe_interval(Duration::from_secs(1))
        .with_bootstrap(peers.clone());
    let network = Network::builder(args.network.as_str())
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses([SocketAddr::from(([127, 0, 0, 1], args.port))])
        .with_secret_key(parse_secret(&args.secret))
        .with_discovery(discovery)
        .build()
        .await
        .expect("network starts");
    tokio::spawn(redial(network.discovery().clone(), peers));
    network
}

/// What the test asks a member about its replica.
pub trait Replica {
    /// The `status` reply.
    fn status(&self) -> Status;
    /// The `dump` reply.
    fn dump(&self) -> impl std::future::Future<Output = Dump>;
}

/// A group with the `Log` machine.
struct GroupReplica(Group<Log>);

impl Replica for GroupReplica {
    fn status(&self) -> Status {
        Status {
            committed: self.0.committed().get(),
            is_leader: self.0.is_leader(),
            leader: self.0.leader().map(|l| l.to_string()),
        }
    }

    async fn dump(&self) -> Dump {
        match self.0.query((), Weak).await {
            Ok(at) => Dump {
                committed: at.at_position.get(),
                applied: at.result,
            },
            Err(err) => panic!("weak query failed: {err}"),
        }
    }
}

/// Answers the test's commands on stdin until it closes, then exits.
pub async fn answer(
    index: u64,
    replica: &impl Replica,
    stop: Arc<AtomicBool>,
    writer: JoinHandle<()>,
) {
    let mut writer = Some(writer);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match line.trim() {
            "status" => {
                let status = replica.status();
                println!("status {}", serde_json::to_string(&status).unwrap());
            }
            "dump" => {
                let dump = replica.dump().await;
                println!("dump {}", serde_json::to_string(&dump).unwrap());
            }
            "stop-writing" => {
                stop.store(true, Ordering::SeqCst);
                if let Some(writer) = writer.take() {
                    let _ = writer.await;
                }
                println!("stopped");
            }
            other => eprintln!("member {index}: unknown command {other:?}"),
        }
    }
    // The test is gone: do not linger as an orphan.
    std::process::exit(0);
}

/// Writes globally unique values one at a time until `stop`, printing an
/// `ack` line for each one `execute` acknowledged. A failed or timed-out
/// write is simply not acknowledged.
async fn write(group: Group<Log>, index: u64, incarnation: u64, stop: Arc<AtomicBool>) {
    let mut seq = 0;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let value = encode_value(index, incarnation, seq);
        match tokio::time::timeout(WRITE_TIMEOUT, group.execute(value)).await {
            Ok(Ok(at)) => println!("ack {value} {at}"),
            Ok(Err(_)) | Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
        }
    }
}

/// Keeps the member connected to the others' fixed addresses: a peer the
/// catalog does not hold (not started yet when this member booted, or this
/// member was just restarted) gets a full catalog exchange. Bootstrap alone
/// dials once, so a member started before its peers would stay alone.
async fn redial(discovery: Discovery, peers: Vec<EndpointAddr>) {
    loop {
        let catalog = discovery.catalog();
        let missing: Vec<_> = peers
            .iter()
            .filter(|p| catalog.get_signed(&p.id).is_none())
            .cloned()
            .collect();
        drop(catalog);
        for peer in missing {
            let _ = tokio::time::timeout(REDIAL_INTERVAL, discovery.sync_with(peer)).await;
        }
        tokio::time::sleep(REDIAL_INTERVAL).await;
    }
}
