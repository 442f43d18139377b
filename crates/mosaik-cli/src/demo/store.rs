//! The demo's replicated key/value store: a `collections::Map` behind the
//! few methods the demo needs.

use {
    core::time::Duration,
    mosaik::{
        Network, PeerId,
        collections::{CollectionConfig, Map, Version},
        groups::{ConsensusConfig, Index, StorageError},
    },
    std::path::Path,
};

/// Consensus timing for a loopback cluster: fast heartbeats so a failed
/// leader is replaced in about a second.
pub fn timing() -> ConsensusConfig {
    let config = ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_heartbeat_jitter(Duration::from_millis(30))
        .with_max_missed_heartbeats(6)
        .with_election_timeout(Duration::from_millis(600))
        .with_election_timeout_jitter(Duration::from_millis(300))
        .with_bootstrap_delay(Duration::from_millis(500))
        .with_forward_timeout(Duration::from_secs(1))
        .with_query_timeout(Duration::from_secs(1))
        .build();
    // The builder is infallible: every combination of settings is usable.
    let Ok(config) = config;
    config
}

/// One member's handle on the replicated store.
#[derive(Clone)]
pub struct Store {
    map: Map<String, u64>,
}

impl Store {
    /// Opens the store `name` on `network` as a writer, its replica kept
    /// on disk under `dir` (a restart on `dir` brings it back).
    pub fn join(network: &Network, name: &str, dir: &Path) -> Self {
        let config = CollectionConfig::default()
            .with_consensus(timing())
            .with_storage(dir);
        Self {
            map: Map::writer_with_config(network, name, config),
        }
    }

    /// Why the replica has no usable storage, if it has none.
    pub fn storage_error(&self) -> Option<StorageError> {
        self.map.storage_error()
    }

    /// Writes `key = value`; `Ok` once the write committed (acknowledged).
    pub async fn insert(&self, key: String, value: u64) -> Result<Index, String> {
        self.map
            .insert(key, value)
            .await
            .map(|version| version.0)
            .map_err(|e| e.to_string())
    }

    /// Reads `key` from the local replica.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.map.get(key)
    }

    /// The number of keys in the local replica.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Resolves once the store is usable here (a leader is known).
    pub async fn when_online(&self) {
        self.map.when().online().await;
    }

    /// Resolves once the local replica applied everything up to `index`.
    pub async fn when_applied(&self, index: Index) {
        self.map.when().reaches(Version(index)).await;
    }

    /// The leader this member knows of.
    pub fn leader(&self) -> Option<PeerId> {
        self.map.leader()
    }

    /// The committed index applied locally.
    pub fn committed(&self) -> Index {
        self.map.version().0
    }
}
