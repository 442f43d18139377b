//! Messages exchanged between engines (`raft::Message` of SPEC §2.4, extended).

use serde::{Deserialize, Serialize};

use crate::log::Entry;
use crate::rank::CommittedRank;
use crate::types::{Cursor, Index, IndexRange, Term};

/// A vote, in elections and in replication acknowledgements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Vote {
    /// Counts toward the quorum.
    Granted,
    /// Refused (already voted this round, or the candidate's log is behind).
    Denied,
    /// The sender is an observer and never counts toward quorums.
    Abstained,
}

/// Outcome of an `AppendEntries` (or `StateSyncRequired`) at the follower.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AppendResult<Id> {
    /// The follower's log now matches the leader's up to `match_index`.
    Success {
        /// Highest index known to match the leader's log (not the follower's last index:
        /// entries past it are unverified).
        match_index: Index,
    },
    /// The consistency check at `rejected_prev` failed.
    Conflict {
        /// The `prev_log_position.index` that did not match (lets the leader drop stale
        /// rejections).
        rejected_prev: Index,
        /// Index the leader should send from next: past the follower's end, the first entry of
        /// the conflicting term, or just after the follower's snapshot base.
        hint: Index,
        /// The term of the follower's own entry at `rejected_prev`, when it holds a different
        /// one there. A leader that holds entries of that term skips to just after its last
        /// one: by log matching, everything up to it is shared, so a stale suffix costs one
        /// round trip instead of re-sending the follower's whole run of that term.
        conflict_term: Option<Term<Id>>,
    },
    /// The follower is far behind and fetching the missing committed entries from its peers
    /// (log fetch, [`Config::log_fetch_threshold`](crate::Config::log_fetch_threshold)): send it
    /// only empty heartbeats until it answers `Success` or `Conflict` again.
    Fetching {
        /// The follower's last log index (unverified: not a match point).
        last: Index,
    },
    /// Dynamic mode: the leader's entries would overwrite entries the follower committed. The
    /// follower keeps its log and reports how strongly its history from `conflict` on is backed;
    /// the leader decides (see [`CommittedRank`]): outranked, it steps down and yields;
    /// otherwise it overrules the follower in its next message.
    Diverged {
        /// The follower's committed rank for its history from `conflict` on.
        rank: CommittedRank<Id>,
        /// The first index where the leader's entries disagree with the follower's committed
        /// ones, or, when the follower cannot locate that (it lies below its log's base), the
        /// latest it can be.
        conflict: Index,
        /// Only when `conflict` is not located: the follower's commit records with the terms of
        /// its entries there (`Engine::records_with_terms`, at most `MAX_COMMIT_RECORDS` + 1;
        /// a leader ignores longer lists), so the leader can find the last position both
        /// histories share and compare them where they split. Empty otherwise.
        records: Vec<(Cursor<Id>, u64)>,
    },
}

/// The leader's verdict on a contested conflict (dynamic-mode merge rule): the follower's
/// committed history from `conflict` on, as strong as it reported (`weight`, committed up to
/// `commit`), lost. It applies only while the follower's history is still what it reported: one
/// that committed more since contests again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Overrule {
    /// Where the follower's entries disagree with the leader's.
    pub conflict: Index,
    /// The weight the follower reported from there on.
    pub weight: u64,
    /// The commit index the follower reported.
    pub commit: Index,
}

/// Consensus traffic between members of one group.
///
/// Every message with a `term` carries the sender's current term; receivers step down on higher
/// terms and ignore (or answer with their own term) lower ones. `seq` is the leader's heartbeat
/// round counter, echoed by followers, which the leader uses to confirm it is still leader before
/// serving a read (read index) — an echo of a `seq` sent after a read arrived proves leadership
/// at that point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Message<Id, C> {
    /// Leader → follower: replicate `entries` after `prev_log_position`; also the heartbeat.
    AppendEntries {
        /// Leader's term.
        term: Term<Id>,
        /// The leader (must be the owner of `term`).
        leader: Id,
        /// Position of the entry just before `entries`.
        prev_log_position: Cursor<Id>,
        /// Entries to append; may be empty (heartbeat).
        entries: Vec<Entry<Id, C>>,
        /// Leader's commit index.
        leader_commit: Index,
        /// The leader's committed rank (a member yielding to a stronger history votes by it).
        rank: CommittedRank<Id>,
        /// Dynamic-mode merge rule: the follower contested entries from exactly this index on
        /// (`AppendResult::Diverged`) and the leader's history won; the follower gives up its
        /// conflicting committed entries from there.
        overrule: Option<Overrule>,
        /// Heartbeat round, echoed in the response.
        seq: u64,
        /// The follower's storage epoch as the leader knows it (see `HardState::epoch`; 0 when
        /// unknown). A member catching up after losing its storage counts only what a leader
        /// announces to its own epoch: the leader then no longer counts its earlier life.
        epoch: u64,
    },
    /// Follower → leader: answer to `AppendEntries` / `StateSyncRequired`.
    AppendEntriesResponse {
        /// Follower's current term.
        term: Term<Id>,
        /// The `seq` of the message answered.
        seq: u64,
        /// Consistency-check outcome.
        result: AppendResult<Id>,
        /// `Granted` for voters, `Abstained` for observers (not counted toward commit).
        vote: Vote,
        /// The follower's storage epoch (`HardState::epoch`): an answer of an earlier life, one
        /// that lost its storage since, is not counted once the leader heard the later one.
        epoch: u64,
    },
    /// Candidate → voters.
    RequestVote {
        /// Candidate's term (owned by `candidate`); for a pre-vote, the term it would campaign in.
        term: Term<Id>,
        /// The candidate.
        candidate: Id,
        /// Last position of the candidate's log (election restriction).
        log_position: Cursor<Id>,
        /// The candidate's committed rank: a member that learned its own history was outranked
        /// votes only for candidates at least as strong as the winner it yields to; in dynamic
        /// mode, a voter whose log conflicts with the candidate's at or before the candidate's
        /// last commit votes for it, log behind or not, when this rank beats the voter's.
        rank: CommittedRank<Id>,
        /// The candidate's commit records `(up to index, weight)`, oldest first, each with the
        /// term of the candidate's entry at that index (the zero term where it no longer holds
        /// it): a dynamic-mode voter bounds where their logs split, and the candidate's rank
        /// there, by them (`Engine::outranked_by`). A voter ignores more than
        /// `MAX_COMMIT_RECORDS`.
        records: Vec<(Cursor<Id>, u64)>,
        /// Pre-vote: "would you vote for me?" — changes no state anywhere. Granted only if the
        /// voter has not heard from a live leader within an election timeout and the candidate's
        /// log is up to date, so a node that cannot win never bumps the round and deposes a
        /// healthy leader.
        pre_vote: bool,
    },
    /// Voter → candidate.
    RequestVoteResponse {
        /// Voter's current term; for a granted pre-vote, the term asked about.
        term: Term<Id>,
        /// The vote.
        vote: Vote,
        /// Answers a pre-vote.
        pre_vote: bool,
    },
    /// Leader → follower: the entries you need were pruned from my log; catch up by state sync
    /// to at least `base`. Doubles as a heartbeat for that follower.
    StateSyncRequired {
        /// Leader's term.
        term: Term<Id>,
        /// The leader.
        leader: Id,
        /// The leader's log base: the sync must reach at least this position.
        base: Cursor<Id>,
        /// Leader's commit index.
        leader_commit: Index,
        /// The leader's committed rank.
        rank: CommittedRank<Id>,
        /// As in `AppendEntries`: the merge rule decided a contested conflict for the leader.
        overrule: Option<Overrule>,
        /// Heartbeat round, echoed in the response.
        seq: u64,
        /// As in `AppendEntries`: the follower's storage epoch as the leader knows it.
        epoch: u64,
    },
    /// Follower ↔ leader client traffic.
    Forward(Forward<Id, C>),
    /// A member catching up after losing its storage → any member: what is your current term?
    /// In strict mode its catch-up ends only after `min_quorum` voters answered, and it takes
    /// the highest term they report: its earlier life's votes and acknowledgements are fenced
    /// off even when the leader it catches up from is a stale one.
    TermQuery {
        /// The asker's storage epoch (`HardState::epoch`), echoed in the answer: an answer to an
        /// earlier life's query does not count.
        epoch: u64,
    },
    /// Answer to `TermQuery`.
    TermAnswer {
        /// The answerer's current term.
        term: Term<Id>,
        /// The `epoch` of the query answered.
        epoch: u64,
        /// Whether the answerer counts itself a voter now (an observer was in no quorum; a
        /// member catching up itself knows nothing of what it was in).
        voter: bool,
        /// Whether the answerer is a voter by configuration that is catching up itself after
        /// losing its storage: it holds none of what its earlier life acknowledged, so once every
        /// place a strict group has for the others answered, the voters among them suffice.
        catching_up: bool,
    },
}

/// Client requests forwarded from a follower to the leader, and the answers. Request ids are
/// random per forward (drawn from the engine's seeded generator), not the shell's ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Forward<Id, C> {
    /// Follower → leader: append these commands.
    Command {
        /// Correlates the ack.
        request_id: u64,
        /// The commands (non-empty).
        commands: Vec<C>,
    },
    /// Leader → follower: the commands were appended at `assigned` in `term`.
    CommandAck {
        /// From the `Command`.
        request_id: u64,
        /// Indexes assigned to the commands.
        assigned: IndexRange,
        /// The leader's term: the commands committed iff the entry committed at
        /// `assigned.end()` has this term.
        term: Term<Id>,
    },
    /// Leader → follower: not leader (anymore); the commands were not appended.
    CommandRejected {
        /// From the `Command`.
        request_id: u64,
    },
    /// Follower → leader: confirm leadership and tell me a read index.
    Read {
        /// Correlates the answer.
        request_id: u64,
    },
    /// Leader → follower: leadership confirmed; serve the read once applied ≥ `read_index`.
    ReadIndex {
        /// From the `Read`.
        request_id: u64,
        /// The leader's commit index when the read arrived (or when its term's first entry
        /// committed, if later).
        read_index: Index,
    },
    /// Leader → follower: the read cannot be served (not leader, stepped down, timed out).
    ReadRejected {
        /// From the `Read`.
        request_id: u64,
    },
}

impl<Id: Copy, C> Message<Id, C> {
    /// The term carried by the message, if any (`Forward` messages carry none).
    pub fn term(&self) -> Option<Term<Id>> {
        match self {
            Message::AppendEntries { term, .. }
            | Message::AppendEntriesResponse { term, .. }
            | Message::RequestVote { term, .. }
            | Message::RequestVoteResponse { term, .. }
            | Message::StateSyncRequired { term, .. }
            | Message::TermAnswer { term, .. } => Some(*term),
            Message::Forward(_) | Message::TermQuery { .. } => None,
        }
    }

    /// A short name of the variant, for traces and fault filters.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::AppendEntries { entries, .. } if entries.is_empty() => "Heartbeat",
            Message::AppendEntries { .. } => "AppendEntries",
            Message::AppendEntriesResponse { .. } => "AppendEntriesResponse",
            Message::RequestVote { pre_vote: true, .. } => "PreVote",
            Message::RequestVote { .. } => "RequestVote",
            Message::RequestVoteResponse { pre_vote: true, .. } => "PreVoteResponse",
            Message::RequestVoteResponse { .. } => "RequestVoteResponse",
            Message::StateSyncRequired { .. } => "StateSyncRequired",
            Message::TermQuery { .. } => "TermQuery",
            Message::TermAnswer { .. } => "TermAnswer",
            Message::Forward(Forward::Command { .. }) => "Forward::Command",
            Message::Forward(Forward::CommandAck { .. }) => "Forward::CommandAck",
            Message::Forward(Forward::CommandRejected { .. }) => "Forward::CommandRejected",
            Message::Forward(Forward::Read { .. }) => "Forward::Read",
            Message::Forward(Forward::ReadIndex { .. }) => "Forward::ReadIndex",
            Message::Forward(Forward::ReadRejected { .. }) => "Forward::ReadRejected",
        }
    }
}
