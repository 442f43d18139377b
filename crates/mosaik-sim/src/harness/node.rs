//! One simulated member: an engine (absent while crashed), its disk and its state machine.

use mosaik_raft::{Config, Engine, Role};

use super::{Disk, Id};
use crate::kv::{KvStore, Put};

/// A member of the simulated group, as its shell would hold it.
pub struct SimNode {
    /// The member's id.
    pub id: Id,
    /// Its engine configuration (kept to rebuild the engine on restart).
    pub config: Config,
    /// The running engine; `None` while crashed.
    pub engine: Option<Engine<Id, Put>>,
    /// Durable storage, survives crashes.
    pub disk: Disk,
    /// The state machine (volatile: rebuilt from the disk's snapshot on restart).
    pub store: KvStore,
    /// How many times the node restarted (mixed into the engine seed).
    pub incarnation: u64,
    /// The role announced by the last `RoleChanged` output carried out.
    pub role_seen: Role,
}

impl SimNode {
    /// The running engine.
    ///
    /// # Panics
    ///
    /// If the node is crashed (checkers only look at nodes that just produced output).
    pub fn engine(&self) -> &Engine<Id, Put> {
        self.engine.as_ref().expect("node is crashed")
    }

    /// Whether the node is running.
    pub fn is_up(&self) -> bool {
        self.engine.is_some()
    }
}
