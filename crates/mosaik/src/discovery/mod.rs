//! Discovery: signed peer entries, the catalog, gossip announcements,
//! catalog sync, RTT probing, departures and the DHT bootstrap.
//!
//! Every node keeps a [`Catalog`] of signed [`PeerEntry`]s. Entries spread
//! by gossip (iroh-gossip, topic = network id) and by full catalog
//! exchanges: with every dialed or bootstrap peer and gossip neighbor, with
//! a peer whose entry gossip relayed to us only with probability
//! `CONTACT_FANOUT / catalog size`, never for entries a snapshot brought
//! (so a swarm converges with fewer exchanges than it has pairs of nodes),
//! and with one random peer 250 ms after start-up or a lost gossip
//! neighbor, then at doubling gaps up to one per announce interval
//! (anti-entropy, `overlay::Repair`). Stale entries are purged;
//! departing nodes broadcast a signed departure, and exchanges pass on the
//! recent departure notices a node holds. A node without gossip neighbors
//! joins a few random known peers, not all (`overlay`).

mod catalog;
mod config;
pub mod dht;
mod entry;
mod handle;
mod info;
mod jobs;
mod messages;
mod overlay;
mod protocols;
mod rtt;
mod worker;

pub use {
    catalog::{Catalog, Upsert},
    config::{
        Config, ConfigBuilder, ConfigError, DEFAULT_MAX_CATALOG_ENTRIES,
        DEFAULT_MAX_NEW_ENTRIES_PER_SYNC, DEFAULT_MAX_PENDING_SYNCS, GRACEFUL_DEPARTURE_WINDOW,
    },
    entry::{EntryError, PeerEntry, PeerEntryVersion, SignedPeerEntry},
    handle::{Discovery, Error},
    info::{Event, PeerInfo},
    messages::{ANNOUNCE_ALPN, DepartProtocol, GracefulDeparture, PingProtocol, SyncProtocol},
    rtt::RttEstimator,
};

pub(crate) use entry::UnverifiedEntry;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use messages::FUZZ_TARGETS;

use {
    crate::network::{Listener, LocalNode},
    handle::Shared,
    std::sync::{Arc, Mutex},
    tokio::sync::{broadcast, mpsc, watch},
};

/// Largest gossip message: one announcement (an entry or a departure).
const MAX_GOSSIP_MESSAGE: usize = messages::MAX_ENTRY_SIZE;

/// The listeners discovery needs, registered by the network.
pub(crate) struct Listeners {
    pub(crate) sync: Listener<SyncProtocol>,
    pub(crate) ping: Listener<PingProtocol>,
    pub(crate) depart: Listener<DepartProtocol>,
    pub(crate) announce: Listener<AnnounceProtocol>,
}

/// Marker protocol for routing gossip connections.
#[derive(Debug)]
pub(crate) struct AnnounceProtocol;

impl crate::network::Protocol for AnnounceProtocol {
    const ALPN: &'static [u8] = ANNOUNCE_ALPN;
}

impl Discovery {
    /// Builds the local entry and starts every discovery task.
    pub(crate) fn start(local: &LocalNode, config: Config, listeners: Listeners) -> Self {
        let entry = PeerEntry::new(local.network_id(), local.addr())
            .add_tags(config.tags.iter().copied())
            .sign(local.secret_key())
            .expect("local key signs local entry");
        let catalog = Catalog::new(entry, config.purge_after, config.max_rtt)
            .with_max_entries(config.max_catalog_entries);
        let (catalog, _) = watch::channel(catalog);
        let (events, _) = broadcast::channel(config.events_backlog);
        let (commands, commands_rx) = mpsc::channel(worker::COMMAND_BACKLOG);
        let (jobs, jobs_rx) = mpsc::channel(config.max_pending_syncs);
        let (probes, probes_rx) = mpsc::channel(config.max_pending_syncs);
        let shared = Arc::new(Shared {
            local: local.clone(),
            config,
            catalog,
            events,
            commands,
            synced: Mutex::default(),
            jobs,
            probes,
            rtt: Mutex::default(),
            logged: Mutex::default(),
            neighbors: std::sync::atomic::AtomicUsize::new(0),
            neighbor_list: Mutex::default(),
        });
        let gossip = iroh_gossip::net::Gossip::builder()
            .alpn(ANNOUNCE_ALPN)
            .max_message_size(MAX_GOSSIP_MESSAGE)
            .spawn(local.endpoint().clone());
        let Listeners {
            sync,
            ping,
            depart,
            announce,
        } = listeners;
        jobs::spawn_pool(&shared, jobs_rx, jobs::MAX_CONCURRENT_SYNCS);
        jobs::spawn_pool(&shared, probes_rx, jobs::MAX_CONCURRENT_PROBES);
        tokio::spawn(protocols::serve(shared.clone(), sync, ping, depart));
        tokio::spawn(serve_gossip(shared.clone(), gossip.clone(), announce));
        tokio::spawn(worker::run(shared.clone(), gossip, commands_rx));
        if !shared.config.no_dht_bootstrap {
            let config = dht::DhtConfig {
                bootstrap: shared.config.dht_bootstrap_nodes.clone(),
                request_timeout: shared.config.dht_request_timeout,
                poll_fast: shared.config.dht_poll_interval,
                ..dht::DhtConfig::new(local.network_id())
            };
            let host = Arc::new(DhtBridge(shared.clone()));
            dht::spawn(config, host, local.termination().child_token());
        }
        Self(shared)
    }

    /// The current gossip neighbors (at most
    /// `handle::MAX_LISTED_NEIGHBORS`), ordered by id.
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) fn gossip_neighbor_list(&self) -> Vec<crate::PeerId> {
        self.0
            .neighbor_list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Connects the DHT bootstrap to discovery.
struct DhtBridge(Arc<Shared>);

impl dht::DhtHost for DhtBridge {
    fn local_addr(&self) -> iroh::EndpointAddr {
        self.0.local.addr()
    }

    fn probe(
        &self,
        peer: iroh::EndpointAddr,
    ) -> futures::future::BoxFuture<'static, Option<core::time::Duration>> {
        let shared = self.0.clone();
        Box::pin(async move {
            // DHT records are unauthenticated hints: the ping proves the
            // peer id (TLS) and the reply must be an entry of our network.
            let (entry, rtt) = protocols::ping(&shared, peer).await.ok()?;
            (entry.network_id() == shared.local.network_id()).then(|| {
                shared.merge(entry);
                rtt
            })
        })
    }

    fn discovered(&self, peer: iroh::EndpointAddr) {
        if self
            .0
            .synced
            .lock()
            .expect("synced lock")
            .contains(&peer.id)
        {
            return;
        }
        // Full queue: the next DHT cycle reports the peer again.
        let _ = self.0.commands.try_send(worker::Command::Dial(vec![peer]));
    }

    fn gossip_neighbors(&self) -> usize {
        self.0.neighbors.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Hands gossip connections to iroh-gossip, which reads them itself (its
/// frames are capped at [`MAX_GOSSIP_MESSAGE`], but it keeps a connection
/// open through garbage, oversized prefixes, slow bytes and silence). So
/// admission happens here: the network caps gossip connections per peer
/// and keeps unknown peers in their own small pool, and a peer that is
/// still not in the catalog `gossip_admission_timeout` after connecting is
/// closed with `UnknownPeer`. An honest peer is known within milliseconds:
/// it syncs catalogs with us when it first dials.
async fn serve_gossip(
    shared: Arc<Shared>,
    gossip: iroh_gossip::net::Gossip,
    mut listener: Listener<AnnounceProtocol>,
) {
    let knows = |peer: &crate::PeerId| shared.catalog.borrow().get_signed(peer).is_some();
    while let Some(conn) = listener.next_connection().await {
        if !knows(&conn.remote_id()) {
            // At most `max_unknown_connections` of these exist at once.
            tokio::spawn(watch_unknown_gossip(shared.clone(), conn.clone()));
        }
        if let Err(err) = gossip.handle_connection(conn).await {
            tracing::debug!(error = %err, "gossip connection rejected");
        }
    }
    let _ = gossip.shutdown().await;
}

async fn watch_unknown_gossip(shared: Arc<Shared>, conn: iroh::endpoint::Connection) {
    let peer = conn.remote_id();
    tokio::select! {
        () = shared.local.termination().cancelled() => return,
        _ = conn.closed() => return,
        () = tokio::time::sleep(shared.config.gossip_admission_timeout) => {}
    }
    if shared.catalog.borrow().get_signed(&peer).is_none() {
        shared.reject(peer, "unknown_gossip_peer");
        let reason = crate::network::UnknownPeer;
        conn.close(
            iroh::endpoint::VarInt::from_u32(crate::network::UnknownPeer::CODE),
            crate::network::CloseReason::name(&reason).as_bytes(),
        );
    }
}
