//! Restart safety: a member that lost its storage never votes before it caught up, and in
//! dynamic mode the smaller side never erases the history a larger quorum committed.

mod common;

use std::{collections::BTreeSet, time::Duration};

use common::{Cluster, Cmd, Disk, Id, fast_config};
use mosaik_raft::{
    AppendResult, Config, Index, Input, Message, Output, PlantedBug, RequestId, Role, Vote,
};

fn committed_ok(cluster: &Cluster, id: Id, request: RequestId) -> bool {
    matches!(
        cluster.commit_result(id, request),
        Some(Output::Committed { result: Ok(_), .. })
    )
}

/// Proposes `commands` one by one at the current leader, each acknowledged before the next.
/// Returns the acknowledged commands.
fn write_through_leader(cluster: &mut Cluster, commands: &[Cmd]) -> Vec<Cmd> {
    let mut acked = Vec::new();
    for &cmd in commands {
        let leader = cluster.wait_for_leader();
        let request = cluster.propose(leader, vec![cmd]);
        cluster.run_until(Duration::from_secs(2), |c| {
            c.commit_result(leader, request).is_some()
        });
        if committed_ok(cluster, leader, request) {
            acked.push(cmd);
        }
    }
    acked
}

/// Whether node `id` applied `cmd` (at any index).
fn applied(cluster: &Cluster, id: Id, cmd: Cmd) -> bool {
    cluster.node(id).sm.values().any(|c| *c == cmd)
}

/// Crashes `id` and restarts it with an empty disk, as an in-memory member killed and restarted
/// under the same identity. With `guard`, the shell tells the engine it may have lost state.
fn restart_empty(cluster: &mut Cluster, id: Id, guard: bool) {
    cluster.crash(id);
    cluster.nodes.get_mut(&id).expect("node").disk = Disk::default();
    cluster.restart(id);
    if guard {
        cluster.input(id, Input::BeginCatchUp);
    }
}

/// A follower that lacks the last committed entry, the leader and one amnesiac: the lagging
/// follower must not be elected with the amnesiac's vote (it would erase the entry).
/// Returns the cluster, the entry at stake, and how many outputs the amnesiac had before its
/// restart.
fn amnesiac_vote_scenario(config: &Config, guard: bool) -> (Cluster, Cmd, usize) {
    let mut cluster = Cluster::new(3, config, 7);
    cluster.check_committed = false;
    let leader = cluster.wait_for_leader();
    let ids = cluster.ids();
    let (remembers, lagging) = {
        let others: Vec<Id> = ids.iter().copied().filter(|i| *i != leader).collect();
        (others[0], others[1])
    };
    assert_eq!(
        write_through_leader(&mut cluster, &[1, 2, 3]),
        vec![1, 2, 3]
    );
    // The last write reaches only the leader and `remembers`: committed by 2 of 3.
    cluster.partition(&[&[leader, remembers], &[lagging]], false);
    let request = cluster.propose(leader, vec![4]);
    cluster.run_until(Duration::from_secs(1), |c| {
        c.commit_result(leader, request).is_some()
    });
    assert!(committed_ok(&cluster, leader, request), "4 committed");
    cluster.heal();
    // `remembers` loses its disk, the leader crashes (its disk survives, but it is down).
    cluster.crash(leader);
    let mark = cluster.node(remembers).events.len();
    restart_empty(&mut cluster, remembers, guard);
    cluster.run_for(Duration::from_secs(3));
    (cluster, 4, mark)
}

#[test]
fn an_amnesiac_member_abstains_until_it_caught_up() {
    let (mut cluster, lost_if_unsafe, mark) = amnesiac_vote_scenario(&fast_config(), true);
    let ids = cluster.ids();
    let down = *ids
        .iter()
        .find(|id| !cluster.node(**id).is_up())
        .expect("the old leader is down");
    // Nobody could be elected: the lagging member needs a second vote, the amnesiac abstains.
    assert!(
        cluster.leaders().is_empty(),
        "no leader without the old one"
    );
    let amnesiac = *ids
        .iter()
        .find(|id| cluster.node(**id).is_up() && cluster.engine(**id).is_catching_up())
        .expect("one member catching up");
    // It was asked (the lagging member campaigned) but never voted, and never campaigned.
    assert_eq!(cluster.engine(amnesiac).hard_state().vote, None);
    assert!(
        cluster.engine(amnesiac).term().round() > 0,
        "it saw the campaign"
    );
    assert!(
        !cluster.node(amnesiac).events[mark..]
            .iter()
            .any(|e| matches!(e, Output::RoleChanged(Role::Candidate)))
    );
    assert_ne!(cluster.engine(amnesiac).role(), Role::Candidate);
    // The old leader comes back: it is elected, the amnesiac catches up and votes again.
    cluster.restart(down);
    assert!(cluster.run_until(Duration::from_secs(10), |c| {
        c.ids()
            .iter()
            .all(|id| applied(c, *id, lost_if_unsafe) && !c.engine(*id).is_catching_up())
    }));
    assert!(
        cluster
            .node(amnesiac)
            .events
            .iter()
            .any(|e| matches!(e, Output::CaughtUp))
    );
    cluster.assert_converged();
}

#[test]
fn an_amnesiac_voter_erases_a_committed_entry() {
    let mut config = fast_config();
    config.planted_bug = Some(PlantedBug::AmnesiacVoter);
    let (cluster, lost, _) = amnesiac_vote_scenario(&config, true);
    let leader = cluster.leader().expect("elected with the amnesiac's vote");
    assert!(
        !cluster
            .engine(leader)
            .log()
            .iter_from(Index(1))
            .any(|(_, e)| matches!(&e.payload, mosaik_raft::Payload::Command(c) if *c == lost)),
        "the new leader lacks the entry 2 of 3 members acknowledged"
    );
}

#[test]
fn end_catch_up_lets_a_lone_member_self_elect() {
    let mut cluster = Cluster::new(1, &fast_config(), 3);
    cluster.input(1, Input::BeginCatchUp);
    cluster.run_for(Duration::from_secs(2));
    assert!(
        cluster.leaders().is_empty(),
        "catching up: no self-election"
    );
    cluster.input(1, Input::EndCatchUp);
    assert!(cluster.run_until(Duration::from_secs(2), |c| c.leader() == Some(1)));
}

/// Dynamic mode: a follower cut off alone (its bonds break) re-elects itself in ever higher
/// rounds and commits more than the majority does meanwhile. When they meet, the majority's
/// history — committed by two members — survives; the lone one is reverted.
fn lone_member_scenario(config: &Config) -> (Cluster, Vec<Cmd>, Id) {
    let mut cluster = Cluster::new(3, config, 11);
    cluster.check_committed = false;
    let leader = cluster.wait_for_leader();
    let lone = *cluster
        .ids()
        .iter()
        .find(|id| **id != leader)
        .expect("follower");
    let mut acked = write_through_leader(&mut cluster, &[1, 2, 3]);
    cluster.isolate(lone, true);
    cluster.run_for(Duration::from_secs(2));
    for round in 0..3 {
        // The lone member loses its leadership now and then (its bonds flap) and re-elects.
        cluster.input(
            lone,
            Input::PeerBonded {
                peer: leader,
                preference: mosaik_raft::LeadershipPreference::Normal,
            },
        );
        cluster.run_for(Duration::from_secs(1));
        cluster.input(lone, Input::PeerUnbonded { peer: leader });
        cluster.run_for(Duration::from_secs(1));
        for i in 0..10 {
            let request = cluster.propose(lone, vec![1000 + round * 10 + i]);
            cluster.run_until(Duration::from_secs(1), |c| {
                c.commit_result(lone, request).is_some()
            });
        }
    }
    let majority: Vec<Id> = cluster.ids().into_iter().filter(|id| *id != lone).collect();
    let survivor = cluster
        .leaders()
        .into_iter()
        .find(|id| majority.contains(id))
        .expect("the majority keeps a leader");
    for cmd in [4, 5] {
        let request = cluster.propose(survivor, vec![cmd]);
        cluster.run_until(Duration::from_secs(1), |c| {
            c.commit_result(survivor, request).is_some()
        });
        if committed_ok(&cluster, survivor, request) {
            acked.push(cmd);
        }
    }
    assert!(
        cluster.engine(lone).term().round() > cluster.engine(survivor).term().round(),
        "the lone member reached the higher round"
    );
    assert!(cluster.engine(lone).commit_index() > cluster.engine(survivor).commit_index());
    cluster.heal();
    cluster.run_for(Duration::from_secs(5));
    (cluster, acked, lone)
}

#[test]
fn a_lone_member_never_reverts_what_the_majority_committed() {
    let (cluster, acked, lone) = lone_member_scenario(&fast_config());
    for id in cluster.ids() {
        for cmd in &acked {
            assert!(applied(&cluster, id, *cmd), "node {id} lost {cmd}");
        }
    }
    assert!(
        cluster.node(lone).discarded > 0,
        "the lone member was reverted"
    );
    cluster.assert_converged();
}

#[test]
fn without_the_merge_rule_the_higher_round_erases_the_majority() {
    let mut config = fast_config();
    config.planted_bug = Some(PlantedBug::HigherRoundWins);
    let (cluster, acked, _) = lone_member_scenario(&config);
    let lost = acked
        .iter()
        .filter(|cmd| !cluster.ids().iter().all(|id| applied(&cluster, *id, **cmd)))
        .count();
    assert!(
        lost > 0,
        "the higher round won and erased acknowledged writes"
    );
}

/// Every life of a member that lost its storage campaigns in a round of its own: a lone member
/// wiped again and again, each time seeing no history anywhere, starts from round 0 every time,
/// and a fixed jump gave each life the same first ballot (the simulator's seed 701286, where
/// two lives of one member led the same ballot with different entries).
#[test]
fn each_life_after_lost_storage_campaigns_in_its_own_round() {
    let mut cluster = Cluster::new(1, &fast_config(), 11);
    cluster.check_committed = false; // each wipe loses the lone member's history, by design
    let id = cluster.wait_for_leader();
    let mut rounds = BTreeSet::new();
    for _ in 0..20 {
        restart_empty(&mut cluster, id, true);
        cluster.input(id, Input::EndCatchUp);
        assert!(cluster.run_until(Duration::from_secs(2), |c| c.engine(id).is_leader()));
        let round = cluster.engine(id).term().round();
        assert!(
            round > 1 << 20,
            "round {round}: past anything a lone earlier life reached"
        );
        assert!(rounds.insert(round), "round {round} led by two lives");
    }
}

/// The round jump of a member that lost its storage survives a crash after its catch-up ended:
/// until it has led, a restart with its (intact) storage still campaigns past anything an
/// earlier life may have used. Without the jump it campaigns one round above what it learned
/// while catching up, which may be a ballot its lost life led with entries still on a member
/// that is down.
#[test]
fn the_amnesia_jump_survives_a_crash_after_the_catch_up() {
    let mut cluster = Cluster::new(1, &fast_config(), 13);
    cluster.check_committed = false; // the wipe loses the lone member's history, by design
    let id = cluster.wait_for_leader();
    let mut rounds = BTreeSet::new();
    for _ in 0..5 {
        restart_empty(&mut cluster, id, true);
        cluster.input(id, Input::EndCatchUp);
        // Killed before its election timer fired: caught up, never led in this life.
        cluster.crash(id);
        cluster.restart(id);
        assert!(cluster.run_until(Duration::from_secs(2), |c| c.engine(id).is_leader()));
        let round = cluster.engine(id).term().round();
        assert!(
            round > 1 << 20,
            "round {round}: the restart forgot that this life lost its storage"
        );
        assert!(rounds.insert(round), "round {round} led by two lives");
    }
}

/// A 3-member cluster that committed two writes, then had every member cut off from the others
/// (no unbonding): the cluster, its leader and one follower.
fn cut_off_after_two_writes(seed: u64) -> (Cluster, Id, Id) {
    let mut cluster = Cluster::new(3, &fast_config(), seed);
    let leader = cluster.wait_for_leader();
    assert_eq!(write_through_leader(&mut cluster, &[1, 2]), vec![1, 2]);
    let ids = cluster.ids();
    let follower = *ids.iter().find(|id| **id != leader).expect("a follower");
    let alone: Vec<&[Id]> = ids.iter().map(core::slice::from_ref).collect();
    cluster.partition(&alone, false);
    (cluster, leader, follower)
}

/// `follower`'s answer in `term` to the leader: `result`, with its vote and storage epoch.
fn answer_from(
    follower: Id,
    term: mosaik_raft::Term<Id>,
    result: AppendResult<Id>,
    (vote, epoch): (Vote, u64),
) -> Input<Id, Cmd> {
    Input::Message {
        from: follower,
        msg: Message::AppendEntriesResponse {
            term,
            seq: 0,
            result,
            vote,
            epoch,
        },
    }
}

/// A follower acknowledged an entry, then lost its storage; the acknowledgement of its earlier
/// life reaches the leader only after the new life answered. Counting it would commit an entry
/// the leader alone holds, and the new life could then elect a leader without it (simulator,
/// strict mode, seed 9206664). The leader knows the new life by its storage epoch and drops
/// the earlier life's answers.
#[test]
fn a_late_acknowledgement_of_a_lost_life_is_not_counted() {
    let (mut cluster, leader, follower) = cut_off_after_two_writes(21);
    // The next entry stays on the leader alone.
    cluster.propose(leader, vec![3]);
    let entry = cluster.engine(leader).last_log().index;
    assert!(cluster.engine(leader).commit_index() < entry);
    let term = cluster.engine(leader).term();
    restart_empty(&mut cluster, follower, true);
    let epoch = cluster.engine(follower).hard_state().epoch;
    assert_ne!(
        epoch, 0,
        "a storage begun after a loss has an epoch of its own"
    );
    let answer = |result, vote, epoch| answer_from(follower, term, result, (vote, epoch));
    // The new life, catching up, answers first (it holds nothing).
    cluster.input(
        leader,
        answer(
            AppendResult::Conflict {
                rejected_prev: entry,
                hint: Index(1),
                conflict_term: None,
            },
            Vote::Abstained,
            epoch,
        ),
    );
    // Then the earlier life's acknowledgement of the entry arrives.
    cluster.input(
        leader,
        answer(
            AppendResult::Success { match_index: entry },
            Vote::Granted,
            0,
        ),
    );
    assert!(
        cluster.engine(leader).commit_index() < entry,
        "the leader counted an acknowledgement of a lost life"
    );
}

/// Two losses in one leader term: a late abstaining answer of the life before the current one
/// must not make the leader adopt that life's epoch again, or its late acknowledgements (it
/// caught up and acknowledged before losing its storage once more) would count.
#[test]
fn a_life_two_losses_back_is_not_adopted_again() {
    let (mut cluster, leader, follower) = cut_off_after_two_writes(22);
    cluster.propose(leader, vec![3]);
    let entry = cluster.engine(leader).last_log().index;
    let term = cluster.engine(leader).term();
    restart_empty(&mut cluster, follower, true);
    let epoch = cluster.engine(follower).hard_state().epoch;
    let earlier = epoch ^ 0x5555; // the life between the first loss and this one
    let answer = |result, vote, epoch| answer_from(follower, term, result, (vote, epoch));
    let behind = || AppendResult::Conflict {
        rejected_prev: entry,
        hint: Index(1),
        conflict_term: None,
    };
    // The earlier life, catching up, then this one, catching up: the leader adopts each.
    cluster.input(leader, answer(behind(), Vote::Abstained, earlier));
    cluster.input(leader, answer(behind(), Vote::Abstained, epoch));
    // Late: the earlier life's catch-up answer, then its acknowledgement of the entry.
    cluster.input(leader, answer(behind(), Vote::Abstained, earlier));
    cluster.input(
        leader,
        answer(
            AppendResult::Success { match_index: entry },
            Vote::Granted,
            earlier,
        ),
    );
    assert!(
        cluster.engine(leader).commit_index() < entry,
        "the leader counted an acknowledgement of a life two losses back"
    );
}

/// A member catching up after losing its storage ends its catch-up only on what a leader
/// announced to its own storage epoch: an announcement sent before the leader heard from this
/// life may lack commits that counted the earlier life's acknowledgements.
#[test]
fn a_catch_up_counts_only_announcements_to_its_own_epoch() {
    let (mut cluster, leader, follower) = cut_off_after_two_writes(23);
    restart_empty(&mut cluster, follower, true);
    let epoch = cluster.engine(follower).hard_state().epoch;
    let engine = cluster.engine(leader);
    let (term, commit) = (engine.term(), engine.commit_index());
    let entries = engine.log().entries(Index(1), usize::MAX);
    let announce = |epoch| Input::Message {
        from: leader,
        msg: Message::AppendEntries {
            term,
            leader,
            prev_log_position: mosaik_raft::Cursor::zero(),
            entries: entries.clone(),
            leader_commit: commit,
            rank: mosaik_raft::CommittedRank::zero(),
            overrule: None,
            seq: 0,
            epoch,
        },
    };
    cluster.input(follower, announce(0));
    assert_eq!(
        cluster.engine(follower).commit_index(),
        commit,
        "the entries are taken"
    );
    assert!(
        cluster.engine(follower).is_catching_up(),
        "an announcement to another epoch ended the catch-up"
    );
    cluster.input(follower, announce(epoch));
    assert!(!cluster.engine(follower).is_catching_up());
}
