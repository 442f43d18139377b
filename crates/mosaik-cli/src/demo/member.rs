//! One member of the demo cluster: a loopback node, its store replica,
//! a stream consumer and a writer.

use {
    super::store::Store,
    core::time::Duration,
    mosaik::{Network, NetworkId, PeerId, SecretKey, groups::Index, iroh::RelayMode},
    serde::{Deserialize, Serialize},
    std::{
        path::PathBuf,
        sync::{
            Arc, Mutex,
            atomic::{AtomicBool, AtomicU64, Ordering},
        },
    },
    tokio::task::JoinHandle,
};

/// The datum flowing on the demo stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick {
    /// Sequence number at the producer.
    pub seq: u64,
}

/// The name of the demo's replicated store (its group secret).
pub const STORE: &str = "mosaik-demo-kv";

/// Pause between two writes of one member: keeps the number of writes to
/// verify small and leaves CPU for consensus on a loaded machine.
const WRITE_PAUSE: Duration = Duration::from_millis(20);

/// How long one write may take before it counts as not acknowledged.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// A write the store acknowledged (`Ok` from `insert`).
#[derive(Debug, Clone)]
pub struct Ack {
    /// The key written.
    pub key: String,
    /// The value written.
    pub value: u64,
    /// The index it committed at.
    pub index: Index,
}

/// Starts one loopback node with identity `key`: relays, DHT and mDNS off.
pub async fn start_node(
    network: NetworkId,
    bootstrap: Option<&Network>,
    key: SecretKey,
    dashboard: Option<std::net::SocketAddr>,
) -> anyhow::Result<Network> {
    let mut discovery = mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1))
        .with_rtt_probe_interval(Duration::from_secs(1));
    if let Some(first) = bootstrap {
        discovery = discovery.with_bootstrap([first.local().addr()]);
    }
    let mut builder = Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse()?])
        .with_secret_key(key)
        .with_discovery(discovery);
    if let Some(addr) = dashboard {
        builder = builder.with_dashboard(addr);
    }
    let node = builder.build().await?;
    Ok(node)
}

/// A running member.
pub struct Member {
    /// The node.
    pub network: Network,
    /// Its identity (a restart reuses it).
    pub key: SecretKey,
    /// Its data directory (a restart reuses it).
    pub dir: PathBuf,
    /// Its replica of the store.
    pub store: Store,
    /// Stream items received by its consumer.
    pub received: Arc<AtomicU64>,
    /// Writes it had acknowledged.
    pub acked: Arc<Mutex<Vec<Ack>>>,
    /// Writes attempted and not acknowledged.
    pub failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    writer: Option<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Member {
    /// Wraps `network` (started with `key`), joining the store with its
    /// replica on disk under `dir`.
    pub fn new(network: Network, key: SecretKey, dir: PathBuf) -> Self {
        let store = Store::join(&network, STORE, &dir);
        Self {
            network,
            key,
            dir,
            store,
            received: Arc::default(),
            acked: Arc::default(),
            failed: Arc::default(),
            stop: Arc::default(),
            writer: None,
            tasks: Vec::new(),
        }
    }

    /// This member's peer id.
    pub fn id(&self) -> PeerId {
        self.network.local().id()
    }

    /// Peers this member discovered (signed entries in its catalog).
    pub fn peers(&self) -> usize {
        self.network.discovery().catalog().signed_peers_count()
    }

    /// Starts consuming the demo stream, counting items.
    pub fn consume(&mut self) {
        let mut consumer = self.network.streams().consume::<Tick>();
        let received = self.received.clone();
        self.tasks.push(tokio::spawn(async move {
            while consumer.recv().await.is_some() {
                received.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    /// Starts writing unique keys `<prefix>-<n>` until stopped.
    pub fn write(&mut self, prefix: String) {
        let store = self.store.clone();
        let (acked, failed, stop) = (self.acked.clone(), self.failed.clone(), self.stop.clone());
        self.writer = Some(tokio::spawn(async move {
            store.when_online().await;
            let mut seq = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                seq += 1;
                let key = format!("{prefix}-{seq}");
                let write = store.insert(key.clone(), seq);
                match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                    Ok(Ok(index)) => acked.lock().expect("ack list lock").push(Ack {
                        key,
                        value: seq,
                        index,
                    }),
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(WRITE_PAUSE).await;
            }
        }));
    }

    /// Stops writing; resolves once the writer finished its last write.
    pub async fn stop_writing(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut writer) = self.writer.take() {
            // Bounded: a write in flight ends within WRITE_TIMEOUT; a writer
            // still waiting for the store to come online is cut off.
            let grace = WRITE_TIMEOUT + 2 * WRITE_PAUSE;
            if tokio::time::timeout(grace, &mut writer).await.is_err() {
                writer.abort();
            }
        }
    }

    /// Acknowledged writes so far.
    pub fn acked(&self) -> Vec<Ack> {
        self.acked.lock().expect("ack list lock").clone()
    }

    /// Shuts the node down (the demo's "kill"): its tasks stop and its
    /// peers see it depart.
    pub async fn kill(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.network.shutdown().await;
        for task in self.tasks.into_iter().chain(self.writer) {
            task.abort();
        }
    }
}

/// Starts the demo stream's producer on `network`: paced batches, so the
/// stream shows a steady rate without starving consensus on small machines.
pub fn produce(network: &Network) -> JoinHandle<()> {
    let producer = network.streams().produce::<Tick>();
    tokio::spawn(async move {
        let mut seq = 0_u64;
        loop {
            for _ in 0..20 {
                seq += 1;
                if producer.send(Tick { seq }).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}
