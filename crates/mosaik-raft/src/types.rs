//! Plain value types shared by every part of the engine: log indexes, terms (ballots), log
//! cursors, virtual time and request ids.

use core::fmt;
use core::ops::RangeInclusive;
use core::time::Duration;

use serde::{Deserialize, Serialize};

/// Bounds every peer identifier must satisfy. Blanket-implemented; never implement it by hand.
pub trait NodeId: Copy + Ord + Eq + core::hash::Hash + fmt::Debug {}

impl<T: Copy + Ord + Eq + core::hash::Hash + fmt::Debug> NodeId for T {}

/// Position of an entry in the replicated log. Index 0 is a sentinel (the empty log); the first
/// real entry has index 1.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Index(pub u64);

impl Index {
    /// The sentinel index of the empty log.
    pub const ZERO: Index = Index(0);

    /// Wraps a raw index.
    pub const fn new(value: u64) -> Self {
        Index(value)
    }

    /// The raw value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The following index.
    #[must_use]
    pub const fn next(self) -> Self {
        Index(self.0 + 1)
    }

    /// The preceding index, saturating at zero.
    #[must_use]
    pub const fn prev(self) -> Self {
        Index(self.0.saturating_sub(1))
    }

    /// Number of indexes from `self` up to `other` (zero when `other` is not after `self`).
    pub const fn distance(self, other: Index) -> u64 {
        other.0.saturating_sub(self.0)
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl core::ops::Add<u64> for Index {
    type Output = Index;

    fn add(self, rhs: u64) -> Index {
        Index(self.0 + rhs)
    }
}

impl core::ops::Sub<u64> for Index {
    type Output = Index;

    fn sub(self, rhs: u64) -> Index {
        Index(self.0.saturating_sub(rhs))
    }
}

/// A contiguous, non-empty range of log indexes assigned to one batch of commands.
pub type IndexRange = RangeInclusive<Index>;

/// A term, also called a ballot: an election round plus the candidate that owns it.
///
/// Why the owner is part of the term: in dynamic mode two sides of a partition elect leaders
/// independently, and they can both pick the same round number. If the term were only the number,
/// two different entries could share `(term, index)` and the log-matching check would silently
/// accept a diverged log when the sides merge. With the owner folded in, a term can only ever
/// have one leader (its owner), so `(term, index)` identifies an entry in every mode. Terms are
/// ordered by round, then owner; the initial term (round 0) has no owner.
///
/// Every node additionally votes at most once per *round*, so in strict mode (and in dynamic mode
/// without partitions) there is also at most one leader per round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Term<Id> {
    round: u64,
    owner: Option<Id>,
}

impl<Id: Copy> Term<Id> {
    /// The initial term: round 0, owned by nobody.
    pub const fn zero() -> Self {
        Term {
            round: 0,
            owner: None,
        }
    }

    /// The term of round `round` owned by candidate `owner`. Round 0 is always ownerless.
    pub const fn new(round: u64, owner: Id) -> Self {
        if round == 0 {
            return Self::zero();
        }
        Term {
            round,
            owner: Some(owner),
        }
    }

    /// The election round (what the original calls "the term").
    pub const fn round(self) -> u64 {
        self.round
    }

    /// The candidate that owns this term and the only node that can lead in it.
    pub const fn owner(self) -> Option<Id> {
        self.owner
    }
}

impl<A> Term<A> {
    /// The same term with its owner converted by `f` (see [`Message::try_map_id`]).
    ///
    /// [`Message::try_map_id`]: crate::Message::try_map_id
    pub fn try_map_id<B, E>(self, f: &mut impl FnMut(A) -> Result<B, E>) -> Result<Term<B>, E> {
        let owner = match self.owner {
            Some(owner) => Some(f(owner)?),
            None => None,
        };
        Ok(Term {
            round: self.round,
            owner,
        })
    }
}

impl<Id: Copy> Default for Term<Id> {
    fn default() -> Self {
        Self::zero()
    }
}

impl<Id: fmt::Debug> fmt::Display for Term<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.owner {
            Some(owner) => write!(f, "{}@{owner:?}", self.round),
            None => write!(f, "{}", self.round),
        }
    }
}

/// A log position: the term of an entry and its index. Ordered by term, then index, which is
/// exactly Raft's "at least as up-to-date" comparison of two logs' last positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cursor<Id> {
    /// Term of the entry at `index`.
    pub term: Term<Id>,
    /// Index of the entry.
    pub index: Index,
}

impl<Id: Copy> Cursor<Id> {
    /// The position of the empty log: term 0, index 0.
    pub const fn zero() -> Self {
        Cursor {
            term: Term::zero(),
            index: Index::ZERO,
        }
    }

    /// A cursor at `index` with term `term`.
    pub const fn new(term: Term<Id>, index: Index) -> Self {
        Cursor { term, index }
    }
}

impl<Id: Copy> Default for Cursor<Id> {
    fn default() -> Self {
        Self::zero()
    }
}

impl<Id: Ord + Copy> Cursor<Id> {
    /// True when a log ending at `self` is strictly less up-to-date than one ending at `other`.
    pub fn is_behind(&self, other: &Cursor<Id>) -> bool {
        self < other
    }
}

impl<Id: fmt::Debug> fmt::Display for Cursor<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.term, self.index)
    }
}

/// A point in virtual time: milliseconds since an arbitrary origin chosen by the caller.
///
/// The engine never reads a clock. The shell passes `now` with every input (tokio's clock in
/// production, a virtual clock in the simulator); only differences between instants matter.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Instant(u64);

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);

    /// The instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis)
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// Converts a duration to whole milliseconds, saturating (durations beyond 584 million years are
/// not meaningful timeouts).
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl core::ops::Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(millis(rhs)))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Identifies one client request (a proposal or a strong read) between the shell and its local
/// engine. The shell picks them; they must be unique among the requests still outstanding on
/// this engine. They never cross the network (forwarded requests get fresh random ids).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct RequestId(pub u64);

/// The role a node currently plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Replicates the leader's log; forwards client requests to it.
    Follower,
    /// Campaigning for leadership of its own term.
    Candidate,
    /// Accepts proposals and replicates them.
    Leader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_order_by_round_then_owner() {
        let cases: &[(Term<u8>, Term<u8>)] = &[
            (Term::zero(), Term::new(1, 0)),
            (Term::new(1, 9), Term::new(2, 0)),
            (Term::new(3, 1), Term::new(3, 2)),
        ];
        for (lo, hi) in cases {
            assert!(lo < hi, "{lo} < {hi}");
        }
        assert_eq!(Term::new(0, 7u8), Term::zero());
    }

    #[test]
    fn up_to_date_comparison() {
        let c = |round, owner, index| Cursor::new(Term::new(round, owner), Index(index));
        // (behind, ahead): a higher last term wins regardless of length; same term, longer wins.
        let cases: &[(Cursor<u8>, Cursor<u8>)] = &[
            (c(1, 1, 10), c(2, 1, 1)),
            (c(2, 1, 3), c(2, 1, 4)),
            (Cursor::zero(), c(1, 1, 1)),
            (c(2, 1, 9), c(2, 2, 1)),
        ];
        for (behind, ahead) in cases {
            assert!(behind.is_behind(ahead), "{behind} behind {ahead}");
            assert!(!ahead.is_behind(behind));
        }
        assert!(!c(2, 1, 3).is_behind(&c(2, 1, 3)));
    }

    #[test]
    fn index_arithmetic_saturates() {
        assert_eq!(Index::ZERO.prev(), Index::ZERO);
        assert_eq!(Index(5) - 9, Index::ZERO);
        assert_eq!(Index(3).distance(Index(7)), 4);
        assert_eq!(Index(7).distance(Index(3)), 0);
        assert_eq!(
            Instant::from_millis(u64::MAX) + Duration::from_secs(1),
            Instant(u64::MAX)
        );
    }
}
