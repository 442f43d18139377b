//! Membership side of the driver: bonds coming and going, dialing the
//! members the catalog lists, pushing our own entry to bonds.

use {
    super::{Incoming, Worker, gauge},
    crate::groups::{
        StateMachine, Storage,
        bond::{BondEvent, BondHandle, Heartbeat},
        bonds::{BondInfo, BondSet},
        close::{StrictGroupFull, Superseded},
        messages::BondMessage,
        storage::StorageError,
        transport,
    },
    crate::{PeerId, discovery::SignedPeerEntry},
    core::time::Duration,
    mosaik_raft::Input,
    std::collections::BTreeMap,
    tokio::time::Instant,
};

/// How [`Worker::supersedes`] decides on a second bond with one peer.
enum Verdict {
    /// The new bond replaces the old one.
    Replace(&'static str),
    /// The new bond replaces the old one unless this peer's bond was
    /// replaced within [`REPLACE_INTERVAL`].
    Limited(&'static str),
    /// The old bond stays; the new link is closed.
    Refuse,
}

/// A bond is replaced by a new handshake of the *same* process of the peer
/// (a restart always replaces) at most once per this interval. Each such
/// replacement is legitimate on its own (the peer proved its key and the
/// group key on the new connection, and it only dials when it has no bond
/// with us), but a buggy peer would otherwise replace its bond as fast as
/// it can handshake, and every replacement resets the engine's replication
/// state for that peer. A refused replacement closes with `AlreadyBonded`;
/// the dialer retries on its next catalog rescan (`RESCAN`, 1 s).
pub(super) const REPLACE_INTERVAL: Duration = Duration::from_secs(2);

/// Most bond dials of one group in flight at once. The catalog may list
/// many peers that claim the group (an entry's group list is whatever its
/// signer wrote); each dial is a task holding a connection attempt for up
/// to the handshake timeout, so they are capped: the rest are dialed on a
/// later rescan (`RESCAN`, every second) as dials finish.
pub(super) const MAX_DIALS: usize = 16;

/// How long a member waits to be dialed by a lower-id member of its group
/// (the pair's rightful dialer, which normally dials within milliseconds
/// of seeing us in the catalog) before dialing it itself, in reverse. The
/// rightful dial cannot reach a restarted process while the dialer's iroh
/// endpoint still has any connection to the old one (gossip, or the dead
/// bond): new connections start on that connection's dead network path
/// until it idles out (15 s). It also covers pairs where only one direction
/// can connect. `Worker::supersedes` resolves the race when both dials get
/// through.
const REVERSE_DIAL_AFTER: Duration = Duration::from_secs(2);

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    pub(super) async fn bond_event(
        &mut self,
        event: BondEvent<M::Command>,
    ) -> Result<(), StorageError> {
        match event {
            BondEvent::Raft { peer, msg } => {
                if !self.bonds.contains_key(&peer) {
                    return Ok(());
                }
                tracing::trace!(from = %peer.fmt_short(), ?msg, "receive");
                self.engine
                    .handle(self.now(), Input::Message { from: peer, msg });
            }
            BondEvent::Sync { peer, msg } => {
                if !self.bonds.contains_key(&peer) {
                    return Ok(());
                }
                return self.sync_message(peer, msg).await;
            }
            BondEvent::StateSync { peer, bytes } => {
                if !self.bonds.contains_key(&peer) {
                    return Ok(());
                }
                return self.sync_custom(peer, &bytes).await;
            }
            BondEvent::Standing { peer, id, standing } => {
                let Some(bond) = self.bonds.get_mut(&peer).filter(|b| b.id == id) else {
                    return Ok(());
                };
                tracing::debug!(peer = %peer.fmt_short(), ?standing, "peer standing changed");
                let changed = bond.standing.preference != standing.preference;
                if changed && standing.preference.is_voter() && self.strict_full(peer) {
                    // An observer (catching up) that turns voter past the cap.
                    tracing::warn!(peer = %peer.fmt_short(), cap = ?self.voter_cap(), "strict group full: bond closed");
                    if let Some(bond) = self.bonds.get(&peer) {
                        bond.conn.close_now(&StrictGroupFull);
                    }
                    return Ok(());
                }
                let Some(bond) = self.bonds.get_mut(&peer) else {
                    return Ok(());
                };
                bond.standing = standing;
                if changed {
                    // A repeated `PeerBonded` is a preference change.
                    let preference = standing.preference;
                    self.engine
                        .handle(self.now(), Input::PeerBonded { peer, preference });
                }
                self.committee_gauges();
                self.check_catch_up().await?;
            }
            BondEvent::Down { peer, id } => {
                if self.bonds.get(&peer).is_none_or(|b| b.id != id) {
                    return Ok(());
                }
                self.bonds.remove(&peer);
                self.publish_bonds();
                tracing::debug!(peer = %peer.fmt_short(), "bond down");
                self.engine.handle(self.now(), Input::PeerUnbonded { peer });
                self.committee_gauges();
                self.sync_unbonded(peer).await?;
                self.sync_wake.0.notify_one();
                self.check_catch_up().await?;
            }
        }
        self.drain().await
    }

    /// Strict mode: the most voters the group may have (`2 × min_quorum −
    /// 1`, see `mosaik_raft::Config::max_voters`).
    fn voter_cap(&self) -> Option<usize> {
        let n = self.acceptor.config.consensus().min_quorum?;
        Some(n.max(1) * 2 - 1)
    }

    /// True if one more voter (`peer`, not yet counted) would take a strict
    /// group past its voter cap: self (when a voter) and the bonded voters
    /// other than `peer` fill it. Checked at bond admission so a
    /// misconfigured group refuses the extra member with a clear close
    /// reason (`StrictGroupFull`) instead of running with quorums that do
    /// not intersect.
    fn strict_full(&self, peer: PeerId) -> bool {
        let Some(cap) = self.voter_cap() else {
            return false;
        };
        // Our standing as announced: while we catch up we are an observer
        // and must still bond with the leader to catch up from.
        let own = usize::from(self.advertised.borrow().preference.is_voter());
        let bonded = self
            .bonds
            .iter()
            .filter(|(p, b)| **p != peer && b.standing.preference.is_voter())
            .count();
        own + bonded >= cap
    }

    /// Closes the bond of a peer that sent sync data that does not decode
    /// (SPEC C4: dropped, counted, connection closed). The bond task then
    /// reports it down; the peer may bond again later.
    pub(super) fn close_hostile(&self, peer: PeerId, what: &'static str) {
        close_hostile(&self.bonds, &self.labels, peer, what);
    }

    /// Voters (self included unless an observer), non-voters and total.
    fn committee_gauges(&self) {
        let voters = self.engine.voters().len() as u64;
        let size = self.engine.peers().len() as u64 + 1;
        let labels = self.labels.as_ref();
        metrics::gauge!("mosaik.groups.raft.committee.voters", labels).set(gauge(voters));
        metrics::gauge!("mosaik.groups.raft.committee.non_voters", labels)
            .set(gauge(size.saturating_sub(voters)));
        metrics::gauge!("mosaik.groups.raft.committee.size", labels).set(gauge(size));
    }

    pub(super) async fn incoming(&mut self, new: Incoming) -> Result<(), StorageError> {
        if new.dialed {
            self.dialing.remove(&new.peer);
        }
        let Some(bond) = new.bond else {
            return Ok(());
        };
        // Reverse: dialed by the higher peer id (see `REVERSE_DIAL_AFTER`).
        let reverse = new.dialed == (new.peer < self.local.id());
        if self.bonds.contains_key(&new.peer) {
            if !self.supersedes(new.peer, &bond.entry, new.dialed, reverse) {
                bond.link.refuse();
                return Ok(());
            }
            self.drop_bond(new.peer).await?;
        }
        let preference = bond.standing.preference;
        if preference.is_voter() && self.strict_full(new.peer) {
            refuse_strict_full(new.peer, bond.link, self.voter_cap());
            return Ok(());
        }
        let advertised = bond.advertised;
        let heartbeat = Heartbeat {
            consensus: self.acceptor.config.consensus().clone(),
            append_budget: self.append_budget,
        };
        let entry = bond.entry.clone();
        let handle = transport::spawn(
            bond,
            self.events_tx.clone(),
            &self.discovery,
            self.acceptor.config.clone(),
            heartbeat,
            &self.labels,
        );
        for other in self.bonds.values() {
            let _ = other
                .out
                .try_send(BondMessage::BondFormed(Box::new(entry.clone())));
        }
        tracing::debug!(peer = %new.peer.fmt_short(), reverse, "bond formed");
        self.correct_advertised(&handle, advertised);
        self.bonds
            .insert(new.peer, BondHandle { reverse, ..handle });
        self.publish_bonds();
        self.engine.handle(
            self.now(),
            Input::PeerBonded {
                peer: new.peer,
                preference,
            },
        );
        self.committee_gauges();
        self.sync_bonded(new.peer);
        // The provider and a session see the new bond (a session asks it).
        self.sync_wake.0.notify_one();
        self.check_catch_up().await?;
        self.drain().await
    }

    /// A new bond with a peer we are bonded with already: true if it
    /// replaces the old one, false if the new link is refused
    /// (`AlreadyBonded`). Both sides of a pair reach the same verdict
    /// about the same two connections whatever order they complete in, so
    /// they never keep different bonds:
    ///
    /// * The new bond is with a later process of the peer (its own entry in
    ///   the handshake says so): the old bond is dead (a `SIGKILL`ed
    ///   process sends no departure; its bond would linger until the
    ///   liveness timeout). Replace.
    /// * The pair's rightful direction (the lower id dialed) over a reverse
    ///   bond: replace; over a rightful bond, when the peer dialed us: the
    ///   peer only dials when it has no bond with us, so ours is stale (it
    ///   saw it die first). Replace, at most once per [`REPLACE_INTERVAL`].
    /// * A reverse dial (see [`REVERSE_DIAL_AFTER`]) never displaces a rightful
    ///   bond of the same process (the two may have raced), and our own
    ///   reverse dial never displaces anything; a peer re-dialing in
    ///   reverse over its previous reverse bond replaces it (rate-limited).
    ///
    /// The handshake proved the peer's key and group key on the new
    /// connection, so a replacement is as trustworthy as a first bond; the
    /// engine sees `PeerUnbonded` then `PeerBonded` and starts the peer's
    /// replication state over, as a restarted peer needs.
    fn supersedes(
        &mut self,
        peer: PeerId,
        entry: &SignedPeerEntry,
        dialed: bool,
        reverse: bool,
    ) -> bool {
        let Some(old) = self.bonds.get(&peer) else {
            return true;
        };
        let verdict = if entry.started_at() > old.entry.started_at() {
            Verdict::Replace("the peer restarted")
        } else if !reverse && old.reverse {
            Verdict::Replace("the rightful direction wins over a reverse bond")
        } else if !reverse && !dialed {
            Verdict::Limited("the peer dialed again")
        } else if reverse && !dialed && old.reverse {
            Verdict::Limited("the peer dialed again in reverse")
        } else {
            Verdict::Refuse
        };
        let why = match verdict {
            Verdict::Replace(why) => why,
            Verdict::Limited(why) => {
                let now = Instant::now();
                self.replaced
                    .retain(|_, at| now.duration_since(*at) < REPLACE_INTERVAL);
                if self.replaced.contains_key(&peer) {
                    tracing::debug!(peer = %peer.fmt_short(), "bond replaced too recently; refused");
                    return false;
                }
                self.replaced.insert(peer, now);
                why
            }
            Verdict::Refuse => {
                tracing::debug!(peer = %peer.fmt_short(), reverse, "already bonded; new link refused");
                return false;
            }
        };
        tracing::info!(peer = %peer.fmt_short(), why, "bond replaced by a new handshake");
        true
    }

    /// Drops the bonds whose peer the catalog shows restarted: its entry,
    /// signed with the peer's key, names a later process start than the one
    /// we bonded with, so that process is gone (a `SIGKILL` sends no
    /// departure) and the bond would otherwise linger until the liveness
    /// timeout. Dropping it at once also matters to iroh: while any
    /// connection to the peer is open, new connections to it start on that
    /// connection's (dead) network path, so our dial of the new process
    /// would time out. `scan` then dials it if we are the pair's dialer.
    pub(super) async fn drop_restarted(&mut self) -> Result<(), StorageError> {
        let catalog = self.discovery.catalog();
        let restarted: Vec<PeerId> = self
            .bonds
            .iter()
            .filter(|(peer, bond)| {
                catalog
                    .get_signed(peer)
                    .is_some_and(|e| e.started_at() > bond.entry.started_at())
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in restarted {
            tracing::info!(peer = %peer.fmt_short(), "peer restarted; its old bond is dropped");
            self.drop_bond(peer).await?;
        }
        Ok(())
    }

    /// Closes a stale bond (`Superseded`) and tells the engine and a
    /// running transfer the peer is gone. Its reader reports it down later;
    /// that report no longer matches a bond id and is ignored.
    async fn drop_bond(&mut self, peer: PeerId) -> Result<(), StorageError> {
        let Some(old) = self.bonds.remove(&peer) else {
            return Ok(());
        };
        old.conn.close_now(&Superseded);
        metrics::counter!("mosaik.groups.bonds.replaced", self.labels.as_ref()).increment(1);
        self.publish_bonds();
        self.engine.handle(self.now(), Input::PeerUnbonded { peer });
        self.committee_gauges();
        // A transfer's ranges move off the old bond (a restarted peer holds
        // none of its snapshots any more).
        self.sync_unbonded(peer).await?;
        self.sync_wake.0.notify_one();
        Ok(())
    }

    /// Pushes our own entry to every bond when it changed, so members see
    /// new tickets or addresses at once (and re-check our tickets).
    pub(super) fn push_local_entry(&mut self) {
        let me = self.discovery.me();
        let version = me.update_version();
        if self.pushed == Some(version) {
            return;
        }
        self.pushed = Some(version);
        for bond in self.bonds.values() {
            let _ = bond
                .out
                .try_send(BondMessage::PeerEntryUpdate(Box::new(me.clone())));
        }
    }

    pub(super) fn publish_bonds(&self) {
        let set = BondSet(
            self.bonds
                .iter()
                .map(|(peer, b)| {
                    let info = BondInfo {
                        entry: b.entry.clone(),
                        id: b.id,
                        conn: b.conn.clone(),
                    };
                    (*peer, info)
                })
                .collect(),
        );
        metrics::gauge!("mosaik.groups.bonds.active", self.labels.as_ref())
            .set(gauge(set.0.len() as u64));
        self.bonds_tx.send_replace(set);
    }

    /// The catalog changed (or the periodic rescan): bonds of restarted
    /// peers go, members to bond with are dialed, and a catch-up may end.
    pub(super) async fn catalog_changed(&mut self) -> Result<(), StorageError> {
        self.drop_restarted().await?;
        self.scan();
        self.check_catch_up().await?;
        self.drain().await
    }

    /// Dials every member we should initiate a bond with: exactly one side
    /// of each pair dials (the lower peer id), so a pair never races into
    /// two bonds; the other side learns of us through the catalog, the
    /// handshake's peer lists and `BondFormed`. A restarted peer is dialed
    /// again once `drop_restarted` dropped the bond with its old process.
    ///
    /// Reverse dials: a lower-id member that has not bonded with us within
    /// [`REVERSE_DIAL_AFTER`] of us noticing it is dialed by us (again
    /// every `REVERSE_DIAL_AFTER` while it stays unbonded).
    pub(super) fn scan(&mut self) {
        let me = self.local.id();
        let group = *self.acceptor.config.group_id();
        let now = Instant::now();
        let members: Vec<SignedPeerEntry> = self
            .discovery
            .catalog()
            .signed_peers()
            .filter(|e| e.groups().contains(&group) && *e.id() != me)
            .cloned()
            .collect();
        let bonds = &self.bonds;
        self.awaiting
            .retain(|peer, _| !bonds.contains_key(peer) && members.iter().any(|e| e.id() == peer));
        let mut candidates = Vec::new();
        for entry in members {
            let peer = *entry.id();
            if self.bonds.contains_key(&peer) || self.dialing.contains(&peer) {
                continue;
            }
            if me < peer {
                candidates.push(entry);
                continue;
            }
            let since = *self.awaiting.entry(peer).or_insert(now);
            if now.duration_since(since) >= REVERSE_DIAL_AFTER {
                tracing::debug!(peer = %peer.fmt_short(), "not dialed by the peer; dialing it");
                self.awaiting.insert(peer, now);
                candidates.push(entry);
            }
        }
        let room = MAX_DIALS.saturating_sub(self.dialing.len());
        for entry in candidates.into_iter().take(room) {
            let peer = *entry.id();
            self.dialing.insert(peer);
            let local = self.local.clone();
            let discovery = self.discovery.clone();
            let acceptor = self.acceptor.clone();
            let timeout = self.handshake_timeout;
            tokio::spawn(async move {
                let bond =
                    match transport::dial(&local, &discovery, &acceptor, entry, timeout).await {
                        Ok(bond) => Some(bond),
                        Err(err) => {
                            tracing::debug!(peer = %peer.fmt_short(), %err, "bond dial failed");
                            None
                        }
                    };
                let incoming = Incoming {
                    peer,
                    bond,
                    dialed: true,
                };
                let _ = acceptor.incoming.send(incoming).await;
            });
        }
    }
}

/// Refuses a new voter of a full strict group (see `Worker::strict_full`).
fn refuse_strict_full(peer: PeerId, link: super::super::transport::BondLink, cap: Option<usize>) {
    tracing::warn!(
        peer = %peer.fmt_short(),
        ?cap,
        "strict group full (min_quorum allows at most 2 × min_quorum − 1 voters): bond refused"
    );
    metrics::counter!("mosaik.groups.bonds.refused_full").increment(1);
    link.refuse_with(StrictGroupFull);
}

/// [`Worker::close_hostile`] on borrowed pieces (the sync context has no
/// worker).
pub(super) fn close_hostile<C>(
    bonds: &BTreeMap<PeerId, BondHandle<C>>,
    labels: &[(&'static str, String); 2],
    peer: PeerId,
    what: &'static str,
) {
    let Some(bond) = bonds.get(&peer) else {
        return;
    };
    tracing::warn!(peer = %peer.fmt_short(), what, "closing the bond: protocol violation");
    metrics::counter!("mosaik.groups.sync.bonds_closed", labels.as_ref()).increment(1);
    bond.conn.close_now(&crate::network::ProtocolViolation);
}
