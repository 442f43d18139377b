//! Replication: log repair, the commit rule (Figure 8), proposal outcomes and forwarding.

mod common;

use std::time::Duration;

use common::{Cluster, fast_config};
use mosaik_raft::{
    CommitError, Index, Input, Message, Output, Payload, PlantedBug, ProposeError, Role,
};

fn is_committed_ok(out: Option<&Output<u64, u64>>) -> bool {
    matches!(out, Some(Output::Committed { result: Ok(_), .. }))
}

#[test]
fn follower_log_repair_after_divergence() {
    let mut cluster = Cluster::new(3, &fast_config(), 11);
    let old = cluster.wait_for_leader();
    cluster.propose(old, vec![1, 2]);
    cluster.run_for(Duration::from_millis(300));
    // Cut the leader off (bonds stay up: messages are simply lost) and let it append entries
    // nobody else receives.
    cluster.isolate(old, false);
    for cmd in 10..20 {
        cluster.propose(old, vec![cmd]);
    }
    let new = {
        assert!(cluster.run_until(Duration::from_secs(10), |c| {
            c.leaders().iter().any(|l| *l != old)
        }));
        *cluster.leaders().iter().find(|l| **l != old).unwrap()
    };
    for cmd in 100..103 {
        cluster.propose(new, vec![cmd]);
    }
    cluster.run_for(Duration::from_secs(2));
    assert_ne!(
        cluster.engine(old).role(),
        Role::Leader,
        "check-quorum deposed the isolated leader"
    );
    cluster.heal();
    cluster.run_for(Duration::from_secs(2));
    cluster.check_log_matching();
    cluster.assert_converged();
    let old_log = cluster.engine(old).log();
    let new_log = cluster.engine(new).log();
    assert_eq!(
        old_log.last(),
        new_log.last(),
        "divergent suffix overwritten"
    );
    let applied: Vec<u64> = cluster.node(old).sm.values().copied().collect();
    assert_eq!(applied, [1, 2, 100, 101, 102]);
}

#[test]
fn follower_far_behind_catches_up_in_batches() {
    let config = fast_config().with_max_append_entries(7);
    let mut cluster = Cluster::new(3, &config, 12);
    let leader = cluster.wait_for_leader();
    let lagging = (1..=3).find(|id| *id != leader).unwrap();
    cluster.crash(lagging);
    for cmd in 0..200 {
        cluster.propose(leader, vec![cmd]);
    }
    cluster.run_for(Duration::from_millis(500));
    cluster.restart(lagging);
    cluster.run_for(Duration::from_secs(3));
    cluster.assert_converged();
    assert_eq!(cluster.node(lagging).sm.len(), 200);
}

/// Raft Figure 8: an entry from an earlier term replicated on a majority must not be committed by
/// counting; otherwise a later leader can overwrite it. Returns the commit index S1 reached.
fn figure_8(bug: Option<PlantedBug>) -> Index {
    let mut config = fast_config()
        .with_max_append_entries(1)
        .with_check_quorum(false);
    config.planted_bug = bug;
    let mut cluster = Cluster::new(5, &config, 8);
    cluster.auto_deliver = false;
    cluster.check_committed = false; // the buggy run violates it; asserted below instead
    let only = |targets: &'static [u64]| move |f: &common::InFlight| targets.contains(&f.to);

    // S1 leads round 1; its noop (index 1) commits everywhere.
    cluster.fire_timeout(1);
    cluster.deliver_all();
    assert_eq!(
        cluster.engine(1).role(),
        Role::Leader,
        "{:#?}",
        cluster.node(1).events
    );
    cluster.deliver_all();
    // S1 appends A at index 2 and replicates it to S2 only, then crashes.
    cluster.propose(1, vec![0xA]);
    cluster.deliver_where(only(&[2]));
    cluster.drop_where(|_| true);
    cluster.crash(1);
    // S5 wins round 2 with S3, S4 and appends its noop at index 2, then crashes.
    cluster.elect(5, &[3, 4]);
    assert_eq!(cluster.engine(5).term().round(), 2);
    cluster.drop_where(|_| true);
    cluster.crash(5);
    // S1 restarts and wins round 3 with S2, S3 (its first try, round 2, fails: S3 voted in
    // round 2 already). It sends A (index 2) to S3, but its own noop (index 3) is lost. A is
    // then on a majority (S1, S2, S3).
    cluster.restart(1);
    cluster.elect(1, &[2, 3]);
    assert_eq!(cluster.engine(1).term().round(), 3);
    cluster.drop_where(|f| f.to > 3); // S1's probes to S4 and S5 are lost
    cluster.deliver_where(only(&[2, 3])); // S2 appends the noop; S3 lacks index 2 and rejects
    cluster.deliver_where(only(&[1])); // S1 backs up for S3
    cluster.deliver_where(only(&[3])); // S3 receives A (one entry per message)
    cluster.deliver_where(only(&[1])); // S1 counts: index 2 is on S1, S2, S3
    let reached = cluster.engine(1).commit_index();
    // S1 crashes; S5 restarts and wins round 4 with S3, S4 (its last term is newer than theirs).
    cluster.drop_where(|_| true);
    cluster.crash(1);
    cluster.restart(5);
    cluster.elect(5, &[3, 4]);
    cluster.auto_deliver = true;
    cluster.run_for(Duration::from_secs(1));
    for id in 2..=5 {
        let index_2 = cluster
            .engine(id)
            .log()
            .get(Index(2))
            .unwrap()
            .payload
            .clone();
        assert_eq!(
            index_2,
            Payload::Noop,
            "S5's entry overwrote A at index 2 on S{id}"
        );
    }
    reached
}

#[test]
fn commit_rule_does_not_count_prior_term_entries() {
    assert!(
        figure_8(None) < Index(2),
        "A (index 2, prior term) must not commit by counting"
    );
    // With the planted bug S1 commits A, which S5 then overwrites: a lost committed entry.
    assert_eq!(figure_8(Some(PlantedBug::PriorTermCommit)), Index(2));
}

#[test]
fn execute_superseded_reports_err() {
    let mut cluster = Cluster::new(3, &fast_config(), 21);
    let old = cluster.wait_for_leader();
    cluster.isolate(old, false);
    let doomed = cluster.propose(old, vec![66]);
    assert!(matches!(
        cluster.propose_result(old, doomed),
        Some(Output::ProposeResult { result: Ok(_), .. })
    ));
    assert!(cluster.run_until(Duration::from_secs(10), |c| {
        c.leaders().iter().any(|l| *l != old)
    }));
    let new = *cluster.leaders().iter().find(|l| **l != old).unwrap();
    let winner = cluster.propose(new, vec![77]);
    cluster.run_for(Duration::from_millis(500));
    assert!(is_committed_ok(cluster.commit_result(new, winner).as_ref()));
    assert!(
        cluster.commit_result(old, doomed).is_none(),
        "still pending while isolated"
    );
    cluster.heal();
    cluster.run_for(Duration::from_secs(2));
    assert!(matches!(
        cluster.commit_result(old, doomed),
        Some(Output::Committed {
            result: Err(CommitError::Superseded),
            ..
        })
    ));
    assert!(!cluster.node(old).sm.values().any(|c| *c == 66));
}

#[test]
fn forwarded_commands_from_follower_get_ack() {
    let mut cluster = Cluster::new(3, &fast_config(), 31);
    let leader = cluster.wait_for_leader();
    cluster.run_for(Duration::from_millis(100));
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let request = cluster.propose(follower, vec![5, 6, 7]);
    cluster.run_for(Duration::from_millis(300));
    let Some(Output::ProposeResult {
        result: Ok(range), ..
    }) = cluster.propose_result(follower, request)
    else {
        panic!("forwarded proposal not acknowledged");
    };
    assert_eq!(range.end().get() - range.start().get(), 2);
    assert!(is_committed_ok(
        cluster.commit_result(follower, request).as_ref()
    ));
    for id in 1..=3 {
        let applied: Vec<u64> = cluster.node(id).sm.values().copied().collect();
        assert_eq!(applied, [5, 6, 7]);
    }
}

/// Issue 16, bug 10: a forward the leader never answered may have been appended; it is
/// reported as `Indeterminate`, not as the definite `Offline`.
#[test]
fn forward_timeout_is_indeterminate() {
    let mut cluster = Cluster::new(3, &fast_config(), 41);
    let leader = cluster.wait_for_leader();
    cluster.run_for(Duration::from_millis(100)); // followers learn the leader
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.blocked.insert((follower, leader));
    let request = cluster.propose(follower, vec![1]);
    cluster.run_for(Duration::from_millis(299));
    assert!(
        cluster.propose_result(follower, request).is_none(),
        "{:?}",
        cluster.propose_result(follower, request)
    );
    cluster.run_for(Duration::from_millis(2));
    assert!(matches!(
        cluster.propose_result(follower, request),
        Some(Output::ProposeResult {
            result: Err(ProposeError::Indeterminate),
            ..
        })
    ));
}

#[test]
fn no_leader_or_candidate_is_offline_immediately() {
    let mut cluster = Cluster::new(3, &fast_config(), 51);
    // Before any election: follower without a leader.
    let request = cluster.propose(1, vec![1]);
    assert!(matches!(
        cluster.propose_result(1, request),
        Some(Output::ProposeResult {
            result: Err(ProposeError::Offline),
            ..
        })
    ));
    // A candidate (alone in a strict group it cannot win) is offline too.
    let config = fast_config().with_min_quorum(Some(2));
    let mut strict = Cluster::new(1, &config, 52);
    strict.run_for(Duration::from_secs(1));
    assert_eq!(strict.engine(1).role(), Role::Candidate);
    let request = strict.propose(1, vec![1]);
    assert!(matches!(
        strict.propose_result(1, request),
        Some(Output::ProposeResult {
            result: Err(ProposeError::Offline),
            ..
        })
    ));
    let empty = strict.propose(1, vec![]);
    assert!(matches!(
        strict.propose_result(1, empty),
        Some(Output::ProposeResult {
            result: Err(ProposeError::NoCommands),
            ..
        })
    ));
}

#[test]
fn persistence_precedes_acknowledgement() {
    // The harness checks, for every message sent, that what it vouches for (acknowledged
    // entries, granted votes, the term) was persisted by earlier outputs. Exercise it hard.
    for seed in 0..5 {
        let mut cluster = Cluster::new(3, &fast_config(), 60 + seed);
        cluster.loss_percent = 10;
        cluster.chaos(50, 100, 1);
        let follower = cluster
            .ids()
            .into_iter()
            .find(|id| cluster.node(*id).is_up() && !cluster.engine(*id).is_leader())
            .unwrap();
        let disk = &cluster.node(follower).disk;
        let disk_last = disk.base.index + disk.entries.len() as u64;
        assert_eq!(
            disk_last,
            cluster.engine(follower).log().last_index(),
            "disk mirrors the log"
        );
    }
}

/// Issue 16, bug 1: a multi-command proposal whose prefix committed before its leader was
/// deposed. The outcome is decided per index: the committed prefix is reported as committed
/// (`PartlyCommitted`), so a client never retries commands that were applied.
#[test]
fn partly_replicated_batch_reports_its_committed_prefix() {
    let config = fast_config().with_max_append_entries(1);
    let mut cluster = Cluster::new(3, &config, 23);
    cluster.auto_deliver = false;
    cluster.elect(1, &[2, 3]);
    cluster.deliver_all();
    let base = cluster.engine(1).commit_index();
    let batch = cluster.propose(1, vec![10, 11, 12]);
    let Some(Output::ProposeResult {
        result: Ok(range), ..
    }) = cluster.propose_result(1, batch)
    else {
        panic!("leader did not assign the batch");
    };
    assert_eq!(*range.start(), base.next());
    // Only the first command reaches node 2 (one entry per AppendEntries); its ack commits it.
    let first = *range.start();
    let delivered = cluster.deliver_where(|f| {
        f.to == 2
            && matches!(&f.msg, mosaik_raft::Message::AppendEntries { entries, prev_log_position, .. }
                if prev_log_position.index == base && entries.len() == 1)
    });
    assert_eq!(delivered, 1);
    cluster.drop_where(|f| f.from == 1);
    cluster.deliver_where(|f| f.to == 1);
    assert_eq!(
        cluster.engine(1).commit_index(),
        first,
        "the prefix committed"
    );
    // Node 2 (holding the prefix) takes over with node 3 and commits its noop after it.
    cluster.elect(2, &[3]);
    cluster.drop_where(|f| f.to == 1);
    while cluster.deliver_where(|f| f.to != 1 && f.from != 1) > 0 {}
    assert!(cluster.engine(2).commit_index() > first);
    // Heal: the old leader learns the outcome.
    cluster.auto_deliver = true;
    assert!(cluster.run_until(Duration::from_secs(5), |c| {
        c.commit_result(1, batch).is_some()
    }));
    assert_eq!(
        cluster.commit_result(1, batch),
        Some(Output::Committed {
            request_id: batch,
            result: Err(CommitError::PartlyCommitted { through: first }),
        })
    );
    let applied: Vec<u64> = cluster.node(2).sm.values().copied().collect();
    assert_eq!(applied, [10], "exactly the prefix was applied");
}

/// The `AppendEntries` the leader has queued for `to`: (entries, leader commit) of each.
fn appends_to(cluster: &Cluster, to: u64) -> Vec<(usize, Index)> {
    cluster
        .queue
        .values()
        .filter(|f| f.from == 1 && f.to == to)
        .filter_map(|f| match &f.msg {
            Message::AppendEntries {
                entries,
                leader_commit,
                ..
            } => Some((entries.len(), *leader_commit)),
            _ => None,
        })
        .collect()
}

/// Three members led by node 1, messages delivered by hand and no `Input::Idle` fed, after
/// one committed round of command 10 (its commit index known to the leader only).
fn led_by_one_without_idle(seed: u64) -> Cluster {
    let mut cluster = Cluster::new(3, &fast_config(), seed);
    cluster.auto_deliver = false;
    cluster.idle = false;
    cluster.elect(1, &[2, 3]);
    cluster.deliver_all();
    cluster.input(1, Input::Idle);
    cluster.deliver_all();
    cluster.propose(1, vec![10]);
    cluster.deliver_where(|f| f.from == 1);
    cluster.deliver_where(|f| f.to == 1);
    cluster
}

/// A leader holds back a message that would only tell followers a new commit index: the next
/// proposal's entries carry it, so each follower acknowledges one message per round instead of
/// two. `Input::Idle` (the shell has nothing else ready) sends what is held.
#[test]
fn commit_notices_ride_on_the_next_entries_or_go_when_idle() {
    let mut cluster = led_by_one_without_idle(71);
    let commit = cluster.engine(1).commit_index();
    assert!(cluster.engine(1).holds_commit_notices());
    assert!(appends_to(&cluster, 2).is_empty(), "no commit-only message");
    assert!(cluster.engine(2).commit_index() < commit);
    // The next proposal's entries carry the commit index.
    cluster.propose(1, vec![11]);
    assert_eq!(appends_to(&cluster, 2), [(1, commit)]);
    assert!(!cluster.engine(1).holds_commit_notices());
    cluster.deliver_where(|f| f.from == 1);
    assert_eq!(cluster.engine(2).commit_index(), commit);
    cluster.deliver_where(|f| f.to == 1);
    // Nothing more to send it with: idle sends the notice, an empty `AppendEntries`.
    let commit = cluster.engine(1).commit_index();
    assert!(appends_to(&cluster, 3).is_empty());
    cluster.input(1, Input::Idle);
    assert_eq!(appends_to(&cluster, 3), [(0, commit)]);
    assert!(!cluster.engine(1).holds_commit_notices());
    cluster.deliver_all();
    for id in [2, 3] {
        assert_eq!(cluster.engine(id).commit_index(), commit, "node {id}");
        let applied: Vec<u64> = cluster.node(id).sm.values().copied().collect();
        assert_eq!(applied, [10, 11], "node {id}");
    }
}

/// A shell that never feeds `Input::Idle` stays live: the heartbeat carries the commit index.
#[test]
fn a_held_commit_notice_goes_with_the_heartbeat() {
    let mut cluster = Cluster::new(3, &fast_config(), 72);
    cluster.idle = false;
    let leader = cluster.wait_for_leader();
    cluster.run_for(Duration::from_millis(100));
    cluster.propose(leader, vec![5]);
    assert!(cluster.run_until(Duration::from_secs(2), |c| {
        c.ids().iter().all(|id| {
            c.engine(*id).commit_index() == c.engine(leader).commit_index()
                && c.node(*id).sm.values().any(|v| *v == 5)
        })
    }));
}

/// A follower answers an `AppendEntries` before it applies what the message's commit index
/// commits: the leader's commit waits for the answer, and the answer never depends on the apply.
#[test]
fn a_follower_answers_before_it_applies() {
    let mut cluster = led_by_one_without_idle(73);
    let commit = cluster.engine(1).commit_index();
    cluster.propose(1, vec![11]);
    // Node 2 handles the append carrying `commit` by hand, so its outputs can be read in order.
    let key = *cluster
        .queue
        .iter()
        .find(|(_, f)| f.from == 1 && f.to == 2)
        .map(|(key, _)| key)
        .expect("an append for node 2");
    let flight = cluster.queue.remove(&key).expect("queued");
    let now = cluster.now;
    let node = cluster.nodes.get_mut(&2).expect("node 2");
    let engine = node.engine.as_mut().expect("up");
    engine.handle(
        now,
        Input::Message {
            from: 1,
            msg: flight.msg,
        },
    );
    let outputs = engine.drain_outputs();
    let answered = outputs.iter().position(|o| {
        matches!(
            o,
            Output::Send {
                msg: Message::AppendEntriesResponse { .. },
                ..
            }
        )
    });
    let applied = outputs
        .iter()
        .position(|o| matches!(o, Output::Apply { .. }));
    let persisted = outputs.iter().position(Output::is_persist);
    assert!(
        persisted.is_some() && persisted < answered,
        "persisted first: {outputs:?}"
    );
    assert!(
        answered.is_some() && applied.is_some() && answered < applied,
        "answer, then apply: {outputs:?}"
    );
    assert_eq!(engine.commit_index(), commit);
}
