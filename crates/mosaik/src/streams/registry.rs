//! The node's producers by stream id: typed handles for builders and
//! untyped intakes for the acceptor.

use {
    super::{Criteria, StreamsProtocol},
    crate::{StreamId, discovery::PeerInfo, network::Link},
    core::any::{Any, TypeId},
    std::{
        collections::HashMap,
        sync::{
            Mutex,
            atomic::{AtomicU64, Ordering},
        },
    },
    tokio::sync::mpsc,
};

/// A consumer that passed the acceptor's checks, handed to a producer.
pub(crate) struct Incoming {
    pub(crate) link: Link<StreamsProtocol>,
    pub(crate) peer: PeerInfo,
    pub(crate) criteria: Criteria,
}

pub(crate) struct Entry {
    /// Distinguishes a producer from a later one with the same id.
    pub(crate) serial: u64,
    pub(crate) type_id: TypeId,
    pub(crate) type_name: &'static str,
    /// A `Weak` of the producer's shared state (typed).
    pub(crate) handle: Box<dyn Any + Send + Sync>,
    pub(crate) intake: mpsc::Sender<Incoming>,
    /// Samples the producer for observers; `None` once it is dropped.
    pub(crate) sample: Box<dyn Fn() -> Option<super::observe::ProducerSample> + Send + Sync>,
}

#[derive(Default)]
pub(crate) struct Registry {
    entries: Mutex<HashMap<StreamId, Entry>>,
    serial: AtomicU64,
}

impl core::fmt::Debug for Registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registry")
            .field("streams", &self.ids())
            .finish()
    }
}

impl Registry {
    pub(crate) fn next_serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs `f` with the registry locked (builders check and insert
    /// atomically).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut HashMap<StreamId, Entry>) -> R) -> R {
        f(&mut self.entries.lock().expect("registry lock"))
    }

    /// Where to hand consumers of `id`.
    pub(crate) fn intake(&self, id: &StreamId) -> Option<mpsc::Sender<Incoming>> {
        self.with(|m| m.get(id).map(|e| e.intake.clone()))
    }

    /// Samples of every live producer, for observers.
    pub(crate) fn samples(&self) -> Vec<super::observe::ProducerSample> {
        self.with(|m| m.values().filter_map(|e| (e.sample)()).collect())
    }

    pub(crate) fn ids(&self) -> Vec<StreamId> {
        self.with(|m| m.keys().copied().collect())
    }
}
