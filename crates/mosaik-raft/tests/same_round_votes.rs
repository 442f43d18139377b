//! Dynamic mode: a vote between two logs whose last terms are of the same round, owned by two
//! different leaders (one on each side of a partition). Neither leader was elected after the
//! other, so the order of their owners says nothing; the committed ranks decide, as the merge
//! rule would.

mod common;

use common::{fast_config, member_2_restored};
use mosaik_raft::{
    CommittedRank, Cursor, Entry, Index, Input, Instant, LeadershipPreference, Log, Message, Term,
    Vote,
};

/// The prefix every member holds, committed by all seven.
const SHARED: Term<u64> = Term::new(2, 1);

/// The answer of member 2 to candidate `owner`'s (pre-)vote request in round 6. Member 2 holds
/// 1–3 of the shared term (weight 7), then 4–8 of its own round-4 term, committed through 8
/// with weight `voter_weight`; its hard term is round 5. The candidate's log ends at 6 in its
/// own round-4 term, committed through 6 with weight `candidate_weight`.
fn answer(
    owner: u64,
    voter_weight: u64,
    candidate_weight: u64,
    strict: bool,
    pre_vote: bool,
) -> Vote {
    let ours = Term::new(4, 2);
    let mut log = Log::new();
    for index in 1..=8u64 {
        let term = if index <= 3 { SHARED } else { ours };
        log.append(Entry::command(term, index));
    }
    let records = [(Index::new(3), 7), (Index::new(8), voter_weight)];
    let config = if strict {
        fast_config().with_min_quorum(Some(2))
    } else {
        fast_config()
    };
    let (term, commit) = (Term::new(5, 2), Index::new(8));
    let mut voter = member_2_restored(config, log, term, commit, &records, Index::ZERO);
    // Strict mode caps its voters at the members it knows.
    for peer in [1, 3] {
        let preference = LeadershipPreference::Normal;
        voter.handle(Instant::ZERO, Input::PeerBonded { peer, preference });
    }
    voter.drain_outputs();
    let theirs = Cursor::new(Term::new(4, owner), Index::new(6));
    let msg = Message::RequestVote {
        term: Term::new(6, owner),
        candidate: owner,
        log_position: theirs,
        rank: CommittedRank {
            weight: candidate_weight,
            commit: theirs,
        },
        records: vec![
            (Cursor::new(SHARED, Index::new(3)), 7),
            (theirs, candidate_weight),
        ],
        pre_vote,
    };
    common::vote_answer(&mut voter, Instant::ZERO, owner, msg).expect("an answer")
}

/// A candidate whose last term's owner is higher than ours (3 against 2) but whose history was
/// committed by fewer voters is denied: elected, it would lose our contest and yield. Before,
/// the owner decided and the members of the strongest history elected one weaker leader after
/// another (simulator, dynamic 7-member seed 63000981). With a weight above ours it is granted,
/// pre-vote and vote alike.
#[test]
fn a_higher_owner_of_the_same_round_with_a_weaker_history_is_denied() {
    for pre_vote in [true, false] {
        assert_eq!(
            answer(3, 3, 1, false, pre_vote),
            Vote::Denied,
            "pre-vote {pre_vote}"
        );
        assert_eq!(
            answer(3, 3, 4, false, pre_vote),
            Vote::Granted,
            "pre-vote {pre_vote}"
        );
    }
}

/// The other side of the same pair: a candidate whose last term's owner is lower than ours
/// (1 against 2), with a shorter log, is granted when its committed history weighs more, and
/// denied when it weighs the same (its last commit is older, then its log is shorter).
#[test]
fn a_lower_owner_of_the_same_round_with_a_stronger_history_is_granted() {
    assert_eq!(answer(1, 1, 3, false, true), Vote::Granted);
    assert_eq!(answer(1, 3, 3, false, true), Vote::Denied);
}

/// Strict mode has one leader per round, so the rule never applies there: the log decides.
#[test]
fn strict_mode_votes_by_log() {
    assert_eq!(answer(3, 3, 1, true, true), Vote::Granted);
    assert_eq!(answer(1, 1, 3, true, true), Vote::Denied);
}
