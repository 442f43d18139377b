//! Log repair cost: a follower holding a stale suffix of an old term must be repaired in a few
//! round trips, without the leader re-sending the prefix both logs share.
//!
//! Found by the simulator (strict, 3 nodes, seed 53083): a deposed leader held its own term's
//! entries `1..=164`, the new leader `1..=163` of that term and then its own noop. The follower's
//! conflict hint was "the first index of my conflicting term" — index 1, since its whole log was
//! one term — so the leader re-sent 163 matching entries one at a time and the follower did not
//! converge before the liveness deadline.

mod common;

use common::{Cluster, InFlight, fast_config};
use std::time::Duration;

use mosaik_raft::{Config, Index, Input, Message, Role};

/// Delivers every queued message (including the ones sent meanwhile) and returns how many
/// `AppendEntries` went to `to` and how many entries they carried.
fn deliver_all_counting(cluster: &mut Cluster, to: u64) -> (usize, usize) {
    let (mut messages, mut entries) = (0, 0);
    let mut count = |flight: &InFlight| {
        if let (true, Message::AppendEntries { entries: sent, .. }) = (flight.to == to, &flight.msg)
        {
            messages += 1;
            entries += sent.len();
        }
        true
    };
    while cluster.deliver_where(&mut count) > 0 {}
    (messages, entries)
}

/// Builds the seed-53083 shape: node 1 led round 1 and replicated `shared` commands everywhere,
/// then appended one more nobody received, and its bond to node 2 broke; node 2 won round 2 with
/// node 3, appended its noop at the same index and one command after it. Returns the cluster
/// just before the bond between nodes 1 and 2 comes back (the leader then starts probing node 1
/// past its own last entry).
fn stale_suffix_of_one_term(config: &Config, shared: u64) -> Cluster {
    // Staggered election timeouts, no jitter: manual mode jumps the clock to the campaigning
    // node's deadline, and no other node's timer may fire on the way.
    let timeout = |ms| {
        config
            .clone()
            .with_election_timeout_jitter(Duration::ZERO)
            .with_election_timeout(Duration::from_millis(ms))
    };
    let configs = vec![timeout(300), timeout(10_000), timeout(300)];
    let mut cluster = Cluster::with_configs(configs, 53_083);
    cluster.auto_deliver = false;
    cluster.fire_timeout(1);
    cluster.deliver_all();
    assert_eq!(cluster.engine(1).role(), Role::Leader);
    for cmd in 0..shared {
        cluster.propose(1, vec![cmd]);
        cluster.deliver_all();
    }
    let replicated = Index(shared + 1); // noop + commands, all of round 1
    assert!(cluster.ids().iter().all(|id| {
        let engine = cluster.engine(*id);
        engine.last_log().index == replicated && engine.commit_index() == replicated
    }));
    // Node 1 appends one more entry of its term; every message carrying it is lost.
    cluster.propose(1, vec![u64::MAX]);
    cluster.drop_where(|_| true);
    // Only this bond breaks: node 1 keeps node 3 as a voter, so it commits nothing alone.
    cluster.unbond(1, 2);
    // Node 2 wins round 2 with node 3, appends its noop at the same index, then a command.
    win_with(&mut cluster, 2, 3);
    let with_3 = |f: &InFlight| f.to == 3 || (f.from == 3 && f.to == 2);
    while cluster.deliver_where(with_3) > 0 {}
    cluster.propose(2, vec![u64::MAX - 1]);
    while cluster.deliver_where(with_3) > 0 {}
    cluster.drop_where(|_| true);
    assert_eq!(cluster.engine(2).term().round(), 2);
    assert_eq!(cluster.engine(2).commit_index(), Index(shared + 3));
    let ours = cluster.engine(1).last_log();
    let theirs = cluster.engine(2).log().term_at(ours.index);
    assert_ne!(Some(ours.term), theirs, "node 1 holds a stale entry");
    cluster
}

/// Manual mode: `candidate` campaigns and wins with `voter` alone. The voter's own election
/// timer has expired by then (it only grants after losing touch with the old leader), so its own
/// campaign messages are dropped rather than letting it compete.
fn win_with(cluster: &mut Cluster, candidate: u64, voter: u64) {
    let campaign = |f: &InFlight| f.from == voter && matches!(f.msg, Message::RequestVote { .. });
    cluster.fire_timeout(candidate);
    for _ in 0..4 {
        cluster.deliver_where(|f| f.from == candidate && f.to == voter);
        cluster.drop_where(campaign);
        cluster.deliver_where(|f| f.from == voter && f.to == candidate);
        if cluster.engine(candidate).role() == Role::Leader {
            return;
        }
    }
    panic!("{candidate} did not win");
}

#[test]
fn stale_suffix_is_repaired_without_resending_the_shared_prefix() {
    let config = fast_config().with_max_append_entries(1);
    for strict in [false, true] {
        let config = config.clone().with_min_quorum(strict.then_some(2));
        let mut cluster = stale_suffix_of_one_term(&config, 40);
        cluster.bond(1, 2);
        let (messages, entries) = deliver_all_counting(&mut cluster, 1);
        let (follower, leader) = (cluster.engine(1), cluster.engine(2));
        assert_eq!(follower.leader(), Some(2), "strict {strict}");
        assert_eq!(follower.last_log(), leader.last_log(), "strict {strict}");
        assert_eq!(follower.commit_index(), leader.commit_index());
        // A probe past node 1's end, one that finds the stale entry (carrying the command),
        // the noop replacing the stale entry, and the command again: four messages and three
        // entries, however long the shared prefix (before the fix: 45 and 44).
        assert!(
            messages <= 4 && entries <= 3,
            "strict {strict}: repair took {messages} AppendEntries carrying {entries} entries"
        );
        cluster.check_log_matching();
    }
}

#[test]
fn stale_suffix_repair_keeps_working_when_the_leader_pruned_the_shared_term() {
    // The leader no longer holds the conflicting term (snapshot + prune): it cannot skip by term,
    // falls back to the follower's hint, and the follower still converges (possibly by a state
    // sync) instead of stalling.
    let config = fast_config().with_max_append_entries(1);
    let mut cluster = stale_suffix_of_one_term(&config, 20);
    let applied = cluster.engine(2).applied_index();
    cluster.input(2, Input::PruneLog { up_to: applied });
    assert!(cluster.engine(2).log().base().index >= Index(20));
    cluster.bond(1, 2);
    cluster.deliver_all();
    cluster.auto_deliver = true;
    let converged = cluster.run_until(Duration::from_secs(2), |c| {
        c.engine(1).last_log() == c.engine(2).last_log()
            && c.engine(1).commit_index() == c.engine(2).commit_index()
    });
    assert!(converged, "{:?}", cluster.engine(1).last_log());
    cluster.check_log_matching();
}
