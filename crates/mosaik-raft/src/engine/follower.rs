//! Follower duties: the log-matching check, conflict repair, state sync and snapshot installs.

use std::fmt::Debug;

use super::Engine;
use super::rejoin::LeaderCommit;
use crate::io::Output;
use crate::log::Entry;
use crate::message::{AppendResult, Message};
use crate::types::{Cursor, Index, NodeId, Term};

/// How a message from a (claimed) leader relates to our term.
enum Acceptance {
    /// Malformed: the sender does not own the term it leads.
    Ignore,
    /// Lower term: answer with ours so the stale leader steps down.
    Stale,
    /// Current leader: process.
    Accept,
}

/// An upper bound of where a leader's log (as `prev` and `entries` show it) departs from a log
/// whose pruned prefix ends at `base`: the first position with a term newer than the base's
/// (our terms never exceed it up to the base), else the base itself. The merge rule compares
/// the histories from there (the true split may be earlier: it lies in the pruned prefix).
fn diverged_by<Id: NodeId, C>(
    base: Cursor<Id>,
    prev: Cursor<Id>,
    entries: &[Entry<Id, C>],
) -> Index {
    if prev.term > base.term {
        return prev.index.min(base.index).max(Index(1));
    }
    let mut index = prev.index;
    for entry in entries {
        index = index.next();
        if entry.term > base.term || index >= base.index {
            return index.min(base.index);
        }
    }
    base.index
}

/// Whether an `AppendEntries` is one a leader of `term` can send: `prev` and every entry are of
/// that term or earlier, and terms never decrease along the entries.
fn well_formed<Id: NodeId, C>(term: Term<Id>, prev: Cursor<Id>, entries: &[Entry<Id, C>]) -> bool {
    let mut last = prev.term;
    if last > term {
        return false;
    }
    for entry in entries {
        if entry.term < last || entry.term > term {
            return false;
        }
        last = entry.term;
    }
    true
}

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    /// Term checks shared by `AppendEntries` and `StateSyncRequired`; on acceptance the sender is
    /// our leader and the election timer restarts.
    ///
    /// Staleness is decided by round. Within our round, a leader with another ballot won the
    /// round: we switch to its ballot even if it orders lower than ours (our own or a rival's
    /// candidacy in this round produced no leader, hence no entries). Only when we already lead
    /// or follow a leader of this round — two leaders in one round, which dynamic mode allows
    /// across a healed partition — the higher ballot wins.
    fn accept_leader(&mut self, from: Id, term: Term<Id>, leader: Id) -> Acceptance {
        if leader != from || term.owner() != Some(leader) {
            return Acceptance::Ignore;
        }
        let ours = self.hard.term;
        if term.round() < ours.round() {
            return Acceptance::Stale;
        }
        if term != ours {
            if term.round() == ours.round()
                && let Some(established) = self.established_ballot()
                && established != term
            {
                // Impossible in a correctly sized strict group (quorums intersect). A strict
                // group with more members than `Config::max_voters` allows could get here
                // before the voter cap (`Engine::voters`) settles: never panic on what peers
                // send; the higher ballot wins as in dynamic mode, and the simulator's
                // one-leader-per-round check reports it.
                if term < established {
                    return Acceptance::Stale;
                }
            }
            self.observe_term(term, Some(leader));
        }
        // Only the owner of a term can lead it, and the owner is `from`, not us.
        assert!(
            !self.is_leader(),
            "two leaders in term {term}: {:?} and {leader:?}",
            self.id
        );
        self.become_follower();
        self.set_leader(Some(leader));
        self.leader_heard_at = Some(self.now);
        self.reset_election_timer();
        Acceptance::Accept
    }

    /// The ballot of a leader of the current round we are committed to: the one we lead or
    /// follow, or the newest one whose entries we hold (we may have acknowledged them; after a
    /// restart that is all we remember). Falling back below it would drop acknowledged entries
    /// behind that leader's back.
    fn established_ballot(&self) -> Option<Term<Id>> {
        let ours = self.hard.term;
        let followed = (self.is_leader() || (self.leader.is_some() && self.leader == ours.owner()))
            .then_some(ours);
        let held = Some(self.log.last().term).filter(|t| t.round() == ours.round());
        followed.max(held)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_append_entries(
        &mut self,
        from: Id,
        term: Term<Id>,
        leader: Id,
        prev: Cursor<Id>,
        entries: Vec<Entry<Id, C>>,
        commit: LeaderCommit,
        seq: u64,
    ) {
        if !well_formed(term, prev, &entries) {
            // A member with the group key sent entries no leader can produce: terms never
            // decrease along a log and never exceed the leader's. Appending them would break
            // the log's invariants (and used to panic the worker); drop the message.
            return;
        }
        let election_due = self.election_due;
        let mut commit_to = None;
        let result = match self.accept_leader(from, term, leader) {
            Acceptance::Ignore => return,
            Acceptance::Stale => AppendResult::Conflict {
                rejected_prev: prev.index,
                hint: prev.index,
                conflict_term: None,
            },
            Acceptance::Accept => {
                self.note_leader_commit(leader, &commit);
                let result = match self.append_from_leader(leader, prev, entries, commit) {
                    Ok((result, to)) => {
                        commit_to = Some(to);
                        result
                    }
                    Err(result) => result,
                };
                if matches!(result, AppendResult::Diverged { .. }) {
                    // A leader whose history loses to ours is no leader of ours: no lease for it
                    // (our side must be able to elect), and our election timer keeps running
                    // (a leader it deposed just got one).
                    self.set_leader(None);
                    self.leader_heard_at = None;
                    if election_due.is_some() {
                        self.election_due = election_due;
                    }
                }
                result
            }
        };
        let vote = self.ack_vote();
        self.send(
            from,
            Message::AppendEntriesResponse {
                term: self.hard.term,
                seq,
                result,
                vote,
                epoch: self.hard.epoch,
            },
        );
        // Applied after the acknowledgement is on its way: the leader's commit waits for the
        // answer, not for this member's apply (which the answer never depends on).
        if let Some(to) = commit_to {
            self.commit_to(to);
        }
    }

    /// The log-matching check and repair. Truncates only on a real conflict; entries we already
    /// hold are kept (a delayed, shorter `AppendEntries` must not cut acknowledged entries).
    /// `Ok` with the answer and the index to commit through once the answer is sent; `Err` with
    /// the answer when the entries are not taken.
    fn append_from_leader(
        &mut self,
        leader: Id,
        mut prev: Cursor<Id>,
        mut entries: Vec<Entry<Id, C>>,
        commit: LeaderCommit,
    ) -> Result<(AppendResult<Id>, Index), AppendResult<Id>> {
        let base = self.log.base();
        // Where the leader's history departs from our snapshot at the latest: the first position
        // it shows with a term newer than our base's (ours never exceed it up to the base).
        let departs = diverged_by(base, prev, &entries);
        if prev.index < base.index {
            // Entries up to our base are in our snapshot; check the one at the base and skip.
            let skip = base.index.get() - prev.index.get();
            let Some(at_base) = usize::try_from(skip - 1).ok().and_then(|i| entries.get(i)) else {
                // The leader's log, as far as this message shows it, ends before our base. If it
                // already holds a term newer than our base's, it cannot hold our base entry
                // (terms never decrease along a log): our snapshot diverged (dynamic mode after a
                // partition, the leader's log may even be shorter than our base) and we start
                // over. Waiting would ping-pong the after-base hint below forever.
                let newest = entries.last().map_or(prev.term, |entry| entry.term);
                if newest > base.term
                    && let Some(contested) = self.contest_unlocated(departs, commit.overrule)
                {
                    return Err(contested);
                }
                if newest > base.term {
                    return Err(self.diverged_base(departs, prev.index));
                }
                // Not known to conflict: tell the leader where our log goes on.
                return Err(AppendResult::Conflict {
                    rejected_prev: prev.index,
                    hint: base.index.next(),
                    conflict_term: None,
                });
            };
            if at_base.term != base.term {
                if let Some(contested) = self.contest_unlocated(departs, commit.overrule) {
                    return Err(contested);
                }
                return Err(self.diverged_base(departs, prev.index));
            }
            entries.drain(..usize::try_from(skip).unwrap_or(usize::MAX));
            prev = base;
        }
        match self.log.term_at(prev.index) {
            None => {
                if let Some(fetching) = self.fetch_on_gap(leader, prev.index, commit.index) {
                    return Err(fetching);
                }
                return Err(AppendResult::Conflict {
                    rejected_prev: prev.index,
                    hint: self.log.last_index().next(),
                    conflict_term: None,
                });
            }
            Some(ours) if ours != prev.term => {
                self.fetch = None; // no gap left: the leader repairs the rest
                if prev.index == base.index {
                    if let Some(contested) = self.contest_unlocated(departs, commit.overrule) {
                        return Err(contested);
                    }
                    return Err(self.diverged_base(departs, prev.index));
                }
                // Skip our whole run of the conflicting term in one round trip; with the term,
                // a leader that shares part of that run skips the shared part too.
                let hint = self.log.first_index_with_term_at_least(ours);
                return Err(AppendResult::Conflict {
                    rejected_prev: prev.index,
                    hint: hint.max(base.index.next()),
                    conflict_term: Some(ours),
                });
            }
            Some(_) => self.fetch = None, // the gap is closed
        }
        let match_index = prev.index + entries.len() as u64;
        if let Some(conflict) = self.first_conflict(prev.index, &entries)
            && conflict <= self.known_commit()
            && let Some(contested) = self.contest(conflict, commit.overrule)
        {
            return Err(contested);
        }
        self.append_new_entries(prev.index, entries);
        let to = commit.index.min(match_index);
        if to > self.commit {
            self.record_commit_weight(to, commit.weight); // we now share the leader's commit
        }
        Ok((AppendResult::Success { match_index }, to))
    }

    /// The first index from `prev_index + 1` on where `entries` disagree with our log.
    fn first_conflict(&self, prev_index: Index, entries: &[Entry<Id, C>]) -> Option<Index> {
        let mut index = prev_index;
        for entry in entries {
            index = index.next();
            match self.log.term_at(index) {
                Some(ours) if ours == entry.term => {}
                Some(_) => return Some(index),
                None => return None,
            }
        }
        None
    }

    /// Appends the entries after `prev_index` that we do not already hold, truncating our
    /// suffix from the first conflicting one. Persisted before the acknowledgement.
    fn append_new_entries(&mut self, prev_index: Index, entries: Vec<Entry<Id, C>>) {
        let mut index = prev_index;
        let mut rest = entries.into_iter();
        let mut truncate_from = None;
        let mut append = Vec::new();
        for entry in rest.by_ref() {
            index = index.next();
            match self.log.term_at(index) {
                Some(ours) if ours == entry.term => {}
                Some(_) => {
                    truncate_from = Some(index);
                    append.push(entry);
                    break;
                }
                None => {
                    append.push(entry);
                    break;
                }
            }
        }
        append.extend(rest);
        if append.is_empty() {
            return;
        }
        let first_index = truncate_from.unwrap_or_else(|| self.log.last_index().next());
        if let Some(from) = truncate_from
            && from <= self.known_commit()
        {
            // Committed entries are discarded (dynamic mode, the merge rule let the leader win):
            // what we persisted as committed goes back first.
            self.durable_commit = self.durable_commit.min(from.prev());
            self.forget_commit_weights_after(from.prev());
            self.persist_hard_state_capped(from.prev());
        }
        if let Some(from) = truncate_from {
            self.log.truncate(from);
        }
        for entry in &append {
            self.log.append(entry.clone());
        }
        self.emit(Output::PersistLog {
            truncate_from,
            first_index,
            append,
        });
        if let Some(from) = truncate_from
            && from <= self.commit
        {
            // Dynamic mode after a partition: the other side's history wins.
            self.revert_commit(from.prev());
        }
    }

    /// Our snapshot base conflicts with the leader's log (dynamic mode, the merge rule let the
    /// leader win): we start over empty, and the leader repairs us as any empty member, with its
    /// log from the start or a `StateSyncRequired` for its own base, which it holds. Asking
    /// instead for a snapshot of the leader's at or past our base waited forever when the
    /// leader's log ended before it (runtime simulator, dynamic `vec` seed 4400027), or when
    /// the leader could not commit that far until its diverged followers reset.
    fn diverged_base(&mut self, departs: Index, rejected_prev: Index) -> AppendResult<Id> {
        self.assert_may_discard_committed(departs);
        self.start_over();
        AppendResult::Conflict {
            rejected_prev,
            hint: self.log.last_index().next(),
            conflict_term: None,
        }
    }

    fn request_state_sync(&mut self, leader: Id, base: Cursor<Id>) {
        let retry = self.config.state_sync_retry;
        if let Some((term, at)) = self.sync_requested
            && term == self.hard.term
            && self.now < at + retry
        {
            return; // the shell is on it
        }
        self.sync_requested = Some((self.hard.term, self.now));
        self.emit(Output::NeedStateSync { leader, base });
    }

    pub(super) fn on_state_sync_required(
        &mut self,
        from: Id,
        term: Term<Id>,
        leader: Id,
        base: Cursor<Id>,
        commit: LeaderCommit,
        seq: u64,
    ) {
        let result = match self.accept_leader(from, term, leader) {
            Acceptance::Ignore => return,
            Acceptance::Stale => AppendResult::Conflict {
                rejected_prev: base.index,
                hint: base.index,
                conflict_term: None,
            },
            Acceptance::Accept => {
                if self.log.term_at(base.index) == Some(base.term) {
                    // We hold the leader's base, hence (log matching) its whole prefix.
                    self.note_leader_commit(leader, &commit);
                    self.commit_to(commit.index.min(base.index));
                    AppendResult::Success {
                        match_index: base.index,
                    }
                } else if let Some(contested) = (self.log.term_at(base.index).is_some()
                    && base.index <= self.known_commit())
                .then(|| self.contest(base.index, commit.overrule))
                .flatten()
                {
                    // We committed another entry at the leader's base: installing its
                    // snapshot would discard our committed history; the leader decides.
                    contested
                } else {
                    self.note_leader_commit(leader, &commit);
                    if base.index >= self.log.base().index {
                        self.request_state_sync(leader, base);
                    }
                    AppendResult::Conflict {
                        rejected_prev: base.index,
                        hint: self.log.last_index().next(),
                        conflict_term: None,
                    }
                }
            }
        };
        let vote = self.ack_vote();
        self.send(
            from,
            Message::AppendEntriesResponse {
                term: self.hard.term,
                seq,
                result,
                vote,
                epoch: self.hard.epoch,
            },
        );
    }

    /// The shell's state machine now reflects exactly the entries up to `cursor`.
    pub(super) fn on_snapshot_installed(&mut self, cursor: Cursor<Id>) {
        self.sync_requested = None;
        self.fetch = None;
        if self.log.term_at(cursor.index) == Some(cursor.term) {
            // Our log agrees with the snapshot: keep the suffix (it may hold acknowledged
            // entries), drop the prefix, and re-apply anything committed after the cursor.
            if cursor.index > self.log.base().index {
                self.remember_pruned_terms(cursor.index);
                self.persist_hard_state();
                let pruned = self.log.prune_prefix(cursor.index);
                self.emit(Output::PersistLogPrune {
                    up_to: cursor,
                    pruned,
                });
            }
            self.applied = cursor.index;
            if cursor.index > self.commit {
                self.commit = cursor.index;
                self.emit(Output::CommitAdvanced(cursor.index));
                self.committed_changed();
            } else {
                self.apply_committed();
            }
            self.report_position();
            return;
        }
        if self.log.term_at(cursor.index).is_some() && cursor.index <= self.commit {
            self.assert_may_discard_committed(cursor.index);
        }
        self.reset_log(cursor);
        self.report_position();
    }

    /// Dynamic mode: our snapshot base lies in a history the leader's log disproves. Drops our
    /// whole state (the shell goes back to the machine's initial value) so the leader can repair
    /// us from its own log or snapshot.
    fn start_over(&mut self) {
        self.sync_requested = None;
        self.fetch = None;
        self.reset_log(Cursor::zero());
    }

    /// Our log becomes empty after `cursor`, which our state now reflects; a commit past it is
    /// reverted.
    fn reset_log(&mut self, cursor: Cursor<Id>) {
        if self.is_leader() {
            self.become_follower();
            self.set_leader(None);
        }
        let old_commit = self.commit;
        // The log's history below the cursor is replaced: what we remembered of ours there
        // says nothing about it.
        self.pruned_terms.clear();
        self.forget_commit_weights_after(cursor.index);
        self.durable_commit = self.durable_commit.min(cursor.index);
        self.persist_hard_state_capped(cursor.index);
        self.log.reset_to(cursor);
        self.emit(Output::PersistLogReset { base: cursor });
        self.applied = cursor.index;
        self.commit = cursor.index;
        if old_commit > cursor.index {
            self.emit(Output::Reverted {
                to: cursor.index,
                discarded: old_commit.get() - cursor.index.get(),
                replay_from: cursor,
            });
        } else if cursor.index > old_commit {
            self.emit(Output::CommitAdvanced(cursor.index));
        }
        self.committed_changed();
    }

    /// Tells the leader where our log ends now, unasked, after a snapshot install: the leader
    /// holds a syncing follower in `Snapshot` and sends it nothing but heartbeats, so without
    /// this the follower idles until the next one (up to `heartbeat_interval`, 500 ms by
    /// default: a third of B6's catch-up) before entries flow again. The answer is the one a
    /// `StateSyncRequired` would get: a `Conflict` whose hint is our next index, which the
    /// leader only uses to pick where to probe (it claims no match, so it counts toward
    /// nothing); a leader whose base is still past us keeps waiting, as it would then.
    fn report_position(&mut self) {
        let Some(leader) = self.leader.filter(|l| *l != self.id) else {
            return;
        };
        if !matches!(self.state, super::RoleState::Follower) {
            return;
        }
        let last = self.log.last_index();
        let vote = self.ack_vote();
        self.send(
            leader,
            Message::AppendEntriesResponse {
                term: self.hard.term,
                // No read round is answered: 0 never raises the leader's `acked_seq`.
                seq: 0,
                result: AppendResult::Conflict {
                    rejected_prev: last,
                    hint: last.next(),
                    conflict_term: None,
                },
                vote,
                epoch: self.hard.epoch,
            },
        );
    }

    /// Drops the log prefix the shell has a snapshot for (never past what was applied).
    pub(super) fn on_prune_log(&mut self, up_to: Index) {
        let up_to = up_to.min(self.applied);
        if up_to <= self.log.base().index {
            return;
        }
        // The remembered terms go to disk before the prune: a crash between the two leaves
        // terms the log still answers for, never a pruned log without them.
        self.remember_pruned_terms(up_to);
        self.persist_hard_state();
        let pruned = self.log.prune_prefix(up_to);
        let up_to = self.log.base();
        self.emit(Output::PersistLogPrune { up_to, pruned });
    }
}
