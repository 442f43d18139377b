//! Membership side of the driver: bonds coming and going, dialing the
//! members the catalog lists, pushing our own entry to bonds.

use {
    super::{Incoming, Worker, gauge},
    crate::PeerId,
    crate::groups::{
        StateMachine, Storage,
        bond::{self, BondEvent, BondHandle, Heartbeat},
        bonds::{BondInfo, BondSet},
        messages::BondMessage,
        storage::StorageError,
    },
    mosaik_raft::Input,
    std::collections::HashMap,
};

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    pub(super) fn bond_event(&mut self, event: BondEvent<M::Command>) -> Result<(), StorageError> {
        match event {
            BondEvent::Raft { peer, msg } => {
                if !self.bonds.contains_key(&peer) {
                    return Ok(());
                }
                self.engine
                    .handle(self.now(), Input::Message { from: peer, msg });
            }
            BondEvent::Sync { peer, msg } => {
                if !self.bonds.contains_key(&peer) {
                    return Ok(());
                }
                return self.sync_message(peer, msg);
            }
            BondEvent::StateSync { peer, bytes } => {
                if !self.bonds.contains_key(&peer) {
                    return Ok(());
                }
                return self.sync_custom(peer, &bytes);
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
                self.sync_unbonded(peer)?;
                self.sync_wake.0.notify_one();
            }
        }
        self.drain()
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

    pub(super) fn incoming(&mut self, new: Incoming) -> Result<(), StorageError> {
        if new.dialed {
            self.dialing.remove(&new.peer);
        }
        let Some(bond) = new.bond else {
            return Ok(());
        };
        if self.bonds.contains_key(&new.peer) {
            let link = bond.link;
            tokio::spawn(async move {
                let _ = link.close(crate::groups::close::AlreadyBonded).await;
            });
            return Ok(());
        }
        let preference = bond.preference;
        let heartbeat = Heartbeat {
            consensus: self.acceptor.config.consensus().clone(),
        };
        let entry = bond.entry.clone();
        let handle = bond::spawn(
            bond,
            self.events_tx.clone(),
            self.discovery.clone(),
            self.acceptor.config.clone(),
            heartbeat,
            self.labels.clone(),
        );
        for other in self.bonds.values() {
            let _ = other
                .out
                .try_send(BondMessage::BondFormed(Box::new(entry.clone())));
        }
        tracing::debug!(peer = %new.peer.fmt_short(), "bond formed");
        self.bonds.insert(new.peer, handle);
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
        self.drain()
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

    /// Dials every member we should initiate a bond with: exactly one side
    /// of each pair dials (the lower peer id), so a pair never races into
    /// two bonds; the other side learns of us through the catalog, the
    /// handshake's peer lists and `BondFormed`.
    pub(super) fn scan(&mut self) {
        let me = self.local.id();
        let group = *self.acceptor.config.group_id();
        let candidates: Vec<_> = self
            .discovery
            .catalog()
            .signed_peers()
            .filter(|e| e.groups().contains(&group))
            .filter(|e| me < e.id())
            .filter(|e| !self.bonds.contains_key(&e.id()) && !self.dialing.contains(&e.id()))
            .cloned()
            .collect();
        for entry in candidates {
            let peer = entry.id();
            self.dialing.insert(peer);
            let local = self.local.clone();
            let discovery = self.discovery.clone();
            let acceptor = self.acceptor.clone();
            let timeout = self.handshake_timeout;
            tokio::spawn(async move {
                let bond = match bond::dial(&local, &discovery, &acceptor, entry, timeout).await {
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

/// [`Worker::close_hostile`] on borrowed pieces (the sync context has no
/// worker).
pub(super) fn close_hostile<C>(
    bonds: &HashMap<PeerId, BondHandle<C>>,
    labels: &[(&'static str, String); 2],
    peer: PeerId,
    what: &'static str,
) {
    let Some(bond) = bonds.get(&peer) else {
        return;
    };
    tracing::warn!(peer = %peer.fmt_short(), what, "closing the bond: protocol violation");
    metrics::counter!("mosaik.groups.sync.bonds_closed", labels.as_ref()).increment(1);
    bond::close_now(&bond.conn, &crate::network::ProtocolViolation);
}
