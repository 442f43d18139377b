//! Errors of the groups API.

use {super::StateMachine, crate::tickets::InvalidTicket, core::fmt};

/// Why `feed`/`execute` failed. Every variant that had commands hands them
/// back so the caller can retry.
#[non_exhaustive]
pub enum CommandError<M: StateMachine> {
    /// No leader reachable (candidate, no leader known, or the leader did
    /// not acknowledge in time). The commands may nevertheless have been
    /// appended: retrying is at-least-once.
    Offline(Vec<M::Command>),
    /// The batch was empty.
    NoCommands,
    /// The group stopped (last handle dropped elsewhere, or storage failed).
    GroupTerminated,
    /// A command could not be encoded.
    Encoding(Vec<M::Command>, String),
    /// `execute` only (SPEC C1.4): the commands were assigned indexes but
    /// another entry committed there (leader change); they will never
    /// commit at these indexes.
    Superseded(Vec<M::Command>),
    /// `execute` only: the entry at the assigned index is only known through
    /// a state sync, so whether it was ours cannot be told.
    Unknown(Vec<M::Command>),
}

impl<M: StateMachine> CommandError<M> {
    /// The commands handed back, if any.
    pub fn into_commands(self) -> Vec<M::Command> {
        match self {
            Self::Offline(c) | Self::Encoding(c, _) | Self::Superseded(c) | Self::Unknown(c) => c,
            Self::NoCommands | Self::GroupTerminated => Vec::new(),
        }
    }
}

impl<M: StateMachine> fmt::Display for CommandError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Offline(c) => write!(f, "group offline, {} commands not accepted", c.len()),
            Self::NoCommands => f.write_str("no commands"),
            Self::GroupTerminated => f.write_str("group terminated"),
            Self::Encoding(_, e) => write!(f, "command encoding failed: {e}"),
            Self::Superseded(c) => write!(f, "{} commands superseded by another leader", c.len()),
            Self::Unknown(c) => write!(
                f,
                "outcome of {} commands unknown after state sync",
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
    /// The query could not be encoded.
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
