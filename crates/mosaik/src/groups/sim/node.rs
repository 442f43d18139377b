//! [`Node`]: one incarnation of a simulated process — what the worker sees
//! through `transport::Local` and `transport::Members` — and the
//! simulated handshake ([`Node::dial`]).

use {
    super::{SimNet, SimRng, bond::DIAL_LEGS, entry, link},
    crate::{
        Digest, GroupId, NetworkId, PeerId,
        discovery::{Catalog, SignedPeerEntry},
        groups::{
            Error,
            bond::{Acceptor, Incoming, NewBond},
            transport::BondLink,
        },
    },
    core::time::Duration,
    iroh::SecretKey,
    std::{
        collections::{BTreeMap, BTreeSet},
        sync::{Mutex, MutexGuard, PoisonError},
    },
    tokio::sync::watch,
    tokio_util::sync::CancellationToken,
};

/// The largest frame a simulated link carries (the real default).
const MAX_FRAME: usize = 16 << 20;
/// Simulated entries never go stale (see `entry.rs`).
const PURGE_AFTER: Duration = Duration::from_hours(365 * 24);

/// One running incarnation of a simulated machine.
pub(crate) struct Node {
    net: SimNet,
    slot: usize,
    key: SecretKey,
    network_id: NetworkId,
    incarnation: u64,
    /// Cancelled by a crash.
    dead: CancellationToken,
    catalog: watch::Sender<Catalog>,
    acceptors: Mutex<BTreeMap<GroupId, Acceptor>>,
    /// Groups advertised and the entry's update counter.
    advertised: Mutex<(BTreeSet<GroupId>, u64)>,
    rng: Mutex<SimRng>,
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("slot", &self.slot)
            .field("incarnation", &self.incarnation)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Node {
    /// A new incarnation on `slot`; `others` are the latest entries of the
    /// other machines (its catalog starts with all of them).
    pub(super) fn new(
        net: SimNet,
        slot: usize,
        key: SecretKey,
        network_id: NetworkId,
        incarnation: u64,
        seed: u64,
        others: Vec<SignedPeerEntry>,
    ) -> Self {
        let me = entry::entry(&key, network_id, incarnation, 0, &BTreeSet::new());
        let mut catalog = Catalog::new(me, PURGE_AFTER, None);
        for other in others {
            let _ = catalog.upsert_signed(other);
        }
        Self {
            net,
            slot,
            key,
            network_id,
            incarnation,
            dead: CancellationToken::new(),
            catalog: watch::channel(catalog).0,
            acceptors: Mutex::default(),
            advertised: Mutex::default(),
            rng: Mutex::new(SimRng::new(seed)),
        }
    }

    pub(crate) fn id(&self) -> PeerId {
        self.key.public()
    }

    pub(crate) fn network_id(&self) -> NetworkId {
        self.network_id
    }

    #[allow(clippy::unused_self)]
    pub(crate) fn max_frame_size(&self) -> usize {
        MAX_FRAME
    }

    pub(crate) fn termination(&self) -> &CancellationToken {
        &self.dead
    }

    pub(crate) fn engine_seed(&self) -> u64 {
        lock(&self.rng).next_u64()
    }

    /// Grows with every incarnation of the slot (see `Transport::life_epoch`);
    /// drawn from no random stream, so the simulated schedules stay as they were.
    pub(crate) fn life_epoch(&self) -> u64 {
        ((self.incarnation + 1) << 32) | self.slot as u64
    }

    pub(crate) fn catalog(&self) -> Catalog {
        self.catalog.borrow().clone()
    }

    pub(crate) fn catalog_watch(&self) -> watch::Receiver<Catalog> {
        self.catalog.subscribe()
    }

    pub(super) fn slot(&self) -> usize {
        self.slot
    }

    pub(super) fn is_dead(&self) -> bool {
        self.dead.is_cancelled()
    }

    pub(super) fn kill(&self) {
        self.dead.cancel();
    }

    /// Upserts an entry into this process's catalog.
    pub(crate) fn feed(&self, entry: SignedPeerEntry) -> bool {
        self.catalog
            .send_if_modified(|c| c.upsert_signed(entry).changed())
    }

    /// Registers a joined group: handshakes find it, the entry advertises
    /// it.
    pub(super) fn add_group(&self, acceptor: Acceptor) {
        let id = *acceptor.config.group_id();
        lock(&self.acceptors).insert(id, acceptor);
        self.readvertise(|groups| {
            groups.insert(id);
        });
    }

    pub(crate) fn remove_groups(&self, ids: impl IntoIterator<Item = GroupId>) {
        let ids: Vec<GroupId> = ids.into_iter().collect();
        for id in &ids {
            lock(&self.acceptors).remove(id);
        }
        self.readvertise(|groups| {
            for id in &ids {
                groups.remove(id);
            }
        });
    }

    /// Changes the advertised groups and publishes the new entry (a dead
    /// process publishes nothing).
    fn readvertise(&self, change: impl FnOnce(&mut BTreeSet<GroupId>)) {
        if self.is_dead() {
            return;
        }
        let entry = {
            let mut advertised = lock(&self.advertised);
            change(&mut advertised.0);
            advertised.1 += 1;
            entry::entry(
                &self.key,
                self.network_id,
                self.incarnation,
                advertised.1,
                &advertised.0,
            )
        };
        self.catalog.send_modify(|c| c.set_local(entry.clone()));
        self.net.publish(self.slot, &entry);
    }

    /// The acceptor of `group`, if joined.
    pub(super) fn acceptor(&self, group: &GroupId) -> Option<Acceptor> {
        lock(&self.acceptors).get(group).cloned()
    }

    /// The initiator side of a simulated handshake: a round trip, then
    /// both ends of the bond; the acceptor's end goes to its worker as an
    /// accepted bond. An unreachable peer hangs the dial for `timeout`.
    pub(crate) async fn dial(
        &self,
        acceptor: &Acceptor,
        entry: SignedPeerEntry,
        timeout: Duration,
    ) -> Result<NewBond, Error> {
        let leg = self.net.one_way_delay();
        tokio::time::sleep(leg * DIAL_LEGS).await;
        let Some(remote) = self.net.reachable(self.slot, entry.id()) else {
            tokio::time::sleep(timeout.saturating_sub(leg * DIAL_LEGS)).await;
            return Err(Error::Link("simulated peer unreachable".into()));
        };
        let group = *acceptor.config.group_id();
        let Some(theirs) = remote.acceptor(&group) else {
            return Err(Error::Link("group not found".into()));
        };
        let my_entry = self.catalog().local().clone();
        let their_entry = remote.catalog().local().clone();
        let expires = acceptor
            .config
            .authorize_peer(&their_entry)
            .map_err(Error::Unauthorized)?;
        let their_expires = theirs
            .config
            .authorize_peer(&my_entry)
            .map_err(Error::Unauthorized)?;
        self.feed(their_entry.clone());
        remote.feed(my_entry.clone());
        let id = Digest::from_u64(self.net.random());
        let (mine, other) = link::pair(
            &self.net,
            &link::Side {
                slot: self.slot,
                id: self.id(),
                dead: self.dead.clone(),
            },
            &link::Side {
                slot: remote.slot(),
                id: remote.id(),
                dead: remote.termination().clone(),
            },
            id,
        );
        let my_standing = *acceptor.standing.borrow();
        let their_standing = *theirs.standing.borrow();
        let accepted = Incoming {
            peer: self.id(),
            bond: Some(NewBond {
                link: BondLink::Sim(other),
                entry: my_entry,
                standing: my_standing,
                advertised: their_standing,
                expires: their_expires,
            }),
            dialed: false,
        };
        // The acceptor's worker learns of the bond as it would from its
        // accept task.
        if theirs.incoming.send(accepted).await.is_err() {
            return Err(Error::Link("acceptor gone".into()));
        }
        Ok(NewBond {
            link: BondLink::Sim(mine),
            entry: their_entry,
            standing: their_standing,
            advertised: my_standing,
            expires,
        })
    }
}
