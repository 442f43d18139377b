//! Log fetch from peers (SPEC §1.5 `LogReplaySync`): a follower far behind the leader asks the
//! shell to fetch the missing committed entries from several peers instead of having the leader
//! stream them, and tells the leader to back off meanwhile.
//!
//! The engine only decides *when* to fetch and *what to accept*; the network part is the shell's.
//! Commit and acknowledgement are untouched: fetched entries are verified by the leader's normal
//! consistency check before they count for anything.

use std::fmt::Debug;

use super::{Engine, RoleState};
use crate::config::PlantedBug;
use crate::io::Output;
use crate::log::Entry;
use crate::message::AppendResult;
use crate::types::{Cursor, Index, Instant, NodeId, Term};

/// A log fetch the shell is running for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FetchState<Id> {
    /// The leader whose `AppendEntries` showed the gap.
    pub(super) leader: Id,
    /// Our term when the fetch started; a new term ends the fetch.
    pub(super) term: Term<Id>,
    /// Start of the fetch, or the last time fetched entries extended our log: a fetch that does
    /// not move for `state_sync_retry` is stalled.
    pub(super) progress_at: Instant,
}

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    /// `prev_index` (the leader's `prev`) lies past our end. With log fetch on and a gap above
    /// the threshold, starts or continues a fetch and returns the `Fetching` answer; `None`
    /// means "answer the usual `Conflict`" (leader repair).
    ///
    /// The gap is measured up to `leader_commit` too: peers serve only committed entries, so
    /// an uncommitted tail can only come from the leader. Without this, a follower that fetched
    /// everything committed would keep the leader waiting until the fetch stalls — and when
    /// the leader needs that follower to commit, nothing would commit meanwhile.
    pub(super) fn fetch_on_gap(
        &mut self,
        leader: Id,
        prev_index: Index,
        leader_commit: Index,
    ) -> Option<AppendResult<Id>> {
        let threshold = self.config.log_fetch_threshold?;
        let last = self.log.last_index();
        if prev_index.min(leader_commit) <= last + threshold {
            // A small gap: the leader closes it faster than a fetch would.
            self.fetch = None;
            return None;
        }
        let (now, retry, term) = (self.now, self.config.state_sync_retry, self.hard.term);
        if let Some(fetch) = self.fetch {
            if fetch.term == term && fetch.leader == leader && now < fetch.progress_at + retry {
                return Some(AppendResult::Fetching { last });
            }
            // Stalled (or left over from another leader): back off and let the leader repair.
            self.end_fetch_unfinished();
            return None;
        }
        if self.fetch_ended_at.is_some_and(|at| now < at + retry) {
            return None; // a fetch just failed to close the gap: do not loop on it
        }
        self.fetch = Some(FetchState {
            leader,
            term,
            progress_at: now,
        });
        self.emit(Output::NeedLogFetch {
            leader,
            after: self.log.last(),
            up_to: prev_index,
        });
        Some(AppendResult::Fetching { last })
    }

    /// The fetch ends without having reached the leader: the back-off window starts.
    fn end_fetch_unfinished(&mut self) {
        self.fetch = None;
        self.fetch_ended_at = Some(self.now);
    }

    /// `Input::LogFetchDone`: the shell stopped. If the gap is still above the threshold at the
    /// next `AppendEntries`, the back-off keeps us from asking again at once.
    pub(super) fn on_log_fetch_done(&mut self) {
        self.end_fetch_unfinished();
    }

    /// `Input::EntriesFetched`: appends the part of `entries` that extends our log.
    ///
    /// Safety — why fetched entries never break Raft's guarantees:
    ///
    /// * **Log matching holds.** Entries are appended only after a position `prev` that our own
    ///   log holds with the same term, and only past what we hold; an entry we hold with another
    ///   term stops the walk (we never truncate here). By log matching on the serving peer, our
    ///   log stays a prefix of that peer's log, so it is a log some node really had.
    /// * **Nothing unverified counts.** No reply is sent and the commit index does not move:
    ///   commit and `match_index` still come only from the leader's `AppendEntries`, whose
    ///   consistency check covers every fetched entry before it is acknowledged. Entries fetched
    ///   from a diverged peer (dynamic mode) are simply repaired by the leader as a stale suffix.
    /// * **Acknowledged entries stay.** Since the walk never truncates, nothing we acknowledged
    ///   to a leader is removed behind its back.
    /// * **Terms stay sane.** Terms must not decrease along the chunk (so the log invariant
    ///   holds) and must not exceed our current term (we never hold an entry of a term we have
    ///   not seen, which would skew elections and `established_ballot`).
    /// * **Only followers.** A leader's or candidate's log is never touched by others, and a
    ///   follower without a leader has no one to verify the entries against.
    pub(super) fn on_entries_fetched(&mut self, prev: Cursor<Id>, entries: Vec<Entry<Id, C>>) {
        if !matches!(self.state, RoleState::Follower) || self.leader.is_none() {
            return;
        }
        let Some(ours) = self.log.term_at(prev.index) else {
            return; // pruned (below our base) or past our end: nothing to chain to
        };
        if ours != prev.term && !self.config.has_bug(PlantedBug::FetchSkipsPrevCheck) {
            return;
        }
        let (mut index, mut previous_term) = (prev.index, prev.term);
        let mut append = Vec::new();
        for entry in entries {
            if entry.term < previous_term || entry.term > self.hard.term {
                break;
            }
            index = index.next();
            previous_term = entry.term;
            if append.is_empty() {
                match self.log.term_at(index) {
                    Some(ours) if ours == entry.term => continue,
                    Some(_) => break, // never truncate: it may be acknowledged
                    None => {}
                }
            }
            append.push(entry);
        }
        if append.is_empty() {
            return;
        }
        let first_index = self.log.last_index().next();
        for entry in &append {
            self.log.append(entry.clone());
        }
        self.emit(Output::PersistLog {
            truncate_from: None,
            first_index,
            append,
        });
        if let Some(fetch) = &mut self.fetch {
            fetch.progress_at = self.now;
        }
    }
}
