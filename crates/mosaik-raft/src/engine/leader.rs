//! Leader duties: replication, the commit rule, heartbeats, check-quorum, read index.

use std::collections::BTreeMap;
use std::fmt::Debug;

use super::{Engine, RoleState};
use crate::config::{Config, PlantedBug};
use crate::io::Output;
use crate::message::{AppendResult, Forward, Message, Vote};
use crate::progress::{Progress, ProgressState};
use crate::types::{Cursor, Index, Instant, NodeId, RequestId, Term};

/// Who is waiting for a read confirmed by the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReadOrigin<Id> {
    Local(RequestId),
    Remote { peer: Id, request_id: u64 },
}

/// A strong read in progress at the leader.
#[derive(Clone, Debug)]
pub(super) struct LeaderRead<Id> {
    pub(super) origin: ReadOrigin<Id>,
    /// Set once the leader has committed an entry of its term.
    pub(super) read_index: Option<Index>,
    /// Heartbeat round whose quorum echo confirms leadership for this read.
    pub(super) seq: u64,
    pub(super) deadline: Instant,
}

/// State held only while leader.
#[derive(Debug)]
pub(super) struct LeaderState<Id> {
    pub(super) progress: BTreeMap<Id, Progress>,
    /// Index of this term's noop: reads wait until it commits.
    pub(super) term_start: Index,
    /// Current heartbeat round.
    pub(super) seq: u64,
    pub(super) heartbeat_due: Instant,
    pub(super) check_quorum_due: Instant,
    pub(super) reads: Vec<LeaderRead<Id>>,
}

impl<Id: NodeId> LeaderState<Id> {
    pub(super) fn new(
        peers: Vec<Id>,
        last: Index,
        term_start: Index,
        now: Instant,
        config: &Config,
    ) -> Self {
        LeaderState {
            progress: peers
                .into_iter()
                .map(|p| (p, Progress::new(last)))
                .collect(),
            term_start,
            seq: 0,
            heartbeat_due: now + config.heartbeat_interval,
            check_quorum_due: now + config.election_timeout,
            reads: Vec::new(),
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let reads = self.reads.iter().map(|r| r.deadline);
        [self.heartbeat_due, self.check_quorum_due]
            .into_iter()
            .chain(reads)
            .min()
    }
}

/// How many full `AppendEntries` batches may be unacknowledged per follower. Bounds the
/// leader's optimistic streaming (and the follower's queue) when acknowledgements lag.
const MAX_BATCHES_IN_FLIGHT: u64 = 4;

/// Whether the leader owes `progress` a message at the end of this step. A message that would
/// only carry a new commit index (a commit notice) is owed only when `notices` is set (the
/// shell is idle, `Input::Idle`): otherwise the next entries carry the commit index, and the
/// follower acknowledges one message instead of two. Under load that halves the messages of
/// an append round (B1 at 8 clients: one empty `AppendEntries` per round with entries, each
/// answered).
fn needs_send(progress: &Progress, last: Index, commit: Index, seq: u64, batch: u64) -> Owed {
    let read_round = progress.sent_seq < seq;
    match progress.state {
        ProgressState::Probe => Owed::now(!progress.probe_sent || read_round),
        ProgressState::Replicate => {
            let in_flight = progress.match_index.distance(progress.next_index.prev());
            let window_open = in_flight < batch.saturating_mul(MAX_BATCHES_IN_FLIGHT);
            if (progress.next_index <= last && window_open) || read_round {
                Owed::Now
            } else if progress.sent_commit < commit {
                Owed::Notice
            } else {
                Owed::Nothing
            }
        }
        // A fetching follower is repaired by its peers: only read rounds (and heartbeats).
        ProgressState::Snapshot | ProgressState::Fetching => Owed::now(read_round),
    }
}

/// What the leader owes a follower at the end of a step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owed {
    Nothing,
    /// Only a new commit index: held until the shell is idle.
    Notice,
    /// Entries, a probe or a read round: sent at once.
    Now,
}

impl Owed {
    fn now(owed: bool) -> Self {
        if owed { Owed::Now } else { Owed::Nothing }
    }
}

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    /// End of every step: one message per follower that is owed new entries or a
    /// read-confirmation round, and, when the shell is `idle`, a commit notice (see
    /// [`needs_send`]). Batches everything the step produced.
    pub(super) fn flush(&mut self, idle: bool) {
        let owed: Vec<Id> = self
            .owed()
            .filter(|(_, owed)| *owed == Owed::Now || (idle && *owed == Owed::Notice))
            .map(|(peer, _)| peer)
            .collect();
        for peer in owed {
            self.send_append(peer);
        }
    }

    /// True if this leader holds back a commit notice for some follower: the shell should feed
    /// [`Input::Idle`](crate::Input::Idle) once it has no other input ready.
    pub fn holds_commit_notices(&self) -> bool {
        self.owed().any(|(_, owed)| owed == Owed::Notice)
    }

    /// What a leader owes each follower now (nothing when not leading).
    fn owed(&self) -> impl Iterator<Item = (Id, Owed)> + '_ {
        let (last, commit) = (self.log.last_index(), self.commit);
        let batch = self.config.max_append_entries.max(1) as u64;
        let leader = match &self.state {
            RoleState::Leader(leader) => Some(leader),
            _ => None,
        };
        leader.into_iter().flat_map(move |leader| {
            leader
                .progress
                .iter()
                .map(move |(peer, p)| (*peer, needs_send(p, last, commit, leader.seq, batch)))
        })
    }

    /// Sends `peer` the entries from its `next_index` (or, if they were pruned, tells it to
    /// state-sync).
    fn send_append(&mut self, peer: Id) {
        let (term, commit, id) = (self.hard.term, self.commit, self.id);
        let rank = self.committed_rank();
        let max = self.config.max_append_entries.max(1);
        let RoleState::Leader(leader) = &mut self.state else {
            return;
        };
        let seq = leader.seq;
        let Some(progress) = leader.progress.get_mut(&peer) else {
            return;
        };
        progress.sent_seq = seq;
        progress.sent_commit = commit;
        let overrule = progress.overrule;
        let epoch = progress.epoch.unwrap_or(0);
        if progress.state == ProgressState::Fetching {
            // Empty, with our last position as `prev`: the follower sees how far behind it
            // still is (and ends its fetch once the gap is small), and its timer is reset.
            let msg = Message::AppendEntries {
                term,
                leader: id,
                prev_log_position: self.log.last(),
                entries: Vec::new(),
                leader_commit: commit,
                rank,
                overrule,
                seq,
                epoch,
            };
            self.send(peer, msg);
            return;
        }
        let prev_index = progress.next_index.prev();
        let msg = match self.log.term_at(prev_index) {
            None => {
                progress.state = ProgressState::Snapshot;
                Message::StateSyncRequired {
                    term,
                    leader: id,
                    base: self.log.base(),
                    leader_commit: commit,
                    rank,
                    overrule,
                    seq,
                    epoch,
                }
            }
            Some(prev_term) => {
                if progress.state == ProgressState::Snapshot {
                    progress.state = ProgressState::Probe;
                }
                let entries = self.log.entries(progress.next_index, max);
                match progress.state {
                    ProgressState::Replicate => {
                        progress.next_index = progress.next_index + entries.len() as u64;
                    }
                    _ => progress.probe_sent = true,
                }
                Message::AppendEntries {
                    term,
                    leader: id,
                    prev_log_position: Cursor::new(prev_term, prev_index),
                    entries,
                    leader_commit: commit,
                    rank,
                    overrule,
                    seq,
                    epoch,
                }
            }
        };
        self.send(peer, msg);
    }

    pub(super) fn on_append_response(
        &mut self,
        from: Id,
        term: Term<Id>,
        seq: u64,
        result: AppendResult<Id>,
        (vote, epoch): (Vote, u64),
    ) {
        if term.round() > self.hard.term.round() {
            self.observe_term(term, None);
            return;
        }
        if term.round() == self.hard.term.round() && term > self.hard.term && self.is_leader() {
            // Answered by (a follower of) a higher-ballot leader of our round: two leaders in
            // one round after a dynamic-mode partition heals. The higher ballot wins.
            self.become_follower();
            self.set_leader(None);
            return;
        }
        let (last, base) = (self.log.last_index(), self.log.base().index);
        if term != self.hard.term || self.leader_progress(from).is_none() {
            return;
        }
        if let AppendResult::Diverged {
            rank,
            conflict,
            records,
        } = result
        {
            self.on_contested(from, rank, conflict, &records);
            return;
        }
        let RoleState::Leader(leader) = &mut self.state else {
            return;
        };
        let Some(progress) = leader.progress.get_mut(&from) else {
            return;
        };
        // A member restarted on its storage keeps its epoch; one that lost it answers with a
        // higher one, abstaining while it catches up. A lower epoch is a late answer of a life
        // whose storage is gone: what it acknowledged no longer holds (strict seed 9206664).
        if !progress.observe_epoch(epoch) {
            return;
        }
        progress.recent_active = true;
        progress.acked_seq = progress.acked_seq.max(seq);
        // A follower that ends its catch-up answers `Granted` for entries it already holds: its
        // match point does not move, but it counts from now on, so the commit rule runs again
        // (else what it holds commits only with the next entry).
        let counts_now = progress.abstains && vote != Vote::Abstained;
        progress.abstains = vote == Vote::Abstained;
        let advanced = match result {
            AppendResult::Success { match_index } => {
                progress.overrule = None;
                progress.on_success(match_index.min(last))
            }
            AppendResult::Conflict {
                rejected_prev,
                hint,
                conflict_term,
            } => {
                // Still below our log base: keep waiting for the follower's state sync rather
                // than ping-ponging StateSyncRequired.
                let still_syncing = progress.state == ProgressState::Snapshot && hint.prev() < base;
                if !still_syncing {
                    // The follower's hint is the start of its run of `conflict_term`; if we hold
                    // entries of that term, ours up to the last of them are the follower's too
                    // (log matching), so resume right after it. Without this, a deposed
                    // leader's stale suffix made us re-send its whole term one batch at a time.
                    let shared = conflict_term
                        .and_then(|t| self.log.last_index_of_term(t, rejected_prev.prev()));
                    let hint = shared.map_or(hint, |index| index.next().max(hint));
                    progress.on_conflict(rejected_prev, hint, last);
                }
                false
            }
            AppendResult::Fetching { last } => {
                // Unverified: the match point stays where the leader's checks put it.
                progress.on_fetching(last);
                false
            }
            AppendResult::Diverged { .. } => false, // handled above
        };
        if advanced || counts_now {
            self.maybe_advance_commit();
        }
        self.process_leader_reads();
    }

    /// The replication progress of `peer`, when leader.
    fn leader_progress(&mut self, peer: Id) -> Option<&mut Progress> {
        match &mut self.state {
            RoleState::Leader(leader) => leader.progress.get_mut(&peer),
            _ => None,
        }
    }

    /// Heartbeat and check-quorum timers.
    pub(super) fn on_leader_timers(&mut self) {
        let (now, interval, timeout) = (
            self.now,
            self.config.heartbeat_interval,
            self.config.election_timeout,
        );
        let RoleState::Leader(leader) = &mut self.state else {
            return;
        };
        let heartbeat = leader.heartbeat_due <= now;
        let check = leader.check_quorum_due <= now;
        if heartbeat {
            leader.heartbeat_due = now + interval;
            // Retransmit probes too: the previous one may have been lost.
            leader
                .progress
                .values_mut()
                .for_each(|p| p.probe_sent = false);
        }
        if check {
            leader.check_quorum_due = now + timeout;
        }
        if heartbeat {
            self.refresh_commit_weight();
            let RoleState::Leader(leader) = &self.state else {
                return;
            };
            let peers: Vec<Id> = leader.progress.keys().copied().collect();
            for peer in peers {
                self.send_append(peer);
            }
        }
        if check {
            self.check_quorum();
        }
    }

    /// Steps down when a quorum of voters was not heard from during the last election timeout:
    /// an isolated leader stops accepting writes and reads instead of waiting to be deposed.
    fn check_quorum(&mut self) {
        let voters = self.voters();
        let RoleState::Leader(leader) = &mut self.state else {
            return;
        };
        let active = voters
            .iter()
            .filter(|voter| {
                **voter == self.id
                    || leader
                        .progress
                        .get(voter)
                        .is_some_and(|p| p.recent_active && !p.abstains)
            })
            .count();
        leader
            .progress
            .values_mut()
            .for_each(|p| p.recent_active = false);
        if self.config.check_quorum && !self.quorum.is_quorum(active, voters.len()) {
            self.become_follower();
            self.set_leader(None);
        }
    }

    /// Starts confirmation rounds for reads whose read index is now known and answers reads whose
    /// round was echoed by a quorum.
    pub(super) fn process_leader_reads(&mut self) {
        // Most acknowledgements come with no read waiting: skip building the voter set.
        if !matches!(&self.state, RoleState::Leader(leader) if !leader.reads.is_empty()) {
            return;
        }
        let voters = self.voters();
        let (commit, id) = (self.commit, self.id);
        let stale = self.config.has_bug(PlantedBug::StaleRead);
        let quorum = self.quorum();
        let RoleState::Leader(leader) = &mut self.state else {
            return;
        };
        if leader.reads.is_empty() {
            return;
        }
        let committed_in_term = commit >= leader.term_start;
        let mut new_round = false;
        for read in &mut leader.reads {
            if read.read_index.is_none() && (committed_in_term || stale) {
                read.read_index = Some(commit);
                read.seq = leader.seq + 1;
                new_round = true;
            }
        }
        if new_round {
            leader.seq += 1; // flush sends the round to every follower
        }
        let echoes = voters
            .iter()
            .map(|voter| {
                if *voter == id {
                    return Index(leader.seq);
                }
                leader
                    .progress
                    .get(voter)
                    .map_or(Index::ZERO, |p| Index(p.acked_seq))
            })
            .collect();
        let confirmed = quorum.quorum_index(echoes).map_or(0, Index::get);
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut leader.reads)
            .into_iter()
            .partition(|read| read.read_index.is_some() && (stale || read.seq <= confirmed));
        leader.reads = waiting;
        for read in ready {
            let read_index = read.read_index.unwrap_or(commit);
            match read.origin {
                super::leader::ReadOrigin::Local(request_id) => self.emit(Output::ReadReady {
                    request_id,
                    read_index,
                }),
                super::leader::ReadOrigin::Remote { peer, request_id } => self.send(
                    peer,
                    Message::Forward(Forward::ReadIndex {
                        request_id,
                        read_index,
                    }),
                ),
            }
        }
    }

    /// Fails every pending read (stepping down or timing out).
    pub(super) fn fail_leader_reads(&mut self) {
        let RoleState::Leader(leader) = &mut self.state else {
            return;
        };
        let reads = std::mem::take(&mut leader.reads);
        for read in reads {
            self.fail_read(read.origin);
        }
    }

    pub(super) fn fail_read(&mut self, origin: ReadOrigin<Id>) {
        match origin {
            ReadOrigin::Local(request_id) => self.emit(Output::ReadFailed { request_id }),
            ReadOrigin::Remote { peer, request_id } => {
                self.send(peer, Message::Forward(Forward::ReadRejected { request_id }));
            }
        }
    }
}
