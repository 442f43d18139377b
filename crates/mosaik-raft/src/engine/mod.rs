//! The engine: one member's consensus state machine. Split by concern:
//! `state` (roles, terms, commit and apply), `election`, `leader` (replication, read index,
//! check-quorum), `commit` (the commit rule and each commit's weight), `follower` (log
//! matching, state sync), `fetch` (log fetch from peers) and `client` (proposals, forwarding,
//! reads).

mod client;
mod commit;
pub use client::MAX_FORWARDED_READS;
mod election;
mod fetch;
mod follower;
mod leader;
mod merge;
mod rejoin;
mod state;
mod term_query;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;

use crate::config::{Config, LeadershipPreference, PlantedBug};
use crate::io::{HardState, Input, Output, Restored};
use crate::log::Log;
use crate::message::Message;
use crate::progress::Progress;
use crate::quorum::QuorumRule;
use crate::rng::SplitMix64;
use crate::types::{Cursor, Index, Instant, NodeId, Role, Term};

use client::{AcceptedForward, PendingForward, PendingRead, Watch};
use fetch::FetchState;
use leader::LeaderState;
pub use merge::YIELD_TIMEOUTS;
use merge::Yield;
use rejoin::{CatchUp, LeaderCommit};

/// Role-specific state.
#[derive(Debug)]
enum RoleState<Id> {
    Follower,
    /// Campaigning: first a pre-vote (term unchanged), then the real election.
    Candidate {
        /// The term being sought (our current term once the real election started).
        ballot: Term<Id>,
        pre_vote: bool,
        granted: BTreeSet<Id>,
        /// Voters that answered (granted or not): not asked again.
        answered: BTreeSet<Id>,
        /// When unanswered vote requests are sent again (they may have been lost).
        retry_due: Instant,
    },
    Leader(LeaderState<Id>),
}

/// Strict mode: election timeouts for which a voter whose bond went keeps its place in the
/// voter cap ([`Config::max_voters`]), so a partition does not hand its place to an extra
/// member; a member replaced for good frees its place after this long.
pub const LEFT_VOTER_TIMEOUTS: u32 = 100;

/// The highest ballot round a message may carry; messages beyond it are dropped. Correct
/// members stay far below: a campaign adds one round, a member that lost its storage adds at
/// most about 2^41 once per loss (see the amnesia jump), so millions of losses fit.
pub const MAX_ROUND: u64 = 1 << 62;

/// A pure, deterministic consensus engine for one group member.
///
/// Feed it [`Input`]s with [`handle`](Engine::handle), drain [`Output`]s with
/// [`poll_output`](Engine::poll_output) (in order — see the ordering contract on [`Output`]), and
/// call `handle(now, Input::Tick)` no later than [`next_deadline`](Engine::next_deadline).
///
/// Randomness (election timeouts, forwarded request ids) comes from a splitmix64 generator
/// seeded by the caller in [`new`](Engine::new), so a run is reproducible from its seeds. Give
/// each node (and each restart) a different seed.
#[derive(Debug)]
pub struct Engine<Id, C> {
    id: Id,
    config: Config,
    quorum: QuorumRule,
    rng: SplitMix64,
    now: Instant,
    hard: HardState<Id>,
    state: RoleState<Id>,
    leader: Option<Id>,
    log: Log<Id, C>,
    commit: Index,
    applied: Index,
    /// Bonded peers and their preferences; voters are the non-observers (plus self).
    peers: BTreeMap<Id, LeadershipPreference>,
    /// Strict mode: voter peers whose bond went, and when. They keep their place in the voter
    /// cap for `LEFT_VOTER_TIMEOUTS` election timeouts (see [`Engine::voters`]).
    left: BTreeMap<Id, Instant>,
    /// Follower/candidate election timer (`None` while leader).
    election_due: Option<Instant>,
    /// When the current leader was last heard from (pre-votes are refused while it is live).
    leader_heard_at: Option<Instant>,
    /// Proposals forwarded to the leader, by forward id.
    forwards: BTreeMap<u64, PendingForward>,
    /// Strong reads forwarded to the leader, by forward id.
    remote_reads: BTreeMap<u64, PendingRead>,
    /// Forwarded commands this node appended as leader, most recent last (bounded): a command
    /// the network delivers twice is acknowledged again, never appended (and applied) twice.
    accepted_forwards: VecDeque<AcceptedForward<Id>>,
    /// Assigned proposals awaiting commit, by the last index of their range.
    watches: BTreeMap<Index, Vec<Watch<Id>>>,
    /// Term and time `NeedStateSync` was last emitted (deduplication, retry).
    sync_requested: Option<(Term<Id>, Instant)>,
    /// The log fetch the shell runs for us, if any (ends on any leader, role or term change).
    fetch: Option<FetchState<Id>>,
    /// When the last fetch ended without closing the gap: no new one starts for
    /// `state_sync_retry` after it.
    fetch_ended_at: Option<Instant>,
    /// Catching up after losing storage (`Input::BeginCatchUp`): an observer until caught up.
    catch_up: Option<CatchUp<Id>>,
    /// How many voters backed our committed entries: `(up to index, weight)` runs, oldest
    /// first (see `CommittedRank`; bounded by `MAX_COMMIT_RECORDS`).
    commit_weights: Vec<(Index, u64)>,
    /// The terms of our entries at commit record positions the log pruned, ascending (see
    /// `PrunedTerms`; bounded by `MAX_COMMIT_RECORDS`: only record positions are kept).
    pruned_terms: Vec<(Index, Term<Id>)>,
    /// The commit index a previous incarnation persisted (clamped to the log): entries up to it
    /// are committed even before a leader confirms it again, and the merge rule defends them.
    durable_commit: Index,
    /// The bootstrap delay was already waited out (a catch-up the shell ended for a brand-new
    /// group ends only after it): the first election need not wait for it again.
    bootstrap_waited: bool,
    /// Began a catch-up after losing storage and has not led since (see `round_skip`).
    lost_storage: bool,
    /// The round in which our own campaign split the vote with a higher rival ballot: our next
    /// election timeout in that round passes without a campaign (see `Engine::lost_split`).
    split_round: Option<u64>,
    /// This life's random part of the amnesia round jump (see `rejoin::AMNESIA_ROUND_SPREAD`).
    amnesia_spread: u64,
    /// The storage epoch this life gives storage it begins after a loss (`HardState::epoch`;
    /// never 0, higher than any earlier life's: see `Engine::with_life_epoch`).
    life_epoch: u64,
    /// Yielding to a stronger committed history that conflicts with ours (dynamic mode).
    yielding: Option<Yield<Id>>,
    outputs: VecDeque<Output<Id, C>>,
}

/// The commit records a restart keeps: every persisted one (`HardState::records`), or, from a
/// hard state written before those were, the peak `(index, weight)` and the latest one.
fn restored_weights<Id>(hard: &HardState<Id>, log_last: Index) -> Vec<(Index, u64)> {
    let commit = hard.commit.min(log_last);
    if !hard.records.is_empty() {
        // Every record, as the member kept them (none reaches past what it knew committed;
        // the clamp only matters when the log's end was lost).
        let mut records: Vec<(Index, u64)> = hard
            .records
            .as_slice()
            .iter()
            .map(|(index, weight)| ((*index).min(commit), *weight))
            .filter(|(index, weight)| *index > Index::ZERO && *weight > 0)
            .collect();
        records.dedup_by_key(|(index, _)| *index);
        return records;
    }
    let (peak_index, peak_weight) = hard.peak;
    let peak = (peak_index.min(commit), peak_weight);
    let mut records: Vec<(Index, u64)> = [peak, (commit, hard.commit_weight)]
        .into_iter()
        .filter(|(index, weight)| *index > Index::ZERO && *weight > 0)
        .collect();
    records.dedup_by_key(|(index, _)| *index);
    records
}

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    /// Builds an engine from durable state: `Restored::default()` for a brand-new member, or the
    /// state persisted by a previous incarnation (a restart is just a new engine). `seed` feeds
    /// the internal random generator.
    ///
    /// Panics if `restored.applied` is outside `log.base().index ..= log.last_index()`.
    pub fn new(id: Id, config: Config, restored: Restored<Id, C>, now: Instant, seed: u64) -> Self {
        let Restored {
            hard_state,
            log,
            applied,
        } = restored;
        let applied = applied.max(log.base().index);
        assert!(
            applied <= log.last_index(),
            "restored applied index {applied} is past the end of the log ({})",
            log.last_index()
        );
        let log_last = log.last_index();
        let quorum = if config.has_bug(PlantedBug::BondedQuorum) {
            QuorumRule::new(None)
        } else {
            QuorumRule::new(config.min_quorum)
        };
        let mut engine = Engine {
            id,
            config,
            quorum,
            rng: SplitMix64::new(seed),
            now,
            hard: hard_state,
            state: RoleState::Follower,
            leader: None,
            log,
            commit: applied,
            applied,
            peers: BTreeMap::new(),
            left: BTreeMap::new(),
            election_due: None,
            leader_heard_at: None,
            forwards: BTreeMap::new(),
            remote_reads: BTreeMap::new(),
            accepted_forwards: VecDeque::new(),
            watches: BTreeMap::new(),
            sync_requested: None,
            fetch: None,
            fetch_ended_at: None,
            catch_up: hard_state.catching_up.then(CatchUp::default),
            commit_weights: restored_weights(&hard_state, log_last),
            pruned_terms: hard_state.pruned_terms.as_slice().to_vec(),
            durable_commit: hard_state.commit.min(log_last).max(applied),
            lost_storage: hard_state.catching_up || hard_state.lost_storage,
            amnesia_spread: SplitMix64::new(seed ^ rejoin::AMNESIA_SALT).next_u64()
                % rejoin::AMNESIA_ROUND_SPREAD,
            life_epoch: rejoin::default_life_epoch(now, seed),
            bootstrap_waited: false,
            split_round: None,
            yielding: None,
            outputs: VecDeque::new(),
        };
        engine.reset_election_timer();
        engine
    }

    /// Processes one input at time `now` (earlier times than already seen are clamped: time
    /// never runs backwards). Expired timers fire first, whatever the input.
    pub fn handle(&mut self, now: Instant, input: Input<Id, C>) {
        self.now = self.now.max(now);
        self.fire_timers();
        let idle = matches!(input, Input::Idle);
        match input {
            Input::Tick | Input::Idle => {}
            Input::Message { from, msg } => {
                if from != self.id {
                    self.on_message(from, msg);
                }
            }
            Input::PeerBonded { peer, preference } => self.on_peer_bonded(peer, preference),
            Input::PeerUnbonded { peer } => self.on_peer_unbonded(peer),
            Input::Propose {
                request_id,
                commands,
            } => self.on_propose(request_id, commands),
            Input::Read { request_id } => self.on_read(request_id),
            Input::SnapshotInstalled { cursor } => self.on_snapshot_installed(cursor),
            Input::PruneLog { up_to } => self.on_prune_log(up_to),
            Input::EntriesFetched { prev, entries } => self.on_entries_fetched(prev, entries),
            Input::LogFetchDone => self.on_log_fetch_done(),
            Input::BeginCatchUp => self.on_begin_catch_up(),
            Input::EndCatchUp => self.on_end_catch_up(),
        }
        self.check_caught_up();
        self.flush(idle);
    }

    /// Next output, in emission order.
    pub fn poll_output(&mut self) -> Option<Output<Id, C>> {
        self.outputs.pop_front()
    }

    /// All pending outputs, in emission order.
    pub fn drain_outputs(&mut self) -> Vec<Output<Id, C>> {
        self.outputs.drain(..).collect()
    }

    /// The earliest time at which the engine wants a `Tick`.
    pub fn next_deadline(&self) -> Option<Instant> {
        let role = match &self.state {
            RoleState::Leader(leader) => leader.next_deadline(),
            RoleState::Candidate { retry_due, .. } => Some(*retry_due),
            RoleState::Follower => None,
        };
        let forwards = self.forwards.values().map(|f| f.deadline);
        let reads = self.remote_reads.values().map(|r| r.deadline);
        self.election_due
            .into_iter()
            .chain(role)
            .chain(self.term_query_deadline())
            .chain(forwards)
            .chain(reads)
            .min()
    }

    fn on_message(&mut self, from: Id, msg: Message<Id, C>) {
        if msg.term().is_some_and(|term| term.round() > MAX_ROUND) {
            // No correct member gets near it; adopting it would let a peer holding the group key
            // push every member's next campaign past `u64::MAX`.
            return;
        }
        match msg {
            Message::AppendEntries {
                term,
                leader,
                prev_log_position,
                entries,
                leader_commit,
                rank,
                overrule,
                seq,
                epoch,
            } => self.on_append_entries(
                from,
                term,
                leader,
                prev_log_position,
                entries,
                LeaderCommit {
                    index: leader_commit,
                    weight: rank.weight,
                    overrule,
                    epoch,
                },
                seq,
            ),
            Message::AppendEntriesResponse {
                term,
                seq,
                result,
                vote,
                epoch,
            } => self.on_append_response(from, term, seq, result, (vote, epoch)),
            Message::RequestVote {
                term,
                candidate,
                log_position,
                rank,
                records,
                pre_vote,
            } => self.on_request_vote(
                from,
                term,
                candidate,
                (log_position, rank, &records),
                pre_vote,
            ),
            Message::RequestVoteResponse {
                term,
                vote,
                pre_vote,
            } => self.on_vote_response(from, term, vote, pre_vote),
            Message::StateSyncRequired {
                term,
                leader,
                base,
                leader_commit,
                rank,
                overrule,
                seq,
                epoch,
            } => {
                let commit = LeaderCommit {
                    index: leader_commit,
                    weight: rank.weight,
                    overrule,
                    epoch,
                };
                self.on_state_sync_required(from, term, leader, base, commit, seq);
            }
            Message::TermQuery { epoch } => self.on_term_query(from, epoch),
            Message::TermAnswer {
                term,
                epoch,
                voter,
                catching_up,
            } => self.on_term_answer(from, term, epoch, (voter, catching_up)),
            Message::Forward(forward) => self.on_forward(from, forward),
        }
    }

    fn on_peer_bonded(&mut self, peer: Id, preference: LeadershipPreference) {
        if peer == self.id {
            return;
        }
        let previous = self.peers.insert(peer, preference);
        let last = self.log.last_index();
        match &mut self.state {
            RoleState::Leader(leader) => {
                leader
                    .progress
                    .entry(peer)
                    .or_insert_with(|| Progress::new(last));
            }
            RoleState::Candidate { .. }
                if previous.is_none_or(|p| !p.is_voter()) && preference.is_voter() =>
            {
                self.request_votes(); // asks whoever has not answered, the newcomer included
            }
            _ => {}
        }
        self.query_term_of(peer);
        self.membership_changed();
    }

    fn on_peer_unbonded(&mut self, peer: Id) {
        let Some(preference) = self.peers.remove(&peer) else {
            return;
        };
        if self.config.max_voters().is_some() && preference.is_voter() {
            let now = self.now;
            let keep = self.left_voter_ttl();
            self.left
                .retain(|_, at| now.saturating_duration_since(*at) < keep);
            self.left.insert(peer, now);
        }
        if let RoleState::Leader(leader) = &mut self.state {
            leader.progress.remove(&peer);
        }
        if self.leader == Some(peer) {
            // Forwarding into a dead bond would only time out; fail fast instead.
            self.set_leader(None);
        }
        self.membership_changed();
    }

    /// The voter set changed: quorums may now be reachable (dynamic mode shrinks them).
    pub(super) fn membership_changed(&mut self) {
        if self.is_leader() && self.config.max_voters().is_some() && !self.is_voter() {
            // Strict mode: lower ids bonded past the voter cap, so we no longer count.
            self.become_follower();
            self.set_leader(None);
        }
        self.check_election();
        self.maybe_advance_commit();
        self.process_leader_reads();
    }

    // ---- accessors -------------------------------------------------------------------------

    /// This node's id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Current role.
    pub fn role(&self) -> Role {
        match self.state {
            RoleState::Follower => Role::Follower,
            RoleState::Candidate { .. } => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }

    /// True when this node is the leader.
    pub fn is_leader(&self) -> bool {
        matches!(self.state, RoleState::Leader(_))
    }

    /// Current term.
    pub fn term(&self) -> Term<Id> {
        self.hard.term
    }

    /// Current hard state (term and vote) as held in memory.
    pub fn hard_state(&self) -> HardState<Id> {
        self.hard
    }

    /// The leader this node currently follows (itself when leader).
    pub fn leader(&self) -> Option<Id> {
        self.leader
    }

    /// Highest index known committed.
    pub fn commit_index(&self) -> Index {
        self.commit
    }

    /// Highest index handed to the state machine (equals the commit index between calls).
    pub fn applied_index(&self) -> Index {
        self.applied
    }

    /// Position of the last log entry.
    pub fn last_log(&self) -> Cursor<Id> {
        self.log.last()
    }

    /// The in-memory log.
    pub fn log(&self) -> &Log<Id, C> {
        &self.log
    }

    /// Bonded peers and their preferences.
    pub fn peers(&self) -> &BTreeMap<Id, LeadershipPreference> {
        &self.peers
    }

    /// Current voters: self (unless observer) plus bonded non-observer peers.
    ///
    /// Strict mode counts at most [`Config::max_voters`] (`2 × min_quorum − 1`): more voters
    /// would let two disjoint quorums of `min_quorum` elect two leaders. The shell refuses such
    /// members at bond admission; this cap is the engine's own defence, so a misconfigured group
    /// never panics. Of the voter members seen — bonded now, or bonded within
    /// `LEFT_VOTER_TIMEOUTS` election timeouts (a partition does not free their places) — the
    /// lowest ids hold the places; the others replicate like observers (and never campaign).
    /// Members that have seen the same members count the same voters.
    pub fn voters(&self) -> BTreeSet<Id> {
        let mut voters: BTreeSet<Id> = self
            .peers
            .iter()
            .filter(|(_, preference)| preference.is_voter())
            .map(|(peer, _)| *peer)
            .collect();
        if self.may_vote() {
            voters.insert(self.id);
        }
        if let Some(max) = self.config.max_voters() {
            let keep = self.left_voter_ttl();
            let recent = self
                .left
                .iter()
                .filter(|(_, at)| self.now.saturating_duration_since(**at) < keep)
                .map(|(peer, _)| *peer);
            let seen: BTreeSet<Id> = voters.iter().copied().chain(recent).collect();
            if seen.len() > max {
                let places: BTreeSet<Id> = seen.into_iter().take(max).collect();
                voters.retain(|voter| places.contains(voter));
            }
        }
        voters
    }

    /// True unless strict mode's voter cap, in our view, leaves `member` out (it is then never
    /// granted a vote, nor are its entries acknowledged as a voter).
    pub(super) fn holds_voter_place(&self, member: Id) -> bool {
        self.config.max_voters().is_none() || self.voters().contains(&member)
    }

    /// How long a voter that left keeps its place in the strict-mode voter cap.
    fn left_voter_ttl(&self) -> core::time::Duration {
        self.config.election_timeout * LEFT_VOTER_TIMEOUTS
    }

    /// True while a log fetch is running for this follower (between `NeedLogFetch` and the end
    /// of the fetch: gap closed, `LogFetchDone`, stall, or a leader, role or term change).
    pub fn is_fetching(&self) -> bool {
        self.fetch.is_some()
    }

    /// Per-follower replication progress, when leader.
    pub fn progress(&self) -> Option<&BTreeMap<Id, Progress>> {
        match &self.state {
            RoleState::Leader(leader) => Some(&leader.progress),
            _ => None,
        }
    }
}
