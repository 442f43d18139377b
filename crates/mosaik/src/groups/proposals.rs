//! Group commit: client proposals waiting for the engine.
//!
//! Requests that are queued together are merged into one engine proposal
//! (one log append, one `AppendEntries` per follower) and each client gets
//! its own slice of the assigned range back. The engine decides a merged
//! proposal per index: when its leader lost leadership after a prefix
//! committed, that prefix is reported (`CommitError::PartlyCommitted`), so
//! each client learns exactly which of its commands committed and only the
//! others are handed back for a retry.

use {
    super::{
        CommandError, IndexRange, StateMachine,
        config::{APPEND_OVERHEAD, DEFAULT_MAX_APPEND_BYTES, ENTRY_OVERHEAD},
        messages::Cmd,
        types::engine as map,
    },
    crate::primitives::Datum,
    mosaik_raft::{CommitError, ProposeError, RequestId},
    std::collections::{BTreeMap, VecDeque},
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

/// A merged proposal: its parts and, once assigned, its range.
struct Batch<M: StateMachine> {
    parts: Vec<Part<M>>,
    range: Option<mosaik_raft::IndexRange>,
}

/// One client request: its commands, whether it waits for the commit,
/// and where the answer goes.
pub(crate) type Requested<M> = (Vec<<M as StateMachine>::Command>, bool, ProposeReply<M>);

/// Proposals assigned a request id and not yet fully answered.
pub(crate) struct Proposals<M: StateMachine> {
    pending: BTreeMap<RequestId, Batch<M>>,
    /// Most bytes of one engine proposal (see `groups::Config::
    /// max_append_bytes`), message overhead excluded.
    budget: usize,
}

impl<M: StateMachine> Default for Proposals<M> {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_APPEND_BYTES)
    }
}

impl<M: StateMachine> Proposals<M> {
    /// Proposals whose merged batches fit in `max_append_bytes`.
    pub(crate) fn new(max_append_bytes: usize) -> Self {
        Self {
            pending: BTreeMap::new(),
            budget: max_append_bytes.saturating_sub(APPEND_OVERHEAD),
        }
    }

    /// Validates queued client requests (answering empty, unencodable and
    /// too large ones at once) and merges as many as fit in one message's
    /// byte budget under `id`; the rest stay queued for the next call.
    /// Returns the merged commands, or `None` if nothing is left to
    /// propose. Each call consumes at least one request.
    pub(crate) fn merge(
        &mut self,
        id: RequestId,
        requests: &mut VecDeque<Requested<M>>,
    ) -> Option<Vec<Cmd<M::Command>>> {
        let mut parts = Vec::new();
        let mut wire = Vec::new();
        let mut total = 0;
        while let Some((commands, wait_commit, reply)) = requests.pop_front() {
            if commands.is_empty() {
                let _ = reply.send(Err(CommandError::NoCommands));
                continue;
            }
            let mut bytes = 0;
            let mut failed = None;
            // Each command is encoded here, once: the bytes travel with it
            // to every follower (see `Cmd`).
            let mut encoded = Vec::with_capacity(commands.len());
            for command in &commands {
                match command.encode() {
                    Ok(b) => {
                        bytes += b.len() + ENTRY_OVERHEAD;
                        encoded.push(Cmd::encoded(command.clone(), b));
                    }
                    Err(err) => {
                        failed = Some(err.to_string());
                        break;
                    }
                }
            }
            if let Some(err) = failed {
                let _ = reply.send(Err(CommandError::Encoding(commands, err)));
                continue;
            }
            if bytes > self.budget {
                let limit = self.budget;
                let _ = reply.send(Err(CommandError::TooLarge {
                    commands,
                    bytes,
                    limit,
                }));
                continue;
            }
            if total + bytes > self.budget && !parts.is_empty() {
                // Full: this request starts the next engine proposal.
                requests.push_front((commands, wait_commit, reply));
                break;
            }
            total += bytes;
            let offset = wire.len() as u64;
            wire.extend(encoded);
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
        self.pending.insert(id, Batch { parts, range: None });
        Some(wire)
    }

    /// The engine assigned (or refused) indexes: `feed` callers are
    /// answered, `execute` callers keep waiting for the commit.
    pub(crate) fn assigned(
        &mut self,
        id: RequestId,
        result: Result<mosaik_raft::IndexRange, ProposeError>,
    ) {
        let Some(Batch { parts, .. }) = self.pending.remove(&id) else {
            return;
        };
        let range = match result {
            Ok(range) => range,
            Err(err) => {
                for part in parts {
                    let answer = match err {
                        ProposeError::NoCommands => CommandError::NoCommands,
                        ProposeError::Offline => CommandError::Offline(part.commands),
                        // The leader may have appended them.
                        _ => CommandError::Indeterminate(part.commands),
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
            let batch = Batch {
                parts: waiting,
                range: Some(range),
            };
            self.pending.insert(id, batch);
        }
    }

    /// The final outcome of an assigned proposal, per client part.
    pub(crate) fn committed(
        &mut self,
        id: RequestId,
        result: &Result<mosaik_raft::IndexRange, CommitError>,
    ) {
        let Some(batch) = self.pending.remove(&id) else {
            return;
        };
        for part in batch.parts {
            let slice = batch.range.as_ref().map(|range| part.slice(range));
            let answer = match (result, slice) {
                (Ok(range), _) => Ok(part.slice(range)),
                (Err(CommitError::Superseded), _) => Err(CommandError::Superseded(part.commands)),
                (Err(CommitError::PartlyCommitted { through }), Some(slice)) => {
                    let answer = partly(part.commands, slice, map::index(*through));
                    let _ = part.reply.send(answer);
                    continue;
                }
                // Unknown, a future engine outcome, or a prefix without its range (cannot
                // happen: `Committed` follows the `ProposeResult` that recorded it).
                _ => Err(CommandError::Indeterminate(part.commands)),
            };
            let _ = part.reply.send(answer);
        }
    }
}

/// One client's answer when its batch committed through `through` only:
/// its `slice` committed whole, not at all, or up to `through`.
fn partly<M: StateMachine>(
    mut commands: Vec<M::Command>,
    slice: IndexRange,
    through: super::Index,
) -> Result<IndexRange, CommandError<M>> {
    if *slice.end() <= through {
        return Ok(slice);
    }
    if *slice.start() > through {
        return Err(CommandError::Superseded(commands));
    }
    let done = usize::try_from(through.0 - slice.start().0 + 1).unwrap_or(usize::MAX);
    let rest = commands.split_off(done.min(commands.len()));
    Err(CommandError::PartlyCommitted {
        committed: *slice.start()..=through,
        rest,
    })
}

#[cfg(test)]
mod tests {
    use {
        super::*,
        crate::groups::{Index, NoOp},
        mosaik_raft::Index as RaftIndex,
    };

    type Reply = oneshot::Receiver<Result<IndexRange, CommandError<NoOp>>>;

    fn request(n: usize) -> (Requested<NoOp>, Reply) {
        let (tx, rx) = oneshot::channel();
        ((vec![(); n], true, tx), rx)
    }

    /// Issue 16, bug 1: three clients merged into one batch of 2 + 3 + 2 commands at 11..=17;
    /// the batch committed through 13. The first client committed, the second committed one
    /// of three commands (and gets only the other two back), the third nothing.
    #[test]
    fn partly_committed_batch_answers_each_part_exactly() {
        let mut proposals = Proposals::<NoOp>::default();
        let (a, mut ra) = request(2);
        let (b, mut rb) = request(3);
        let (c, mut rc) = request(2);
        let id = RequestId(7);
        let mut queue = VecDeque::from([a, b, c]);
        assert_eq!(proposals.merge(id, &mut queue).map(|w| w.len()), Some(7));
        proposals.assigned(id, Ok(RaftIndex(11)..=RaftIndex(17)));
        let through = CommitError::PartlyCommitted {
            through: RaftIndex(13),
        };
        proposals.committed(id, &Err(through));
        assert_eq!(ra.try_recv().unwrap().unwrap(), Index(11)..=Index(12));
        match rb.try_recv().unwrap() {
            Err(CommandError::PartlyCommitted { committed, rest }) => {
                assert_eq!(committed, Index(13)..=Index(13));
                assert_eq!(rest.len(), 2, "only the uncommitted commands come back");
            }
            other => panic!("unexpected {other:?}"),
        }
        match rc.try_recv().unwrap() {
            Err(CommandError::Superseded(rest)) => assert_eq!(rest.len(), 2),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[cfg(test)]
mod budget_tests {
    use {
        super::*,
        crate::groups::{Index, NoOp},
        mosaik_raft::Index as RaftIndex,
    };

    type Reply = oneshot::Receiver<Result<IndexRange, CommandError<NoOp>>>;

    fn request(n: usize) -> (Requested<NoOp>, Reply) {
        let (tx, rx) = oneshot::channel();
        ((vec![(); n], false, tx), rx)
    }

    /// Issue 16, bug 4: a batch that cannot fit in one message is refused
    /// with `TooLarge` (nothing proposed), and requests that together
    /// exceed the budget are split over several engine proposals.
    #[test]
    fn proposals_respect_the_byte_budget() {
        // Room for 10 entries (the unit command encodes to 0 bytes).
        let budget = APPEND_OVERHEAD + 10 * ENTRY_OVERHEAD;
        let mut proposals = Proposals::<NoOp>::new(budget);
        let (huge, mut huge_rx) = request(11);
        let mut queue = VecDeque::from([huge]);
        assert!(proposals.merge(RequestId(1), &mut queue).is_none());
        match huge_rx.try_recv().unwrap() {
            Err(CommandError::TooLarge {
                commands,
                bytes,
                limit,
            }) => {
                assert_eq!(commands.len(), 11, "handed back");
                assert!(bytes > limit);
            }
            other => panic!("unexpected {other:?}"),
        }
        let (a, mut ra) = request(6);
        let (b, mut rb) = request(6);
        let mut queue = VecDeque::from([a, b]);
        let first = proposals.merge(RequestId(2), &mut queue).unwrap();
        assert_eq!(first.len(), 6, "the second request does not fit");
        assert_eq!(queue.len(), 1);
        let second = proposals.merge(RequestId(3), &mut queue).unwrap();
        assert_eq!(second.len(), 6);
        proposals.assigned(RequestId(2), Ok(RaftIndex(1)..=RaftIndex(6)));
        proposals.assigned(RequestId(3), Ok(RaftIndex(7)..=RaftIndex(12)));
        let (ra, rb) = (ra.try_recv().unwrap(), rb.try_recv().unwrap());
        assert_eq!(ra.unwrap(), Index(1)..=Index(6));
        assert_eq!(rb.unwrap(), Index(7)..=Index(12));
    }
}
