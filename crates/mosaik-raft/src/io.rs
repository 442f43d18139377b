//! What goes into the engine ([`Input`]), what comes out ([`Output`]), and the durable state
//! a restart starts from ([`Restored`]).

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::config::LeadershipPreference;
use crate::log::{Entry, Log};
use crate::message::Message;
use crate::pruned_terms::PrunedTerms;
use crate::records::CommitRecords;
use crate::types::{Cursor, Index, IndexRange, NodeId, RequestId, Role, Term};

/// What must survive a restart: term and vote (so a node never votes twice in a round), what it
/// knows to be committed (so a restarted member still defends its committed history under the
/// dynamic-mode merge rule), whether it is still catching up after losing its storage (so a
/// crash during the catch-up does not let it vote on a partial log), and whether it has led
/// since (so a crash after the catch-up does not let it campaign under a ballot its lost life
/// may have used).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState<Id> {
    /// Highest term seen.
    pub term: Term<Id>,
    /// Candidate voted for in `term.round()`, if any.
    pub vote: Option<Id>,
    /// Highest index known committed when this was written (never past the persisted log's end
    /// when written; clamped to it on restore).
    pub commit: Index,
    /// Voters the leader counted at that commit ([`CommittedRank::weight`](crate::CommittedRank)).
    pub commit_weight: u64,
    /// The highest index committed with the most voters this member knows of, and that number:
    /// with `commit` and `commit_weight`, what a restart kept of the commit records before
    /// `records` existed (a history backed by many voters and extended by few stays strong
    /// where it was strong). Still written, for a hard state read back by an older build.
    pub peak: (Index, u64),
    /// A catch-up begun by [`Input::BeginCatchUp`] has not finished: a restart resumes it.
    pub catching_up: bool,
    /// This member lost its storage ([`Input::BeginCatchUp`]) and has not led since: its
    /// campaigns jump their round far past anything an earlier life may have led, and a
    /// restart keeps the jump. Cleared once it leads (its ballot is then past them).
    pub lost_storage: bool,
    /// Which storage this is: 0 for storage that never replaced a lost one, and for each
    /// storage begun by [`Input::BeginCatchUp`] the life's epoch
    /// ([`Engine::with_life_epoch`](crate::Engine::with_life_epoch)), higher than any earlier
    /// life's. Answers to the leader carry it, so a leader tells an earlier life's late
    /// acknowledgements (of entries that life has lost) from the current one's and counts only
    /// the latter.
    pub epoch: u64,
    /// Every commit record the member keeps (`(up to index, weight)`, oldest first; see
    /// [`CommitRecords`]): a restart compares histories under the merge rule exactly as before
    /// it. Empty in a hard state written before records were persisted: the restart then keeps
    /// `peak` and the latest.
    pub records: CommitRecords,
    /// The terms of the member's entries at those records' positions that its log no longer
    /// holds (pruned to a snapshot; see [`PrunedTerms`]), so a contest can still locate where
    /// its history splits from a leader's. Empty in a hard state written before they were
    /// persisted: such a member contests as if it never knew them.
    #[serde(bound(deserialize = "Id: Copy + Deserialize<'de>"))]
    pub pruned_terms: PrunedTerms<Id>,
}

impl<Id: Copy + PartialEq> HardState<Id> {
    /// True when `self` differs from `earlier` only in what the member knows committed
    /// (`commit`, `commit_weight`, `peak`, `records`, `pruned_terms`): the record strict mode may leave unsynced until
    /// the next durable write (see [`Output`]'s ordering contract).
    pub fn moves_only_commit(&self, earlier: &Self) -> bool {
        (
            self.term,
            self.vote,
            self.catching_up,
            self.lost_storage,
            self.epoch,
        ) == (
            earlier.term,
            earlier.vote,
            earlier.catching_up,
            earlier.lost_storage,
            earlier.epoch,
        )
    }
}

impl<Id: Copy> Default for HardState<Id> {
    fn default() -> Self {
        HardState {
            term: Term::zero(),
            vote: None,
            commit: Index::ZERO,
            commit_weight: 0,
            peak: (Index::ZERO, 0),
            catching_up: false,
            lost_storage: false,
            epoch: 0,
            records: CommitRecords::new(),
            pruned_terms: PrunedTerms::new(),
        }
    }
}

/// Durable state an engine is built from: `Restored::default()` for a fresh node, or what the
/// shell persisted from the previous incarnation's `Persist*` outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored<Id, C> {
    /// Last persisted hard state.
    pub hard_state: HardState<Id>,
    /// The persisted log (base cursor + entries).
    pub log: Log<Id, C>,
    /// Index the shell's state machine already reflects (the snapshot it restored, or
    /// `log.base().index` if it rebuilds from scratch, which is the usual case). Must lie in
    /// `log.base().index ..= log.last_index()`. Entries up to it count as committed and are not
    /// applied again; later entries are applied when they commit.
    pub applied: Index,
}

impl<Id: NodeId, C> Default for Restored<Id, C> {
    fn default() -> Self {
        Restored {
            hard_state: HardState::default(),
            log: Log::new(),
            applied: Index::ZERO,
        }
    }
}

/// An event fed to [`Engine::handle`](crate::Engine::handle).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input<Id, C> {
    /// Time passed (the shell's timer for [`Engine::next_deadline`](crate::Engine::next_deadline)
    /// fired). Expired timers are also processed on every other input.
    Tick,
    /// The shell has no other input ready. A leader holds back a message to a follower that
    /// would only carry a new commit index (a *commit notice*), because the entries of the
    /// next proposal carry it too and the follower then answers once instead of twice; this
    /// input sends the notices held so far. A shell that never feeds it stays correct: the
    /// next entries or heartbeat carry the commit index. See
    /// [`Engine::holds_commit_notices`](crate::Engine::holds_commit_notices).
    Idle,
    /// A message from a peer.
    Message {
        /// Sender.
        from: Id,
        /// The message.
        msg: Message<Id, C>,
    },
    /// A bond to `peer` is up (or its preference changed). Bonded non-observers are voters.
    PeerBonded {
        /// The peer.
        peer: Id,
        /// Its leadership preference.
        preference: LeadershipPreference,
    },
    /// The bond to `peer` is gone; it no longer counts as a voter.
    PeerUnbonded {
        /// The peer.
        peer: Id,
    },
    /// Client command batch (`feed` / `execute`). Answered by `ProposeResult`, and, when an
    /// index range was assigned, later by `Committed`.
    Propose {
        /// Shell's id for the request.
        request_id: RequestId,
        /// The commands, in order.
        commands: Vec<C>,
    },
    /// Strong (linearizable) read. Answered by `ReadReady` or `ReadFailed`.
    Read {
        /// Shell's id for the request.
        request_id: RequestId,
    },
    /// The shell finished a state sync: its state machine now reflects exactly the entries up to
    /// `cursor` (a committed position of the leader's log). The engine resets its log to it.
    SnapshotInstalled {
        /// Last entry covered by the installed state.
        cursor: Cursor<Id>,
    },
    /// The shell holds a snapshot of its state machine at `up_to` and allows dropping the log
    /// prefix up to it (clamped to the applied index). Answered by `PersistLogPrune`.
    PruneLog {
        /// Highest index to drop.
        up_to: Index,
    },
    /// Entries fetched from a peer during a log fetch ([`Output::NeedLogFetch`]): `entries`
    /// follow `prev` in that peer's log, and the peer reported them committed. The shell checks
    /// that chunks chain; the engine still checks everything it relies on and ignores what does
    /// not fit (a `prev` it does not hold, decreasing terms, terms it has not seen), so garbage
    /// is harmless. Appended entries are persisted (`PersistLog`) but neither acknowledged nor
    /// committed until the leader's consistency check verifies them. Accepted by a follower
    /// that knows its leader, also after its fetch ended.
    EntriesFetched {
        /// Position of the entry just before `entries` in the serving peer's log.
        prev: Cursor<Id>,
        /// Consecutive entries after `prev`.
        entries: Vec<Entry<Id, C>>,
    },
    /// The shell stopped the log fetch (finished, or gave up). If the follower is still far
    /// behind, the leader repairs it and no new fetch starts for
    /// [`Config::state_sync_retry`](crate::Config::state_sync_retry).
    LogFetchDone,
    /// This member may have been a member before and lost what it stored (it started with empty
    /// storage while other members of the group are live): it must not vote or campaign until
    /// it has caught up. Until its commit index reaches the highest commit index a leader
    /// announced to it, it acts as an observer (abstains, never campaigns, does not count
    /// itself as a voter) whatever its configured preference; then it emits
    /// [`Output::CaughtUp`] and resumes that preference. The shell advertises it as an observer
    /// to its peers meanwhile. A leader steps down first.
    BeginCatchUp,
    /// Ends the catch-up at once (the shell found no other live member: a brand-new group, or
    /// the whole group restarted empty). Emits [`Output::CaughtUp`] if a catch-up was running.
    EndCatchUp,
}

/// Why a proposal was not assigned an index range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ProposeError {
    /// No leader known, candidate, or the leader refused the forwarded commands: nothing was
    /// appended.
    Offline,
    /// Forwarded to the leader, and no answer came within `forward_timeout`: the leader may or
    /// may not have appended the commands (a retry is at-least-once).
    Indeterminate,
    /// The batch was empty.
    NoCommands,
}

/// Why an assigned proposal did not commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CommitError {
    /// None of the commands committed, and they never will at the assigned indexes: another
    /// entry committed there, or an entry of a newer term committed before them (leader change).
    Superseded,
    /// A prefix of the range committed (the assigning leader replicated it before it lost its
    /// leadership): the commands at the range's start `..= through` committed and are applied;
    /// the rest will never commit at their indexes. Never reported for a one-command range.
    PartlyCommitted {
        /// Last committed index of the range (`range.start() <= through < range.end()`).
        through: Index,
    },
    /// The deciding entry is only known through a state sync (pruned), so the engine cannot
    /// tell whether it was ours.
    Unknown,
}

impl fmt::Display for ProposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProposeError::Offline => "no reachable leader",
            ProposeError::Indeterminate => "the leader did not answer in time; maybe appended",
            ProposeError::NoCommands => "no commands",
        })
    }
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommitError::Superseded => "superseded by another entry",
            CommitError::PartlyCommitted { .. } => {
                "a prefix committed, the rest superseded by another entry"
            }
            CommitError::Unknown => "outcome unknown after state sync",
        })
    }
}

impl core::error::Error for ProposeError {}
impl core::error::Error for CommitError {}

/// An action for the shell, drained with [`Engine::poll_output`](crate::Engine::poll_output).
///
/// **Ordering contract:** the shell must carry out outputs one after another, in the order they
/// are polled, finishing each `Persist*` durably before acting on the next output. The engine
/// emits a `Persist*` before every output whose correctness depends on it: hard state before
/// any vote or message of that term, log writes before the acknowledgement of those entries and
/// before they are applied. Apply is emitted before the matching `CommitAdvanced`, which comes
/// before the `Committed` / `ReadReady` answers it enables.
///
/// One relaxation: in strict mode a `PersistHardState` that changes only the commit knowledge
/// (`commit`, `commit_weight`, `peak`) may stay in the store's buffer until the next durable
/// write. The commit index is volatile in Raft, and the one reader of a durable commit record,
/// the dynamic-mode merge rule, is never reached in strict mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output<Id, C> {
    /// Durably store the hard state: term, vote, commit knowledge and the catch-up marker
    /// (replacing the previous one).
    PersistHardState(HardState<Id>),
    /// Durably remove stored entries from `truncate_from` (if any) on, then store `append` at
    /// `first_index ..`.
    PersistLog {
        /// First index to remove, if a conflicting suffix is overwritten.
        truncate_from: Option<Index>,
        /// Index of `append[0]` (equals the new end + 1 when `append` is empty).
        first_index: Index,
        /// Entries to store.
        append: Vec<Entry<Id, C>>,
    },
    /// Stored entries up to and including `up_to` may be dropped; the stored log now starts
    /// after `up_to` (its base).
    PersistLogPrune {
        /// New base of the log.
        up_to: Cursor<Id>,
        /// The entries the engine's own log dropped, handed over so the shell frees them where
        /// it costs least: their commands may be large, and freeing a compaction interval's
        /// worth held a group's loop for milliseconds. Nothing to store or persist.
        pruned: Vec<Entry<Id, C>>,
    },
    /// Drop every stored entry; the log now starts right after `base` (snapshot install; or, at
    /// index 0, a dynamic-mode member starting over: drop the stored snapshot as well).
    PersistLogReset {
        /// New base of the log.
        base: Cursor<Id>,
    },
    /// Send `msg` to `to` (best effort; loss, delay, duplication and reordering are tolerated).
    Send {
        /// Recipient.
        to: Id,
        /// The message.
        msg: Message<Id, C>,
    },
    /// Apply these committed commands to the state machine, in order. Noops are skipped, so
    /// indexes may have gaps. Each index is applied once per engine lifetime, except after a
    /// `Reverted` or a `SnapshotInstalled`, from which application restarts.
    Apply {
        /// `(index, term, command)` in increasing index order.
        entries: Vec<(Index, Term<Id>, C)>,
    },
    /// Dynamic mode only (strict mode asserts instead): committed entries after `to` were
    /// discarded because the other side of a healed partition won. Reset the state machine to
    /// its state at `replay_from` (the empty state if `replay_from.index` is 0, else the snapshot
    /// at the log base — or, after a `SnapshotInstalled`, the state just installed); the engine
    /// then re-applies from `replay_from.index + 1` on, starting with the `Apply` that follows.
    Reverted {
        /// New commit index.
        to: Index,
        /// How many committed entries were discarded (for the discarded-entries metric).
        discarded: u64,
        /// State the machine must be reset to before the following `Apply` outputs.
        replay_from: Cursor<Id>,
    },
    /// The commit index increased to this value (after the matching `Apply`).
    CommitAdvanced(Index),
    /// This node's role changed.
    RoleChanged(Role),
    /// The known leader changed.
    LeaderChanged(Option<Id>),
    /// Answer to `Propose`: the assigned indexes (assigned, not yet committed), or an error.
    ProposeResult {
        /// From the `Propose`.
        request_id: RequestId,
        /// Assigned range or error.
        result: Result<IndexRange, ProposeError>,
    },
    /// Final outcome of a proposal that was assigned a range: `Ok` once an entry of the
    /// assigning leader's term committed at the end of the range (so the commands themselves
    /// committed); `Err(Superseded)` as soon as the range can no longer commit (another entry, or
    /// an entry of a newer term before it, committed) — so it is always emitted once the group
    /// commits anything after a leader change; `Err(PartlyCommitted { through })` when only a
    /// prefix of the range committed before that. Decided per index: an index reported as not
    /// committed never holds the proposal's command in the committed log.
    Committed {
        /// From the `Propose`.
        request_id: RequestId,
        /// Committed range or error.
        result: Result<IndexRange, CommitError>,
    },
    /// Answer to `Read`: leadership was confirmed with a quorum at a point after the read
    /// arrived, and this node has applied at least `read_index`; evaluate the query now.
    ReadReady {
        /// From the `Read`.
        request_id: RequestId,
        /// The linearization point.
        read_index: Index,
    },
    /// Answer to `Read`: not leader / no leader known / timed out.
    ReadFailed {
        /// From the `Read`.
        request_id: RequestId,
    },
    /// The leader no longer holds the entries this follower needs: catch up by state sync to at
    /// least `base`, then feed `SnapshotInstalled`. Emitted once per leader term, and again
    /// after [`Config::state_sync_retry`](crate::Config::state_sync_retry) if still needed.
    NeedStateSync {
        /// The leader that asked.
        leader: Id,
        /// Minimum position the installed state must reach.
        base: Cursor<Id>,
    },
    /// Log fetch ([`Config::log_fetch_threshold`](crate::Config::log_fetch_threshold)): fetch
    /// the committed entries after `after` (our last log position) up to `up_to` from peers —
    /// several in parallel, the leader last — and feed them as [`Input::EntriesFetched`], then
    /// [`Input::LogFetchDone`]. A new `NeedLogFetch` replaces any fetch still running.
    NeedLogFetch {
        /// The leader this follower follows (the source of last resort).
        leader: Id,
        /// Our last log position: fetched entries start right after it.
        after: Cursor<Id>,
        /// The leader's `prev` position that showed the gap: fetch up to this index.
        up_to: Index,
    },
    /// The catch-up begun by [`Input::BeginCatchUp`] ended (caught up with the leader's commit
    /// index, or [`Input::EndCatchUp`]): this node votes and campaigns again with its configured
    /// preference; the shell announces that preference to its peers.
    CaughtUp,
}

impl<Id, C> Output<Id, C> {
    /// True for the `Persist*` outputs.
    pub fn is_persist(&self) -> bool {
        matches!(
            self,
            Output::PersistHardState(_)
                | Output::PersistLog { .. }
                | Output::PersistLogPrune { .. }
                | Output::PersistLogReset { .. }
        )
    }

    /// True for a `PersistLog` that only appends right after `last` (no truncation): what a
    /// leader writes for new proposals. While a step's unsynced writes are only these, its
    /// `AppendEntries` may leave before they are durable (see the ordering contract).
    pub fn is_plain_append(&self, last: Index) -> bool {
        matches!(
            self,
            Output::PersistLog {
                truncate_from: None,
                first_index,
                ..
            } if *first_index == last.next()
        )
    }

    /// True for a `Send` of `AppendEntries` (entries or a heartbeat).
    pub fn is_append_entries(&self) -> bool {
        matches!(
            self,
            Output::Send {
                msg: Message::AppendEntries { .. },
                ..
            }
        )
    }
}
