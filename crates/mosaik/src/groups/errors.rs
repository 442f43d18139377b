//! Errors of the groups API.

use {
    super::{IndexRange, StateMachine},
    crate::{primitives::ShortFmtExt as _, tickets::InvalidTicket},
    core::fmt,
};

/// Why `feed`/`execute` failed. Every variant that had commands hands them
/// back so the caller can retry.
#[non_exhaustive]
pub enum CommandError<M: StateMachine> {
    /// No leader reachable (candidate, no leader known, or the leader
    /// refused the forwarded commands). Nothing was appended: retrying
    /// applies them once.
    Offline(Vec<M::Command>),
    /// The batch was empty.
    NoCommands,
    /// The group stopped (last handle dropped elsewhere, or storage failed).
    GroupTerminated,
    /// A command could not be encoded.
    Encoding(Vec<M::Command>, String),
    /// The proposal can never be replicated: its commands encode to more
    /// than one consensus message may carry (`groups::Config::
    /// max_append_bytes`, less a message's own overhead). Nothing was
    /// submitted.
    TooLarge {
        /// The commands, handed back.
        commands: Vec<M::Command>,
        /// Their encoded size, with the per-entry overhead.
        bytes: usize,
        /// The most one proposal may take.
        limit: usize,
    },
    /// `execute` only (SPEC C1.4): the commands were assigned indexes but
    /// another entry committed there (leader change); none of them committed
    /// and they never will at these indexes. Retrying applies them once.
    Superseded(Vec<M::Command>),
    /// `execute_many` only: the leader lost its leadership after the first
    /// commands of the batch committed. Those at `committed` are applied;
    /// `rest` (handed back) never will be at their indexes.
    PartlyCommitted {
        /// Indexes of the commands that committed (a prefix of the batch).
        committed: IndexRange,
        /// The commands after that prefix, not applied.
        rest: Vec<M::Command>,
    },
    /// The commands may or may not have been applied, and this node cannot
    /// tell: they were forwarded to the leader and no answer came in time
    /// (it may have appended them), or the entry at the assigned index is
    /// only known through a state sync. A retry may apply them twice; check
    /// the state (or make commands idempotent) before retrying.
    Indeterminate(Vec<M::Command>),
}

impl<M: StateMachine> CommandError<M> {
    /// The commands handed back, if any.
    pub fn into_commands(self) -> Vec<M::Command> {
        match self {
            Self::Offline(c)
            | Self::Encoding(c, _)
            | Self::TooLarge { commands: c, .. }
            | Self::Superseded(c)
            | Self::Indeterminate(c)
            | Self::PartlyCommitted { rest: c, .. } => c,
            Self::NoCommands | Self::GroupTerminated => Vec::new(),
        }
    }
}

impl<M: StateMachine> fmt::Display for CommandError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Offline(c) => write!(f, "group offline, {} commands not submitted", c.len()),
            Self::NoCommands => f.write_str("no commands"),
            Self::GroupTerminated => f.write_str("group terminated"),
            Self::Encoding(_, e) => write!(f, "command encoding failed: {e}"),
            Self::TooLarge {
                commands,
                bytes,
                limit,
            } => write!(
                f,
                "{} commands take {bytes} bytes, more than one proposal may carry ({limit}); \
                 not submitted",
                commands.len()
            ),
            Self::Superseded(c) => write!(f, "{} commands superseded by another leader", c.len()),
            Self::PartlyCommitted { committed, rest } => write!(
                f,
                "commands at {}..={} committed, the other {} superseded by another leader",
                committed.start().0,
                committed.end().0,
                rest.len()
            ),
            Self::Indeterminate(c) => write!(
                f,
                "outcome of {} commands unknown: they may or may not have been applied",
                c.len()
            ),
        }
    }
}

impl<M: StateMachine> fmt::Debug for CommandError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommandError({self})")
    }
}

impl<M: StateMachine> core::error::Error for CommandError<M> {}

/// Why a query failed; hands the query back.
#[non_exhaustive]
pub enum QueryError<M: StateMachine> {
    /// No leader could confirm a strong read in time (or this node is
    /// candidate / the leader stepped down).
    Offline(M::Query),
    /// The group stopped.
    GroupTerminated,
    /// The query could not be encoded. Kept for the original's API: queries
    /// are answered by this member's own state machine (a `Strong` one after
    /// the leader confirmed the read index), never sent, so nothing returns
    /// this variant today.
    Encoding(M::Query, String),
}

impl<M: StateMachine> fmt::Display for QueryError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Offline(_) => f.write_str("group offline, query not answered"),
            Self::GroupTerminated => f.write_str("group terminated"),
            Self::Encoding(_, e) => write!(f, "query encoding failed: {e}"),
        }
    }
}

impl<M: StateMachine> fmt::Debug for QueryError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueryError({self})")
    }
}

impl<M: StateMachine> core::error::Error for QueryError<M> {}

/// Why [`GroupBuilder::try_join`](super::GroupBuilder::try_join) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// This node already runs the group id with another state machine type
    /// (two machines with the same signature).
    #[error("group {} already joined with another state machine type (wanted {wanted})", group.short())]
    TypeMismatch {
        /// The group id.
        group: crate::GroupId,
        /// The state machine type this join asked for.
        wanted: &'static str,
    },
}

/// Why a bond could not be formed (internal bonding; logged).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The local group stopped.
    #[error("group terminated")]
    GroupTerminated,
    /// The peer's proof of the group key was wrong.
    #[error("invalid group key proof")]
    InvalidGroupKeyProof,
    /// The peer's tickets were refused.
    #[error("unauthorized: {0}")]
    Unauthorized(InvalidTicket),
    /// Link failure.
    #[error("link: {0}")]
    Link(String),
    /// A bond with this peer exists already.
    #[error("already bonded")]
    AlreadyBonded,
    /// Discovery failure (catalog sync).
    #[error("discovery: {0}")]
    Discovery(String),
}
