//! The queues of outgoing discovery work (first-contact catalog syncs, RTT
//! probes) hold `max_pending_syncs` jobs each, worked off by fixed pools of
//! tasks, one per queue. A full queue drops the job, counts it in
//! `mosaik.discovery.jobs.dropped` and forgets the contact, so the next
//! contact with that peer syncs; probes that never end cannot hold up a
//! sync (`discovery::jobs`).

use {
    crate::{
        TIMEOUT,
        attacks::{RawSnapshot, push_snapshot},
        counter, node_with, scrape, until,
    },
    core::time::Duration,
    mosaik::{
        Network, NetworkId,
        discovery::{PeerEntry, PingProtocol, SyncProtocol},
        iroh::{EndpointAddr, RelayMode, SecretKey, Signature, endpoint::presets},
        network::{Link, Protocol},
        primitives::ShortFmtExt as _,
    },
    std::{
        net::SocketAddr,
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
    },
    tokio_util::sync::CancellationToken,
};

/// Exchanges a node runs at once (`discovery::jobs::MAX_CONCURRENT_SYNCS`).
const POOL: usize = 16;

/// A bare endpoint that speaks the catalog-sync protocol and accepts RTT
/// probes, and nothing else (no gossip, no discovery of its own): it never
/// contacts anyone, so a sync with it happens only when the node under
/// test starts one. It counts the exchanges it is offered; an `answering`
/// peer replies to a sync with its own signed entry of `network`, a silent
/// one holds any exchange (a sync or a probe) open until the other side
/// gives up.
struct SyncPeer {
    endpoint: mosaik::iroh::Endpoint,
    offered: Arc<AtomicUsize>,
    /// Its signed entry, as a snapshot carries it.
    signed: (PeerEntry, Signature),
}

impl SyncPeer {
    async fn start(network: &str, answering: bool) -> Self {
        let key = SecretKey::generate();
        let endpoint = mosaik::iroh::Endpoint::builder(presets::Minimal)
            .secret_key(key.clone())
            .relay_mode(RelayMode::Disabled)
            .alpns(vec![
                SyncProtocol::ALPN.to_vec(),
                PingProtocol::ALPN.to_vec(),
            ])
            .bind_addr("127.0.0.1:0")
            .expect("loopback address")
            .bind()
            .await
            .expect("endpoint binds");
        let entry = PeerEntry::new(NetworkId::from(network), endpoint.addr())
            .sign(&key)
            .unwrap();
        let signed = (entry.clone().into_unsigned(), *entry.signature());
        let reply: RawSnapshot = (vec![signed.clone()], Vec::new());
        let offered = Arc::new(AtomicUsize::new(0));
        let (accepting, count) = (endpoint.clone(), offered.clone());
        tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                let Ok(conn) = incoming.await else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let reply = reply.clone();
                tokio::spawn(async move {
                    if !answering || conn.alpn() != SyncProtocol::ALPN {
                        conn.closed().await;
                        return;
                    }
                    let cancel = CancellationToken::new();
                    let wait = Duration::from_secs(5);
                    let Ok(mut link) =
                        Link::<SyncProtocol>::accept(conn, cancel, 1 << 20, wait).await
                    else {
                        return;
                    };
                    if link.recv::<RawSnapshot>().await.is_ok() && link.send(&reply).await.is_ok() {
                        let _ = link.closed().await;
                    }
                });
            }
        });
        Self {
            endpoint,
            offered,
            signed,
        }
    }

    fn addr(&self) -> EndpointAddr {
        self.endpoint.addr()
    }

    fn id(&self) -> mosaik::PeerId {
        self.endpoint.id()
    }

    fn offered(&self) -> usize {
        self.offered.load(Ordering::SeqCst)
    }
}

/// The value of a discovery counter of `net` on the exporter at `at`.
async fn read(at: SocketAddr, net: &str, name: &str) -> u64 {
    counter(&scrape(at).await, name, net)
}

const DROPPED: &str = "mosaik_discovery_jobs_dropped";
const FAILED: &str = "mosaik_discovery_catalog_syncs_failed";

/// A node with a queue of one: every pool task is held in an exchange with
/// a silent peer and one more job waits in the queue. A first contact with
/// an honest peer is then dropped (counted, never started); the node keeps
/// serving (a newcomer joins it, a stream flows) while the pool is still
/// held; once the held exchanges time out, the honest peer's next contact
/// syncs. Fails if a drop left the peer marked as synced (no later contact
/// would sync it), or if the queue did not drop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_queue_drops_the_job_and_the_next_contact_syncs() {
    const NET: &str = "metrics-disc-queue";
    // How long the silent peers hold the pool: longer than the phase that
    // relies on it being held (a second or two on a loaded machine).
    const EXCHANGE: Duration = Duration::from_secs(5);
    let config = mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_max_pending_syncs(1)
        .with_exchange_timeout(EXCHANGE)
        // No probes and a slow anti-entropy: the test's dials are the only
        // jobs until the newcomer joins.
        .with_rtt_probe_interval(Duration::from_mins(10))
        .with_announce_interval(Duration::from_mins(10));
    let victim = node_with(NET, config, true).await;
    let at = victim.prometheus_addr().expect("exporter bound");
    let net = victim.network_id().short().to_string();

    // Each dial is a first contact: one sync job. Dialed one at a time, so
    // every job is taken by an idle task before the next is queued.
    let started = std::time::Instant::now();
    let mut silent = Vec::new();
    for _ in 0..POOL {
        let peer = SyncPeer::start(NET, false).await;
        victim.discovery().dial(peer.addr()).await;
        until("a pool task takes the sync", async || peer.offered() == 1).await;
        silent.push(peer);
    }
    // Every task is busy: this job waits in the queue (an address-less
    // peer, whose sync fails at once when its turn comes) ...
    victim
        .discovery()
        .dial(EndpointAddr::new(SecretKey::generate().public()))
        .await;
    // ... and the honest peer's first contact finds the queue full.
    let honest = SyncPeer::start(NET, true).await;
    victim.discovery().dial(honest.addr()).await;
    until("the honest peer's sync is dropped", async || {
        read(at, &net, DROPPED).await == 1
    })
    .await;
    assert_eq!(honest.offered(), 0, "the dropped sync ran");
    eprintln!(
        "pool held and a first contact dropped after {:?}",
        started.elapsed()
    );
    assert_eq!(read(at, &net, FAILED).await, 0, "the pool was not held");

    // The node keeps serving: a newcomer joins through it (syncs the
    // victim accepts run outside the pool) and a stream flows.
    let newcomer = node_with(
        NET,
        mosaik::discovery::Config::builder()
            .no_dht_bootstrap()
            .with_announce_interval(Duration::from_secs(1))
            .with_bootstrap([victim.local().addr()]),
        false,
    )
    .await;
    let knows = |n: &Network, id: mosaik::PeerId| n.discovery().catalog().get_signed(&id).is_some();
    let (v, n) = (victim.local().id(), newcomer.local().id());
    until("the two know each other", async || {
        knows(&victim, n) && knows(&newcomer, v)
    })
    .await;
    let producer = victim.streams().produce::<u64>();
    let mut consumer = newcomer.streams().consume::<u64>();
    tokio::time::timeout(TIMEOUT, producer.when().online())
        .await
        .expect("the newcomer subscribes");
    producer.send(7).await.expect("sends");
    let got = tokio::time::timeout(TIMEOUT, consumer.recv()).await;
    assert_eq!(got.expect("datum in time"), Some(7));
    assert_eq!(
        read(at, &net, FAILED).await,
        0,
        "served only while the pool was held"
    );
    eprintln!(
        "newcomer joined and a datum flowed by {:?}",
        started.elapsed()
    );

    // The held exchanges time out, then the queued one fails.
    until("the pool is released", async || {
        read(at, &net, FAILED).await > POOL as u64
    })
    .await;
    // The next contact syncs: the drop forgot the first one. Contacts are
    // repeated in case one lands on a queue the newcomer's exchanges fill;
    // none would sync if the drop had left the peer marked.
    until("the honest peer is synced", async || {
        if !knows(&victim, honest.id()) {
            victim.discovery().dial(honest.addr()).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        knows(&victim, honest.id())
    })
    .await;
    assert!(honest.offered() >= 1);
    eprintln!(
        "synced on a later contact by {:?} ({} offered)",
        started.elapsed(),
        honest.offered()
    );
    drop(silent);
}

/// Probes have a pool of their own: catalog entries whose peers accept a
/// probe and never answer hold every probe task for the whole exchange
/// timeout, round after round, and a first contact still syncs at once.
/// With one pool for both (before), the probes of 48 such entries, queued
/// again every round, held all of it: the first contact had not synced
/// after 20 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_that_never_end_do_not_hold_up_a_first_contact() {
    const NET: &str = "metrics-disc-probes";
    const EXCHANGE: Duration = Duration::from_secs(10);
    const SILENT: usize = 48;
    let config = mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_exchange_timeout(EXCHANGE)
        .with_rtt_probe_interval(Duration::from_millis(400))
        .with_announce_interval(Duration::from_mins(10));
    let victim = node_with(NET, config, false).await;
    let mut silent = Vec::new();
    for _ in 0..SILENT {
        silent.push(SyncPeer::start(NET, false).await);
    }
    // Their entries reach the catalog in a snapshot pushed by a member;
    // merging entries starts no sync, so only probes contact them.
    let pusher = node_with(
        NET,
        mosaik::discovery::Config::builder().no_dht_bootstrap(),
        false,
    )
    .await;
    let snapshot: RawSnapshot = (
        silent.iter().map(|p| p.signed.clone()).collect(),
        Vec::new(),
    );
    assert!(push_snapshot(&pusher, victim.local().addr(), &snapshot).await);
    until("the probes hold the probe pool", async || {
        silent.iter().map(SyncPeer::offered).sum::<usize>() >= 8
    })
    .await;

    let honest = SyncPeer::start(NET, true).await;
    let started = std::time::Instant::now();
    victim.discovery().dial(honest.addr()).await;
    until("the honest peer is synced", async || {
        victim
            .discovery()
            .catalog()
            .get_signed(&honest.id())
            .is_some()
    })
    .await;
    let took = started.elapsed();
    eprintln!(
        "first contact synced in {took:?} while {} probes were held",
        silent.iter().map(SyncPeer::offered).sum::<usize>()
    );
    assert!(
        took < EXCHANGE / 2,
        "the sync waited for the probes ({took:?})"
    );
    drop(silent);
}
