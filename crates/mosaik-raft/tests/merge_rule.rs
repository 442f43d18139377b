//! The dynamic-mode merge rule at an election: who votes for a candidate whose committed
//! history is stronger but whose log is shorter. Members that voted by log alone once left a
//! group after a heal without a leader that could win, for good.

mod common;

use std::time::Duration;

use common::{Cluster, fast_config, member_2_restored};
use mosaik_raft::{
    AppendResult, CommittedRank, Config, Cursor, Entry, Index, Input, Instant,
    LeadershipPreference, Log, MAX_COMMIT_RECORDS, Message, Output, Term, Vote,
};

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
        records: vec![(position, weight)],
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

/// The vote of member 2, restored from its disk, for member 3, whose log ends at index 5 with
/// its last commit, in term `candidate_term`, and whose commit records are
/// `candidate_records` (`(position, weight)`). Member 2 holds entries 1–2 of member 3's round-2
/// term (committed by five members), then 3–6 of a later term of member 1 (committed by two):
/// its log is ahead of the candidate's and the two split at index 3.
fn vote_of_a_member_sharing_a_prefix(
    candidate_term: Term<u64>,
    candidate_records: &[(Cursor<u64>, u64)],
) -> Vote {
    vote_and_contest(candidate_term, candidate_records).0
}

/// As `vote_of_a_member_sharing_a_prefix`, and then, if the vote was granted, the voter's answer
/// to the elected candidate's first append (its entries 3–5) must be a contest the leader
/// overrules: the leader's rank at the contested index, from its records, is at least the
/// voter's. Returns the vote and the contested index.
fn vote_and_contest(
    candidate_term: Term<u64>,
    candidate_records: &[(Cursor<u64>, u64)],
) -> (Vote, Option<Index>) {
    let (shared, later) = (SHARED, Term::new(3, 1));
    let mut log = Log::new();
    for index in 1..=6 {
        log.append(Entry::command(
            if index <= 2 { shared } else { later },
            index,
        ));
    }
    let records = [(Index::new(2), 5), (Index::new(6), 2)];
    let mut voter = member_2_restored(
        fast_config(),
        log,
        later,
        Index::new(6),
        &records,
        Index::ZERO,
    );
    let candidate_commit = Cursor::new(candidate_term, Index::new(5));
    let msg = Message::RequestVote {
        term: Term::new(4, 3),
        candidate: 3,
        log_position: candidate_commit,
        rank: CommittedRank {
            weight: candidate_records.last().map_or(0, |(_, w)| *w),
            commit: candidate_commit,
        },
        records: candidate_records.to_vec(),
        pre_vote: false,
    };
    let vote = common::vote_answer(&mut voter, Instant::ZERO, 3, msg).expect("an answer");
    if vote != Vote::Granted {
        return (vote, None);
    }
    let leader_rank = CommittedRank {
        weight: candidate_records.last().map_or(0, |(_, w)| *w),
        commit: candidate_commit,
    };
    let append = Message::AppendEntries {
        term: Term::new(4, 3),
        leader: 3,
        prev_log_position: Cursor::new(SHARED, Index::new(2)),
        entries: (3..=5).map(|c| Entry::command(candidate_term, c)).collect(),
        leader_commit: Index::new(5),
        rank: leader_rank,
        overrule: None,
        seq: 1,
        epoch: voter.hard_state().epoch,
    };
    let answer = common::append_answer(&mut voter, Instant::ZERO, 3, append);
    let Some(AppendResult::Diverged { rank, conflict, .. }) = answer else {
        panic!("the voter contests the leader's entries: {answer:?}");
    };
    let weights: Vec<(Index, u64)> = candidate_records
        .iter()
        .map(|(at, w)| (at.index, *w))
        .collect();
    let leader_at_conflict = CommittedRank::from_records(&weights, conflict, candidate_commit);
    assert!(
        rank <= leader_at_conflict,
        "the leader overrules: voter {rank} against leader {leader_at_conflict} at {conflict}"
    );
    (vote, Some(conflict))
}

/// The term of the prefix both members hold.
const SHARED: Term<u64> = Term::new(2, 3);

/// The voter bounds where the logs split by what it holds of the candidate's log: its entries
/// of the candidate's last committed term, and the positions of the candidate's commit records.
/// Either way it holds the candidate's entry at 2, so the split is at 3, where its own history
/// weighs 2 (the weight 5 of the shared prefix does not count) and the candidate's 3. Judged
/// by its largest weight the voter would deny, as it did before (simulator, dynamic 5-member
/// seed 40002977: a member whose history weighed 3 from the split on stayed unelected behind
/// voters whose shared prefix weighed 5).
#[test]
fn the_voter_bounds_the_split_by_what_it_holds_of_the_candidates_log() {
    let at = |term, index| Cursor::new(term, Index::new(index));
    // The candidate's last commit is in the shared term: the voter's run of it bounds the split.
    let same_term = [(at(SHARED, 2), 5), (at(SHARED, 5), 3)];
    assert_eq!(
        vote_and_contest(SHARED, &same_term),
        (Vote::Granted, Some(Index::new(3)))
    );
    // In a term of its own: the record at 2, which the voter holds, bounds it.
    let own_term = Term::new(2, 4);
    let own = [(at(SHARED, 2), 5), (at(own_term, 5), 3)];
    assert_eq!(
        vote_and_contest(own_term, &own),
        (Vote::Granted, Some(Index::new(3)))
    );
    // Without a record the voter holds, the split may lie in the strong prefix: denied.
    let unknown = [(at(Term::zero(), 2), 5), (at(own_term, 5), 3)];
    assert_eq!(
        vote_of_a_member_sharing_a_prefix(own_term, &unknown),
        Vote::Denied
    );
    // More records than a member keeps: ignored, whatever they claim.
    let mut too_many = vec![(at(SHARED, 1), 9); MAX_COMMIT_RECORDS];
    too_many.extend(same_term);
    assert_eq!(
        vote_of_a_member_sharing_a_prefix(SHARED, &too_many),
        Vote::Denied
    );
    let equal_after_the_split = [(at(SHARED, 2), 5), (at(SHARED, 5), 2)];
    assert_eq!(
        vote_of_a_member_sharing_a_prefix(SHARED, &equal_after_the_split),
        Vote::Denied,
        "equal weights: the voter's later commit wins"
    );
}

/// The answer of member 2, restored at a snapshot ending at `(5@2, 10)` with commit `records`,
/// to leader 3's append of its entries 3–12 of a term newer than the snapshot's (after a shared
/// prefix 1–2). Member 2 holds no entries below its snapshot's end, so it cannot tell where its
/// history splits from the leader's: anywhere from 3 to 10.
fn answer_of_a_snapshot_holder(records: &[(Index, u64)]) -> (AppendResult<u64>, Cursor<u64>) {
    let snapshot = Cursor::new(Term::new(5, 2), Index::new(10));
    let log = Log::with_base(snapshot);
    let mut member = member_2_restored(
        fast_config(),
        log,
        snapshot.term,
        snapshot.index,
        records,
        snapshot.index,
    );
    let leader_term = Term::new(6, 3);
    let leader_commit = Cursor::new(leader_term, Index::new(12));
    let append = Message::AppendEntries {
        term: leader_term,
        leader: 3,
        prev_log_position: Cursor::new(SHARED, Index::new(2)),
        entries: (3..=12).map(|c| Entry::command(leader_term, c)).collect(),
        leader_commit: leader_commit.index,
        rank: CommittedRank {
            weight: 1,
            commit: leader_commit,
        },
        overrule: None,
        seq: 1,
        epoch: member.hard_state().epoch,
    };
    let answer = common::append_answer(&mut member, Instant::ZERO, 3, append);
    (answer.expect("an answer"), member.log().base())
}

/// Dynamic mode: a snapshot holder that recorded no commit weight for its snapshot (an install
/// records none) does not contest a leader whose log departs from the snapshot's history below
/// its end; it starts over and takes the leader's history. It used to contest at the latest
/// point the split could be, where the leader had committed nothing, and win on its snapshot's
/// later commit term: it deposed, one after another, leaders whose history outranked its own
/// at the real split, and the group never converged (simulator, dynamic 5-member seed
/// 40023399). With a recorded weight it still contests, and the leader judges.
#[test]
fn a_snapshot_without_recorded_weight_does_not_contest_an_unlocated_split() {
    let (answer, base) = answer_of_a_snapshot_holder(&[]);
    assert!(
        matches!(answer, AppendResult::Conflict { .. }),
        "no contest: {answer:?}"
    );
    assert_eq!(
        base,
        Cursor::zero(),
        "it started over to take the leader's log"
    );

    let (answer, _) = answer_of_a_snapshot_holder(&[(Index::new(10), 2)]);
    let AppendResult::Diverged { rank, conflict, .. } = answer else {
        panic!("a recorded weight contests: {answer:?}");
    };
    assert_eq!(rank.weight, 2);
    assert_eq!(conflict, Index::new(3), "the latest the split can be");
}

/// The pre-vote member 2 gives candidate 3, whose log is 1–3 of the shared term, 4–5 of
/// `4@3`, 6–10 of `6@3`, committed through 10, with a weight of `weight_at_5` recorded up to 5
/// (and 1 up to 10). Member 2's log is shorter and ends on a jumped round, as an amnesiac's
/// does: 1–3 shared, 4–6 of `3@1`, 7 of `100@2`, committed through 7 by itself alone.
fn vote_of_a_short_log_on_a_jumped_round(weight_at_5: u64) -> Vote {
    let mut log = Log::new();
    for index in 1..=7u64 {
        let term = match index {
            1..=3 => SHARED,
            4..=6 => Term::new(3, 1),
            _ => Term::new(100, 2),
        };
        log.append(Entry::command(term, index));
    }
    let records = [(Index::new(3), 4), (Index::new(7), 1)];
    let jumped = Term::new(100, 2);
    let mut voter = member_2_restored(
        fast_config(),
        log,
        jumped,
        Index::new(7),
        &records,
        Index::ZERO,
    );
    let commit = Cursor::new(Term::new(6, 3), Index::new(10));
    let msg = Message::RequestVote {
        term: Term::new(101, 3),
        candidate: 3,
        log_position: commit,
        rank: CommittedRank { weight: 1, commit },
        records: vec![
            (Cursor::new(SHARED, Index::new(3)), 4),
            (Cursor::new(Term::new(4, 3), Index::new(5)), weight_at_5),
            (commit, 1),
        ],
        pre_vote: true,
    };
    common::vote_answer(&mut voter, Instant::ZERO, 3, msg).expect("an answer")
}

/// Dynamic mode: a voter whose log ends before the candidate's last commit, on a round above
/// the candidate's (an amnesiac jumps its rounds), already differs from the candidate's log at
/// its end, and it bounds the split by the candidate's record positions where it holds another
/// term. Here the logs split at 4: the candidate's history weighs 3 from there (its record at
/// 5), the voter's 1, so the voter grants. It used to deny by round: it did not hold the
/// candidate's commit index, so it saw no conflict (and with only its first entry of a later
/// term as the bound, at 7, the weights tied and its own later commit won): the holder of the
/// strongest history never gathered a quorum (simulator, dynamic 5-member seed 40007099).
/// With a weight of 1 at 5 the histories tie there and the voter's later commit still wins.
#[test]
fn a_short_log_on_a_jumped_round_votes_for_a_history_that_outranks_it() {
    assert_eq!(vote_of_a_short_log_on_a_jumped_round(3), Vote::Granted);
    assert_eq!(vote_of_a_short_log_on_a_jumped_round(1), Vote::Denied);
}

/// The commit records member 2 sends when it campaigns, restored with entries 1–8 of the
/// shared term and 9–10 of a later one, committed through 9 with weight 3 as one record.
fn records_of_a_candidate() -> Vec<(Cursor<u64>, u64)> {
    let later = Term::new(4, 2);
    let mut log = Log::new();
    for index in 1..=10u64 {
        log.append(Entry::command(
            if index <= 8 { SHARED } else { later },
            index,
        ));
    }
    let mut member = member_2_restored(
        fast_config(),
        log,
        later,
        Index::new(9),
        &[(Index::new(9), 3)],
        Index::ZERO,
    );
    for peer in [1, 3] {
        let preference = LeadershipPreference::default();
        member.handle(Instant::ZERO, Input::PeerBonded { peer, preference });
    }
    member.drain_outputs();
    let mut now = Instant::ZERO;
    for _ in 0..100 {
        now = now + Duration::from_millis(100);
        member.handle(now, Input::Tick);
        let records = member.drain_outputs().into_iter().find_map(|o| match o {
            Output::Send {
                msg: Message::RequestVote { records, .. },
                ..
            } => Some(records),
            _ => None,
        });
        if let Some(records) = records {
            return records;
        }
    }
    panic!("member 2 never campaigned");
}

/// A candidate splits its last commit record where that record's term begins, so a voter that
/// holds the shared prefix sees a position it shares (weights unchanged: both halves carry the
/// record's). With one record covering 1–9, voters saw only index 9, of a term they did not
/// hold, counted the shared prefix against the candidate and denied the strongest history
/// (simulator, dynamic 7-member seed 44005277).
#[test]
fn a_candidate_splits_its_last_record_where_its_term_begins() {
    assert_eq!(
        records_of_a_candidate(),
        vec![
            (Cursor::new(SHARED, Index::new(8)), 3),
            (Cursor::new(Term::new(4, 2), Index::new(9)), 3),
        ]
    );
}

/// Member 2's answer to leader 1's append, in a later term, of entries 3–4 of its own that
/// conflict with the entries 3–4 member 2 holds committed (leader 3 committed them with weight
/// 2, announced to member 2 while it was `catching_up` or not). Leader 1 committed its own
/// with weight 1.
fn answer_to_a_weaker_history(catching_up: bool) -> (AppendResult<u64>, Option<Term<u64>>) {
    let mut member = member_2_restored(
        fast_config(),
        Log::new(),
        Term::zero(),
        Index::ZERO,
        &[],
        Index::ZERO,
    );
    if catching_up {
        member.handle(Instant::ZERO, Input::BeginCatchUp);
        member.drain_outputs();
        assert!(member.is_catching_up());
    }
    let (first, second) = (Term::new(3, 3), Term::new(5, 1));
    let epoch = member.hard_state().epoch;
    // Leader 3 leads a later term than its entries', so its commit does not end the catch-up
    // (a leader's commit of an entry of its own term would).
    let append =
        |term: Term<u64>, of: Term<u64>, leader, prev, entries, weight| Message::AppendEntries {
            term,
            leader,
            prev_log_position: prev,
            entries,
            leader_commit: Index::new(4),
            rank: CommittedRank {
                weight,
                commit: Cursor::new(of, Index::new(4)),
            },
            overrule: None,
            seq: 1,
            epoch,
        };
    let strong = append(
        Term::new(4, 3),
        first,
        3,
        Cursor::zero(),
        (1..=4).map(|c| Entry::command(first, c)).collect(),
        2,
    );
    let answer = common::append_answer(&mut member, Instant::ZERO, 3, strong);
    assert!(
        matches!(answer, Some(AppendResult::Success { .. })),
        "{answer:?}"
    );
    assert_eq!(member.commit_index(), Index::new(4));
    assert_eq!(member.is_catching_up(), catching_up);
    let weak = append(
        second,
        second,
        1,
        Cursor::new(first, Index::new(2)),
        (3..=4).map(|c| Entry::command(second, 10 + c)).collect(),
        1,
    );
    let answer = common::append_answer(&mut member, Instant::ZERO, 1, weak).expect("an answer");
    (answer, member.log().term_at(Index::new(3)))
}

/// A member catching up after losing its storage is an observer: its copies were counted in no
/// commit, the voters that were defend that history, so it takes any leader's history rather
/// than contest it. Its contest once deposed every leader two voters elected for a history
/// neither of them held (simulator, dynamic seed 54009666: no leader after the heal). A voter
/// holding the same entries contests.
#[test]
fn a_member_catching_up_takes_its_leaders_history_without_a_contest() {
    let (answer, term) = answer_to_a_weaker_history(true);
    assert!(matches!(answer, AppendResult::Success { .. }), "{answer:?}");
    assert_eq!(term, Some(Term::new(5, 1)));
    let (answer, term) = answer_to_a_weaker_history(false);
    assert!(
        matches!(answer, AppendResult::Diverged { .. }),
        "{answer:?}"
    );
    assert_eq!(term, Some(Term::new(3, 3)));
}
