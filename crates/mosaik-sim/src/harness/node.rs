//! One simulated member: an engine (absent while crashed), its disk and its state machine.

use mosaik_raft::{Config, Engine, Index, Role};

use super::{Disk, Id};
use crate::kv::{KvStore, Put};

/// The shell's view of a member that lost its storage (see [`Disk::lost`]) and has not caught
/// up yet since it restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatchUp {
    /// Global time of the restart, in milliseconds.
    pub since: u64,
    /// Whether the shell fed `Input::BeginCatchUp` (the engine then decides when it ends, with
    /// `Output::CaughtUp`). Without it — the unfixed shell and engine — the harness ends the
    /// catch-up by its own model of the rule (see `target`), only to keep the operator's
    /// one-at-a-time discipline and the checkers meaningful; the engine knows nothing of it.
    pub begun: bool,
    /// The highest `leader_commit` a leader of the member's round (or a newer one) announced to
    /// it since the restart; `None` until one did. The model's rule: caught up once the
    /// member's commit index reaches it.
    pub target: Option<Index>,
}

/// A member of the simulated group, as its shell would hold it.
pub struct SimNode {
    /// The member's id.
    pub id: Id,
    /// Its engine configuration (kept to rebuild the engine on restart).
    pub config: Config,
    /// The running engine; `None` while crashed.
    pub engine: Option<Engine<Id, Put>>,
    /// Durable storage, survives crashes (unless a restart fault wipes it).
    pub disk: Disk,
    /// The state machine (volatile: rebuilt from the disk's snapshot on restart).
    pub store: KvStore,
    /// How many times the node restarted (mixed into the engine seed).
    pub incarnation: u64,
    /// The role announced by the last `RoleChanged` output carried out.
    pub role_seen: Role,
    /// Set while the member restarted after losing its storage and has not caught up.
    pub catch_up: Option<CatchUp>,
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

    /// Whether the member restarted after losing its storage and has not caught up yet.
    pub fn is_catching_up(&self) -> bool {
        self.catch_up.is_some()
    }
}
