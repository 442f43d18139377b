//! The application's replicated state: [`StateMachine`], the
//! [`ApplyContext`] it sees while applying, and the [`NoOp`] machine.

use {
    super::{Cursor, Index, LogReplaySync, StateSync, Term},
    crate::{GroupId, NetworkId, UniqueId, primitives::Datum},
    serde::{Deserialize, Serialize},
};

pub use mosaik_raft::LeadershipPreference;

/// A replicated command: any [`Datum`] that is `Sync + Clone`.
pub trait Command: Datum + Sync + Clone {}
impl<T: Datum + Sync + Clone> Command for T {}

/// What a state machine can see about the batch it is applying.
pub trait ApplyContext {
    /// The committed position before this batch.
    fn committed(&self) -> Cursor;
    /// The local log's last position.
    fn log_position(&self) -> Cursor;
    /// The term of the entries in this batch.
    fn current_term(&self) -> Term;
    /// The group.
    fn group_id(&self) -> GroupId;
    /// The network.
    fn network_id(&self) -> NetworkId;
}

/// The deterministic application logic every member runs.
///
/// No `Clone` is needed: a plain `#[derive(Default)]` machine works.
///
/// **Reverts.** When a dynamic-mode partition heals and this side's
/// committed entries lose, the group rebuilds the machine and replays the
/// surviving log, so no applied-then-discarded effect remains. Rebuilding
/// needs a copy of the machine as it was when the group started, which the
/// group asks for through [`StateMachine::try_clone`] once, at `join`. A
/// machine that returns `None` there (the default) cannot be rebuilt: if a
/// revert reaches entries it already applied, the group stops (handles get
/// `GroupTerminated`, the error is logged) rather than keep a state that
/// includes discarded effects. Strict mode (`with_min_quorum`) never
/// reverts, so it needs no copy. Snapshot strategies ([`SnapshotSync`]
/// requires `Clone`) copy through the strategy and rebuild from their
/// snapshots.
///
/// [`SnapshotSync`]: super::SnapshotSync
pub trait StateMachine: Sized + Send + Sync + 'static {
    /// Log entries.
    type Command: Command;
    /// Read requests.
    type Query: Command;
    /// Read answers.
    type QueryResult: Command;
    /// How a lagging member catches up.
    type StateSync: StateSync<Machine = Self>;

    /// Identifies the implementation (and its semantic configuration); part
    /// of the group id, so members running different logic never bond.
    fn signature(&self) -> UniqueId;

    /// Applies one committed command. Must be deterministic.
    fn apply(&mut self, command: Self::Command, ctx: &dyn ApplyContext);

    /// Applies committed commands of one term, in order. The default loops
    /// over [`StateMachine::apply`].
    fn apply_batch(
        &mut self,
        commands: impl IntoIterator<Item = Self::Command>,
        ctx: &dyn ApplyContext,
    ) {
        for command in commands {
            self.apply(command, ctx);
        }
    }

    /// Answers a query from the current state.
    fn query(&self, query: Self::Query) -> Self::QueryResult;

    /// The state sync strategy (called once when the group starts).
    fn state_sync(&self) -> Self::StateSync;

    /// This node's willingness to lead. Not part of the group id.
    fn leadership_preference(&self) -> LeadershipPreference {
        LeadershipPreference::Normal
    }

    /// A copy of this machine, if it can make one (default `None`). The
    /// group keeps a copy of the initial machine to rebuild from after a
    /// dynamic-mode revert; return `Some(self.clone())` for a `Clone`
    /// machine to allow that (see the trait docs).
    fn try_clone(&self) -> Option<Self> {
        None
    }
}

/// A machine without state: for joining a group only to track its leader
/// and members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NoOp;

impl StateMachine for NoOp {
    type Command = ();
    type Query = ();
    type QueryResult = ();
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("mosaik_noop_state_machine")
    }

    fn apply(&mut self, (): (), _: &dyn ApplyContext) {}

    fn query(&self, (): ()) {}

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }

    fn try_clone(&self) -> Option<Self> {
        Some(*self)
    }
}

/// The context handed to `apply_batch` by the group driver.
pub(crate) struct BatchContext {
    pub(crate) committed: Cursor,
    pub(crate) log_position: Cursor,
    pub(crate) term: Term,
    pub(crate) group_id: GroupId,
    pub(crate) network_id: NetworkId,
}

impl ApplyContext for BatchContext {
    fn committed(&self) -> Cursor {
        self.committed
    }
    fn log_position(&self) -> Cursor {
        self.log_position
    }
    fn current_term(&self) -> Term {
        self.term
    }
    fn group_id(&self) -> GroupId {
        self.group_id
    }
    fn network_id(&self) -> NetworkId {
        self.network_id
    }
}

/// Reading consistency of [`Group::query`](super::Group::query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Consistency {
    /// The local state machine, as far as it has applied.
    #[default]
    Weak,
    /// Linearizable: the leader confirms its leadership with a quorum (read
    /// index) and the answer reflects every write committed before the
    /// query started.
    Strong,
}

/// A query's answer and the committed index it was evaluated at.
pub struct QueryResultAt<M: StateMachine> {
    /// The answer.
    pub result: M::QueryResult,
    /// The committed index when evaluated.
    pub at_position: Index,
}

impl<M: StateMachine> Clone for QueryResultAt<M> {
    fn clone(&self) -> Self {
        Self {
            result: self.result.clone(),
            at_position: self.at_position,
        }
    }
}

impl<M: StateMachine> core::fmt::Debug for QueryResultAt<M>
where
    M::QueryResult: core::fmt::Debug,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QueryResultAt")
            .field("result", &self.result)
            .field("at_position", &self.at_position)
            .finish()
    }
}

impl<M: StateMachine> QueryResultAt<M> {
    /// The answer.
    pub fn result(&self) -> &M::QueryResult {
        &self.result
    }
    /// The committed index the answer reflects.
    pub fn state_position(&self) -> Index {
        self.at_position
    }
    /// Unwraps the answer.
    pub fn into(self) -> M::QueryResult {
        self.result
    }
}

/// The answer followed by the index it reflects: `42 @ 7`.
impl<M: StateMachine> core::fmt::Display for QueryResultAt<M>
where
    M::QueryResult: core::fmt::Display,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} @ {}", self.result, self.at_position)
    }
}

impl<M: StateMachine> core::ops::Deref for QueryResultAt<M> {
    type Target = M::QueryResult;
    fn deref(&self) -> &M::QueryResult {
        &self.result
    }
}

impl<M: StateMachine> PartialEq<M::QueryResult> for QueryResultAt<M>
where
    M::QueryResult: PartialEq,
{
    fn eq(&self, other: &M::QueryResult) -> bool {
        self.result == *other
    }
}
