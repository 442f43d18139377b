//! The dynamic-mode merge rule at an election: who votes for a candidate whose committed
//! history is stronger but whose log is shorter. Members that voted by log alone once left a
//! group after a heal without a leader that could win, for good.

mod common;

use std::time::Duration;

use common::{Cluster, fast_config};
use mosaik_raft::{CommittedRank, Config, Cursor, Index, Message, Term, Vote};

/// The vote a follower of a 3-member group that committed `[1, 2, 3]` with all three gives a
/// candidate (the other follower) whose log ends at index 2, behind the follower's, and whose
/// committed rank is `weight` at index 2: in a term of its own there (`conflicting`) or the
/// group's.
fn vote_for_a_short_log(config: &Config, weight: u64, conflicting: bool) -> Vote {
    let mut cluster = Cluster::new(3, config, 23);
    let leader = cluster.wait_for_leader();
    assert_eq!(cluster.write_through_leader(&[1, 2, 3]), vec![1, 2, 3]);
    cluster.run_for(Duration::from_millis(200));
    let ids = cluster.ids();
    let mut followers = ids.iter().copied().filter(|id| *id != leader);
    let (voter, candidate) = (followers.next().unwrap(), followers.next().unwrap());
    // Past the leader's lease, so the logs and ranks decide.
    let now = cluster.now + Duration::from_secs(5);
    let engine = cluster
        .nodes
        .get_mut(&voter)
        .unwrap()
        .engine
        .as_mut()
        .unwrap();
    assert!(engine.commit_records().iter().all(|(_, w)| *w <= 3));
    let shared = engine.log().term_at(Index::new(2)).expect("entry 2");
    let term_at_2 = if conflicting {
        Term::new(0, candidate)
    } else {
        shared
    };
    let position = Cursor::new(term_at_2, Index::new(2));
    assert!(
        position < engine.last_log(),
        "the candidate's log is behind"
    );
    let msg = Message::RequestVote {
        term: Term::new(engine.term().round() + 1, candidate),
        candidate,
        log_position: position,
        rank: CommittedRank {
            weight,
            commit: position,
        },
        pre_vote: false,
    };
    common::vote_answer(engine, now, candidate, msg).expect("an answer")
}

/// Dynamic mode: a voter grants a candidate whose log is behind its own when the candidate's
/// committed history outranks the voter's wherever the two conflict, since the merge rule
/// would keep the candidate's history anyway. Before, only a member that had led and been
/// contested yielded so; the holder of the strongest history, with a log behind by round,
/// never gathered a quorum and the group never converged after a heal (simulator, dynamic
/// 5-member seed 34002461). Never where the candidate's history is not
/// stronger, nor where its log is a prefix of the voter's (that would erase the voter's later
/// commits), nor in strict mode.
#[test]
fn a_stronger_conflicting_history_gets_the_vote_of_a_longer_log() {
    let dynamic = fast_config();
    assert_eq!(vote_for_a_short_log(&dynamic, 4, true), Vote::Granted);
    assert_eq!(
        vote_for_a_short_log(&dynamic, 3, true),
        Vote::Denied,
        "an equal weight with an older commit does not outrank"
    );
    assert_eq!(
        vote_for_a_short_log(&dynamic, 4, false),
        Vote::Denied,
        "a prefix of the voter's log conflicts with nothing"
    );
    let strict = fast_config().with_min_quorum(Some(2));
    assert_eq!(vote_for_a_short_log(&strict, 4, true), Vote::Denied);
}
