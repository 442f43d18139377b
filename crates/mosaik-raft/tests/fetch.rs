//! Log fetch from peers (SPEC §1.5 `LogReplaySync`): a follower far behind asks its shell to
//! fetch the missing committed entries from peers, answers the leader `Fetching` so the leader
//! only sends it empty heartbeats meanwhile, accepts fetched entries only where they chain onto
//! its log, and is committed only through the leader's own consistency check.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Cluster, Id, Msg, fast_config};
use mosaik_raft::{
    AppendResult, Config, Cursor, Entry, Index, Input, Message, Output, ProgressState, Term,
};

const THRESHOLD: u64 = 5;
const LAG: u64 = 30;

fn fetch_config(threshold: Option<u64>) -> Config {
    fast_config()
        .with_max_append_entries(4)
        .with_state_sync_retry(Duration::from_secs(2))
        .with_log_fetch_threshold(threshold)
}

/// A 3-node cluster where one follower missed `lag` commands (crashed while they committed) and
/// has just restarted. Returns `(cluster, leader, lagging)`.
fn lagging_follower(config: &Config, lag: u64, seed: u64) -> (Cluster, Id, Id) {
    let mut cluster = Cluster::new(3, config, seed);
    let leader = cluster.wait_for_leader();
    let lagging = (1..=3).find(|id| *id != leader).unwrap();
    // Everyone holds one command first, so the leader streams to the follower optimistically
    // (`Replicate`) and its probes after the crash point past the follower's end.
    cluster.propose(leader, vec![u64::MAX]);
    let replicated = cluster.run_until(Duration::from_secs(5), |c| {
        c.ids()
            .iter()
            .all(|id| c.engine(*id).commit_index() == Index(2))
    });
    assert!(replicated);
    cluster.crash(lagging);
    for cmd in 0..lag {
        cluster.propose(leader, vec![cmd]);
    }
    let committed = cluster.run_until(Duration::from_secs(5), |c| {
        let engine = c.engine(leader);
        engine.commit_index() == engine.last_log().index
    });
    assert!(committed, "the leader commits with the third node");
    cluster.restart(lagging);
    (cluster, leader, lagging)
}

/// Every node holds and committed exactly the leader's log.
fn caught_up(cluster: &Cluster, leader: Id) -> bool {
    let leading = cluster.engine(leader);
    cluster.ids().iter().all(|id| {
        let engine = cluster.engine(*id);
        engine.last_log() == leading.last_log() && engine.commit_index() == leading.last_log().index
    })
}

fn fetch_requests(cluster: &Cluster, id: Id) -> Vec<(Cursor<Id>, Index)> {
    let events = &cluster.node(id).events;
    events
        .iter()
        .filter_map(|e| match e {
            Output::NeedLogFetch { after, up_to, .. } => Some((*after, *up_to)),
            _ => None,
        })
        .collect()
}

/// Runs the cluster for `duration` and returns every message sent to or by `id` meanwhile, as
/// `(sender, message)` (each queued message is seen before it is delivered: nothing is lost in
/// these tests).
fn run_watching(cluster: &mut Cluster, duration: Duration, id: Id) -> Vec<(Id, Msg)> {
    let end = cluster.now + duration;
    let mut seen = BTreeSet::new();
    let mut messages = Vec::new();
    let mut record = |cluster: &Cluster| {
        for (key, flight) in &cluster.queue {
            if (flight.to == id || flight.from == id) && seen.insert(*key) {
                messages.push((flight.from, flight.msg.clone()));
            }
        }
    };
    cluster.run_until(duration, |c| {
        record(c);
        c.now >= end
    });
    messages
}

fn entries_sent(messages: &[(Id, Msg)], from: Id) -> usize {
    messages
        .iter()
        .filter(|(sender, _)| *sender == from)
        .map(|(_, msg)| match msg {
            Message::AppendEntries { entries, .. } => entries.len(),
            _ => 0,
        })
        .sum()
}

/// What a peer serves for `from ..= to`: its committed entries there, chained to its own log.
fn serve(cluster: &Cluster, source: Id, from: Index, to: Index) -> Input<Id, u64> {
    let engine = cluster.engine(source);
    let to = to.min(engine.commit_index());
    let prev = Cursor::new(engine.log().term_at(from.prev()).unwrap(), from.prev());
    let count = usize::try_from(to.get() + 1 - from.get()).unwrap();
    let entries = engine.log().entries(from, count);
    Input::EntriesFetched { prev, entries }
}

#[test]
fn lagging_follower_fetches_once_and_the_leader_backs_off() {
    for seed in 0..common::seeds(3) {
        lagging_follower_fetches_once_and_the_leader_backs_off_with(seed);
    }
}

fn lagging_follower_fetches_once_and_the_leader_backs_off_with(seed: u64) {
    let config = fetch_config(Some(THRESHOLD));
    let (mut cluster, leader, lagging) = lagging_follower(&config, LAG, seed * 100 + 7);
    let before = cluster.engine(lagging).last_log();
    let started = cluster.run_until(Duration::from_secs(2), |c| {
        !fetch_requests(c, lagging).is_empty()
    });
    assert!(started, "the lagging follower asks for a fetch");
    // A second to be sure: the fetch is not stalled yet (stall bound 2 s).
    let messages = run_watching(&mut cluster, Duration::from_secs(1), lagging);
    let requests = fetch_requests(&cluster, lagging);
    assert_eq!(requests.len(), 1, "one fetch, not one per heartbeat");
    let (after, up_to) = requests[0];
    assert_eq!(after, before, "fetch after our last position");
    assert!(up_to > after.index + THRESHOLD);
    assert!(cluster.engine(lagging).is_fetching());
    let progress = &cluster.engine(leader).progress().unwrap()[&lagging];
    assert_eq!(progress.state, ProgressState::Fetching);
    let heartbeats = messages
        .iter()
        .filter(|(from, msg)| *from == leader && msg.kind() == "Heartbeat")
        .count();
    assert!(heartbeats >= 10, "heartbeats keep going: {heartbeats}");
    assert_eq!(
        entries_sent(&messages, leader),
        0,
        "the leader streams nothing to a fetching follower"
    );
    assert_eq!(cluster.engine(lagging).last_log(), before, "log untouched");
    // The follower's answers stay cheap: one response per leader message, nothing else (plus
    // the answer to the message that started the fetch, queued when the window opened).
    let sent: Vec<&Msg> = messages
        .iter()
        .filter(|(from, _)| *from == lagging)
        .map(|(_, msg)| msg)
        .collect();
    let received = messages.len() - sent.len();
    assert!(sent.len() <= received + 1, "{} for {received}", sent.len());
    assert!(
        sent.iter().all(|msg| msg.kind() == "AppendEntriesResponse"),
        "only answers"
    );
}

#[test]
fn fetched_entries_are_persisted_and_committed_only_by_the_leader() {
    for seed in 0..common::seeds(3) {
        fetched_entries_are_persisted_and_committed_only_by_the_leader_with(seed);
    }
}

fn fetched_entries_are_persisted_and_committed_only_by_the_leader_with(seed: u64) {
    let config = fetch_config(Some(THRESHOLD));
    let (mut cluster, leader, lagging) = lagging_follower(&config, LAG, seed * 100 + 8);
    let other = (1..=3).find(|id| *id != leader && *id != lagging).unwrap();
    assert!(cluster.run_until(Duration::from_secs(2), |c| {
        !fetch_requests(c, lagging).is_empty()
    }));
    let (after, up_to) = fetch_requests(&cluster, lagging)[0];
    let commit_before = cluster.engine(lagging).commit_index();
    // Two chunks from two peers, the leader last.
    let middle = Index(after.index.get() + (up_to.get() - after.index.get()) / 2);
    let first = serve(&cluster, other, after.index.next(), middle);
    cluster.input(lagging, first);
    let second = serve(&cluster, leader, middle.next(), up_to);
    cluster.input(lagging, second);
    let node = cluster.node(lagging);
    assert_eq!(
        node.engine().last_log().index,
        up_to,
        "both chunks appended"
    );
    let on_disk = node.disk.base.index.get() + node.disk.entries.len() as u64;
    assert_eq!(on_disk, up_to.get(), "persisted (PersistLog)");
    assert_eq!(
        node.engine().commit_index(),
        commit_before,
        "fetching commits nothing"
    );
    cluster.check_log_matching();
    cluster.input(lagging, Input::LogFetchDone);
    assert!(!cluster.engine(lagging).is_fetching());
    // The gap is now below the threshold: the leader's probe verifies and commits everything.
    let messages = run_watching(&mut cluster, Duration::from_secs(1), lagging);
    assert!(
        caught_up(&cluster, leader),
        "verified and committed by the leader"
    );
    let resent = entries_sent(&messages, leader);
    println!("seed {seed}: with log fetch the leader sent {resent} entries to catch up");
    assert!(
        resent <= 4,
        "the leader re-sent {resent} entries the follower had fetched"
    );
    assert_eq!(fetch_requests(&cluster, lagging).len(), 1);
    cluster.assert_converged();
}

#[test]
fn garbage_fetches_are_ignored() {
    for seed in 0..common::seeds(3) {
        garbage_fetches_are_ignored_with(seed);
    }
}

fn garbage_fetches_are_ignored_with(seed: u64) {
    let config = fetch_config(Some(THRESHOLD));
    let (mut cluster, leader, lagging) = lagging_follower(&config, LAG, seed * 100 + 9);
    assert!(cluster.run_until(Duration::from_secs(2), |c| {
        !fetch_requests(c, lagging).is_empty()
    }));
    let (after, up_to) = fetch_requests(&cluster, lagging)[0];
    let Input::EntriesFetched { entries: good, .. } =
        serve(&cluster, leader, after.index.next(), up_to)
    else {
        unreachable!()
    };
    let term = cluster.engine(lagging).term();
    assert!(after.term != Term::zero() && good.iter().all(|e| e.term == term));
    let newer = Term::new(term.round() + 3, leader);
    let with_term = |at: usize, t: Term<Id>| {
        let mut entries = good.clone();
        entries[at].term = t;
        entries
    };
    let cases: [(&str, Cursor<Id>, Vec<_>); 4] = [
        (
            "wrong prev term",
            Cursor::new(Term::zero(), after.index),
            good.clone(),
        ),
        (
            "prev past the end",
            Cursor::new(term, after.index + 2),
            good[2..].to_vec(),
        ),
        ("term above ours", after, with_term(0, newer)),
        (
            "conflicting entry",
            Cursor::zero(),
            vec![Entry::noop(Term::zero())],
        ),
    ];
    for (what, prev, entries) in cases {
        let disk = cluster.node(lagging).disk.entries.len();
        cluster.input(lagging, Input::EntriesFetched { prev, entries });
        let node = cluster.node(lagging);
        assert_eq!(node.engine().last_log(), after, "{what}: log unchanged");
        assert_eq!(node.disk.entries.len(), disk, "{what}: nothing persisted");
    }
    // Terms must not decrease along a chunk: the walk stops before the offending entry.
    let entries = with_term(2, Term::zero());
    cluster.input(
        lagging,
        Input::EntriesFetched {
            prev: after,
            entries,
        },
    );
    assert_eq!(cluster.engine(lagging).last_log().index, after.index + 2);
    // A leader's log is never touched by others.
    let leader_last = cluster.engine(leader).last_log();
    let entries = vec![Entry::noop(term)];
    cluster.input(
        leader,
        Input::EntriesFetched {
            prev: leader_last,
            entries,
        },
    );
    assert_eq!(cluster.engine(leader).last_log(), leader_last);
    // A chunk overlapping what we hold appends only the rest.
    let prev = Cursor::new(after.term, after.index);
    cluster.input(
        lagging,
        Input::EntriesFetched {
            prev,
            entries: good,
        },
    );
    assert_eq!(cluster.engine(lagging).last_log().index, up_to);
    cluster.input(lagging, Input::LogFetchDone);
    assert!(cluster.run_until(Duration::from_secs(2), |c| caught_up(c, leader)));
    cluster.assert_converged();
    cluster.check_log_matching();
}

#[test]
fn a_stalled_fetch_falls_back_to_leader_repair_and_backs_off() {
    for seed in 0..common::seeds(3) {
        a_stalled_fetch_falls_back_to_leader_repair_and_backs_off_with(seed);
    }
}

fn a_stalled_fetch_falls_back_to_leader_repair_and_backs_off_with(seed: u64) {
    let config = fetch_config(Some(THRESHOLD));
    let retry = config.state_sync_retry;
    let (mut cluster, leader, lagging) = lagging_follower(&config, LAG, seed * 100 + 10);
    assert!(cluster.run_until(Duration::from_secs(2), |c| {
        !fetch_requests(c, lagging).is_empty()
    }));
    let asked_at = cluster.now;
    // The shell never delivers anything: after the stall bound the leader repairs.
    let converged = cluster.run_until(retry + Duration::from_secs(3), |c| caught_up(c, leader));
    assert!(converged, "leader repair after a stall");
    assert!(
        cluster.now >= asked_at + retry,
        "not before the stall bound"
    );
    assert_eq!(
        fetch_requests(&cluster, lagging).len(),
        1,
        "no new fetch during the back-off"
    );
    cluster.assert_converged();
}

#[test]
fn fetch_done_without_entries_lets_the_leader_repair_at_once() {
    for seed in 0..common::seeds(3) {
        fetch_done_without_entries_lets_the_leader_repair_at_once_with(seed);
    }
}

fn fetch_done_without_entries_lets_the_leader_repair_at_once_with(seed: u64) {
    let config = fetch_config(Some(THRESHOLD));
    let retry = config.state_sync_retry;
    let (mut cluster, leader, lagging) = lagging_follower(&config, LAG, seed * 100 + 11);
    assert!(cluster.run_until(Duration::from_secs(2), |c| {
        !fetch_requests(c, lagging).is_empty()
    }));
    let gave_up_at = cluster.now;
    cluster.input(lagging, Input::LogFetchDone);
    let converged = cluster.run_until(retry, |c| caught_up(c, leader));
    assert!(converged, "leader repair after the shell gave up");
    assert!(
        cluster.now < gave_up_at + retry,
        "well before the stall bound"
    );
    assert_eq!(fetch_requests(&cluster, lagging).len(), 1, "backed off");
    cluster.assert_converged();
}

#[test]
fn without_the_feature_or_below_the_threshold_the_leader_repairs() {
    for seed in 0..common::seeds(3) {
        without_the_feature_or_below_the_threshold_the_leader_repairs_with(seed);
    }
}

fn without_the_feature_or_below_the_threshold_the_leader_repairs_with(seed: u64) {
    for (threshold, lag) in [(None, LAG), (Some(LAG + 10), LAG)] {
        let config = fetch_config(threshold);
        let (mut cluster, leader, lagging) = lagging_follower(&config, lag, seed * 100 + 12);
        let messages = run_watching(&mut cluster, Duration::from_secs(2), lagging);
        assert!(
            fetch_requests(&cluster, lagging).is_empty(),
            "{threshold:?}"
        );
        assert!(!cluster.engine(lagging).is_fetching());
        let fetching = messages.iter().any(|(_, msg)| {
            matches!(
                msg,
                Message::AppendEntriesResponse {
                    result: AppendResult::Fetching { .. },
                    ..
                }
            )
        });
        assert!(!fetching, "{threshold:?}: no Fetching answers");
        let sent = entries_sent(&messages, leader);
        println!("seed {seed}, threshold {threshold:?}: the leader sent {sent} entries");
        assert!(sent >= usize::try_from(lag).unwrap());
        assert!(caught_up(&cluster, leader), "{threshold:?}");
        cluster.assert_converged();
    }
}

#[test]
fn an_uncommitted_tail_comes_from_the_leader_without_waiting_for_a_stall() {
    for seed in 0..common::seeds(3) {
        an_uncommitted_tail_comes_from_the_leader_without_waiting_for_a_stall_with(seed);
    }
}

fn an_uncommitted_tail_comes_from_the_leader_without_waiting_for_a_stall_with(seed: u64) {
    let config = fetch_config(Some(THRESHOLD));
    let retry = config.state_sync_retry;
    let (mut cluster, leader, lagging) = lagging_follower(&config, LAG, seed * 100 + 13);
    // The third node goes down before the follower is back: the leader's newest entries can
    // only commit once the follower holds them, and no peer can serve them.
    let other = (1..=3).find(|id| *id != leader && *id != lagging).unwrap();
    cluster.crash(other);
    for cmd in 0..LAG {
        cluster.propose(leader, vec![1000 + cmd]);
    }
    assert!(cluster.run_until(Duration::from_secs(2), |c| {
        !fetch_requests(c, lagging).is_empty()
    }));
    let (after, up_to) = fetch_requests(&cluster, lagging)[0];
    let leader_commit = cluster.engine(leader).commit_index();
    assert!(leader_commit < cluster.engine(leader).last_log().index);
    // The shell serves what is committed, and is still "fetching" (no `LogFetchDone`).
    let chunk = serve(
        &cluster,
        leader,
        after.index.next(),
        up_to.min(leader_commit),
    );
    cluster.input(lagging, chunk);
    let fetched_at = cluster.now;
    let committed = cluster.run_until(retry, |c| {
        let engine = c.engine(leader);
        engine.commit_index() == engine.last_log().index
    });
    assert!(committed, "the leader streams the uncommitted tail");
    assert!(
        cluster.now < fetched_at + retry / 2,
        "not only after the fetch stalled"
    );
    assert!(!cluster.engine(lagging).is_fetching());
}
