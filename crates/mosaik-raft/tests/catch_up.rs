//! Strict mode: a member that lost its storage must not catch up from a stale leader and then
//! help it commit over a newer round's commit (simulator, strict seed 19017249). Its catch-up
//! asks the other voters for their terms (`Message::TermQuery`) and ends only after
//! `min_quorum` of them answered; it takes the highest term they report.

mod common;

use std::time::Duration;

use common::{Cluster, Id, fast_config};
use mosaik_raft::{Config, Index, Message, Output, PlantedBug};

/// Member 1 leads round r and never steps down (check-quorum off: a leader that has not yet
/// noticed it lost its followers, as with stale bonds). Members 2 and 3, cut off from it, elect
/// one of them in a newer round and commit its no-op at `index` with both votes. That leader
/// is then wiped and restarted in catch-up, reachable only from member 1; the other member of
/// the newer round is cut off. Returns the cluster, the wiped member, the cut-off one and
/// `index`.
fn wiped_next_to_a_stale_leader(bug: Option<PlantedBug>) -> (Cluster, Id, Id, Index) {
    let strict = fast_config().with_min_quorum(Some(2));
    let stale = strict
        .clone()
        .with_check_quorum(false)
        .with_bootstrap_delay(Duration::ZERO);
    let configs: Vec<Config> = [stale, strict.clone(), strict]
        .into_iter()
        .map(|mut c| {
            c.planted_bug = bug;
            c
        })
        .collect();
    let mut cluster = Cluster::with_configs(configs, 5);
    cluster.check_committed = bug.is_none();
    assert!(cluster.run_until(Duration::from_secs(3), |c| c.leader() == Some(1)));
    for cmd in [1, 2] {
        let request = cluster.propose(1, vec![cmd]);
        assert!(cluster.run_until(Duration::from_secs(2), |c| {
            c.commit_result(1, request).is_some()
        }));
    }
    cluster.partition(&[&[1], &[2, 3]], false);
    let newer = |c: &Cluster| {
        c.leaders()
            .into_iter()
            .find(|id| *id != 1 && c.engine(*id).commit_index() == c.engine(*id).last_log().index)
    };
    assert!(cluster.run_until(Duration::from_secs(5), |c| newer(c).is_some()));
    let wiped = newer(&cluster).expect("a leader of the newer round");
    let index = cluster.engine(wiped).commit_index();
    assert!(
        cluster.engine(1).is_leader(),
        "the stale leader still leads"
    );
    assert!(cluster.engine(1).last_log().index < index);
    let cut_off = 5 - wiped; // the other one of 2 and 3
    cluster.restart_empty(wiped, true);
    cluster.blocked.clear();
    cluster.partition(&[&[1, wiped], &[cut_off]], false);
    (cluster, wiped, cut_off, index)
}

/// The stale leader writes at `index` and beyond; returns whether it committed `index`.
fn stale_leader_writes(cluster: &mut Cluster, index: Index) -> bool {
    for cmd in 3..6 {
        cluster.propose(1, vec![cmd]);
    }
    cluster.run_until(Duration::from_secs(3), |c| {
        c.engine(1).commit_index() >= index
    })
}

#[test]
fn a_wiped_member_waits_for_the_other_voters_terms() {
    let (mut cluster, wiped, cut_off, index) = wiped_next_to_a_stale_leader(None);
    assert!(
        !stale_leader_writes(&mut cluster, index),
        "the stale leader committed at {index} with the wiped member's acknowledgement"
    );
    assert!(
        cluster.engine(wiped).is_catching_up(),
        "one voter of two answered"
    );
    // The other voter answers once reachable: the wiped member takes the newer round, the
    // stale leader is refused and steps down, and the group converges on the newer history.
    let newer_round = cluster.engine(cut_off).term().round();
    cluster.heal();
    assert!(cluster.run_until(Duration::from_secs(10), |c| {
        c.ids()
            .iter()
            .all(|id| !c.engine(*id).is_catching_up() && c.engine(*id).commit_index() >= index)
    }));
    let term_at = |c: &Cluster, id| c.engine(id).log().term_at(index);
    assert!(term_at(&cluster, 1).is_some_and(|t| t.round() >= newer_round));
    assert!(
        cluster
            .ids()
            .iter()
            .all(|id| term_at(&cluster, *id) == term_at(&cluster, 1))
    );
    assert!(
        cluster
            .node(wiped)
            .events
            .iter()
            .any(|e| matches!(e, Output::CaughtUp))
    );
    cluster.assert_converged();
}

#[test]
fn a_term_answer_for_another_life_or_from_an_observer_does_not_count() {
    let (mut cluster, wiped, cut_off, _) = wiped_next_to_a_stale_leader(None);
    let epoch = cluster.engine(wiped).hard_state().epoch;
    let term = cluster.engine(cut_off).term();
    let answer = |epoch, voter| Message::TermAnswer {
        term,
        epoch,
        voter,
        catching_up: false,
    };
    for msg in [answer(epoch ^ 1, true), answer(epoch, false)] {
        cluster.input(wiped, mosaik_raft::Input::Message { from: cut_off, msg });
        assert!(cluster.engine(wiped).term().round() < term.round());
    }
    cluster.input(
        wiped,
        mosaik_raft::Input::Message {
            from: cut_off,
            msg: answer(epoch, true),
        },
    );
    // Counted: the newer round is taken, with a vote recorded for itself (it never grants a
    // vote in a round its earlier life may have voted in).
    let hard = cluster.engine(wiped).hard_state();
    assert_eq!(hard.term, term);
    assert_eq!(hard.vote, Some(wiped));
}

#[test]
fn without_the_term_query_the_stale_leader_commits_over_the_newer_round() {
    let (mut cluster, wiped, cut_off, index) =
        wiped_next_to_a_stale_leader(Some(PlantedBug::StaleCatchUp));
    let ok = stale_leader_writes(&mut cluster, index);
    for id in cluster.ids() {
        let e = cluster.engine(id);
        eprintln!(
            "n{id}: role {:?} term {:?} commit {} last {:?} catching {} leader {:?} hard {:?}",
            e.role(),
            e.term(),
            e.commit_index(),
            e.last_log(),
            e.is_catching_up(),
            e.leader(),
            e.hard_state()
        );
    }
    eprintln!("index {index} {:?}", cluster.engine(1).progress());
    for e in cluster.node(3).events.iter().rev().take(12) {
        eprintln!("n3 {e:?}");
    }
    eprintln!("voters {:?}", cluster.engine(1).voters());
    assert!(ok);
    assert!(!cluster.engine(wiped).is_catching_up());
    let stale = cluster.engine(1).log().term_at(index);
    let newer = cluster.engine(cut_off).log().term_at(index);
    assert_ne!(stale, newer, "index {index} committed in two terms");
}

/// Two of three members lose their storage at once: each hears one voter and one member
/// catching up, which is every place a 3-member strict group has for the others, so both catch
/// up from the survivor instead of waiting for each other for good (the runtime simulator's
/// strict seeds 3100070 and 3100159).
#[test]
fn two_wiped_members_of_three_catch_up_from_the_survivor() {
    let mut cluster = Cluster::new(3, &fast_config().with_min_quorum(Some(2)), 9);
    cluster.check_committed = false; // two copies of three lost: what only they held may go
    let leader = cluster.wait_for_leader();
    assert_eq!(cluster.write_through_leader(&[1, 2]), vec![1, 2]);
    let wiped: Vec<Id> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    for &id in &wiped {
        cluster.restart_empty(id, true);
    }
    assert!(cluster.run_until(Duration::from_secs(5), |c| {
        wiped.iter().all(|id| !c.engine(*id).is_catching_up())
    }));
    assert_eq!(cluster.write_through_leader(&[3]), vec![3]);
    assert!(cluster.run_until(Duration::from_secs(2), |c| {
        c.ids()
            .iter()
            .all(|id| c.node(*id).sm.values().any(|cmd| *cmd == 3))
    }));
}

/// A strict 3-member group that committed `writes`, then lost the storage of its leader and of
/// one follower while the third member follows: the cluster, the two wiped members and the
/// survivor.
fn leader_and_follower_wiped(seed: u64, writes: &[u64]) -> (Cluster, [Id; 2], Id) {
    let mut cluster = Cluster::new(3, &fast_config().with_min_quorum(Some(2)), seed);
    cluster.check_committed = false; // two copies of three lost: what only they held may go
    let leader = cluster.wait_for_leader();
    assert_eq!(cluster.write_through_leader(writes), writes.to_vec());
    let ids = cluster.ids();
    let follower = *ids.iter().find(|id| **id != leader).expect("a follower");
    let survivor = *ids
        .iter()
        .find(|id| **id != leader && **id != follower)
        .expect("a third member");
    cluster.restart_empty(follower, true);
    cluster.restart_empty(leader, true);
    (cluster, [leader, follower], survivor)
}

/// The leader and a follower of three lose their storage while the third member follows: it
/// alone is no quorum, and the wiped members wait for a leader to catch up from. Once every
/// other place answered their poll and only it as a voter, they vote for it (and for nobody
/// else), their acknowledgements count for it, it leads, and both catch up from it (runtime
/// simulator, strict vec seeds 3700306 and 3700242, which waited for good).
#[test]
fn two_wiped_members_of_three_elect_the_survivor_that_did_not_lead() {
    let (mut cluster, wiped, survivor) = leader_and_follower_wiped(21, &[1, 2]);
    assert!(
        cluster.run_until(Duration::from_secs(5), |c| c.engine(survivor).is_leader()),
        "the survivor leads"
    );
    assert!(cluster.run_until(Duration::from_secs(5), |c| {
        wiped.iter().all(|id| !c.engine(*id).is_catching_up())
    }));
    assert_eq!(cluster.write_through_leader(&[3]), vec![3]);
    assert!(cluster.run_until(Duration::from_secs(2), |c| {
        c.ids().iter().all(|id| {
            [1, 2, 3]
                .iter()
                .all(|v| c.node(*id).sm.values().any(|cmd| cmd == v))
        })
    }));
}

/// The vote of a member catching up goes to the sole survivor only: with the survivor cut
/// off, the two wiped members never elect each other.
#[test]
fn a_wiped_member_votes_for_no_other_wiped_member() {
    let (mut cluster, wiped, survivor) = leader_and_follower_wiped(23, &[1]);
    cluster.isolate(survivor, false);
    cluster.run_for(Duration::from_secs(5));
    assert!(cluster.leaders().is_empty(), "no wiped member leads");
    for id in wiped {
        assert!(cluster.engine(id).is_catching_up());
    }
}
