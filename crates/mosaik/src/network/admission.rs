//! Admission at accept: who is this connection, and is there room for it?
//!
//! Checked by the router right after the QUIC handshake, before the
//! connection reaches its protocol and before any frame is read: the TLS
//! peer id says who it is, the catalog (through the classifier discovery
//! installs) whether we know it. Known and unknown peers draw on separate
//! pools per protocol, so unknown peers can never take the slots of known
//! ones; one peer can hold only a few connections per protocol.

use {
    super::{PeerId, frame::ByteBudget, limits::Limits, rate::ConnectionRate},
    std::{
        collections::HashMap,
        sync::{Arc, Mutex, OnceLock},
    },
    tokio::sync::{OwnedSemaphorePermit, Semaphore},
};

/// Tells whether the catalog knows a peer.
pub(crate) type Classifier = Box<dyn Fn(&PeerId) -> bool + Send + Sync>;

/// Node-wide admission state, shared by the router and every listener.
pub(crate) struct Admission {
    limits: Limits,
    known: OnceLock<Classifier>,
    pools: Mutex<HashMap<Vec<u8>, Pools>>,
    per_peer: Mutex<HashMap<(PeerId, Vec<u8>), usize>>,
    budget: Arc<ByteBudget>,
    handshakes: Arc<Semaphore>,
    rate: ConnectionRate,
}

impl core::fmt::Debug for Admission {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Admission")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Pools {
    known: Arc<Semaphore>,
    unknown: Arc<Semaphore>,
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The protocol's pool for this kind of peer is full.
    Protocol,
    /// This peer already holds its share of this protocol's connections.
    Peer,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Self::Protocol => "protocol_cap",
            Self::Peer => "peer_cap",
        }
    }
}

/// A connection's place in its pools; released when dropped (the router
/// holds it until the connection closes).
pub(crate) struct ConnPermit {
    _slot: OwnedSemaphorePermit,
    key: (PeerId, Vec<u8>),
    admission: Arc<Admission>,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut per_peer = self.admission.per_peer.lock().expect("admission lock");
        if let Some(n) = per_peer.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                per_peer.remove(&self.key);
            }
        }
        drop(per_peer);
        self.admission.report(&self.key.1);
    }
}

impl Admission {
    pub(crate) fn new(limits: Limits) -> Arc<Self> {
        // The configured budget next to what is in use, so a scrape shows
        // both (`…budget.unauthenticated.bytes` is the use).
        #[allow(clippy::cast_precision_loss)]
        {
            metrics::gauge!("mosaik.network.budget.unauthenticated.capacity")
                .set(limits.max_unauthenticated_bytes as f64);
            metrics::gauge!("mosaik.network.limits.connections_per_protocol")
                .set(limits.max_connections_per_protocol as f64);
            metrics::gauge!("mosaik.network.limits.unknown_connections")
                .set(limits.max_unknown_connections as f64);
            metrics::gauge!("mosaik.network.limits.connections_per_peer")
                .set(limits.max_connections_per_peer as f64);
        }
        Arc::new(Self {
            limits,
            known: OnceLock::new(),
            pools: Mutex::default(),
            per_peer: Mutex::default(),
            budget: ByteBudget::new(
                limits.max_unauthenticated_bytes,
                limits.max_unauthenticated_rate,
            ),
            handshakes: Arc::new(Semaphore::new(limits.max_pending_handshakes)),
            rate: ConnectionRate::new(
                limits.max_connections_per_second,
                limits.max_connection_burst,
            ),
        })
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Installs the catalog classifier (once, by discovery).
    pub(crate) fn set_classifier(&self, known: Classifier) {
        let _ = self.known.set(known);
    }

    /// Whether the catalog knows `peer` (nobody before discovery started).
    pub(crate) fn is_known(&self, peer: &PeerId) -> bool {
        self.known.get().is_some_and(|known| known(peer))
    }

    /// The budget of bytes for links not admitted yet.
    pub(crate) fn budget(&self) -> &Arc<ByteBudget> {
        &self.budget
    }

    /// Whether a new connection from `addr` is within its source's rate.
    pub(crate) fn within_rate(&self, addr: &iroh::endpoint::IncomingAddr) -> bool {
        self.rate.allow(addr)
    }

    /// A slot for one QUIC handshake; `None` when too many are running.
    pub(crate) fn handshake_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.handshakes.clone().try_acquire_owned().ok()
    }

    /// Admits a connection of `alpn` from `peer`, or says why not.
    pub(crate) fn admit(
        self: &Arc<Self>,
        alpn: &[u8],
        peer: PeerId,
    ) -> Result<ConnPermit, Refusal> {
        let known = self.is_known(&peer);
        let pools = self.pools(alpn);
        let pool = if known { pools.known } else { pools.unknown };
        let result = self.take(alpn, peer, &pool);
        if let Err(refusal) = result {
            metrics::counter!("mosaik.network.connections.refused", "reason" => refusal.label())
                .increment(1);
        }
        self.report(alpn);
        result
    }

    fn take(
        self: &Arc<Self>,
        alpn: &[u8],
        peer: PeerId,
        pool: &Arc<Semaphore>,
    ) -> Result<ConnPermit, Refusal> {
        let key = (peer, alpn.to_vec());
        let mut per_peer = self.per_peer.lock().expect("admission lock");
        let held = per_peer.get(&key).copied().unwrap_or(0);
        if held >= self.limits.max_connections_per_peer {
            return Err(Refusal::Peer);
        }
        let slot = pool
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Protocol)?;
        per_peer.insert(key.clone(), held + 1);
        Ok(ConnPermit {
            _slot: slot,
            key,
            admission: self.clone(),
        })
    }

    fn pools(&self, alpn: &[u8]) -> Pools {
        let mut pools = self.pools.lock().expect("admission lock");
        pools
            .entry(alpn.to_vec())
            .or_insert_with(|| Pools {
                known: Arc::new(Semaphore::new(self.limits.max_connections_per_protocol)),
                unknown: Arc::new(Semaphore::new(self.limits.max_unknown_connections)),
            })
            .clone()
    }

    /// Connections of `alpn` held now (known + unknown).
    pub(crate) fn connections(&self, alpn: &[u8]) -> usize {
        let pools = self.pools(alpn);
        (self.limits.max_connections_per_protocol - pools.known.available_permits())
            + (self.limits.max_unknown_connections - pools.unknown.available_permits())
    }

    fn report(&self, alpn: &[u8]) {
        let alpn_label = String::from_utf8_lossy(alpn).into_owned();
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("mosaik.network.connections.active", "alpn" => alpn_label)
            .set(self.connections(alpn) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerId {
        iroh::SecretKey::generate().public()
    }

    #[test]
    fn unknown_peers_cannot_take_known_slots() {
        let limits = Limits {
            max_connections_per_protocol: 2,
            max_unknown_connections: 1,
            max_connections_per_peer: 4,
            ..Limits::default()
        };
        let admission = Admission::new(limits);
        let friend = peer();
        admission.set_classifier(Box::new(move |p| *p == friend));
        let _a = admission.admit(b"x", peer()).unwrap();
        assert_eq!(admission.admit(b"x", peer()).err(), Some(Refusal::Protocol));
        let k1 = admission.admit(b"x", friend).unwrap();
        let _k2 = admission.admit(b"x", friend).unwrap();
        assert_eq!(admission.admit(b"x", friend).err(), Some(Refusal::Protocol));
        // Other protocols have pools of their own.
        let _b = admission.admit(b"y", peer()).unwrap();
        drop(k1);
        let _k3 = admission.admit(b"x", friend).unwrap();
        assert_eq!(admission.connections(b"x"), 3);
    }

    #[test]
    fn one_peer_gets_its_share_only() {
        let limits = Limits {
            max_connections_per_peer: 2,
            ..Limits::default()
        };
        let admission = Admission::new(limits);
        let p = peer();
        let a = admission.admit(b"x", p).unwrap();
        let _b = admission.admit(b"x", p).unwrap();
        assert_eq!(admission.admit(b"x", p).err(), Some(Refusal::Peer));
        assert!(admission.admit(b"y", p).is_ok());
        drop(a);
        assert!(admission.admit(b"x", p).is_ok());
    }
}
