//! The catalog: an immutable snapshot of every known peer entry.

use {
    super::{GracefulDeparture, PeerEntry, PeerInfo, SignedPeerEntry},
    crate::{NetworkId, PeerId},
    chrono::Utc,
    core::time::Duration,
    imbl::OrdMap,
};

/// Outcome of inserting an entry into the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// A peer we did not know.
    Discovered,
    /// A newer entry for a known peer.
    Updated,
    /// Not newer than what we have.
    Rejected,
    /// Older than the staleness horizon.
    Outdated,
    /// From another network.
    DifferentNetwork,
}

impl Upsert {
    /// Whether the catalog changed.
    pub fn changed(self) -> bool {
        matches!(self, Self::Discovered | Self::Updated)
    }
}

/// An immutable snapshot of the peers this node knows. Cheap to clone
/// (persistent maps).
///
/// Signed entries are authoritative and synced between peers; unsigned
/// entries are local-only (manual or test use). The local entry is always
/// present and signed.
#[derive(Debug, Clone)]
pub struct Catalog {
    local: SignedPeerEntry,
    signed: OrdMap<PeerId, SignedPeerEntry>,
    unsigned: OrdMap<PeerId, PeerEntry>,
    rtt: OrdMap<PeerId, Duration>,
    /// Peers that departed gracefully: their signed notice (whose version
    /// names the departed incarnation) and when we took it. Without these,
    /// a sync with a peer that has not yet seen the departure would bring
    /// the entry straight back; with them, our syncs pass the notice on.
    departed: OrdMap<PeerId, (GracefulDeparture, chrono::DateTime<Utc>)>,
    purge_after: Duration,
    max_rtt: Option<Duration>,
    /// Most signed entries held (see [`Catalog::make_room_for`]).
    max_entries: usize,
}

/// Whether a new entry fits into a full catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    /// Not a new entry, or the catalog has room.
    Free,
    /// This entry was evicted to make room.
    Evicted(PeerId),
    /// The catalog is full and nothing may be evicted for this entry.
    Full,
}

impl Catalog {
    pub(crate) fn new(
        local: SignedPeerEntry,
        purge_after: Duration,
        max_rtt: Option<Duration>,
    ) -> Self {
        Self {
            local,
            signed: OrdMap::new(),
            unsigned: OrdMap::new(),
            rtt: OrdMap::new(),
            departed: OrdMap::new(),
            purge_after,
            max_rtt,
            max_entries: usize::MAX,
        }
    }

    /// Caps the number of signed entries (the local one not counted).
    pub(crate) fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// Whether `entry` matters to this node: it shares a tag, a stream or a
    /// group with our own entry.
    fn shares_with_us(&self, entry: &PeerEntry) -> bool {
        let me = &self.local;
        !entry.tags().is_disjoint(me.tags())
            || !entry.streams().is_disjoint(me.streams())
            || !entry.groups().is_disjoint(me.groups())
    }

    /// Whether `upsert_signed` would add `entry` as a new peer.
    fn would_discover(&self, entry: &PeerEntry) -> bool {
        entry.network_id() == self.network_id()
            && *entry.id() != self.local_id()
            && !self.is_stale(entry)
            && self
                .signed
                .get(entry.id())
                .is_none_or(|known| self.is_stale(known))
            && self
                .departed
                .get(entry.id())
                .is_none_or(|(notice, _)| entry.update_version().0 > notice.last_version.0)
    }

    /// Whether a full catalog would refuse `entry` whatever its signature
    /// (a new stranger relayed by someone else): checked before the
    /// signature, so a flood of fresh entries costs no verification once
    /// the catalog is full.
    pub(crate) fn refuses(&self, entry: &PeerEntry, proven: bool) -> bool {
        self.signed.len() >= self.max_entries
            && !proven
            && !self.shares_with_us(entry)
            && self.would_discover(entry)
    }

    /// Makes room for a new `entry` in a full catalog, or says there is
    /// none. `proven`: the entry is its sender's own (the peer we talk to
    /// proved it is reachable).
    ///
    /// Preference, so a flood of strangers cannot push out the peers that
    /// matter: a stale entry goes first; then a stranger (shares nothing
    /// with us) never measured by an RTT probe; then any stranger. Peers
    /// sharing a group with us (every live bonded peer) are never evicted.
    /// When full, a new entry is admitted only if it was proven or shares
    /// something with us.
    pub(crate) fn make_room_for(&mut self, entry: &PeerEntry, proven: bool) -> Room {
        if self.signed.len() < self.max_entries || !self.would_discover(entry) {
            return Room::Free;
        }
        let wanted = self.shares_with_us(entry);
        let victim = self
            .signed
            .values()
            .find(|e| self.is_stale(e))
            .or_else(|| {
                if !(wanted || proven) {
                    return None;
                }
                let strangers = || self.signed.values().filter(|e| !self.shares_with_us(e));
                strangers()
                    .find(|e| !self.rtt.contains_key(e.id()))
                    .or_else(|| strangers().next().filter(|_| wanted))
            })
            .map(|e| *e.id());
        match victim {
            Some(victim) => {
                self.remove(&victim);
                Room::Evicted(victim)
            }
            None => Room::Full,
        }
    }

    /// This node's id.
    pub fn local_id(&self) -> PeerId {
        *self.local.id()
    }

    /// The network.
    pub fn network_id(&self) -> NetworkId {
        self.local.network_id()
    }

    /// This node's current signed entry.
    pub fn local(&self) -> &SignedPeerEntry {
        &self.local
    }

    fn is_stale(&self, entry: &PeerEntry) -> bool {
        let horizon = Utc::now() - chrono::Duration::from_std(self.purge_after).unwrap_or_default();
        entry.updated_at() < horizon
    }

    fn too_slow(&self, peer: &PeerId) -> bool {
        match (self.max_rtt, self.rtt.get(peer)) {
            (Some(max), Some(rtt)) => *rtt > max,
            _ => false,
        }
    }

    /// Visible peers: signed (non-stale) then unsigned, excluding this node
    /// and peers whose known RTT exceeds `max_rtt`.
    pub fn peers(&self) -> impl Iterator<Item = PeerInfo> + '_ {
        self.signed_peers()
            .map(|s| s.clone().into_unsigned())
            .chain(self.unsigned_peers().cloned())
            .filter(|e| !self.too_slow(e.id()))
            .map(|e| self.info(e))
    }

    /// Signed, non-stale peers excluding this node (no RTT filter).
    pub fn signed_peers(&self) -> impl Iterator<Item = &SignedPeerEntry> + '_ {
        self.signed.values().filter(|e| !self.is_stale(e))
    }

    /// Unsigned peers.
    pub fn unsigned_peers(&self) -> impl Iterator<Item = &PeerEntry> + '_ {
        self.unsigned.values()
    }

    /// Every entry including this node's (signed non-stale, then unsigned).
    pub fn iter(&self) -> impl Iterator<Item = PeerEntry> + '_ {
        self.iter_signed()
            .map(|s| s.clone().into_unsigned())
            .chain(self.unsigned.values().cloned())
    }

    /// Signed non-stale entries including this node's: what a catalog sync
    /// sends.
    pub fn iter_signed(&self) -> impl Iterator<Item = &SignedPeerEntry> + '_ {
        core::iter::once(&self.local).chain(self.signed_peers())
    }

    /// A peer's entry (signed first), hidden if slower than `max_rtt`.
    pub fn get(&self, peer: &PeerId) -> Option<PeerInfo> {
        if self.too_slow(peer) {
            return None;
        }
        let entry = self
            .get_signed(peer)
            .map(|s| s.clone().into_unsigned())
            .or_else(|| self.unsigned.get(peer).cloned())?;
        Some(self.info(entry))
    }

    /// Whether the catalog lists `peer` (signed and not stale, or
    /// unsigned), however slow it is.
    pub(crate) fn lists(&self, peer: &PeerId) -> bool {
        self.get_signed(peer).is_some() || self.unsigned.contains_key(peer)
    }

    /// A peer's signed, non-stale entry.
    pub fn get_signed(&self, peer: &PeerId) -> Option<&SignedPeerEntry> {
        if *peer == self.local_id() {
            return Some(&self.local);
        }
        self.signed.get(peer).filter(|e| !self.is_stale(e))
    }

    /// Number of signed non-stale peers (excluding this node).
    pub fn signed_peers_count(&self) -> usize {
        self.signed_peers().count()
    }

    /// Number of visible peers (excluding this node).
    pub fn peers_count(&self) -> usize {
        self.peers().count()
    }

    /// A peer's smoothed RTT, if measured.
    pub fn rtt(&self, peer: &PeerId) -> Option<Duration> {
        self.rtt.get(peer).copied()
    }

    fn info(&self, entry: PeerEntry) -> PeerInfo {
        let rtt = self.rtt.get(entry.id()).copied();
        PeerInfo::new(entry, rtt)
    }

    // ---- mutations (crate-internal; the worker and handle own them) ----

    pub(crate) fn set_local(&mut self, local: SignedPeerEntry) {
        self.local = local;
    }

    pub(crate) fn upsert_signed(&mut self, entry: SignedPeerEntry) -> Upsert {
        if entry.network_id() != self.network_id() {
            return Upsert::DifferentNetwork;
        }
        if *entry.id() == self.local_id() {
            return Upsert::Rejected;
        }
        if self.is_stale(&entry) {
            return Upsert::Outdated;
        }
        if self
            .departed
            .get(entry.id())
            .is_some_and(|(notice, _)| entry.update_version().0 <= notice.last_version.0)
        {
            // The same (or an older) incarnation of a peer that left.
            return Upsert::Rejected;
        }
        self.unsigned.remove(entry.id());
        match self.signed.get(entry.id()) {
            Some(known) if !entry.is_newer_than(known) => Upsert::Rejected,
            Some(known) => {
                let was_stale = self.is_stale(known);
                self.signed.insert(*entry.id(), entry);
                if was_stale {
                    Upsert::Discovered
                } else {
                    Upsert::Updated
                }
            }
            None => {
                self.signed.insert(*entry.id(), entry);
                Upsert::Discovered
            }
        }
    }

    pub(crate) fn insert_unsigned(&mut self, entry: PeerEntry) -> bool {
        if *entry.id() == self.local_id()
            || entry.network_id() != self.network_id()
            || self.signed.contains_key(entry.id())
        {
            return false;
        }
        self.unsigned.insert(*entry.id(), entry);
        true
    }

    pub(crate) fn remove(&mut self, peer: &PeerId) -> bool {
        self.rtt.remove(peer);
        self.signed.remove(peer).is_some() | self.unsigned.remove(peer).is_some()
    }

    /// Removes a peer that left gracefully and remembers its notice (the
    /// departed incarnation) until the staleness horizon passes.
    pub(crate) fn depart(&mut self, notice: &GracefulDeparture) -> bool {
        let peer = notice.peer_id;
        self.departed.insert(peer, (notice.clone(), Utc::now()));
        self.remove(&peer)
    }

    /// The departure notices signed at or after `since`, to pass on in a
    /// catalog exchange (a node that missed the broadcast learns it there).
    pub(crate) fn departures_since(
        &self,
        since: chrono::DateTime<Utc>,
    ) -> impl Iterator<Item = &GracefulDeparture> {
        self.departed
            .values()
            .map(|(notice, _)| notice)
            .filter(move |notice| notice.timestamp >= since)
    }

    pub(crate) fn remove_unsigned(&mut self, peer: &PeerId) -> bool {
        self.unsigned.remove(peer).is_some()
    }

    pub(crate) fn clear_unsigned(&mut self) -> bool {
        let had = !self.unsigned.is_empty();
        self.unsigned.clear();
        had
    }

    pub(crate) fn signed_entry(&self, peer: &PeerId) -> Option<&SignedPeerEntry> {
        self.signed.get(peer)
    }

    /// Removes stale signed entries; returns their ids.
    pub(crate) fn purge(&mut self) -> Vec<PeerId> {
        let stale: Vec<PeerId> = self
            .signed
            .values()
            .filter(|e| self.is_stale(e))
            .map(|e| *e.id())
            .collect();
        for peer in &stale {
            self.signed.remove(peer);
            self.rtt.remove(peer);
        }
        let horizon = Utc::now() - chrono::Duration::from_std(self.purge_after).unwrap_or_default();
        let expired: Vec<PeerId> = self
            .departed
            .iter()
            .filter(|(_, (_, at))| *at < horizon)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.departed.remove(&peer);
        }
        stale
    }

    /// When the next signed entry turns stale.
    pub(crate) fn next_expiry(&self) -> Option<chrono::DateTime<Utc>> {
        let ttl = chrono::Duration::from_std(self.purge_after).unwrap_or_default();
        self.signed.values().map(|e| e.updated_at() + ttl).min()
    }

    /// Records a smoothed RTT; returns whether the peer's visibility under
    /// `max_rtt` changed (only then do watchers need waking).
    pub(crate) fn set_rtt(&mut self, peer: PeerId, rtt: Duration) -> bool {
        let before = self.too_slow(&peer);
        let first = self.rtt.insert(peer, rtt).is_none();
        first || before != self.too_slow(&peer)
    }
}

#[cfg(test)]
mod tests {
    use {
        super::*,
        crate::{GroupId, Tag},
        iroh::{EndpointAddr, SecretKey},
    };

    const NET: &str = "catalog-cap";

    fn signed(change: impl FnOnce(PeerEntry) -> PeerEntry) -> SignedPeerEntry {
        let key = SecretKey::generate();
        change(PeerEntry::new(
            NetworkId::from(NET),
            EndpointAddr::new(key.public()),
        ))
        .sign(&key)
        .unwrap()
    }

    fn catalog(max: usize) -> Catalog {
        let local = signed(|e| {
            e.add_groups([GroupId::from("g")])
                .add_tags([Tag::from("t")])
        });
        Catalog::new(local, Duration::from_mins(5), None).with_max_entries(max)
    }

    fn insert(c: &mut Catalog, e: &SignedPeerEntry, proven: bool) -> Room {
        let room = c.make_room_for(e, proven);
        if room != Room::Full {
            assert_eq!(c.upsert_signed(e.clone()), Upsert::Discovered);
        }
        room
    }

    #[test]
    fn a_full_catalog_admits_only_proven_or_sharing_peers() {
        let mut c = catalog(3);
        let member = signed(|e| e.add_groups([GroupId::from("g")]));
        let (s1, s2) = (signed(|e| e), signed(|e| e));
        for e in [&member, &s1, &s2] {
            assert_eq!(insert(&mut c, e, false), Room::Free);
        }
        // A stranger relayed by someone else: refused, nothing evicted,
        // and known to be refused before its signature is checked.
        let relayed = signed(|e| e);
        assert!(c.refuses(&relayed, false));
        assert!(!c.refuses(&relayed, true));
        assert!(!c.refuses(&member, false), "updates are never refused");
        assert_eq!(insert(&mut c, &relayed, false), Room::Full);
        assert_eq!(c.signed_peers_count(), 3);
        // s1 was measured by a probe: the unmeasured s2 goes first.
        c.set_rtt(*s1.id(), Duration::from_millis(1));
        let proven = signed(|e| e);
        assert_eq!(insert(&mut c, &proven, true), Room::Evicted(*s2.id()));
        // A peer sharing our tag may evict even a measured stranger.
        let tagged = signed(|e| e.add_tags([Tag::from("t")]));
        let room = insert(&mut c, &tagged, false);
        assert!(matches!(room, Room::Evicted(v) if v == *proven.id() || v == *s1.id()));
        assert!(c.get_signed(member.id()).is_some());
    }

    #[test]
    fn peers_sharing_a_group_are_never_evicted() {
        let mut c = catalog(2);
        let members: Vec<_> = (0..2)
            .map(|_| signed(|e| e.add_groups([GroupId::from("g")])))
            .collect();
        for m in &members {
            insert(&mut c, m, true);
        }
        let tagged = signed(|e| e.add_tags([Tag::from("t")]));
        assert_eq!(insert(&mut c, &tagged, true), Room::Full);
        let newcomer = signed(|e| e.add_groups([GroupId::from("g")]));
        assert_eq!(insert(&mut c, &newcomer, true), Room::Full);
        for m in &members {
            assert!(c.get_signed(m.id()).is_some());
        }
        // Updates of known peers always fit.
        let update = members[0].clone();
        assert_eq!(c.make_room_for(&update, false), Room::Free);
    }
}
