//! [`CollectionConfig`] and [`SyncConfig`]: how a collection joins its
//! group and how a lagging replica catches up.

use {
    crate::{
        Digest, StoreId,
        groups::{ConsensusConfig, GroupKey, SnapshotSync},
        tickets::TicketValidator,
    },
    core::{num::NonZero, time::Duration},
    std::{
        path::{Path, PathBuf},
        sync::Arc,
    },
};

/// Snapshot catch-up settings of a collection (SPEC §1.6). All of them are
/// part of the group id, so every replica of a store must agree on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    fetch_batch_size: NonZero<u64>,
    snapshot_ttl: Duration,
    snapshot_request_timeout: Duration,
    fetch_timeout: Duration,
    compaction_threshold: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            fetch_batch_size: NonZero::new(2000).expect("non-zero"),
            snapshot_ttl: Duration::from_secs(10),
            snapshot_request_timeout: Duration::from_secs(15),
            fetch_timeout: Duration::from_secs(5),
            compaction_threshold: 2000,
        }
    }
}

impl SyncConfig {
    /// Items per fetch request (default 2000). A fetch must move at least
    /// one item, so 0 is clamped to 1.
    #[must_use]
    pub fn with_fetch_batch_size(mut self, items: u64) -> Self {
        self.fetch_batch_size = NonZero::new(items.max(1)).unwrap_or(NonZero::<u64>::MIN);
        self
    }

    /// How long a served snapshot is kept after its last fetch (10 s).
    #[must_use]
    pub fn with_snapshot_ttl(mut self, ttl: Duration) -> Self {
        self.snapshot_ttl = ttl;
        self
    }

    /// How long to wait for a snapshot offer before asking again (15 s).
    #[must_use]
    pub fn with_snapshot_request_timeout(mut self, timeout: Duration) -> Self {
        self.snapshot_request_timeout = timeout;
        self
    }

    /// How long one fetch may take before the peer is dropped (5 s).
    #[must_use]
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Applied commands between two snapshots; the log before the latest
    /// snapshot is pruned (default 2000, at least 1). Beyond SPEC: the
    /// original snapshots on demand; our groups driver snapshots
    /// periodically.
    #[must_use]
    pub fn with_compaction_threshold(mut self, commands: u64) -> Self {
        self.compaction_threshold = commands.max(1);
        self
    }

    /// Items per fetch request.
    pub fn fetch_batch_size(&self) -> NonZero<u64> {
        self.fetch_batch_size
    }

    /// How long a served snapshot is kept after its last fetch.
    pub fn snapshot_ttl(&self) -> Duration {
        self.snapshot_ttl
    }

    /// How long to wait for a snapshot offer before asking again.
    pub fn snapshot_request_timeout(&self) -> Duration {
        self.snapshot_request_timeout
    }

    /// How long one fetch may take before the peer is dropped.
    pub fn fetch_timeout(&self) -> Duration {
        self.fetch_timeout
    }

    /// Applied commands between two snapshots.
    pub fn compaction_threshold(&self) -> u64 {
        self.compaction_threshold
    }

    /// The groups strategy with these settings.
    pub(crate) fn snapshot_sync<M>(&self) -> SnapshotSync<M> {
        SnapshotSync::default()
            .with_compaction_threshold(self.compaction_threshold)
            .with_fetch_batch_size(self.fetch_batch_size)
            .with_snapshot_ttl(self.snapshot_ttl)
            .with_snapshot_request_timeout(self.snapshot_request_timeout)
            .with_fetch_timeout(self.fetch_timeout)
    }
}

/// How a collection handle joins its store's group.
///
/// Everything here but the storage directory is part of the group id:
/// replicas with a different sync config, tickets, secret or consensus
/// timing never bond.
#[derive(Clone, Default)]
pub struct CollectionConfig {
    sync: SyncConfig,
    tickets: Vec<Arc<dyn TicketValidator>>,
    secret: Option<Digest>,
    consensus: Option<ConsensusConfig>,
    storage: Option<PathBuf>,
}

impl core::fmt::Debug for CollectionConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CollectionConfig")
            .field("sync", &self.sync)
            .field("tickets", &self.tickets.len())
            .field("secret", &self.secret.map(|_| "<redacted>"))
            .field("consensus", &self.consensus)
            .field("storage", &self.storage)
            .finish()
    }
}

impl From<SyncConfig> for CollectionConfig {
    fn from(sync: SyncConfig) -> Self {
        Self::default().with_sync(sync)
    }
}

impl CollectionConfig {
    /// Sets the snapshot catch-up settings.
    #[must_use]
    pub fn with_sync(mut self, sync: SyncConfig) -> Self {
        self.sync = sync;
        self
    }

    /// Requires every replica (readers and writers) to hold a ticket this
    /// validator accepts. Repeatable; all validators must pass.
    #[must_use]
    pub fn require_ticket(mut self, validator: impl TicketValidator) -> Self {
        self.tickets.push(Arc::new(validator));
        self
    }

    /// Mixes a secret into the group key (SPEC C5): only nodes that know it
    /// can bond, so the store is private without tickets.
    #[must_use]
    pub fn with_secret(mut self, secret: impl Into<Digest>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Sets the consensus timing of the store's group (beyond SPEC; the
    /// groups default otherwise).
    #[must_use]
    pub fn with_consensus(mut self, consensus: ConsensusConfig) -> Self {
        self.consensus = Some(consensus);
        self
    }

    /// Keeps this node's replica on disk under `dir` (beyond SPEC; the
    /// default is memory only): the group's log, hard state and snapshots
    /// go to a [`DurableStore`](crate::groups::DurableStore) in the
    /// sub-directory of `dir` named after the store's group id (hex), so
    /// several collections can share one base directory.
    ///
    /// Guarantee: a node restarted with the same secret key and `dir`
    /// rejoins with the replica's log and state and votes at once; a write
    /// this replica acknowledged was durable here first, so when every
    /// member keeps its replica on disk, a write whose future resolved
    /// survives any crash or whole-cluster restart in strict mode
    /// (`with_consensus` with `with_min_quorum`).
    ///
    /// The directory is opened (and locked) when the first handle of the
    /// store is opened on this node; every later handle of that store on
    /// the node shares the same replica and storage (a later handle's
    /// directory is ignored). Opening reads the log, blocking the
    /// constructor meanwhile. A replica opened again in the same process
    /// (a node restarted in-process with the same key) takes the store
    /// over once the previous replica's group has ended, at most
    /// 10 s later; writes wait for it. Opening cannot fail the constructor: if the
    /// store does not open (damaged log, directory in use, no permission)
    /// the replica never runs — it does not fall back to memory — its
    /// handles report the error in
    /// [`storage_error`](crate::collections::Map::storage_error) and every
    /// write fails with [`Error::Storage`](crate::collections::Error::Storage).
    #[must_use]
    pub fn with_storage(mut self, dir: impl AsRef<Path>) -> Self {
        self.storage = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The base directory of [`CollectionConfig::with_storage`], if set.
    pub fn storage(&self) -> Option<&Path> {
        self.storage.as_deref()
    }

    /// The snapshot catch-up settings.
    pub fn sync(&self) -> &SyncConfig {
        &self.sync
    }

    /// The group key of `store`: the public store id (SPEC §1.6), or the
    /// store id derived with the secret.
    pub(crate) fn key(&self, store: StoreId) -> GroupKey {
        match self.secret {
            None => GroupKey::from(store),
            Some(secret) => GroupKey::from(store.derive(secret.as_bytes())),
        }
    }

    pub(crate) fn tickets(&self) -> &[Arc<dyn TicketValidator>] {
        &self.tickets
    }

    pub(crate) fn consensus(&self) -> Option<&ConsensusConfig> {
        self.consensus.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::SyncConfig;

    #[test]
    fn fetch_batch_size_takes_a_plain_integer_and_clamps_zero() {
        assert_eq!(SyncConfig::default().fetch_batch_size().get(), 2000);
        let set = SyncConfig::default().with_fetch_batch_size(500);
        assert_eq!(set.fetch_batch_size().get(), 500);
        let zero = SyncConfig::default().with_fetch_batch_size(0);
        assert_eq!(zero.fetch_batch_size().get(), 1);
    }
}
