//! [`Bonds`]: the live bond set of a group, as handles see it.

use {
    crate::{Digest, PeerId, discovery::SignedPeerEntry, network::CloseReason},
    core::marker::PhantomData,
    std::collections::BTreeMap,
    tokio::sync::watch,
};

/// One live bond as published by the worker.
#[derive(Debug, Clone)]
pub(crate) struct BondInfo {
    pub(crate) entry: SignedPeerEntry,
    pub(crate) id: Digest,
    pub(crate) conn: super::transport::Conn,
}

/// The live bonds, by peer.
#[derive(Debug, Clone, Default)]
pub(crate) struct BondSet(pub(crate) BTreeMap<PeerId, BondInfo>);

impl BondSet {
    pub(crate) fn contains(&self, peer: &PeerId) -> bool {
        self.0.contains_key(peer)
    }

    pub(crate) fn entries(&self) -> Vec<SignedPeerEntry> {
        self.0.values().map(|b| b.entry.clone()).collect()
    }
}

/// The live bonds of a group (a view; cheap to clone).
#[derive(Debug)]
pub struct Bonds<M> {
    rx: watch::Receiver<BondSet>,
    _machine: PhantomData<fn() -> M>,
}

impl<M> Clone for Bonds<M> {
    fn clone(&self) -> Self {
        Self {
            rx: self.rx.clone(),
            _machine: PhantomData,
        }
    }
}

impl<M> Bonds<M> {
    pub(crate) fn new(rx: watch::Receiver<BondSet>) -> Self {
        Self {
            rx,
            _machine: PhantomData,
        }
    }

    /// Number of live bonds.
    pub fn len(&self) -> usize {
        self.rx.borrow().0.len()
    }

    /// True without bonds.
    pub fn is_empty(&self) -> bool {
        self.rx.borrow().0.is_empty()
    }

    /// True if a bond with `peer` is live.
    pub fn contains_peer(&self, peer: &PeerId) -> bool {
        self.rx.borrow().contains(peer)
    }

    /// The live bonds, ordered by peer id.
    pub fn iter(&self) -> impl Iterator<Item = Bond<M>> {
        let bonds: Vec<_> = self.rx.borrow().0.values().map(|b| self.bond(b)).collect();
        bonds.into_iter()
    }

    /// The bond with `peer`, if live.
    pub fn get(&self, peer: &PeerId) -> Option<Bond<M>> {
        self.rx.borrow().0.get(peer).map(|b| self.bond(b))
    }

    /// Resolves on the next change of the bond set (never, once the group
    /// stopped).
    pub fn changed(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.rx.clone();
        rx.mark_unchanged();
        async move {
            if rx.changed().await.is_err() {
                core::future::pending::<()>().await;
            }
        }
    }

    /// Only called for a peer in the set (under one borrow, so it cannot
    /// leave in between).
    fn bond(&self, info: &BondInfo) -> Bond<M> {
        Bond {
            rx: self.rx.clone(),
            peer: *info.entry.id(),
            id: info.id,
            entry: info.entry.clone(),
            _machine: PhantomData,
        }
    }
}

/// One bond with a peer.
#[derive(Debug)]
pub struct Bond<M> {
    rx: watch::Receiver<BondSet>,
    peer: PeerId,
    id: Digest,
    /// The peer's entry when this view was taken.
    entry: SignedPeerEntry,
    _machine: PhantomData<fn() -> M>,
}

impl<M> Bond<M> {
    /// The bond id (TLS exporter, same on both sides).
    pub fn id(&self) -> Digest {
        self.id
    }

    /// The peer's id.
    pub fn peer_id(&self) -> PeerId {
        self.peer
    }

    /// The peer's most recent entry: the bond's current one while it is
    /// live, the last one it had once terminated.
    pub fn peer(&self) -> SignedPeerEntry {
        self.rx
            .borrow()
            .0
            .get(&self.peer)
            .filter(|b| b.id == self.id)
            .map_or_else(|| self.entry.clone(), |b| b.entry.clone())
    }

    /// True once this bond is gone.
    pub fn is_terminated(&self) -> bool {
        self.rx
            .borrow()
            .0
            .get(&self.peer)
            .is_none_or(|b| b.id != self.id)
    }

    /// Closes the bond with `reason` and waits until the group dropped it.
    /// The peer is not banned: the pair may bond again later.
    pub fn close(
        &self,
        reason: impl CloseReason,
    ) -> impl Future<Output = ()> + Send + Sync + 'static {
        let conn = self
            .rx
            .borrow()
            .0
            .get(&self.peer)
            .filter(|b| b.id == self.id)
            .map(|b| b.conn.clone());
        let reason: Box<dyn CloseReason> = Box::new(reason);
        if let Some(conn) = &conn {
            conn.close_now(reason.as_ref());
        }
        self.terminated()
    }

    /// Resolves when this bond is gone.
    pub fn terminated(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.rx.clone();
        let (peer, id) = (self.peer, self.id);
        async move {
            let _ = rx
                .wait_for(|set| set.0.get(&peer).is_none_or(|b| b.id != id))
                .await;
        }
    }
}
