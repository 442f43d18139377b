//! The `Discovery` handle and the state it shares with its worker.

use {
    super::{
        Catalog, Config, Event, PeerEntry, SignedPeerEntry, Upsert, catalog::Room,
        entry::UnverifiedEntry, protocols, rtt::RttEstimator, worker::Command,
    },
    crate::{
        PeerId, Tag, UniqueId,
        network::LocalNode,
        primitives::{IntoIterOrSingle, ShortFmtExt, TicketClass},
        tickets::Ticket,
    },
    chrono::Utc,
    core::time::Duration,
    iroh::EndpointAddr,
    std::{
        collections::{HashMap, HashSet},
        sync::{Arc, Mutex},
    },
    tokio::sync::{broadcast, mpsc, watch},
};

/// Most (peer, reason) pairs remembered as logged; the set is cleared when
/// full, so it stays bounded under a flood of fresh peer ids.
const MAX_LOGGED_REJECTIONS: usize = 1024;

/// Errors of discovery operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The secret key does not match the local entry.
    #[error("invalid secret key")]
    InvalidSecretKey,
    /// The peer belongs to another network.
    #[error("different network")]
    DifferentNetwork,
    /// A signature did not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// Joining the gossip topic failed.
    #[error("gossip join failed: {0}")]
    GossipJoin(String),
    /// An address update changed the peer id.
    #[error("peer id changed")]
    PeerIdChanged,
    /// A link operation failed.
    #[error("link: {0}")]
    Link(#[from] crate::network::LinkError),
    /// The peer misbehaved or the exchange failed otherwise.
    #[error("{0}")]
    Other(String),
    /// The node is shutting down.
    #[error("cancelled")]
    Cancelled,
}

/// Most gossip neighbors listed for observers. iroh-gossip's active view
/// is far smaller (5 by default); the cap only keeps a misconfigured view
/// from growing the dashboard's snapshot.
pub(crate) const MAX_LISTED_NEIGHBORS: usize = 64;

/// Handle to this node's discovery (cheap to clone).
#[derive(Debug, Clone)]
pub struct Discovery(pub(crate) Arc<Shared>);

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) local: LocalNode,
    pub(crate) config: Config,
    pub(crate) catalog: watch::Sender<Catalog>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) commands: mpsc::Sender<Command>,
    /// Peers we already ran a full sync with (until they depart).
    pub(crate) synced: Mutex<HashSet<PeerId>>,
    /// Queue of outgoing first-contact syncs (see `jobs.rs`).
    pub(crate) jobs: mpsc::Sender<super::jobs::Job>,
    /// Queue of outgoing RTT probes, worked off by a pool of its own.
    pub(crate) probes: mpsc::Sender<super::jobs::Job>,
    pub(crate) rtt: Mutex<HashMap<PeerId, RttEstimator>>,
    /// Current gossip neighbor count (read by the DHT bootstrap).
    pub(crate) neighbors: std::sync::atomic::AtomicUsize,
    /// The current gossip neighbors (at most [`MAX_LISTED_NEIGHBORS`]),
    /// for observers (the dashboard); the worker replaces it on change.
    pub(crate) neighbor_list: Mutex<Vec<PeerId>>,
    /// Rejections already logged, so a misbehaving peer logs once.
    pub(crate) logged: Mutex<HashSet<(PeerId, &'static str)>>,
}

impl Discovery {
    /// Publishes `peers`' addresses, syncs catalogs with each unseen peer and
    /// asks gossip to join them.
    /// Takes one address or peer id, or any iterator of them.
    pub async fn dial<V>(&self, peers: impl IntoIterOrSingle<EndpointAddr, V>) {
        let addrs: Vec<EndpointAddr> = peers.into_items();
        let _ = self.0.commands.send(Command::Dial(addrs)).await;
    }

    /// Queues a dial of `peer` if the worker's command queue has room, and
    /// drops it otherwise: for hints that arrive unasked (mDNS), which must
    /// neither wait on the queue nor pile up tasks that do.
    pub(crate) fn try_dial(&self, peer: EndpointAddr) -> bool {
        self.0.commands.try_send(Command::Dial(vec![peer])).is_ok()
    }

    /// This node's current signed entry.
    pub fn me(&self) -> SignedPeerEntry {
        self.0.catalog.borrow().local().clone()
    }

    /// Whether the catalog holds a signed, fresh entry of `peer` (what
    /// admission asks at accept).
    pub(crate) fn knows(&self, peer: &PeerId) -> bool {
        self.0.catalog.borrow().get_signed(peer).is_some()
    }

    /// Verifies and merges a wire entry that `source` handed us; true if
    /// the catalog changed.
    pub(crate) fn feed_unverified(&self, entry: UnverifiedEntry, source: PeerId) -> bool {
        self.0.merge_unverified(entry, source).changed()
    }

    /// A snapshot of the catalog.
    pub fn catalog(&self) -> Catalog {
        self.0.catalog.borrow().clone()
    }

    /// Change notifications of the catalog.
    pub fn catalog_watch(&self) -> watch::Receiver<Catalog> {
        self.0.catalog.subscribe()
    }

    /// Catalog events from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.0.events.subscribe()
    }

    /// A full catalog exchange with `peer`, which then also becomes a
    /// gossip neighbour: later announcements of either side (a changed
    /// entry, joining a group) reach the other at once, not only at the
    /// next RTT probe.
    pub async fn sync_with(&self, peer: impl Into<EndpointAddr>) -> Result<(), Error> {
        let peer = peer.into();
        let id = peer.id;
        protocols::sync_with(&self.0, peer).await?;
        if id != self.0.local.id() {
            let _ = self.0.commands.send(Command::Join(vec![id])).await;
        }
        Ok(())
    }

    /// Upserts an externally obtained signed entry; true if the catalog
    /// changed.
    pub fn feed(&self, entry: SignedPeerEntry) -> bool {
        self.0.merge(entry).changed()
    }

    /// Inserts an unsigned (local-only) entry. Takes a [`PeerEntry`] or a
    /// [`SignedPeerEntry`] (e.g. another node's `me()`), whose signature is
    /// then dropped.
    pub fn insert(&self, entry: impl Into<PeerEntry>) -> bool {
        let entry = entry.into();
        self.0
            .catalog
            .send_if_modified(|c| c.insert_unsigned(entry))
    }

    /// Removes a peer's unsigned entry.
    pub fn remove(&self, peer: PeerId) -> bool {
        self.0
            .catalog
            .send_if_modified(|c| c.remove_unsigned(&peer))
    }

    /// Removes every unsigned entry.
    pub fn clear_unsigned(&self) -> bool {
        self.0.catalog.send_if_modified(Catalog::clear_unsigned)
    }

    /// Adds tags to the local entry.
    pub fn add_tags<V>(&self, tags: impl IntoIterOrSingle<Tag, V>) {
        let tags: Vec<Tag> = tags.into_items();
        self.0.update_local(|e| e.add_tags(tags));
    }

    /// Removes tags from the local entry.
    pub fn remove_tags<V>(&self, tags: impl IntoIterOrSingle<Tag, V>) {
        let tags: Vec<Tag> = tags.into_items();
        self.0.update_local(|e| e.remove_tags(tags));
    }

    /// Adds a ticket to the local entry.
    pub fn add_ticket(&self, ticket: Ticket) {
        self.0.update_local(|e| e.add_ticket(ticket));
    }

    /// Removes a ticket from the local entry.
    pub fn remove_ticket(&self, id: UniqueId) {
        self.0.update_local(|e| e.remove_ticket(id));
    }

    /// Removes every ticket of `class` from the local entry.
    pub fn remove_tickets_of(&self, class: TicketClass) {
        self.0.update_local(|e| e.remove_tickets_of(class));
    }

    /// Replaces the tickets of `ticket`'s class with `ticket`.
    pub fn replace_ticket(&self, ticket: Ticket) {
        self.0
            .update_local(|e| e.remove_tickets_of(ticket.class()).add_ticket(ticket));
    }

    /// Advertises streams in the local entry (used by producers).
    #[allow(dead_code, reason = "called by the streams subsystem")]
    pub(crate) fn add_streams(&self, ids: impl IntoIterator<Item = crate::StreamId>) {
        let ids: Vec<_> = ids.into_iter().collect();
        self.0.update_local(|e| e.add_streams(ids));
    }

    /// Stops advertising streams.
    #[allow(dead_code, reason = "called by the streams subsystem")]
    pub(crate) fn remove_streams(&self, ids: impl IntoIterator<Item = crate::StreamId>) {
        let ids: Vec<_> = ids.into_iter().collect();
        self.0.update_local(|e| e.remove_streams(ids));
    }

    /// Advertises groups in the local entry.
    #[allow(dead_code, reason = "called by the groups subsystem")]
    pub(crate) fn add_groups(&self, ids: impl IntoIterator<Item = crate::GroupId>) {
        let ids: Vec<_> = ids.into_iter().collect();
        self.0.update_local(|e| e.add_groups(ids));
    }

    /// Stops advertising groups.
    #[allow(dead_code, reason = "called by the groups subsystem")]
    pub(crate) fn remove_groups(&self, ids: impl IntoIterator<Item = crate::GroupId>) {
        let ids: Vec<_> = ids.into_iter().collect();
        self.0.update_local(|e| e.remove_groups(ids));
    }

    /// Pings `peer`: returns its fresh entry and the measured RTT (the
    /// sample also feeds the smoothed RTT).
    pub async fn ping(
        &self,
        peer: impl Into<EndpointAddr>,
    ) -> Result<(SignedPeerEntry, Duration), Error> {
        protocols::ping(&self.0, peer.into()).await
    }

    /// Broadcasts a signed departure and waits for it to spread (used on
    /// shutdown).
    pub(crate) async fn depart(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.0.commands.send(Command::Depart(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

impl Shared {
    /// Applies `change` to the local entry; if it bumped the version the
    /// entry is re-signed, published and re-announced.
    pub(crate) fn update_local(&self, change: impl FnOnce(PeerEntry) -> PeerEntry) {
        let changed = self.catalog.send_if_modified(|c| {
            let before = c.local().update_version();
            let next = change(c.local().clone().into_unsigned());
            if next.update_version() == before {
                return false;
            }
            let signed = next
                .sign(self.local.secret_key())
                .expect("local key signs local entry");
            c.set_local(signed);
            true
        });
        if changed {
            // A full queue already holds an announce of a version at least
            // this new, so dropping this one loses nothing.
            let _ = self.commands.try_send(Command::Announce);
        }
    }

    /// Whether `entry` encodes to more than `MAX_ENTRY_SIZE` bytes (then
    /// counted as rejected, from `source`).
    pub(crate) fn oversized(&self, entry: &PeerEntry, source: PeerId) -> bool {
        let oversized = entry.encoded_len() > super::messages::MAX_ENTRY_SIZE;
        if oversized {
            self.reject(source, "oversized_entry");
        }
        oversized
    }

    /// Verifies and merges a wire entry from `source`.
    pub(crate) fn merge_unverified(&self, entry: UnverifiedEntry, source: PeerId) -> Upsert {
        if self.oversized(&entry.0, source) {
            return Upsert::Rejected;
        }
        if self
            .catalog
            .borrow()
            .refuses(&entry.0, *entry.0.id() == source)
        {
            self.reject(self.local.id(), "catalog_full");
            return Upsert::Rejected;
        }
        if let Ok(entry) = entry.verify() {
            let proven = *entry.id() == source;
            self.merge_batch(vec![(entry, proven)])
                .pop()
                .map_or(Upsert::Rejected, |(_, outcome)| outcome)
        } else {
            self.reject(source, "invalid_signature");
            Upsert::Rejected
        }
    }

    /// Merges a verified entry obtained directly (a ping reply, a
    /// handshake, `Discovery::feed`), emitting events and counting outcomes.
    pub(crate) fn merge(&self, entry: SignedPeerEntry) -> Upsert {
        // Snapshots and wire entries are measured before their signatures
        // are checked (`merge_snapshot`, `merge_unverified`); these arrive
        // verified, so here.
        if self.oversized(&entry, *entry.id()) {
            return Upsert::Rejected;
        }
        self.merge_batch(vec![(entry, true)])
            .pop()
            .map_or(Upsert::Rejected, |(_, outcome)| outcome)
    }

    /// Merges verified entries in one catalog change, so watchers wake once
    /// per batch, not per entry. `proven` marks an entry that is its
    /// sender's own (see [`Catalog::make_room_for`]). Returns each entry's
    /// outcome, in order.
    pub(crate) fn merge_batch(
        &self,
        entries: Vec<(SignedPeerEntry, bool)>,
    ) -> Vec<(PeerId, Upsert)> {
        let drift = chrono::Duration::from_std(self.config.max_time_drift).unwrap_or_default();
        let horizon = Utc::now() + drift;
        let mut results: Vec<(SignedPeerEntry, Upsert)> = Vec::with_capacity(entries.len());
        let mut evicted = Vec::new();
        self.catalog.send_if_modified(|c| {
            let mut changed = false;
            for (entry, proven) in entries {
                if entry.updated_at() > horizon {
                    self.reject(*entry.id(), "future_timestamp");
                    results.push((entry, Upsert::Rejected));
                    continue;
                }
                match c.make_room_for(&entry, proven) {
                    Room::Free => {}
                    Room::Evicted(victim) => {
                        evicted.push(victim);
                        changed = true;
                    }
                    Room::Full => {
                        // Keyed by us, not the entry: one log line per
                        // flood, not one per fresh Sybil id.
                        self.reject(self.local.id(), "catalog_full");
                        results.push((entry, Upsert::Rejected));
                        continue;
                    }
                }
                let outcome = c.upsert_signed(entry.clone());
                changed |= outcome.changed();
                results.push((entry, outcome));
            }
            changed
        });
        let net = self.local.network_id().short().to_string();
        for victim in evicted {
            self.synced.lock().expect("synced lock").remove(&victim);
            self.rtt.lock().expect("rtt lock").remove(&victim);
            metrics::counter!("mosaik.discovery.catalog.evicted", "network" => net.clone())
                .increment(1);
            let _ = self.events.send(Event::PeerDeparted(victim));
        }
        let mut grew = false;
        let outcomes = results
            .into_iter()
            .map(|(entry, outcome)| {
                let id = *entry.id();
                match outcome {
                    Upsert::Discovered => {
                        grew = true;
                        metrics::counter!("mosaik.discovery.peers.discovered", "network" => net.clone())
                            .increment(1);
                        let plain = entry.into_unsigned();
                        self.local.observe([plain.address().clone()]);
                        let _ = self.events.send(Event::PeerDiscovered(plain));
                    }
                    Upsert::Updated => {
                        metrics::counter!("mosaik.discovery.peers.updated", "network" => net.clone())
                            .increment(1);
                        let plain = entry.into_unsigned();
                        self.local.observe([plain.address().clone()]);
                        let _ = self.events.send(Event::PeerUpdated(plain));
                    }
                    Upsert::DifferentNetwork => self.reject(id, "different_network"),
                    Upsert::Rejected | Upsert::Outdated => {}
                }
                (id, outcome)
            })
            .collect();
        if grew {
            self.catalog_size_gauge();
        }
        outcomes
    }

    /// Applies a signed departure received from `from` (gossip or direct);
    /// true if it removed the peer's entry.
    pub(crate) fn departure(&self, departure: &super::GracefulDeparture, from: PeerId) -> bool {
        if !departure.verify() {
            self.reject(from, "invalid_departure");
            return false;
        }
        let drift = chrono::Duration::from_std(self.config.max_time_drift).unwrap_or_default();
        if (Utc::now() - departure.timestamp).abs() > drift {
            self.reject(departure.peer_id, "time_drift");
            return false;
        }
        // A process departs once: a departure from the incarnation we know
        // (same start time) or a later one removes the entry; an older
        // incarnation's departure is a replay and is ignored.
        let known = self
            .catalog
            .borrow()
            .signed_entry(&departure.peer_id)
            .map(|e| e.update_version());
        let accepted = known.is_some_and(|v| departure.last_version.0 >= v.0);
        if accepted {
            self.departed(departure.peer_id, Some(departure));
        }
        accepted
    }

    /// Removes a peer that departed (gracefully when it sent `notice`) or
    /// was purged.
    pub(crate) fn departed(&self, peer: PeerId, notice: Option<&super::GracefulDeparture>) {
        self.catalog.send_if_modified(|c| match notice {
            Some(notice) => c.depart(notice),
            None => c.remove(&peer),
        });
        self.synced.lock().expect("synced lock").remove(&peer);
        self.rtt.lock().expect("rtt lock").remove(&peer);
        let net = self.local.network_id().short().to_string();
        metrics::counter!("mosaik.discovery.peers.departed", "network" => net).increment(1);
        let _ = self.events.send(Event::PeerDeparted(peer));
        self.catalog_size_gauge();
    }

    /// Folds an RTT sample into the peer's smoothed RTT.
    pub(crate) fn rtt_sample(&self, peer: PeerId, sample: Duration) {
        let smoothed = {
            let mut rtts = self.rtt.lock().expect("rtt lock");
            match rtts.entry(peer) {
                std::collections::hash_map::Entry::Occupied(mut known) => {
                    known.get_mut().update(sample);
                    known.get().smoothed()
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(RttEstimator::new(sample)).smoothed()
                }
            }
        };
        // Only wake watchers when the peer's visibility changes.
        let mut visibility_changed = false;
        self.catalog.send_if_modified(|c| {
            visibility_changed = c.set_rtt(peer, smoothed);
            visibility_changed
        });
    }

    /// Counts a rejected entry or message, logging once per peer and reason.
    pub(crate) fn reject(&self, peer: PeerId, reason: &'static str) {
        let net = self.local.network_id().short().to_string();
        metrics::counter!("mosaik.discovery.rejected", "network" => net, "reason" => reason)
            .increment(1);
        let first = {
            let mut logged = self.logged.lock().expect("logged lock");
            // A Sybil flood brings a new peer id per entry: forget and log
            // again rather than remember every id.
            if logged.len() >= MAX_LOGGED_REJECTIONS {
                logged.clear();
            }
            logged.insert((peer, reason))
        };
        if first {
            tracing::warn!(peer = %peer.fmt_short(), reason, "rejected discovery input");
        }
    }

    fn catalog_size_gauge(&self) {
        let size = self.catalog.borrow().signed_peers_count();
        let net = self.local.network_id().short().to_string();
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("mosaik.discovery.catalog.size", "network" => net).set(size as f64);
    }

    /// Records a full exchange `peer` started with us: no first-contact
    /// sync with it is owed any more.
    pub(crate) fn synced_with(&self, peer: PeerId) {
        if peer != self.local.id() {
            self.synced.lock().expect("synced lock").insert(peer);
        }
    }

    /// Marks `peer` as synced; true the first time.
    pub(crate) fn first_contact(&self, peer: PeerId) -> bool {
        peer != self.local.id() && self.synced.lock().expect("synced lock").insert(peer)
    }
}
