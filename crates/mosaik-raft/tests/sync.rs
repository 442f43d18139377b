//! Log pruning and state sync: followers that need pruned entries catch up from a snapshot.

mod common;

use std::time::Duration;

use common::{Cluster, fast_config};
use mosaik_raft::{Cursor, Index, Input, Output};

/// Every live node prunes its log up to its applied index (the harness keeps the snapshot).
fn prune_everywhere(cluster: &mut Cluster) {
    for id in cluster.ids() {
        if cluster.node(id).is_up() {
            let up_to = cluster.engine(id).applied_index();
            cluster.input(id, Input::PruneLog { up_to });
        }
    }
}

fn need_sync_count(cluster: &Cluster, id: u64) -> usize {
    let events = &cluster.node(id).events;
    events
        .iter()
        .filter(|e| matches!(e, Output::NeedStateSync { .. }))
        .count()
}

#[test]
fn restarted_follower_catches_up_from_snapshot() {
    let mut cluster = Cluster::new(3, &fast_config(), 120);
    let leader = cluster.wait_for_leader();
    let lagging = (1..=3).find(|id| *id != leader).unwrap();
    cluster.crash(lagging);
    for cmd in 0..50 {
        cluster.propose(leader, vec![cmd]);
    }
    cluster.run_for(Duration::from_millis(300));
    prune_everywhere(&mut cluster);
    assert!(cluster.engine(leader).log().base().index > Index(40));
    for cmd in 50..60 {
        cluster.propose(leader, vec![cmd]);
    }
    cluster.run_for(Duration::from_millis(300));
    cluster.restart(lagging);
    cluster.run_for(Duration::from_secs(2));
    assert_eq!(
        need_sync_count(&cluster, lagging),
        1,
        "one sync request per leader term"
    );
    cluster.assert_converged();
    assert_eq!(cluster.node(lagging).sm.len(), 60);
    // It keeps replicating normally afterwards.
    cluster.propose(leader, vec![99]);
    cluster.run_for(Duration::from_millis(300));
    cluster.assert_converged();
    cluster.check_log_matching();
}

#[test]
fn new_member_joins_after_pruning() {
    let mut cluster = Cluster::new(3, &fast_config(), 121);
    let leader = cluster.wait_for_leader();
    for cmd in 0..20 {
        cluster.propose(leader, vec![cmd]);
    }
    cluster.run_for(Duration::from_millis(300));
    prune_everywhere(&mut cluster);
    cluster.add_node(4, fast_config());
    cluster.bond_all();
    cluster.run_for(Duration::from_secs(2));
    assert_eq!(need_sync_count(&cluster, 4), 1);
    cluster.assert_converged();
    // The newcomer counts toward quorums from now on.
    assert_eq!(cluster.engine(leader).voters().len(), 4);
}

#[test]
fn restart_from_pruned_disk_replays_from_snapshot() {
    let mut cluster = Cluster::new(3, &fast_config(), 122);
    let leader = cluster.wait_for_leader();
    for cmd in 0..10 {
        cluster.propose(leader, vec![cmd]);
    }
    cluster.run_for(Duration::from_millis(300));
    prune_everywhere(&mut cluster);
    for cmd in 10..15 {
        cluster.propose(leader, vec![cmd]);
    }
    cluster.run_for(Duration::from_millis(300));
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.crash(follower);
    cluster.restart(follower);
    // Restored at the snapshot; entries after it are re-applied once the leader confirms them.
    assert_eq!(
        cluster.engine(follower).applied_index(),
        cluster.node(follower).disk.base.index
    );
    cluster.run_for(Duration::from_millis(500));
    cluster.assert_converged();
    assert_eq!(
        need_sync_count(&cluster, follower),
        0,
        "its own log sufficed"
    );
}

#[test]
fn snapshot_matching_the_log_keeps_the_suffix() {
    let mut cluster = Cluster::new(3, &fast_config(), 123);
    let leader = cluster.wait_for_leader();
    for cmd in 0..10 {
        cluster.propose(leader, vec![cmd]);
    }
    cluster.run_for(Duration::from_millis(300));
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let engine = cluster.engine(follower);
    let last = engine.log().last_index();
    let at = Index(5);
    let cursor = Cursor::new(engine.log().term_at(at).unwrap(), at);
    // The shell installed a snapshot at index 5 (its state machine now reflects 1..=5).
    let sm = cluster
        .node(follower)
        .sm
        .range(..=at)
        .map(|(i, c)| (*i, *c))
        .collect();
    cluster.nodes.get_mut(&follower).unwrap().sm = sm;
    cluster.input(follower, Input::SnapshotInstalled { cursor });
    let engine = cluster.engine(follower);
    assert_eq!(engine.log().base(), cursor);
    assert_eq!(engine.log().last_index(), last, "acknowledged suffix kept");
    cluster.run_for(Duration::from_millis(100));
    cluster.assert_converged();
}

#[test]
fn failed_state_sync_is_requested_again() {
    let config = fast_config().with_state_sync_retry(std::time::Duration::from_secs(2));
    let mut cluster = Cluster::new(3, &config, 124);
    cluster.auto_state_sync = false; // the shell's sync "fails": it never installs anything
    let leader = cluster.wait_for_leader();
    let lagging = (1..=3).find(|id| *id != leader).unwrap();
    cluster.crash(lagging);
    for cmd in 0..10 {
        cluster.propose(leader, vec![cmd]);
    }
    cluster.run_for(Duration::from_millis(300));
    prune_everywhere(&mut cluster);
    cluster.run_for(Duration::from_millis(100)); // pre-pruning messages to it are lost
    cluster.restart(lagging);
    cluster.run_for(Duration::from_millis(1500));
    assert_eq!(need_sync_count(&cluster, lagging), 1);
    cluster.run_for(Duration::from_secs(1));
    assert_eq!(
        need_sync_count(&cluster, lagging),
        2,
        "asked again after the retry interval"
    );
    cluster.auto_state_sync = true;
    cluster.run_for(Duration::from_secs(3));
    cluster.assert_converged();
}

#[test]
fn an_installed_snapshot_resumes_replication_before_the_next_heartbeat() {
    // Heartbeats far apart: what the follower gets within a fraction of one comes from its
    // own report after the install, not from the leader's timer.
    let heartbeat = Duration::from_secs(1);
    let config = fast_config()
        .with_heartbeat_interval(heartbeat)
        .with_election_timeout(Duration::from_secs(5))
        .with_election_timeout_jitter(Duration::from_millis(100));
    let mut cluster = Cluster::new(3, &config, 125);
    cluster.auto_state_sync = false; // this test installs by hand, at a moment of its choice
    let leader = cluster.wait_for_leader();
    let lagging = (1..=3).find(|id| *id != leader).unwrap();
    cluster.crash(lagging);
    for cmd in 0..20 {
        cluster.propose(leader, vec![cmd]);
    }
    cluster.run_for(Duration::from_millis(300));
    prune_everywhere(&mut cluster);
    for cmd in 20..25 {
        cluster.propose(leader, vec![cmd]);
    }
    cluster.run_for(Duration::from_millis(300));
    cluster.restart(lagging);
    assert!(
        cluster.run_until(3 * heartbeat, |c| need_sync_count(c, lagging) == 1),
        "the leader's heartbeat tells the restarted follower to sync"
    );
    // The shell installs the snapshot at the leader's log base: the entries after it must
    // come by replication.
    let base = cluster.engine(leader).log().base();
    assert!(base.index > Index(10) && base.index < cluster.engine(leader).commit_index());
    let sm = cluster.node(leader).sm.range(..=base.index);
    let sm = sm.map(|(i, c)| (*i, *c)).collect();
    cluster.nodes.get_mut(&lagging).unwrap().sm = sm;
    cluster.input(lagging, Input::SnapshotInstalled { cursor: base });
    let caught_up = cluster.run_until(heartbeat / 10, |c| c.node(lagging).sm.len() == 25);
    assert!(
        caught_up,
        "replication resumed at once, not at the next heartbeat"
    );
    cluster.assert_converged();
    cluster.check_log_matching();
}

/// Dynamic mode: the losing side of a partition committed and pruned its log; the winner's
/// log disproves that snapshot. The losers start over empty and take the winner's log, with no
/// state sync at all. Asking for a snapshot of the winner's at or past their base waited forever
/// when the winner's log ended before it (runtime simulator, dynamic `vec` seed 4400027): the
/// winner's log here is shorter than the losers' base, then longer.
#[test]
fn a_base_past_the_winners_log_is_dropped_and_repaired_from_its_log() {
    for (seed, winners_commands) in (0..8).zip([1, 1, 1, 1, 40, 40, 40, 40]) {
        let mut cluster = Cluster::new(5, &fast_config(), 126 + seed);
        cluster.check_committed = false; // the losing side's commits are reverted on heal
        cluster.auto_state_sync = false; // nothing is installed unless the engine says how
        let (losers, winners) = cluster.split_with_leader_in_minority();
        for cmd in 0..20 {
            cluster.propose(losers[0], vec![cmd]);
        }
        let winner = cluster.leader_among(&winners);
        for cmd in 0..winners_commands {
            cluster.propose(winner, vec![100 + cmd]);
        }
        cluster.run_for(Duration::from_secs(1));
        for &id in &losers {
            let up_to = cluster.engine(id).applied_index();
            cluster.input(id, Input::PruneLog { up_to });
        }
        let winners_end = cluster.engine(winner).log().last_index();
        for &id in &losers {
            let base = cluster.engine(id).log().base().index;
            assert_eq!(
                base > winners_end,
                winners_commands == 1,
                "seed {seed}: base {base}, the winner's log ends at {winners_end}"
            );
        }
        cluster.heal();
        let theirs: Vec<u64> = (100..100 + winners_commands).collect();
        let converged = cluster.run_until(Duration::from_secs(5), |c| {
            losers
                .iter()
                .all(|id| c.node(*id).sm.values().eq(theirs.iter()))
        });
        assert!(
            converged,
            "seed {seed}: the losers took the winner's history"
        );
        cluster.assert_converged();
        cluster.check_log_matching();
        for id in losers {
            assert_eq!(
                need_sync_count(&cluster, id),
                0,
                "seed {seed}: no state sync"
            );
        }
    }
}
