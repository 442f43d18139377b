//! The discovery worker: gossip announcements, first-contact syncs,
//! periodic re-announce, staleness purge, RTT probes, address tracking and
//! departures.

use {
    super::{
        Catalog, GRACEFUL_DEPARTURE_WINDOW,
        entry::UnverifiedEntry,
        handle::Shared,
        messages::{AnnouncementMessage, GracefulDeparture},
        protocols,
    },
    crate::{
        PeerId,
        primitives::{ShortFmtExt, encoding},
    },
    chrono::Utc,
    core::time::Duration,
    futures::StreamExt,
    iroh::{EndpointAddr, Watcher},
    iroh_gossip::{
        api::{Event as GossipEvent, GossipReceiver, GossipSender},
        net::Gossip,
        proto::TopicId,
    },
    rand::RngExt,
    std::sync::Arc,
    tokio::{
        sync::{mpsc, oneshot},
        time::Instant,
    },
};

/// Capacity of the worker's command queue.
pub(crate) const COMMAND_BACKLOG: usize = 1024;

/// Requests for the worker.
#[derive(Debug)]
pub(crate) enum Command {
    /// Dial these peers (sync once, join gossip).
    Dial(Vec<EndpointAddr>),
    /// We heard of this peer: sync once (not joined in gossip, see below).
    Contact(PeerId),
    /// Join these peers in gossip (an explicit `sync_with` succeeded).
    Join(Vec<PeerId>),
    /// The local entry changed: broadcast it.
    Announce,
    /// Broadcast a departure, wait for it to spread, then reply.
    Depart(oneshot::Sender<()>),
    /// Re-broadcast a peer's departure we accepted from a direct notice.
    Relay(GracefulDeparture),
}

/// Longest a departing node waits, past [`GRACEFUL_DEPARTURE_WINDOW`], for
/// its direct notices to be confirmed. On a loaded machine opening the
/// notice connections alone can take longer than the window; closing the
/// endpoint then drops both the notices and the gossip broadcast still
/// queued, and survivors keep the entry until `purge_after`. On an idle one
/// every notice is confirmed within milliseconds and nothing waits.
const NOTICE_GRACE: Duration = Duration::from_secs(2);

/// How long a departing node keeps waiting for its other direct notices
/// once one is confirmed (that peer relays the departure over gossip).
/// Bounds `Network::shutdown` in a live cluster: it no longer waits for the
/// slowest of N notice connections.
const DEPARTURE_LINGER: Duration = Duration::from_millis(30);

struct Worker {
    shared: Arc<Shared>,
    gossip: Gossip,
    sender: GossipSender,
    receiver: GossipReceiver,
    /// The gossip overlay's current neighbors (the gossip active view,
    /// a handful of peers: iroh-gossip bounds it).
    neighbors: std::collections::BTreeSet<PeerId>,
}

fn topic(shared: &Shared) -> TopicId {
    TopicId::from_bytes(*shared.local.network_id().as_bytes())
}

fn jittered(interval: Duration, jitter: f64) -> Duration {
    let spread = interval.as_secs_f64() * jitter;
    let offset = if spread > 0.0 {
        rand::rng().random_range(-spread..=spread)
    } else {
        0.0
    };
    Duration::from_secs_f64((interval.as_secs_f64() + offset).max(0.001))
}

/// Runs until the network shuts down.
pub(crate) async fn run(
    shared: Arc<Shared>,
    gossip: Gossip,
    mut commands: mpsc::Receiver<Command>,
) {
    let bootstrap = shared.config.bootstrap_peers.clone();
    shared.local.observe(bootstrap.iter().cloned());
    let ids = bootstrap.iter().map(|a| a.id).collect();
    let Ok(topic_handle) = gossip.subscribe(topic(&shared), ids).await else {
        tracing::warn!("could not subscribe to the discovery gossip topic");
        return;
    };
    let (sender, receiver) = topic_handle.split();
    let mut worker = Worker {
        shared: shared.clone(),
        gossip,
        sender,
        receiver,
        neighbors: std::collections::BTreeSet::new(),
    };
    worker.dial(bootstrap).await;

    let cancel = shared.local.termination().clone();
    let config = shared.config.clone();
    let mut next_announce =
        Instant::now() + jittered(config.announce_interval, config.announce_jitter);
    let mut next_probe = Instant::now() + config.rtt_probe_interval / 2;
    // Fused: once the endpoint is gone the stream ends and must not be
    // polled again.
    let mut addr_watch = shared.local.endpoint().watch_addr().stream().fuse();
    loop {
        let purge_at = purge_deadline(&shared.catalog.borrow());
        tokio::select! {
            () = cancel.cancelled() => break,
            command = commands.recv() => match command {
                Some(command) => worker.command(command).await,
                None => break,
            },
            event = worker.receiver.next() => match event {
                Some(Ok(event)) => worker.gossip_event(event).await,
                Some(Err(err)) => {
                    tracing::debug!(error = %err, "gossip receiver error; resubscribing");
                    if !worker.resubscribe().await {
                        break;
                    }
                }
                None => {
                    if !worker.resubscribe().await {
                        break;
                    }
                }
            },
            () = tokio::time::sleep_until(next_announce) => {
                next_announce = Instant::now() + jittered(config.announce_interval, config.announce_jitter);
                shared.update_local(super::PeerEntry::increment_version);
            }
            () = tokio::time::sleep_until(purge_at) => {
                let mut stale = Vec::new();
                shared.catalog.send_if_modified(|c| { stale = c.purge(); !stale.is_empty() });
                for peer in stale {
                    shared.departed(peer, None);
                }
            }
            () = tokio::time::sleep_until(next_probe) => {
                let interval = config.rtt_probe_interval;
                let extra = rand::rng().random_range(0.0..=interval.as_secs_f64());
                next_probe = Instant::now() + interval / 2 + Duration::from_secs_f64(extra);
                worker.probe_all();
            }
            Some(addr) = addr_watch.next() => {
                if !addr.is_empty() {
                    shared.update_local(|e| e.clone().update_address(addr).unwrap_or(e));
                }
            }
        }
    }
}

/// When the soonest signed entry turns stale (far future if none).
fn purge_deadline(catalog: &Catalog) -> Instant {
    let far = Instant::now() + Duration::from_hours(1);
    catalog.next_expiry().map_or(far, |at| {
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        // A small margin so the entry is really stale when we look.
        Instant::now() + wait + Duration::from_millis(10)
    })
}

impl Worker {
    async fn command(&mut self, command: Command) {
        match command {
            Command::Dial(addrs) => self.dial(addrs).await,
            Command::Contact(peer) => {
                // Sync only: joining every peer we hear of in gossip makes
                // HyParView evict active neighbors for each join, and the
                // resulting neighbor churn (with its announcements) loaded a
                // 20-node swarm so much that messages took seconds per hop.
                // The bootstrap peers and the rejoin on zero neighbors are
                // enough for the overlay; the shuffles do the rest.
                self.first_contact(peer);
            }
            Command::Join(peers) => {
                let _ = self.sender.join_peers(peers).await;
            }
            Command::Announce => self.announce().await,
            Command::Relay(departure) => {
                let msg = AnnouncementMessage::GracefulDeparture(departure);
                let _ = self.sender.broadcast(encoding::serialize(&msg)).await;
            }
            Command::Depart(reply) => {
                self.depart().await;
                let _ = reply.send(());
            }
        }
    }

    /// Broadcasts our departure and notifies every known peer directly, all
    /// at once. Returns when every notice is confirmed or failed, or
    /// [`DEPARTURE_LINGER`] after the first confirmation, or at the latest
    /// after [`GRACEFUL_DEPARTURE_WINDOW`] + [`NOTICE_GRACE`]. Every peer that
    /// accepts a direct notice relays it over gossip, so one confirmed copy
    /// suffices for the rest; the linger lets the other notices that are
    /// about to land do so.
    async fn depart(&mut self) {
        let key = self.shared.local.secret_key().clone();
        let version = self.shared.catalog.borrow().local().update_version();
        let departure = GracefulDeparture::new(&key, version);
        let msg = AnnouncementMessage::GracefulDeparture(departure.clone());
        let _ = self.sender.broadcast(encoding::serialize(&msg)).await;
        // Gossip reaches the whole swarm only if its overlay is connected
        // and the endpoint lives long enough to send; a direct notice to
        // every known peer covers the rest.
        let peers: Vec<EndpointAddr> = self
            .shared
            .catalog
            .borrow()
            .signed_peers()
            .map(|e| e.address().clone())
            .collect();
        let shared = &self.shared;
        let mut notices: futures::stream::FuturesUnordered<_> = peers
            .into_iter()
            .map(|addr| protocols::notify_departure(shared, addr, &departure))
            .collect();
        let deadline = Instant::now() + GRACEFUL_DEPARTURE_WINDOW + NOTICE_GRACE;
        let mut until = deadline;
        let mut confirmed = 0usize;
        while let Ok(Some(ok)) = tokio::time::timeout_at(until, notices.next()).await {
            if ok {
                if confirmed == 0 {
                    until = deadline.min(Instant::now() + DEPARTURE_LINGER);
                }
                confirmed += 1;
            }
        }
        tracing::debug!(confirmed, unfinished = notices.len(), "departure sent");
    }

    async fn dial(&mut self, addrs: Vec<EndpointAddr>) {
        self.shared.local.observe(addrs.iter().cloned());
        let mut ids = Vec::new();
        for addr in addrs {
            if addr.id == self.shared.local.id() {
                continue;
            }
            ids.push(addr.id);
            if self.shared.first_contact(addr.id) {
                self.spawn_sync(addr);
            }
        }
        if !ids.is_empty() {
            let _ = self.sender.join_peers(ids).await;
        }
    }

    fn first_contact(&self, peer: PeerId) {
        if self.shared.first_contact(peer) {
            let addr = self
                .shared
                .catalog
                .borrow()
                .get(&peer)
                .map_or_else(|| EndpointAddr::new(peer), |e| e.address().clone());
            self.spawn_sync(addr);
        }
    }

    fn spawn_sync(&self, addr: EndpointAddr) {
        super::jobs::sync(&self.shared, addr);
    }

    async fn announce(&mut self) {
        let local = self.shared.catalog.borrow().local().clone();
        let msg = AnnouncementMessage::OwnEntryUpdate(UnverifiedEntry::from(local));
        let _ = self.sender.broadcast(encoding::serialize(&msg)).await;
    }

    async fn gossip_event(&mut self, event: GossipEvent) {
        match event {
            GossipEvent::NeighborUp(peer) => {
                let first = self.neighbors.is_empty();
                self.neighbors.insert(peer);
                self.publish_neighbors();
                // Announcing on every new neighbor floods the whole swarm
                // with an entry it already has (same gossip message, so
                // receivers prune the link) each time HyParView swaps a
                // neighbor. The new neighbor gets our entry from its
                // first-contact sync; a broadcast is only owed when we had
                // no neighbors (announcements made meanwhile went nowhere).
                if first {
                    self.announce().await;
                }
                self.first_contact(peer);
            }
            GossipEvent::NeighborDown(peer) => {
                self.neighbors.remove(&peer);
                self.publish_neighbors();
                if self.neighbors.is_empty() {
                    self.rejoin().await;
                }
            }
            GossipEvent::Received(msg) => self.received(&msg.content, msg.delivered_from),
            GossipEvent::Lagged => self.rejoin().await,
        }
    }

    fn received(&self, bytes: &[u8], from: PeerId) {
        let Ok(msg) = encoding::deserialize::<AnnouncementMessage>(bytes) else {
            self.shared.reject(from, "undecodable_gossip");
            return;
        };
        let drift =
            chrono::Duration::from_std(self.shared.config.max_time_drift).unwrap_or_default();
        match msg {
            AnnouncementMessage::OwnEntryUpdate(entry) => {
                let peer = *entry.0.id();
                if (Utc::now() - entry.0.updated_at()).abs() > drift {
                    self.shared.reject(peer, "time_drift");
                    return;
                }
                if entry.0.network_id() != self.shared.local.network_id() {
                    self.shared.reject(peer, "different_network");
                    return;
                }
                if self.shared.merge_unverified(entry, from).changed() {
                    self.first_contact(peer);
                }
            }
            AnnouncementMessage::GracefulDeparture(departure) => {
                // Gossip already floods it: no relay needed.
                let _ = self.shared.departure(&departure, from);
            }
        }
    }

    /// Publishes the neighbor set: its size for the DHT bootstrap and the
    /// metric, and (capped) the peers for observers such as the dashboard.
    fn publish_neighbors(&self) {
        let n = self.neighbors.len();
        self.shared
            .neighbors
            .store(n, std::sync::atomic::Ordering::Relaxed);
        *self
            .shared
            .neighbor_list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = self
            .neighbors
            .iter()
            .take(super::handle::MAX_LISTED_NEIGHBORS)
            .copied()
            .collect();
        let net = self.shared.local.network_id().short().to_string();
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("mosaik.discovery.gossip.neighbors", "network" => net).set(n as f64);
    }

    /// Re-joins every known peer (after losing all neighbors or lagging).
    async fn rejoin(&mut self) {
        let peers: Vec<PeerId> = self
            .shared
            .catalog
            .borrow()
            .signed_peers()
            .map(|e| *e.id())
            .collect();
        if !peers.is_empty() {
            let _ = self.sender.join_peers(peers).await;
        }
    }

    /// Re-joins the topic after the receiver ended; false when gossip is
    /// gone (shutdown), so the worker stops instead of polling a finished
    /// stream.
    async fn resubscribe(&mut self) -> bool {
        if self.shared.local.termination().is_cancelled() {
            return false;
        }
        let peers: Vec<PeerId> = self
            .shared
            .catalog
            .borrow()
            .signed_peers()
            .map(|e| *e.id())
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        match self.gossip.subscribe(topic(&self.shared), peers).await {
            Ok(handle) => {
                let (sender, receiver) = handle.split();
                self.sender = sender;
                self.receiver = receiver;
                self.neighbors.clear();
                self.publish_neighbors();
                true
            }
            Err(err) => {
                tracing::debug!(error = %err, "gossip resubscribe failed; discovery worker stops");
                false
            }
        }
    }

    /// Queues a ping of every signed peer (the job pool runs them).
    fn probe_all(&self) {
        let peers: Vec<EndpointAddr> = self
            .shared
            .catalog
            .borrow()
            .signed_peers()
            .map(|e| e.address().clone())
            .collect();
        for addr in peers {
            super::jobs::probe(&self.shared, addr);
        }
    }
}
