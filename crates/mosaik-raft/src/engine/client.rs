//! Client requests: proposals (local or forwarded), commit outcomes, strong reads, timeouts.

use std::fmt::Debug;

use super::leader::{LeaderRead, ReadOrigin};
use super::{Engine, RoleState};
use crate::io::{CommitError, Output, ProposeError};
use crate::log::Entry;
use crate::message::{Forward, Message};
use crate::quorum::majority;
use crate::rank::weight_from;
use crate::types::{Index, IndexRange, Instant, NodeId, RequestId, Term};

/// How many forwarded commands a leader remembers for deduplication (duplicates arrive within a
/// network delay, so a short memory suffices).
const ACCEPTED_FORWARDS: usize = 1024;

/// Most strong reads one peer may have queued at this leader (`Forward::Read`); more are
/// refused at once (`ReadRejected`, the peer's client sees a failed read). A read waits for one
/// quorum round at most (`query_timeout`), so only a flood reaches this.
pub const MAX_FORWARDED_READS: usize = 1024;

/// A forwarded command appended by this node as leader.
#[derive(Clone, Debug)]
pub(super) struct AcceptedForward<Id> {
    pub(super) from: Id,
    pub(super) request_id: u64,
    pub(super) assigned: IndexRange,
    pub(super) term: Term<Id>,
}

/// A proposal forwarded to the leader, awaiting its ack.
#[derive(Clone, Debug)]
pub(super) struct PendingForward {
    pub(super) request_id: RequestId,
    pub(super) deadline: Instant,
}

/// A strong read forwarded to the leader.
#[derive(Clone, Debug)]
pub(super) struct PendingRead {
    pub(super) request_id: RequestId,
    pub(super) deadline: Instant,
    /// Known once the leader answered; the read is served when applied reaches it.
    pub(super) read_index: Option<Index>,
}

/// An assigned proposal awaiting the commit of its range.
#[derive(Clone, Debug)]
pub(super) struct Watch<Id> {
    pub(super) request_id: RequestId,
    pub(super) range: IndexRange,
    /// Term of the leader that assigned the range.
    pub(super) term: Term<Id>,
    /// How many voters this member counted when the range was assigned (itself included). In
    /// dynamic mode a newer term's commit proves the range lost only if a majority of them
    /// backed it (see [`Engine::resolve_watches`]).
    pub(super) voters: usize,
}

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    pub(super) fn on_propose(&mut self, request_id: RequestId, commands: Vec<C>) {
        if commands.is_empty() {
            return self.propose_failed(request_id, ProposeError::NoCommands);
        }
        match (&self.state, self.leader) {
            (RoleState::Leader(_), _) => {
                let range = self.append_commands(commands);
                self.emit(Output::ProposeResult {
                    request_id,
                    result: Ok(range.clone()),
                });
                self.watch(request_id, range, self.hard.term);
                self.maybe_advance_commit();
            }
            (RoleState::Follower, Some(leader)) => {
                let forward_id = self.fresh_forward_id();
                let deadline = self.now + self.config.forward_timeout;
                self.forwards.insert(
                    forward_id,
                    PendingForward {
                        request_id,
                        deadline,
                    },
                );
                let msg = Forward::Command {
                    request_id: forward_id,
                    commands,
                };
                self.send(leader, Message::Forward(msg));
            }
            _ => self.propose_failed(request_id, ProposeError::Offline),
        }
    }

    fn propose_failed(&mut self, request_id: RequestId, error: ProposeError) {
        self.emit(Output::ProposeResult {
            request_id,
            result: Err(error),
        });
    }

    /// Random, unused forward id (never the shell's id: it must survive our restarts).
    fn fresh_forward_id(&mut self) -> u64 {
        loop {
            let id = self.rng.next_u64();
            if !self.forwards.contains_key(&id) && !self.remote_reads.contains_key(&id) {
                return id;
            }
        }
    }

    /// Leader: appends commands in the current term and persists them.
    fn append_commands(&mut self, commands: Vec<C>) -> IndexRange {
        let term = self.hard.term;
        let first_index = self.log.last_index().next();
        let append: Vec<_> = commands
            .into_iter()
            .map(|command| Entry::command(term, command))
            .collect();
        for entry in &append {
            self.log.append(entry.clone());
        }
        let last = self.log.last_index();
        self.emit(Output::PersistLog {
            truncate_from: None,
            first_index,
            append,
        });
        first_index..=last
    }

    fn watch(&mut self, request_id: RequestId, range: IndexRange, term: Term<Id>) {
        let end = *range.end();
        // Only dynamic mode reads it (`resolve_watches`); counting allocates.
        let voters = if self.config.is_strict() {
            0
        } else {
            self.voters().len()
        };
        self.watches.entry(end).or_default().push(Watch {
            request_id,
            range,
            term,
            voters,
        });
        self.resolve_watches(); // the range may already be committed (late ack)
    }

    /// Reports the outcome of watched ranges that are decided, per index:
    /// * `Ok` once the entry committed at the range's end has the assigning leader's term;
    /// * otherwise the range is decided once a committed entry at or before its end has a newer
    ///   term, or the entry at the end has another term and a newer term has committed (an
    ///   older term at the end alone decides nothing: in dynamic mode it can be a minority's
    ///   committed entry that the merge reverts, with ours committing there after all). Terms never decrease along a log and
    ///   committed entries are in every future leader's log, so entries of the older term can
    ///   never commit at or after that point. This also resolves a range its leader assigned but
    ///   never replicated, even if the group goes idle and the commit index never reaches it.
    ///   An entry of the watch's term at index `i` *is* the proposal's command (a term has one
    ///   leader, which appends each index once), and such entries form a prefix of the range:
    ///   if one committed, the prefix through it committed (`PartlyCommitted`), else nothing
    ///   did (`Superseded`). Reporting the whole range as superseded would hand committed
    ///   commands back for a retry that applies them twice;
    /// * in dynamic mode, `Unknown` instead when the newer term's commit was backed by fewer
    ///   than a majority of the voters counted when the range was assigned (or of today's, if
    ///   more): such a commit is a partitioned minority's, which the merge rule reverts when a
    ///   history backed by more members wins, and ours may commit after all (dynamic seed 11287
    ///   with early appends: a follower saw a lone member's commit, answered `Superseded`, and
    ///   the resubmitted put was applied twice once the other history won);
    /// * `Unknown` when the deciding entry was pruned (committed through a state sync).
    pub(super) fn resolve_watches(&mut self) {
        let commit = self.commit;
        // Terms never decrease along a log: the newest committed term.
        let newest = self.log.term_at(commit);
        let strict = self.config.is_strict();
        // Read only in dynamic mode, and only with watches to decide (counting allocates).
        let voters_now = if strict || self.watches.is_empty() {
            0
        } else {
            self.voters().len()
        };
        let records = &self.commit_weights;
        let mut decided = Vec::new();
        for (end, watches) in &mut self.watches {
            let decisive = (*end).min(commit);
            let committed_term = self.log.term_at(decisive);
            let log = &self.log;
            // The merge rule's weight of our history from `decisive` on: the most voters any
            // commit at or after it counted.
            let backing = weight_from(records, decisive);
            watches.retain(|watch| {
                let proven = strict || backing >= majority(watch.voters.max(voters_now)) as u64;
                // An entry at the end from an *older* term than the watch's says nothing yet:
                // the watch's leader has its own entry there, so in strict mode this cannot
                // happen (an older committed entry would be in that leader's log), and in dynamic
                // mode it is a committed entry of a minority side that the merge will revert
                // (ours may still commit there). Only a newer committed term decides.
                let newer_committed = newest.is_some_and(|newest| newest > watch.term);
                let result = match committed_term {
                    None => Err(CommitError::Unknown),
                    Some(term) if decisive == *end && term == watch.term => Ok(watch.range.clone()),
                    Some(term) if term > watch.term || (decisive == *end && newer_committed) => {
                        if !proven {
                            decided.push((watch.request_id, Err(CommitError::Unknown)));
                            return false;
                        }
                        match log.last_index_of_term(watch.term, decisive) {
                            Some(through) if through >= *watch.range.start() => {
                                Err(CommitError::PartlyCommitted { through })
                            }
                            _ => Err(CommitError::Superseded),
                        }
                    }
                    Some(_) => return true, // not decided yet
                };
                decided.push((watch.request_id, result));
                false
            });
        }
        self.watches.retain(|_, watches| !watches.is_empty());
        for (request_id, result) in decided {
            self.emit(Output::Committed { request_id, result });
        }
    }

    pub(super) fn on_read(&mut self, request_id: RequestId) {
        let deadline = self.now + self.config.query_timeout;
        match (&mut self.state, self.leader) {
            (RoleState::Leader(leader), _) => {
                leader.reads.push(LeaderRead {
                    origin: ReadOrigin::Local(request_id),
                    read_index: None,
                    seq: 0,
                    deadline,
                });
                self.process_leader_reads();
            }
            (RoleState::Follower, Some(leader)) => {
                let forward_id = self.fresh_forward_id();
                self.remote_reads.insert(
                    forward_id,
                    PendingRead {
                        request_id,
                        deadline,
                        read_index: None,
                    },
                );
                let msg = Forward::Read {
                    request_id: forward_id,
                };
                self.send(leader, Message::Forward(msg));
            }
            _ => self.emit(Output::ReadFailed { request_id }),
        }
    }

    /// Serves forwarded reads whose read index has been applied locally.
    pub(super) fn check_remote_reads(&mut self) {
        let applied = self.applied;
        let ready: Vec<u64> = self
            .remote_reads
            .iter()
            .filter(|(_, read)| read.read_index.is_some_and(|index| index <= applied))
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            if let Some(read) = self.remote_reads.remove(&id) {
                self.emit(Output::ReadReady {
                    request_id: read.request_id,
                    read_index: read.read_index.unwrap_or(applied),
                });
            }
        }
    }

    pub(super) fn on_forward(&mut self, from: Id, forward: Forward<Id, C>) {
        match forward {
            Forward::Command {
                request_id,
                commands,
            } => {
                let duplicate = self
                    .accepted_forwards
                    .iter()
                    .find(|a| a.from == from && a.request_id == request_id)
                    .map(|a| (a.assigned.clone(), a.term));
                let reply = if let Some((assigned, term)) = duplicate {
                    // The network delivered this command twice: acknowledge it again, do not
                    // append it again (it would be applied twice).
                    Forward::CommandAck {
                        request_id,
                        assigned,
                        term,
                    }
                } else if self.is_leader() && !commands.is_empty() {
                    let assigned = self.append_commands(commands);
                    let term = self.hard.term;
                    if self.accepted_forwards.len() >= ACCEPTED_FORWARDS {
                        self.accepted_forwards.pop_front();
                    }
                    self.accepted_forwards.push_back(AcceptedForward {
                        from,
                        request_id,
                        assigned: assigned.clone(),
                        term,
                    });
                    self.maybe_advance_commit();
                    Forward::CommandAck {
                        request_id,
                        assigned,
                        term,
                    }
                } else {
                    Forward::CommandRejected { request_id }
                };
                self.send(from, Message::Forward(reply));
            }
            Forward::CommandAck {
                request_id,
                assigned,
                term,
            } => {
                if assigned.is_empty() {
                    return;
                }
                if let Some(pending) = self.forwards.remove(&request_id) {
                    self.emit(Output::ProposeResult {
                        request_id: pending.request_id,
                        result: Ok(assigned.clone()),
                    });
                    self.watch(pending.request_id, assigned, term);
                }
            }
            Forward::CommandRejected { request_id } => {
                if let Some(pending) = self.forwards.remove(&request_id) {
                    self.propose_failed(pending.request_id, ProposeError::Offline);
                }
            }
            Forward::Read { request_id } => self.on_forwarded_read(from, request_id),
            Forward::ReadIndex {
                request_id,
                read_index,
            } => {
                if let Some(read) = self.remote_reads.get_mut(&request_id) {
                    read.read_index = Some(read_index);
                    self.check_remote_reads();
                }
            }
            Forward::ReadRejected { request_id } => {
                if let Some(read) = self.remote_reads.remove(&request_id) {
                    self.emit(Output::ReadFailed {
                        request_id: read.request_id,
                    });
                }
            }
        }
    }

    /// A peer's strong read: queued at the leader (at most `MAX_FORWARDED_READS` per peer),
    /// refused elsewhere.
    fn on_forwarded_read(&mut self, from: Id, request_id: u64) {
        let origin = ReadOrigin::Remote {
            peer: from,
            request_id,
        };
        let deadline = self.now + self.config.query_timeout;
        if let RoleState::Leader(leader) = &mut self.state {
            let queued = leader
                .reads
                .iter()
                .filter(|r| matches!(r.origin, ReadOrigin::Remote { peer, .. } if peer == from))
                .count();
            if queued >= MAX_FORWARDED_READS {
                // Bounded before any work: the peer's reads wait for one heartbeat
                // round at most, so a well-behaved peer never has this many queued.
                return self.fail_read(origin);
            }
            leader.reads.push(LeaderRead {
                origin,
                read_index: None,
                seq: 0,
                deadline,
            });
            self.process_leader_reads();
        } else {
            self.fail_read(origin);
        }
    }

    /// Fails requests whose timeout expired. A forwarded proposal that times out may still have
    /// been appended by the leader: `Indeterminate`, never `Offline` (at-least-once on retry).
    pub(super) fn expire_requests(&mut self) {
        let now = self.now;
        let expired: Vec<u64> = self
            .forwards
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(pending) = self.forwards.remove(&id) {
                self.propose_failed(pending.request_id, ProposeError::Indeterminate);
            }
        }
        let expired: Vec<u64> = self
            .remote_reads
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(read) = self.remote_reads.remove(&id) {
                self.emit(Output::ReadFailed {
                    request_id: read.request_id,
                });
            }
        }
        if let RoleState::Leader(leader) = &mut self.state {
            let (expired, live): (Vec<_>, Vec<_>) = std::mem::take(&mut leader.reads)
                .into_iter()
                .partition(|read| read.deadline <= now);
            leader.reads = live;
            for read in expired {
                self.fail_read(read.origin);
            }
        }
    }
}
