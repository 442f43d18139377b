//! Engine configuration: timeouts, leadership preference and the consensus mode.

use core::time::Duration;

use serde::{Deserialize, Serialize};

/// Per-node willingness to lead (`StateMachine::leadership_preference()` in the shell).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LeadershipPreference {
    /// Campaigns after a normal election timeout, votes, counts toward quorums.
    #[default]
    Normal,
    /// Campaigns only after the election timeout multiplied by `factor` (0 is treated as 1),
    /// so normal nodes usually win; otherwise a full voter.
    Reluctant {
        /// Multiplier applied to the randomized election timeout.
        factor: u32,
    },
    /// Never campaigns, answers votes with `Abstained`, is never counted in any quorum; it still
    /// replicates and applies the log (read replicas).
    Observer,
}

impl LeadershipPreference {
    /// `Reluctant` with the default factor of 3.
    pub const fn reluctant() -> Self {
        LeadershipPreference::Reluctant { factor: 3 }
    }

    /// True for every preference except `Observer`.
    pub const fn is_voter(self) -> bool {
        !matches!(self, LeadershipPreference::Observer)
    }
}

/// Deliberate bugs the simulator plants to prove its checkers can fail. Exported, with
/// `Config::planted_bug`, only with the `planted-bugs` cargo feature (the simulator and this
/// crate's tests); production builds cannot plant one.
#[doc(hidden)]
#[cfg_attr(not(feature = "planted-bugs"), allow(dead_code, unreachable_pub))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PlantedBug {
    /// Count acknowledgements for entries of prior terms toward commit (breaks Raft §5.4.2;
    /// the Figure 8 scenario loses a committed entry).
    PriorTermCommit,
    /// Omit the vote from persisted hard state, so a restarted node can vote twice in a round.
    DoubleVote,
    /// Answer strong reads immediately, without confirming leadership with a quorum.
    StaleRead,
    /// Ignore `min_quorum`: count quorums over the currently bonded voters only, so strict mode
    /// loses its intersection guarantee and both sides of a partition can elect and commit.
    BondedQuorum,
    /// Append fetched entries without checking that their `prev` matches our log
    /// (`Input::EntriesFetched`), so a chunk from a peer with another history is glued onto our
    /// log and log matching breaks.
    FetchSkipsPrevCheck,
    /// Ignore [`Input::BeginCatchUp`](crate::Input::BeginCatchUp): a member that restarted with
    /// empty storage votes and campaigns at once, so it can vote twice in a round and elect a
    /// leader that lacks entries it acknowledged before the restart.
    AmnesiacVoter,
    /// Dynamic mode without the merge rule: the higher ballot round decides a conflict over
    /// committed entries, so a lone or restarted member that re-elected itself often erases the
    /// majority's committed history (never answers `AppendResult::Diverged`).
    HigherRoundWins,
    /// Strict mode: end a catch-up after losing storage on what one leader says, without asking
    /// the other voters' terms (`Message::TermQuery`), so a stale leader still within its lease
    /// can use the new life's acknowledgements to commit an index a newer round already
    /// committed with the earlier life's help.
    StaleCatchUp,
}

/// Configuration of one engine. Only the heartbeat settings must agree across a group (the shell
/// folds them into the group id); the rest is per-node tunable except `min_quorum`, which every
/// member must share (the shell makes it part of the group id as well).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Leader heartbeat (empty `AppendEntries`) interval. Default 500 ms.
    pub heartbeat_interval: Duration,
    /// Base election timeout; the effective timeout is uniform in
    /// `[election_timeout, election_timeout + election_timeout_jitter)`. Default 2 s.
    pub election_timeout: Duration,
    /// Width of the election timeout randomization. Zero is valid (no randomization).
    /// Default 500 ms.
    pub election_timeout_jitter: Duration,
    /// Added to election timeouts while the node is still in term 0, so that peers have time
    /// to bond before the first election. Default 3 s.
    pub bootstrap_delay: Duration,
    /// How long a follower waits for the leader to acknowledge a forwarded proposal. Default 2 s.
    pub forward_timeout: Duration,
    /// How long a strong read may take before it fails. Default 2 s.
    pub query_timeout: Duration,
    /// Strict mode when `Some(n)`: elections need at least `n` granted votes and commits at least
    /// `n` acknowledgements (self included), in addition to the majority rule. Choose `n` greater
    /// than half the largest membership the group will ever have. `None` (default) is dynamic
    /// mode: majority of the currently bonded voters.
    pub min_quorum: Option<usize>,
    /// This node's leadership preference. Default `Normal`.
    pub preference: LeadershipPreference,
    /// Maximum number of entries carried by one `AppendEntries` message (0 is treated as 1).
    /// Default 1024.
    pub max_append_entries: usize,
    /// How long a follower waits for the shell to finish a state sync (`SnapshotInstalled`)
    /// before asking again with another `NeedStateSync`. Default 30 s.
    pub state_sync_retry: Duration,
    /// When true (default), a leader that has not heard from a quorum of voters within one
    /// election timeout steps down, so an isolated leader stops accepting writes and reads.
    pub check_quorum: bool,
    /// Log fetch from peers (SPEC §1.5 `LogReplaySync`) when `Some(n)`: a follower whose log
    /// ends more than `n` entries before the leader's `AppendEntries` (its `prev` and its commit
    /// index: only committed entries can be fetched) asks the shell to fetch
    /// the missing committed entries from several peers ([`Output::NeedLogFetch`]) and answers
    /// the leader `Fetching`, so the leader only sends it empty heartbeats meanwhile instead of
    /// streaming the whole gap itself. A fetch that makes no progress for
    /// [`Config::state_sync_retry`] falls back to leader repair, and no new fetch starts for as
    /// long again. `None` (default): the leader repairs every lagging follower itself.
    ///
    /// [`Output::NeedLogFetch`]: crate::Output::NeedLogFetch
    pub log_fetch_threshold: Option<u64>,
    /// Planted bug for simulator self-tests (`planted-bugs` feature only).
    #[doc(hidden)]
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<PlantedBug>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heartbeat_interval: Duration::from_millis(500),
            election_timeout: Duration::from_secs(2),
            election_timeout_jitter: Duration::from_millis(500),
            bootstrap_delay: Duration::from_secs(3),
            forward_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(2),
            min_quorum: None,
            preference: LeadershipPreference::Normal,
            max_append_entries: 1024,
            state_sync_retry: Duration::from_secs(30),
            check_quorum: true,
            log_fetch_threshold: None,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }
}

impl Config {
    /// Sets [`Config::heartbeat_interval`].
    #[must_use]
    pub fn with_heartbeat_interval(mut self, value: Duration) -> Self {
        self.heartbeat_interval = value;
        self
    }

    /// Sets [`Config::election_timeout`].
    #[must_use]
    pub fn with_election_timeout(mut self, value: Duration) -> Self {
        self.election_timeout = value;
        self
    }

    /// Sets [`Config::election_timeout_jitter`].
    #[must_use]
    pub fn with_election_timeout_jitter(mut self, value: Duration) -> Self {
        self.election_timeout_jitter = value;
        self
    }

    /// Sets [`Config::bootstrap_delay`].
    #[must_use]
    pub fn with_bootstrap_delay(mut self, value: Duration) -> Self {
        self.bootstrap_delay = value;
        self
    }

    /// Sets [`Config::forward_timeout`].
    #[must_use]
    pub fn with_forward_timeout(mut self, value: Duration) -> Self {
        self.forward_timeout = value;
        self
    }

    /// Sets [`Config::query_timeout`].
    #[must_use]
    pub fn with_query_timeout(mut self, value: Duration) -> Self {
        self.query_timeout = value;
        self
    }

    /// Sets [`Config::min_quorum`] (strict mode).
    #[must_use]
    pub fn with_min_quorum(mut self, value: Option<usize>) -> Self {
        self.min_quorum = value;
        self
    }

    /// Sets [`Config::preference`].
    #[must_use]
    pub fn with_preference(mut self, value: LeadershipPreference) -> Self {
        self.preference = value;
        self
    }

    /// Sets [`Config::max_append_entries`].
    #[must_use]
    pub fn with_max_append_entries(mut self, value: usize) -> Self {
        self.max_append_entries = value;
        self
    }

    /// Sets [`Config::state_sync_retry`].
    #[must_use]
    pub fn with_state_sync_retry(mut self, value: Duration) -> Self {
        self.state_sync_retry = value;
        self
    }

    /// Sets [`Config::check_quorum`].
    #[must_use]
    pub fn with_check_quorum(mut self, value: bool) -> Self {
        self.check_quorum = value;
        self
    }

    /// Sets [`Config::log_fetch_threshold`] (`None` turns log fetch off).
    #[must_use]
    pub fn with_log_fetch_threshold(mut self, value: Option<u64>) -> Self {
        self.log_fetch_threshold = value;
        self
    }

    /// True in strict mode.
    pub fn is_strict(&self) -> bool {
        self.min_quorum.is_some()
    }

    /// Strict mode: the most voters a group may have, `2 × min_quorum − 1`. Two quorums of
    /// `min_quorum` votes intersect only among at most that many voters, so the engine never
    /// counts more: of the members it sees it counts the lowest ids (see
    /// [`Engine::voters`](crate::Engine::voters)). `None` in dynamic mode.
    pub fn max_voters(&self) -> Option<usize> {
        self.min_quorum.map(|n| n.max(1).saturating_mul(2) - 1)
    }

    /// True if `bug` is planted (never without the `planted-bugs` feature).
    #[cfg_attr(not(feature = "planted-bugs"), allow(clippy::unused_self))]
    pub(crate) fn has_bug(&self, bug: PlantedBug) -> bool {
        #[cfg(feature = "planted-bugs")]
        return self.planted_bug == Some(bug);
        #[cfg(not(feature = "planted-bugs"))]
        {
            let _ = bug;
            false
        }
    }

    /// True if any bug is planted (never without the `planted-bugs` feature).
    #[cfg_attr(not(feature = "planted-bugs"), allow(clippy::unused_self))]
    pub(crate) fn any_bug(&self) -> bool {
        #[cfg(feature = "planted-bugs")]
        return self.planted_bug.is_some();
        #[cfg(not(feature = "planted-bugs"))]
        false
    }
}
