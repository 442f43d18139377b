//! Group commit: client proposals waiting for the engine.
//!
//! Requests that are queued together are merged into one engine proposal
//! (one log append, one `AppendEntries` per follower) and each client gets
//! its own slice of the assigned range back. A merged proposal commits or is
//! superseded as a whole (same leader, same term, contiguous indexes), so
//! the per-client answers stay exact.

use {
    super::{CommandError, IndexRange, StateMachine, messages::Cmd, types::engine as map},
    crate::primitives::Datum,
    mosaik_raft::{CommitError, ProposeError, RequestId},
    std::collections::HashMap,
    tokio::sync::oneshot,
};

pub(crate) type ProposeReply<M> = oneshot::Sender<Result<IndexRange, CommandError<M>>>;

/// One client's part of a merged proposal.
struct Part<M: StateMachine> {
    commands: Vec<M::Command>,
    /// Position of the first command within the merged batch.
    offset: u64,
    wait_commit: bool,
    reply: ProposeReply<M>,
}

impl<M: StateMachine> Part<M> {
    fn slice(&self, range: &mosaik_raft::IndexRange) -> IndexRange {
        let start = map::index(*range.start()) + self.offset;
        start..=start + (self.commands.len() as u64 - 1)
    }
}

/// Proposals assigned a request id and not yet fully answered.
pub(crate) struct Proposals<M: StateMachine> {
    pending: HashMap<RequestId, Vec<Part<M>>>,
}

impl<M: StateMachine> Default for Proposals<M> {
    fn default() -> Self {
        Self {
            pending: HashMap::new(),
        }
    }
}

impl<M: StateMachine> Proposals<M> {
    /// Validates each client's commands (answering empty or unencodable
    /// ones at once) and merges the rest under `id`. Returns the merged
    /// commands, or `None` if nothing is left to propose.
    pub(crate) fn merge(
        &mut self,
        id: RequestId,
        requests: Vec<(Vec<M::Command>, bool, ProposeReply<M>)>,
    ) -> Option<Vec<Cmd<M::Command>>> {
        let mut parts = Vec::with_capacity(requests.len());
        let mut wire = Vec::new();
        for (commands, wait_commit, reply) in requests {
            if commands.is_empty() {
                let _ = reply.send(Err(CommandError::NoCommands));
                continue;
            }
            if let Some(err) = commands.iter().find_map(|c| c.encode().err()) {
                let _ = reply.send(Err(CommandError::Encoding(commands, err.to_string())));
                continue;
            }
            let offset = wire.len() as u64;
            wire.extend(commands.iter().cloned().map(Cmd));
            parts.push(Part {
                commands,
                offset,
                wait_commit,
                reply,
            });
        }
        if parts.is_empty() {
            return None;
        }
        self.pending.insert(id, parts);
        Some(wire)
    }

    /// The engine assigned (or refused) indexes: `feed` callers are
    /// answered, `execute` callers keep waiting for the commit.
    pub(crate) fn assigned(
        &mut self,
        id: RequestId,
        result: Result<mosaik_raft::IndexRange, ProposeError>,
    ) {
        let Some(parts) = self.pending.remove(&id) else {
            return;
        };
        let range = match result {
            Ok(range) => range,
            Err(err) => {
                for part in parts {
                    let answer = match err {
                        ProposeError::NoCommands => CommandError::NoCommands,
                        _ => CommandError::Offline(part.commands),
                    };
                    let _ = part.reply.send(Err(answer));
                }
                return;
            }
        };
        let mut waiting = Vec::new();
        for part in parts {
            if part.wait_commit {
                waiting.push(part);
            } else {
                let slice = part.slice(&range);
                let _ = part.reply.send(Ok(slice));
            }
        }
        if !waiting.is_empty() {
            self.pending.insert(id, waiting);
        }
    }

    /// The final outcome of an assigned proposal.
    pub(crate) fn committed(
        &mut self,
        id: RequestId,
        result: &Result<mosaik_raft::IndexRange, CommitError>,
    ) {
        let Some(parts) = self.pending.remove(&id) else {
            return;
        };
        for part in parts {
            let answer = match result {
                Ok(range) => Ok(part.slice(range)),
                Err(CommitError::Superseded) => Err(CommandError::Superseded(part.commands)),
                Err(_) => Err(CommandError::Unknown(part.commands)),
            };
            let _ = part.reply.send(answer);
        }
    }
}
