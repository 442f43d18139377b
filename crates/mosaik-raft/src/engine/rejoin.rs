//! Restart safety: the catch-up of a member that lost its storage (no amnesiac voter), the
//! amnesia round jump and storage epochs. The dynamic-mode merge rule is in `merge.rs`.

use std::fmt::Debug;

use super::term_query::TermQuery;
use super::{Engine, RoleState};
use crate::config::PlantedBug;
use crate::io::Output;
use crate::message::Overrule;
use crate::rng::SplitMix64;
use crate::types::{Index, Instant, NodeId, Term};

/// A catch-up in progress ([`Input::BeginCatchUp`](crate::Input::BeginCatchUp)).
#[derive(Debug)]
pub(super) struct CatchUp<Id> {
    /// The term (ballot) of the leader whose announcements count: only the current one. A
    /// leader of a history that later lost may have announced a commit index nobody reaches
    /// again, and that includes an earlier term of today's leader: in dynamic mode its commit
    /// index goes back when the merge reverts its history (simulator, dynamic seed 9411318: a
    /// member stayed an observer for good, waiting for index 26 its leader had announced before
    /// a merge took it back to 22).
    leader: Option<Term<Id>>,
    /// The highest commit index that leader announced; `None` until we hear from one.
    target: Option<Index>,
    /// The weight of that leader's latest commit, as it last announced it.
    weight: u64,
    /// Strict mode: the other voters' terms (see `term_query`).
    pub(super) terms: TermQuery<Id>,
}

impl<Id> Default for CatchUp<Id> {
    fn default() -> Self {
        CatchUp {
            leader: None,
            target: None,
            weight: 0,
            terms: TermQuery::default(),
        }
    }
}

/// What a leader's message says about its commit: its commit index, the weight it committed
/// with, and whether it overrules a conflict we contested.
#[derive(Clone, Copy, Debug)]
pub(super) struct LeaderCommit {
    pub(super) index: Index,
    pub(super) weight: u64,
    pub(super) overrule: Option<Overrule>,
    /// Our storage epoch as the leader knows it.
    pub(super) epoch: u64,
}

/// How far a member that lost its storage jumps its first ballot round at least (see
/// `Engine::round_skip`): far beyond any run of lone elections its earlier life can have had.
const AMNESIA_ROUND_SKIP: u64 = 1 << 20;

/// The range of the random part of that jump, drawn once per life (`Engine::amnesia_spread`).
/// A fixed jump is not enough: an earlier life that itself lost its storage jumped by the same
/// amount from the same rounds, so a second amnesia reused its ballot (simulator, dynamic mode,
/// seed 701286: both lives led round 2^20 + 3, each appending its own entries at the same
/// indexes). With a random part, two lives collide only if their draws land within each
/// other's run of lone elections: odds of about one in 2^40 per pair. Rounds stay far from
/// `u64::MAX` (2^23 such jumps fit).
pub(super) const AMNESIA_ROUND_SPREAD: u64 = 1 << 40;

/// Salt of the stream `amnesia_spread` is drawn from, so drawing it does not move the
/// election-timeout stream (the simulator's schedules stay what they were).
pub(super) const AMNESIA_SALT: u64 = 0xa3e5_1a00_5eed_0b11;

/// Salt of the stream the random part of this life's default storage epoch is drawn from.
const EPOCH_SALT: u64 = 0x5e0c_e90c_11fe_0a1b;

/// Bits of a default storage epoch below the clock reading.
const EPOCH_RANDOM_BITS: u32 = 20;

/// The storage epoch a life uses unless the shell sets one (`Engine::with_life_epoch`): the
/// engine's clock at its start in the high bits (a shell whose clock runs on across restarts —
/// the simulator's, a test's — gives each later life a higher epoch), a random part below.
pub(super) fn default_life_epoch(now: Instant, seed: u64) -> u64 {
    let random = SplitMix64::new(seed ^ EPOCH_SALT).next_u64() >> (64 - EPOCH_RANDOM_BITS);
    ((now.as_millis().saturating_add(1)) << EPOCH_RANDOM_BITS) | random
}

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    /// Whether this node votes, campaigns and counts itself: its preference allows it and it is
    /// not catching up after losing its storage.
    pub(super) fn is_voter(&self) -> bool {
        self.may_vote() && (self.config.max_voters().is_none() || self.voters().contains(&self.id))
    }

    /// A voter by configuration and catch-up state, before the strict-mode voter cap.
    pub(super) fn may_vote(&self) -> bool {
        self.config.preference.is_voter() && self.catch_up.is_none()
    }

    /// Sets the storage epoch this life gives storage it begins after a loss
    /// ([`Input::BeginCatchUp`](crate::Input::BeginCatchUp), `HardState::epoch`). **It must be
    /// higher than the epoch of every earlier life of this member**: a leader counts the
    /// highest epoch it heard from a follower and ignores lower ones as late answers of lives
    /// whose storage is gone. A clock reading at start does it (the shell uses microseconds
    /// since the Unix epoch). Without this call the epoch is the engine's clock at
    /// [`Engine::new`] in milliseconds, shifted up, with a random part: ordered for shells
    /// whose clock runs on across restarts (tests, simulators). 0 is raised to 1 (0 means
    /// storage that never replaced a lost one).
    #[must_use]
    pub fn with_life_epoch(mut self, epoch: u64) -> Self {
        self.life_epoch = epoch.max(1);
        self
    }

    /// True while a catch-up begun by `Input::BeginCatchUp` runs (this node acts as an observer).
    pub fn is_catching_up(&self) -> bool {
        self.catch_up.is_some()
    }

    /// The highest index known committed: the commit index, or what a previous incarnation
    /// persisted if higher (not yet confirmed by a leader, so not applied yet).
    pub(super) fn known_commit(&self) -> Index {
        self.commit.max(self.durable_commit)
    }

    pub(super) fn on_begin_catch_up(&mut self) {
        if self.config.has_bug(PlantedBug::AmnesiacVoter) || self.catch_up.is_some() {
            return;
        }
        if !matches!(self.state, RoleState::Follower) {
            self.become_follower();
            self.set_leader(None);
        }
        self.catch_up = Some(CatchUp::default());
        self.lost_storage = true;
        self.hard.epoch = self.life_epoch;
        self.persist_hard_state(); // a crash during the catch-up resumes it
        self.query_terms();
        self.membership_changed();
    }

    /// Rounds to skip in our next campaign. A member that lost its storage may have used ballots
    /// `(round, us)` that nobody it caught up from has seen (a lone election, entries only on a
    /// member that is down): campaigning in such a round again would create a second history
    /// under the same ballot and break log matching. Until it has led once, it campaigns
    /// `AMNESIA_ROUND_SKIP` plus this life's random `amnesia_spread` rounds further than
    /// needed.
    pub(super) fn round_skip(&self) -> u64 {
        if self.lost_storage {
            AMNESIA_ROUND_SKIP + self.amnesia_spread
        } else {
            0
        }
    }

    pub(super) fn on_end_catch_up(&mut self) {
        if self.catch_up.take().is_some() {
            self.bootstrap_waited = true;
            self.finish_catch_up();
        }
    }

    /// The leader we accepted announced `commit`: it raises the catch-up target (a new leader
    /// starts a new target). Only an announcement to our own storage epoch counts: one sent
    /// before the leader heard from this life may lack commits that counted our earlier life's
    /// late acknowledgements, of entries we no longer hold (simulator, strict mode, seed
    /// 9206664).
    pub(super) fn note_leader_commit(&mut self, leader: Id, commit: &LeaderCommit) {
        let leader_commit = commit.index;
        if commit.epoch != self.hard.epoch {
            return;
        }
        // The follower took the leader's term before it notes the announcement.
        let term = self.hard.term;
        if term.owner() != Some(leader) {
            return;
        }
        if let Some(catch_up) = &mut self.catch_up {
            let target = match catch_up.target {
                Some(target) if catch_up.leader == Some(term) => target.max(leader_commit),
                _ => leader_commit,
            };
            catch_up.leader = Some(term);
            catch_up.target = Some(target);
            catch_up.weight = commit.weight;
        }
    }

    /// Ends the catch-up once our commit index reached what our current leader announced **and**
    /// the entry there is of the leader's own term: a leader that committed an entry of its term
    /// holds every entry committed before it (leader completeness), so we then hold every entry
    /// committed before we lost our storage, and our vote is as informed as any member's. (The
    /// announced index alone is not enough: a new leader, or one restarted from disk, announces a
    /// commit index that may lag what was committed.) The other voters must also have told us
    /// their terms, `min_quorum` of them in strict mode and `⌈n/2⌉` in dynamic mode: the
    /// leader may be a stale one (see `term_query`). In dynamic mode the leader's commit must
    /// also carry enough weight (`weight_suffices`).
    pub(super) fn check_caught_up(&mut self) {
        let Some(CatchUp {
            leader: Some(leader),
            target: Some(target),
            weight,
            ..
        }) = self.catch_up
        else {
            return;
        };
        if self.terms_heard()
            && self.weight_suffices(weight)
            && self.hard.term == leader
            && self.leader == leader.owner()
            && self.commit >= target
            && self.log.term_at(self.commit) == Some(self.hard.term)
        {
            self.catch_up = None;
            self.finish_catch_up();
        }
    }

    /// Dynamic mode: whether a leader whose latest commit has `weight` can be caught up from.
    /// Leader completeness holds only for a leader whose commits meet every majority, and
    /// dynamic mode lets a member lead alone (its other bonds stale): one restarted from an
    /// older disk then holds none of what a majority stored while it was down. A commit's
    /// weight is the size of the leader's voter set when it committed, so a majority of that
    /// many, `⌊w/2⌋ + 1`, acknowledged it. A write stored on a majority of the `n` voter members
    /// (ourselves counted) has copies on at least `⌊n/2⌋` of the other `n − 1` if ours is gone;
    /// the acknowledging voters meet those copies when `⌊w/2⌋ + 1 ≥ ⌈n/2⌉`, and a holder the
    /// leader reaches contests a history lacking the write, so we wait. (3 members: `w ≥ 2`;
    /// 5: `w ≥ 4`; 7: `w ≥ 6`.) Members catching up are observers and count for neither side.
    /// (Simulator, dynamic mode, seed 54043098: a wiped member caught up from a member that had
    /// restarted from an old disk and elected itself alone, then lent it the majority that
    /// replaced an acknowledged write only a down member still held.) The weight covers a
    /// stale leader of a higher round; one of a lower round is fenced off by the voters' terms
    /// (`terms_heard`), which strict mode asks instead of weighing.
    fn weight_suffices(&self, weight: u64) -> bool {
        if self.config.max_voters().is_some() {
            return true;
        }
        let members = self.known_voter_members() as u64;
        weight >= 1 && weight / 2 + 1 >= members.div_ceil(2)
    }

    /// The voter members a catch-up knows: its voter peers (members catching up are advertised
    /// as observers) and itself. Dynamic mode's catch-up rules count `⌈n/2⌉` of these, both
    /// the commit weight (`weight_suffices`) and the rounds asked (`terms_needed`).
    pub(super) fn known_voter_members(&self) -> usize {
        self.peers.values().filter(|p| p.is_voter()).count() + 1
    }

    fn finish_catch_up(&mut self) {
        self.persist_hard_state(); // the marker goes before anyone hears our vote
        self.emit(Output::CaughtUp);
        self.reset_election_timer();
        self.membership_changed();
    }
}
