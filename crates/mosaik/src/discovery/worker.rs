//! The discovery worker: gossip announcements, first-contact syncs,
//! periodic re-announce, staleness purge, RTT probes, address tracking and
//! departures.

use {
    super::{
        Catalog, GRACEFUL_DEPARTURE_WINDOW,
        entry::UnverifiedEntry,
        handle::Shared,
        messages::{AnnouncementMessage, GracefulDeparture},
        overlay::{self, Rejoin, Repair},
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
    rand::{RngExt, seq::SliceRandom},
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
    /// Join these peers in gossip (an explicit `sync_with` succeeded).
    Join(Vec<PeerId>),
    /// The local entry changed: broadcast it.
    Announce,
    /// Broadcast a departure, wait for it to spread, then reply.
    Depart(oneshot::Sender<()>),
    /// Re-broadcast a peer's departure we accepted from a direct notice.
    Relay(GracefulDeparture),
    /// Broadcast a peer's own entry it handed us in an exchange.
    RelayEntry(Box<super::SignedPeerEntry>),
}

/// Longest a departing node waits, past [`GRACEFUL_DEPARTURE_WINDOW`], for
/// its direct notices to be confirmed. On a loaded machine opening the
/// notice connections alone can take longer than the window; closing the
/// endpoint then drops both the notices and the gossip broadcast still
/// queued, and survivors keep the entry until `purge_after`. On an idle one
/// every notice is confirmed within milliseconds and nothing waits.
const NOTICE_GRACE: Duration = Duration::from_secs(2);

/// How many members, in expectation, run a full catalog exchange with a
/// peer whose entry reached them by gossip, relayed by another node. Each
/// member syncs with such a peer with probability
/// `CONTACT_FANOUT / catalog size`, so a newcomer gets about this many
/// exchanges from the whole swarm instead of one from every member. The
/// entry itself already arrived signed; the exchanges only repair what
/// gossip missed, as does the periodic anti-entropy sync (see
/// [`Worker::anti_entropy`]). Dialed and bootstrap peers, and gossip
/// neighbors we hold no entry of, are always synced.
pub(crate) const CONTACT_FANOUT: usize = 2;

/// How often a node that knows no peer dials its bootstrap peers again
/// (jittered by half). A dial skips a peer whose exchange is still running,
/// so a slow bootstrap peer is not asked twice at once.
const BOOTSTRAP_RETRY: Duration = Duration::from_millis(500);

/// How long a departing node keeps waiting for its other direct notices
/// once one is confirmed (that peer relays the departure over gossip).
/// Bounds `Network::shutdown` in a live cluster: it no longer waits for the
/// slowest of N notice connections.
const DEPARTURE_LINGER: Duration = Duration::from_millis(30);

/// How many random known peers a departing node notifies directly first.
/// Each relays an accepted notice over gossip; three make it unlikely that
/// all of them are gone or unreachable at once.
const FIRST_NOTICES: usize = 3;

/// How long the first notices get to be confirmed before every other
/// known peer is notified as well.
const FIRST_NOTICE_WAIT: Duration = Duration::from_millis(250);

struct Worker {
    shared: Arc<Shared>,
    gossip: Gossip,
    sender: GossipSender,
    receiver: GossipReceiver,
    /// The gossip overlay's current neighbors (the gossip active view,
    /// a handful of peers: iroh-gossip bounds it).
    neighbors: std::collections::BTreeSet<PeerId>,
    /// When to join a few known peers while we have no neighbor.
    rejoin: Rejoin,
    /// When the next anti-entropy exchange is due.
    repair: Repair,
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
        rejoin: Rejoin::default(),
        repair: Repair::new(Instant::now(), shared.config.announce_interval),
    };
    worker.dial(bootstrap).await;
    // No neighbor yet: if the bootstrap join brings none (refused while a
    // swarm joins at once, or no bootstrap peer), join known peers later.
    worker.rejoin.lost_all(Instant::now());

    let cancel = shared.local.termination().clone();
    let config = shared.config.clone();
    let mut next_announce =
        Instant::now() + jittered(config.announce_interval, config.announce_jitter);
    let mut next_probe = Instant::now() + config.rtt_probe_interval / 2;
    let mut next_retry = Instant::now() + jittered(BOOTSTRAP_RETRY, 0.5);
    // Fused: once the endpoint is gone the stream ends and must not be
    // polled again.
    let mut addr_watch = shared.local.endpoint().watch_addr().stream().fuse();
    loop {
        let purge_at = purge_deadline(&shared.catalog.borrow());
        // Alone (no peer known) with bootstrap peers to try: their first
        // exchange failed (refused by a bootstrap peer's admission caps
        // while a swarm joins at once, or the peer was not up yet).
        // Checked on every event: the first signed peer ends the scan.
        let alone = !shared.config.bootstrap_peers.is_empty()
            && shared.catalog.borrow().signed_peers().next().is_none();
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
            () = tokio::time::sleep_until(worker.repair.due()) => {
                worker.repair.fired(Instant::now());
                worker.anti_entropy();
            }
            () = sleep_until(worker.rejoin.due()) => {
                if worker.neighbors.is_empty() {
                    worker.rejoin.fired(Instant::now());
                    worker.join_some().await;
                } else {
                    worker.rejoin.neighbor_up();
                }
            }
            () = tokio::time::sleep_until(next_retry), if alone => {
                next_retry = Instant::now() + jittered(BOOTSTRAP_RETRY, 0.5);
                let bootstrap = shared.config.bootstrap_peers.clone();
                tracing::debug!(peers = bootstrap.len(), "no peer known: dialing the bootstrap peers again");
                worker.dial(bootstrap).await;
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

/// Sleeps until `at`, or forever when there is nothing scheduled.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => core::future::pending().await,
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
            Command::Join(peers) => {
                let _ = self.sender.join_peers(peers).await;
            }
            Command::Announce => self.announce().await,
            Command::Relay(departure) => {
                let msg = AnnouncementMessage::GracefulDeparture(departure);
                let _ = self.sender.broadcast(encoding::serialize(&msg)).await;
            }
            Command::RelayEntry(entry) => {
                let msg = AnnouncementMessage::OwnEntryUpdate(UnverifiedEntry::from(*entry));
                let _ = self.sender.broadcast(encoding::serialize(&msg)).await;
            }
            Command::Depart(reply) => {
                self.depart().await;
                let _ = reply.send(());
            }
        }
    }

    /// Broadcasts our departure and notifies [`FIRST_NOTICES`] random known
    /// peers directly. Every peer that accepts a direct notice relays it
    /// over gossip, so one confirmed copy suffices for the rest. Only when
    /// none of them confirms within [`FIRST_NOTICE_WAIT`] (crashed or
    /// unreachable peers) is every other known peer notified too. Returns
    /// [`DEPARTURE_LINGER`] after the first confirmation (or once every
    /// notice sent so far is confirmed or failed), at the latest after
    /// [`GRACEFUL_DEPARTURE_WINDOW`] + [`NOTICE_GRACE`].
    ///
    /// Notifying all N peers at once made `Network::shutdown` wait for N
    /// handshakes competing for the CPU before the first notice landed:
    /// 107 ms for a settled 40-node swarm in one process, 389 ms right
    /// after its convergence.
    async fn depart(&mut self) {
        let key = self.shared.local.secret_key().clone();
        let version = self.shared.catalog.borrow().local().update_version();
        let departure = GracefulDeparture::new(&key, version);
        let msg = AnnouncementMessage::GracefulDeparture(departure.clone());
        let _ = self.sender.broadcast(encoding::serialize(&msg)).await;
        // Gossip reaches the whole swarm only if its overlay is connected
        // and the endpoint lives long enough to send; direct notices cover
        // the rest.
        let mut peers: Vec<EndpointAddr> = self
            .shared
            .catalog
            .borrow()
            .signed_peers()
            .map(|e| e.address().clone())
            .collect();
        peers.shuffle(&mut rand::rng());
        let shared = &self.shared;
        let deadline = Instant::now() + GRACEFUL_DEPARTURE_WINDOW + NOTICE_GRACE;
        let notify = |addr| protocols::notify_departure(shared, addr, &departure);
        let confirmed = notify_in_waves(peers, notify, deadline).await;
        tracing::debug!(confirmed, "departure sent");
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

    /// A peer whose entry gossip relayed to us: sync with it with probability
    /// [`CONTACT_FANOUT`] / catalog size (see there). A peer not picked
    /// now stays unsynced, so a later neighborship or dial still syncs.
    fn heard_of(&self, peer: PeerId) {
        if self
            .shared
            .synced
            .lock()
            .expect("synced lock")
            .contains(&peer)
        {
            return;
        }
        let known = self.shared.catalog.borrow().signed_peers_count();
        #[allow(clippy::cast_precision_loss)]
        let chance = CONTACT_FANOUT as f64 / known.max(1) as f64;
        if rand::rng().random_bool(chance.min(1.0)) {
            self.first_contact(peer);
        }
    }

    /// One full catalog exchange with a random known peer, once per
    /// announce interval: repairs, within a few intervals, whatever gossip
    /// lost (an entry or a departure broadcast while a node had no
    /// neighbors), at the cost of one connection per node per interval.
    fn anti_entropy(&self) {
        let count = self.shared.catalog.borrow().signed_peers_count();
        if count == 0 {
            // Alone: the bootstrap retry in the worker loop covers it.
            return;
        }
        let pick = rand::rng().random_range(0..count);
        let addr = self
            .shared
            .catalog
            .borrow()
            .signed_peers()
            .nth(pick)
            .map(|e| e.address().clone());
        if let Some(addr) = addr {
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
                self.rejoin.neighbor_up();
                self.publish_neighbors();
                // Announcing on every new neighbor floods the whole swarm
                // with an entry it already has (same gossip message, so
                // receivers prune the link) each time HyParView swaps a
                // neighbor. A broadcast is only owed when we had no
                // neighbors (announcements made meanwhile went nowhere).
                if first {
                    self.announce().await;
                }
                // A neighbor we hold no entry of is synced with at once
                // (gossip does not bring every entry to every node in a
                // growing swarm: without these exchanges 20 nodes did not
                // converge within 20 s). One we know is treated like any
                // peer gossip told us of: HyParView swaps neighbors all
                // through a swarm's growth, and syncing with each new one
                // was most of the exchanges of a convergence (125 of 127
                // for 20 nodes).
                let known = self.shared.catalog.borrow().get_signed(&peer).is_some();
                if known {
                    self.heard_of(peer);
                } else {
                    self.first_contact(peer);
                }
            }
            GossipEvent::NeighborDown(peer) => {
                self.neighbors.remove(&peer);
                self.publish_neighbors();
                self.repair.churned(Instant::now());
                if self.neighbors.is_empty() {
                    // HyParView refills from its passive view first (see
                    // `overlay`).
                    self.rejoin.lost_all(Instant::now());
                }
            }
            GossipEvent::Received(msg) => self.received(&msg.content, msg.delivered_from),
            GossipEvent::Lagged => self.join_some().await,
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
                    self.heard_of(peer);
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

    /// Joins [`overlay::REJOIN_FANOUT`] random known peers (no neighbor
    /// for a while, or lagging), not all of them (see `overlay`).
    async fn join_some(&mut self) {
        let peers = overlay::sample(self.shared.catalog.borrow().signed_peers().map(|e| *e.id()));
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
        let peers = overlay::sample(self.shared.catalog.borrow().signed_peers().map(|e| *e.id()));
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

/// Sends the departure notices of [`Worker::depart`]: to the first
/// [`FIRST_NOTICES`] of `peers`, and to the others only if none of those
/// confirms within [`FIRST_NOTICE_WAIT`]. Returns how many were confirmed.
async fn notify_in_waves<A, F, Fut>(mut peers: Vec<A>, notify: F, deadline: Instant) -> usize
where
    F: Fn(A) -> Fut,
    Fut: Future<Output = bool>,
{
    let rest = peers.split_off(peers.len().min(FIRST_NOTICES));
    let mut notices: futures::stream::FuturesUnordered<Fut> =
        peers.into_iter().map(&notify).collect();
    let first = deadline.min(Instant::now() + FIRST_NOTICE_WAIT);
    let confirmed = confirmations(&mut notices, first).await;
    if confirmed > 0 || rest.is_empty() {
        return confirmed;
    }
    // Unfinished first notices stay in the set and may still land.
    notices.extend(rest.into_iter().map(&notify));
    confirmations(&mut notices, deadline).await
}

/// Waits for departure notices until `limit`, or [`DEPARTURE_LINGER`]
/// after the first confirmation, or until none is left; returns how many
/// were confirmed.
async fn confirmations<F: Future<Output = bool>>(
    notices: &mut futures::stream::FuturesUnordered<F>,
    limit: Instant,
) -> usize {
    let mut until = limit;
    let mut confirmed = 0usize;
    while let Ok(Some(ok)) = tokio::time::timeout_at(until, notices.next()).await {
        if ok {
            if confirmed == 0 {
                until = limit.min(Instant::now() + DEPARTURE_LINGER);
            }
            confirmed += 1;
        }
    }
    confirmed
}

#[cfg(test)]
mod tests {
    use {super::*, std::sync::Mutex};

    /// Runs `notify_in_waves` over peers 0..n where `answer(peer)` says
    /// when (after how long) and whether that peer confirms; returns the
    /// peers notified, the confirmations and the time taken.
    async fn waves(
        n: usize,
        answer: impl Fn(usize) -> Option<(Duration, bool)>,
    ) -> (Vec<usize>, usize, Duration) {
        let notified = Mutex::new(Vec::new());
        let started = Instant::now();
        let deadline = started + GRACEFUL_DEPARTURE_WINDOW + NOTICE_GRACE;
        let notify = |peer: usize| {
            notified.lock().unwrap().push(peer);
            let answer = answer(peer);
            async move {
                match answer {
                    Some((after, ok)) => {
                        tokio::time::sleep(after).await;
                        ok
                    }
                    None => core::future::pending().await,
                }
            }
        };
        let confirmed = notify_in_waves((0..n).collect(), notify, deadline).await;
        let mut notified = notified.into_inner().unwrap();
        notified.sort_unstable();
        (notified, confirmed, started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn live_peers_get_only_the_first_notices() {
        let ms = Duration::from_millis;
        let (notified, confirmed, took) = waves(40, |p| Some((ms(2 + p as u64), true))).await;
        assert_eq!(notified, vec![0, 1, 2]);
        assert_eq!(confirmed, 3);
        assert!(took <= ms(2 + 2), "took {took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_first_notices_reach_every_other_peer() {
        let ms = Duration::from_millis;
        let (notified, confirmed, took) = waves(6, |p| Some((ms(5), p >= FIRST_NOTICES))).await;
        assert_eq!(notified, (0..6).collect::<Vec<_>>());
        assert_eq!(confirmed, 3);
        // Refused at once, so the others go out at 5 ms, not after the wait.
        assert!(took < FIRST_NOTICE_WAIT, "took {took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn silent_first_peers_are_given_up_on_after_the_wait() {
        let ms = Duration::from_millis;
        let (notified, confirmed, took) =
            waves(5, |p| (p >= FIRST_NOTICES).then_some((ms(1), true))).await;
        assert_eq!(notified, (0..5).collect::<Vec<_>>());
        assert_eq!(confirmed, 2);
        // The wait, then the linger after the first confirmation (the
        // silent notices never finish).
        let most = FIRST_NOTICE_WAIT + ms(1) + DEPARTURE_LINGER;
        assert!(took > FIRST_NOTICE_WAIT && took <= most, "took {took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn nobody_answering_ends_at_the_deadline() {
        let (notified, confirmed, took) = waves(4, |_| None).await;
        assert_eq!(notified.len(), 4);
        assert_eq!(confirmed, 0);
        assert_eq!(took, GRACEFUL_DEPARTURE_WINDOW + NOTICE_GRACE);
    }
}
