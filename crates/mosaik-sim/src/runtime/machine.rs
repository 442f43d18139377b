//! The replicated machine of the runtime simulation: a key-value register
//! store that also remembers every put it applied, in order, so replicas
//! can be compared and a put applied twice is seen.

use mosaik::{
    UniqueId,
    groups::{ApplyContext, LogReplaySync, StateMachine},
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Set `key` to `value`. Every put of a run has a fresh `value`, so the
/// value identifies the put.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Put {
    /// The key written.
    pub key: u64,
    /// The value written (unique per run).
    pub value: u64,
}

/// What a client asks.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum Query {
    /// The value of a key.
    Get(u64),
    /// Every value applied, in order.
    Applied,
}

/// The answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// A key's value (`None`: never written).
    Value(Option<u64>),
    /// Every value applied, in order.
    Applied(Vec<u64>),
}

/// The register store.
#[derive(Clone, Debug, Default)]
pub struct Registers {
    values: BTreeMap<u64, u64>,
    applied: Vec<u64>,
}

impl StateMachine for Registers {
    type Command = Put;
    type Query = Query;
    type QueryResult = Answer;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("mosaik_sim_runtime_registers")
    }

    fn apply(&mut self, put: Put, _: &dyn ApplyContext) {
        self.values.insert(put.key, put.value);
        self.applied.push(put.value);
    }

    fn query(&self, query: Query) -> Answer {
        match query {
            Query::Get(key) => Answer::Value(self.values.get(&key).copied()),
            Query::Applied => Answer::Applied(self.applied.clone()),
        }
    }

    // A copy of the initial machine lets a member that loses a dynamic-mode
    // merge rebuild and replay instead of stopping its group, so the
    // simulation exercises rebuild-on-revert.
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}
