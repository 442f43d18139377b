//! The demo's replicated key/value store.
//!
//! A small `StateMachine` in a Raft group, kept behind a map-like surface
//! (`insert`, `get`, `len`, `when_online`) so the demo can switch to
//! `mosaik::collections::Map` by changing this file only.

use {
    core::time::Duration,
    mosaik::{
        Network, UniqueId, Weak,
        groups::{
            ApplyContext, ConsensusConfig, Group, GroupKey, Index, LogReplaySync, QueryResultAt,
            StateMachine,
        },
        unique_id,
    },
    serde::{Deserialize, Serialize},
    std::collections::BTreeMap,
};

/// A write: set `key` to `value`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Put {
    key: String,
    value: u64,
}

/// A read of the local replica.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Read {
    /// The value of one key.
    Get(String),
    /// The number of keys.
    Len,
}

/// The answer to a [`Read`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Answer {
    /// The value, if the key is present.
    Value(Option<u64>),
    /// The number of keys.
    Len(u64),
}

/// The replicated map itself: every member applies the same puts in order.
#[derive(Debug, Clone, Default)]
pub struct Kv(BTreeMap<String, u64>);

impl StateMachine for Kv {
    type Command = Put;
    type Query = Read;
    type QueryResult = Answer;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        unique_id!("mosaik-demo-kv-v1")
    }

    fn apply(&mut self, put: Put, _: &dyn ApplyContext) {
        self.0.insert(put.key, put.value);
    }

    fn query(&self, read: Read) -> Answer {
        match read {
            Read::Get(key) => Answer::Value(self.0.get(&key).copied()),
            Read::Len => Answer::Len(self.0.len() as u64),
        }
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}

/// Consensus timing for a loopback cluster: fast heartbeats so a failed
/// leader is replaced in about a second.
fn timing() -> ConsensusConfig {
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
    group: Group<Kv>,
}

impl Store {
    /// Joins the store `name` on `network`.
    pub fn join(network: &Network, name: &str) -> Self {
        let group = network
            .groups()
            .with_key(GroupKey::from_secret(name))
            .with_state_machine(Kv::default())
            .with_consensus_config(timing())
            .join();
        Self { group }
    }

    /// Writes `key = value`; `Ok` once the write committed (acknowledged).
    pub async fn insert(&self, key: String, value: u64) -> Result<Index, String> {
        self.group
            .execute(Put { key, value })
            .await
            .map_err(|e| e.to_string())
    }

    /// Reads `key` from the local replica.
    pub async fn get(&self, key: &str) -> Option<u64> {
        match self.group.query(Read::Get(key.to_owned()), Weak).await {
            Ok(answer) => match answer.result {
                Answer::Value(value) => value,
                Answer::Len(_) => None,
            },
            Err(_) => None,
        }
    }

    /// The number of keys in the local replica.
    pub async fn len(&self) -> u64 {
        match self.group.query(Read::Len, Weak).await {
            Ok(QueryResultAt {
                result: Answer::Len(n),
                ..
            }) => n,
            _ => 0,
        }
    }

    /// Resolves once the store is usable here (a leader is known).
    pub async fn when_online(&self) {
        self.group.when().online().await;
    }

    /// Resolves once the local replica applied everything up to `index`.
    pub async fn when_applied(&self, index: Index) {
        self.group.when().committed().reaches(index).await;
    }

    /// The leader this member knows of.
    pub fn leader(&self) -> Option<mosaik::PeerId> {
        self.group.leader()
    }

    /// The committed index applied locally.
    pub fn committed(&self) -> Index {
        self.group.committed()
    }
}
