//! Groups: members holding a shared key bond with each other (full mesh
//! of authenticated links) and run the consensus engine of `mosaik-raft`
//! over those bonds (SPEC §1.5, Part C §C1–C4).
//!
//! ```no_run
//! # async fn demo(network: &mosaik::Network) {
//! use mosaik::groups::GroupKey;
//! let group = network.groups().with_key(GroupKey::from_secret("team")).join();
//! let leader = group.when().leader_elected().await;
//! # let _ = leader; }
//! ```
//!
//! # What the modes guarantee
//!
//! * **Dynamic mode (default).** Every side of a partition elects a leader
//!   among the members it is bonded with and commits. An `execute` that
//!   returned `Ok` committed on its side, and can be **reverted** when the
//!   partition heals and the other side's history wins (the merge rule
//!   below). `Strong` queries wait for a quorum of the members the leader
//!   is bonded with: linearizable while the network is whole, not across a
//!   partition. A revert is visible: `when().committed().reverted()`
//!   resolves, `committed()` goes back, the state machine is rebuilt and
//!   replayed, `mosaik.groups.raft.discarded` counts the discarded entries.
//! * **Strict mode** (`with_min_quorum(n)`, `n` above half of the largest
//!   membership). Nothing acknowledged is ever reverted and `Strong` queries
//!   are linearizable; a side without `n` voters cannot commit or answer
//!   them. A group holds at most `2n − 1` voters: a member past that is
//!   refused at bonding (close reason `StrictGroupFull`), and the engine
//!   never counts more.
//! * **Outcomes.** [`CommandError`] says what is known: `Offline`,
//!   `Superseded`, `TooLarge`, `NoCommands`, `Encoding` — not applied;
//!   `PartlyCommitted` — the named prefix applied, the rest not;
//!   `Indeterminate` — this member cannot tell (a forward the leader never
//!   answered, an outcome only known through a snapshot); `GroupTerminated`
//!   after submission is indeterminate as well.
//!
//! # Restarts and conflicting histories
//!
//! * **No amnesiac voter.** A member that joins with empty storage (it may have been a member
//!   before and lost what it stored, as an in-memory member does on every restart) joins as a
//!   non-voter: it advertises itself as an observer, abstains and never campaigns until it has
//!   caught up with the commit index the leader announced, then announces its real preference.
//!   It only stops waiting without a leader when nobody it knows of could bring it history:
//!   after the bootstrap delay, every member the catalog lists is bonded and none of them is a
//!   voter holding log entries — a brand-new group (its first member self-elects), or a group
//!   that restarted as a whole with empty storage.
//! * **The merge rule (dynamic mode).** Two sides that committed conflicting entries (a
//!   partition, or a member that elected itself alone) are merged by how strongly each side's
//!   history is backed *from the first conflicting entry on*, never by the ballot round alone:
//!   the history committed by more voters there wins (the number of voters the leader counted
//!   when it advanced the commit index), then the one that committed most recently, then the
//!   longer one. The member that would lose committed entries contests; the leader decides
//!   (it steps down and yields to a stronger history, or overrules a weaker one), so both sides
//!   always apply the same verdict. So an empty or restarted member never reverts anything, a
//!   stale leader never overwrites what was committed on top of its own history, and a lone
//!   member never reverts what two or more members committed. The losing side's conflicting
//!   entries are discarded on each of its members: the state machine is rebuilt (from the
//!   initial state or the held snapshot) and replayed, its committed index goes back —
//!   `group.when().committed().reverted()` resolves there — and the
//!   `mosaik.groups.raft.discarded` counter counts the discarded entries. Strict mode never
//!   discards a committed entry.
//!
//! Module map: `key` (key and bond proof), `config` (timing, group id),
//! `builder` (typestate builder), `group` (handle), `when` (observers),
//! `machine` (state machine trait, `NoOp`), `storage` (the storage
//! contract, the in-memory store, the conformance suite), `durable` (the
//! on-disk store over `mosaik-wal`), `sync` (state sync strategies), `bond` (handshakes
//! and bond tasks), `bonds` (bond set view), `worker` (the driver),
//! `registry` (groups of this node), `messages` (wire), `close` (close
//! reasons `30_xxx`), `errors`.

mod bond;
mod bonds;
mod builder;
pub mod close;
mod command;
mod config;
mod durable;
mod errors;
mod group;
mod key;
mod machine;
mod messages;
mod metrics;
mod proposals;
mod registry;
#[cfg(feature = "runtime-sim")]
pub mod sim;
pub mod storage;
mod sync;
mod sync_budget;
pub(crate) mod telemetry;
mod transport;
mod types;
mod when;
mod wire_id;
mod worker;

pub(crate) use sync::{encode_each, encode_item};

pub use crate::primitives::GroupId;
pub use {
    bonds::{Bond, Bonds},
    builder::GroupBuilder,
    config::{Config, ConfigBuilder, ConsensusConfig, ConsensusConfigBuilder, GroupConfig},
    durable::{DurableStore, WalOptions},
    errors::{CommandError, Error, JoinError, QueryError},
    group::Group,
    key::GroupKey,
    machine::{
        ApplyContext, Command, Consistency,
        Consistency::{Strong, Weak},
        LeadershipPreference, NoOp, QueryResultAt, StateMachine,
    },
    storage::{
        Ballot, HardState, InMemoryLogStore, LogCursor, LogEntry, LogIndex, Payload, Storage,
        StorageError, StoredSnapshot,
    },
    sync::{
        AppendError, EncodeItemError, Idle, InvalidSnapshot, LogReplayProvider, LogReplaySession,
        LogReplaySync, LogReplaySyncMessage, LogSlice, Snapshot, SnapshotBuilder, SnapshotItem,
        SnapshotStateMachine, SnapshotSync, StateSync, StateSyncProvider, StateSyncSession,
        SyncContext, SyncSessionContext, TransferSettings,
    },
    types::{Cursor, Index, IndexRange, Term},
    when::{CursorWatcher, PositionIndex, ReachTarget, When},
};

use {
    crate::{
        discovery::Discovery,
        network::{Listener, LocalNode},
    },
    messages::GroupsProtocol,
    registry::Registry,
    std::sync::Arc,
};

/// Cap on bond handshakes running at once on the acceptor side; more
/// connections wait in the listener's bounded backlog.
const MAX_CONCURRENT_ACCEPTS: usize = 64;

/// The groups subsystem of one network (`network.groups()`).
#[derive(Clone)]
pub struct Groups {
    local: LocalNode,
    discovery: Discovery,
    config: Config,
    registry: Arc<Registry>,
}

impl core::fmt::Debug for Groups {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Groups")
            .field("active", &self.registry.len())
            .finish_non_exhaustive()
    }
}

impl Groups {
    pub(crate) fn start(
        local: &LocalNode,
        discovery: &Discovery,
        config: Config,
        listener: Listener<GroupsProtocol>,
    ) -> Self {
        let groups = Self {
            local: local.clone(),
            discovery: discovery.clone(),
            config,
            registry: Arc::new(Registry::default()),
        };
        tokio::spawn(groups.clone().serve(listener));
        groups
    }

    /// Starts configuring the group with this key.
    pub fn with_key(&self, key: impl Into<GroupKey>) -> GroupBuilder<'_> {
        GroupBuilder::new(self, key.into())
    }

    /// Network-wide groups settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Read-only views of the groups this node joined, for observers.
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) fn views(&self) -> Vec<telemetry::GroupView> {
        self.registry.views()
    }

    /// Accepts bond connections; each handshake runs in its own task under
    /// the handshake timeout, so a silent peer never blocks the loop.
    async fn serve(self, mut listener: Listener<GroupsProtocol>) {
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_ACCEPTS));
        while let Some(conn) = listener.next_connection().await {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let accept = listener.accept_link(conn);
            let (local, discovery, registry) = (
                self.local.clone(),
                self.discovery.clone(),
                self.registry.clone(),
            );
            let timeout = self.config.handshake_timeout;
            tokio::spawn(async move {
                let _permit = permit;
                let Ok(Ok(link)) = tokio::time::timeout(timeout, accept).await else {
                    return;
                };
                bond::accept(link, local, discovery, timeout, |id| registry.acceptor(id)).await;
            });
        }
    }
}

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use messages::FUZZ_TARGETS;
pub(crate) use messages::GroupsProtocol as Protocol;
