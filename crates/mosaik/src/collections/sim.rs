//! Collections under the runtime simulation (feature `runtime-sim`): a
//! real [`VecWriter`] whose replica runs on a simulated machine of a
//! [`SimNet`], so the simulation drives a collection through its public
//! API — its state machine, snapshots, compaction and the multi-peer
//! snapshot transfer included.
//!
//! Only the group underneath is built differently (`SimNet::join` instead
//! of `Network::groups`); the handle, its write path and the machine are
//! the production ones.

use {
    super::{
        CollectionConfig, Value, VecWriter,
        machine::{CollectionState, Machine},
        shared::Core,
        vec_state::VecState,
    },
    crate::{
        StoreId,
        groups::sim::{Disk, SimNet},
    },
    std::sync::Arc,
    tokio::sync::watch,
};

/// The disks of one simulated `Vec` store: one per machine of the
/// network, kept across the machines' crashes (the storage contract's
/// crash semantics: only completed flushes survive).
pub struct SimVecDisks<T: Value> {
    disks: std::vec::Vec<Disk<<VecState<T> as CollectionState>::Command>>,
}

impl<T: Value> SimVecDisks<T> {
    /// Empty disks for `machines` machines.
    pub fn new(machines: usize) -> Self {
        Self {
            disks: (0..machines).map(|_| Disk::default()).collect(),
        }
    }

    /// Loses machine `slot`'s disk (a replaced machine): its next start
    /// begins empty and must catch up from its peers.
    ///
    /// # Panics
    ///
    /// If `slot` is not a machine of these disks.
    pub fn wipe(&self, slot: usize) {
        self.disks[slot].wipe();
    }

    /// Starts (or restarts, crashing the running process) machine `slot`
    /// of `net` as a writer of `store` with `config`, on what its disk
    /// kept. Must run inside the simulation's runtime.
    ///
    /// # Panics
    ///
    /// If `slot` is not a machine of these disks.
    pub fn start(
        &self,
        net: &SimNet,
        slot: usize,
        store: StoreId,
        config: &CollectionConfig,
    ) -> VecWriter<T> {
        let (publish, state) = watch::channel(VecState::<T>::default());
        let publish = Arc::new(publish);
        let machine = Machine::new(
            store,
            true,
            config.sync().snapshot_sync(),
            publish.clone(),
            0,
        );
        let consensus = config.consensus().cloned().unwrap_or_default();
        let group = net.join(
            slot,
            config.key(store),
            consensus,
            &self.disks[slot],
            machine,
        );
        VecWriter::from_core(Core::from_group(store, group, true, publish, state))
    }
}
