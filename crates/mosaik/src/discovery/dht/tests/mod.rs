//! Bootstrap tests with fake hosts standing in for discovery: against an
//! in-process Mainline testnet, and without any reachable DHT. No test
//! touches the public DHT.

mod offline;
mod testnet;

use {
    super::*,
    crate::PeerId,
    core::net::SocketAddr,
    iroh::SecretKey,
    std::{
        collections::BTreeSet,
        sync::{
            Mutex,
            atomic::{AtomicUsize, Ordering},
        },
    },
    tokio::{sync::watch, time::timeout},
};

/// Bound on every wait for a condition.
const WAIT: Duration = Duration::from_secs(30);

/// DHT request timeout in tests. Lookups take at least this long (a query
/// ends when its last request is answered or timed out, and the querying
/// node itself is among the visited nodes), while a loopback testnet answers
/// within milliseconds.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);

/// Stands in for discovery: `probe` succeeds for peers in `alive`,
/// `discovered` calls are published through a watch channel.
struct FakeHost {
    addr: Mutex<EndpointAddr>,
    alive: Arc<Mutex<BTreeSet<PeerId>>>,
    discovered: watch::Sender<BTreeSet<PeerId>>,
    cycles: AtomicUsize,
}

impl FakeHost {
    fn new(alive: &Arc<Mutex<BTreeSet<PeerId>>>) -> Arc<Self> {
        let id = SecretKey::generate().public();
        alive.lock().unwrap().insert(id);
        Arc::new(Self {
            addr: Mutex::new(fake_addr(id, 1)),
            alive: Arc::clone(alive),
            discovered: watch::Sender::new(BTreeSet::new()),
            cycles: AtomicUsize::new(0),
        })
    }

    fn id(&self) -> PeerId {
        self.addr.lock().unwrap().id
    }

    /// Waits until `done` holds for the set of discovered peers.
    async fn wait_discovered(&self, done: impl FnMut(&BTreeSet<PeerId>) -> bool) {
        let mut rx = self.discovered.subscribe();
        timeout(WAIT, rx.wait_for(done))
            .await
            .expect("discovery within the time bound")
            .unwrap();
    }
}

impl DhtHost for FakeHost {
    fn local_addr(&self) -> EndpointAddr {
        self.addr.lock().unwrap().clone()
    }

    fn probe(&self, peer: EndpointAddr) -> BoxFuture<'static, Option<Duration>> {
        let alive = self.alive.lock().unwrap().contains(&peer.id);
        Box::pin(async move { alive.then_some(Duration::from_millis(1)) })
    }

    fn discovered(&self, peer: EndpointAddr) {
        self.discovered.send_modify(|set| {
            set.insert(peer.id);
        });
    }

    fn gossip_neighbors(&self) -> usize {
        // Called once per cycle: lets tests wait for cycles to pass.
        self.cycles.fetch_add(1, Ordering::SeqCst);
        0
    }
}

/// A fake, never dialed address.
fn fake_addr(id: PeerId, port: u16) -> EndpointAddr {
    EndpointAddr::new(id).with_ip_addr(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// The tests of this module run one at a time:
/// - a lookup burst (16 slots times every testnet node) overflows UDP
///   receive buffers when several testnets share a small machine, and lost
///   responses would make the tests flaky;
/// - the log-counting test needs the module's log callsites to itself
///   (tracing caches per-callsite interest globally, and a concurrent test
///   without a subscriber can make it skip events).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for the other tests of this module to finish.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// A local testnet (bound to 127.0.0.1) and the guard that keeps other
/// tests waiting; building it blocks briefly.
async fn testnet(nodes: usize) -> (mainline::Testnet, tokio::sync::MutexGuard<'static, ()>) {
    let guard = serial().await;
    let testnet = tokio::task::spawn_blocking(move || mainline::Testnet::builder(nodes).build())
        .await
        .unwrap()
        .expect("local testnet");
    (testnet, guard)
}

/// Fast-polling config for a testnet.
fn config(network: NetworkId, testnet: &mainline::Testnet) -> DhtConfig {
    DhtConfig {
        bootstrap: Some(testnet.bootstrap.clone()),
        request_timeout: REQUEST_TIMEOUT,
        poll_fast: Duration::from_millis(200),
        poll_slow: Duration::from_millis(200),
        ..DhtConfig::new(network)
    }
}

async fn client(testnet: &mainline::Testnet) -> SlotClient {
    SlotClient::connect(Some(&testnet.bootstrap), REQUEST_TIMEOUT)
        .await
        .unwrap()
}

/// Polls the slots until `done` holds for them.
async fn wait_slots(
    client: &SlotClient,
    network: NetworkId,
    mut done: impl FnMut(&[Option<SlotRecord>]) -> bool,
) -> Vec<Option<SlotRecord>> {
    timeout(WAIT, async {
        loop {
            let slots: Vec<_> = resolve_slots(client, network)
                .await
                .into_iter()
                .map(|(_, record)| record)
                .collect();
            if done(&slots) {
                return slots;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("slots reached the expected state within the time bound")
}

/// Publishes a record for `addr` into `slot` as a test fixture.
async fn plant(client: &SlotClient, network: NetworkId, slot: usize, addr: &EndpointAddr) {
    let record = SlotRecord::from_endpoint_addr(addr, pkarr::Timestamp::now().as_u64());
    let keypair = slot_keypair(slot_ids(network)[slot]);
    // Retried: a fresh DHT node may not know enough of the testnet yet.
    timeout(WAIT, async {
        while client
            .publish(&keypair, &record, Duration::from_mins(10), None)
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("fixture publish");
}

fn holders(slots: &[Option<SlotRecord>]) -> Vec<PeerId> {
    slots.iter().flatten().map(|record| record.peer).collect()
}

/// Waits until the task has finished `n` cycles (each asks for the gossip
/// neighbor count once, to pick its poll interval).
async fn wait_cycles(host: &FakeHost, n: usize) {
    timeout(WAIT, async {
        while host.cycles.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("cycles keep running");
}
