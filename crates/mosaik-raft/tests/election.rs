//! Elections: bootstrap, exactly one leader, preferences, zero jitter, durable votes.

mod common;

use std::time::Duration;

use common::{Cluster, fast_config};
use mosaik_raft::{
    CommittedRank, Config, Cursor, Engine, Input, Instant, LeadershipPreference, Message, Output,
    PlantedBug, Restored, Role, Term, Vote,
};

#[test]
fn lone_node_self_elects_after_bootstrap_delay() {
    let config = fast_config();
    let mut cluster = Cluster::new(1, &config, 1);
    // Bootstrap delay 200 ms + election timeout in [300, 450).
    cluster.run_for(Duration::from_millis(499));
    assert_eq!(cluster.leader(), None, "must wait for the bootstrap delay");
    cluster.run_for(Duration::from_millis(151));
    assert_eq!(cluster.leader(), Some(1));
    // Alone, it commits its own term-start entry immediately.
    assert_eq!(cluster.engine(1).commit_index().get(), 1);
}

#[test]
fn three_nodes_elect_exactly_one_leader() {
    for seed in 0..common::seeds(20) {
        let mut cluster = Cluster::new(3, &fast_config(), seed);
        let leader = cluster.wait_for_leader();
        cluster.run_for(Duration::from_secs(5));
        assert_eq!(
            cluster.leader(),
            Some(leader),
            "stable leadership without faults (seed {seed})"
        );
        for id in cluster.ids() {
            assert_eq!(
                cluster.engine(id).leader(),
                Some(leader),
                "node {id} follows the leader"
            );
            assert_eq!(cluster.engine(id).term(), cluster.engine(leader).term());
        }
        cluster.check_one_leader_per_round();
    }
}

#[test]
fn election_safety() {
    // Lossy, reordering, duplicating network with crashes: never two leaders in one term, nor
    // (no partitions here) in one round.
    let mut elections = 0;
    for seed in 0..common::seeds(30) {
        let mut cluster = Cluster::new(5, &fast_config(), seed);
        cluster.loss_percent = 20;
        cluster.dup_percent = 10;
        cluster.latency_jitter_ms = 40;
        cluster.chaos(60, 150, 2);
        cluster.check_one_leader_per_round();
        elections += cluster.leaders_by_term.len();
    }
    assert!(elections > 60, "faults caused re-elections ({elections})");
}

#[test]
fn observer_never_leads_and_is_not_counted() {
    let observer = fast_config().with_preference(LeadershipPreference::Observer);
    let configs = vec![fast_config(), fast_config(), observer.clone(), observer];
    let mut cluster = Cluster::with_configs(configs, 3);
    let leader = cluster.wait_for_leader();
    assert!(leader <= 2);
    assert_eq!(
        cluster.engine(leader).voters().len(),
        2,
        "observers are not voters"
    );
    let request = cluster.propose(leader, vec![7]);
    cluster.run_for(Duration::from_secs(1));
    assert!(matches!(
        cluster.commit_result(leader, request),
        Some(Output::Committed { result: Ok(_), .. })
    ));
    assert_eq!(
        cluster.node(3).sm.values().copied().collect::<Vec<_>>(),
        [7],
        "observers apply"
    );

    // With the other voter down, two observer acks do not make a quorum of two voters.
    let other = 3 - leader;
    cluster.crash(other);
    let request = cluster.propose(leader, vec![8]);
    cluster.run_for(Duration::from_secs(5));
    assert!(
        cluster.commit_result(leader, request).is_none(),
        "observer acks must not commit"
    );
    assert!(
        cluster.leaders().iter().all(|l| *l <= 2),
        "observers never lead"
    );
    for id in [3, 4] {
        assert_eq!(
            cluster.engine(id).term().round(),
            cluster.engine(id).term().round()
        );
        assert!(cluster.leaders_by_term.values().all(|l| *l != id));
    }
}

#[test]
fn reluctant_node_lets_normal_nodes_lead() {
    let reluctant = fast_config().with_preference(LeadershipPreference::reluctant());
    for seed in 0..common::seeds(10) {
        let configs = vec![reluctant.clone(), fast_config(), reluctant.clone()];
        let mut cluster = Cluster::with_configs(configs, seed);
        assert_eq!(cluster.wait_for_leader(), 2, "seed {seed}");
    }
}

#[test]
fn zero_jitter_ok() {
    let config = fast_config().with_election_timeout_jitter(Duration::ZERO);
    let mut lone = Cluster::new(1, &config, 9);
    assert_eq!(lone.wait_for_leader(), 1);
    // Identical timeouts can split votes forever if nodes start in lockstep; a node that
    // starts later breaks the tie.
    let mut cluster = Cluster::new(3, &config, 9);
    cluster.crash(3);
    cluster.run_for(Duration::from_millis(100));
    cluster.restart(3);
    let leader = cluster.wait_for_leader();
    let request = cluster.propose(leader, vec![1]);
    cluster.run_for(Duration::from_secs(1));
    assert!(matches!(
        cluster.commit_result(leader, request),
        Some(Output::Committed { result: Ok(_), .. })
    ));
}

/// Feeds a `RequestVote` for `candidate` in round `round` and returns the vote.
fn request_vote(engine: &mut Engine<u64, u64>, candidate: u64, round: u64, now: Instant) -> Vote {
    let msg = Message::RequestVote {
        term: Term::new(round, candidate),
        candidate,
        log_position: Cursor::zero(),
        rank: CommittedRank::zero(),
        records: Vec::new(),
        pre_vote: false,
    };
    engine.handle(
        now,
        Input::Message {
            from: candidate,
            msg,
        },
    );
    let outputs = engine.drain_outputs();
    let vote = outputs.iter().find_map(|o| match o {
        Output::Send {
            msg: Message::RequestVoteResponse { vote, .. },
            ..
        } => Some(*vote),
        _ => None,
    });
    // The vote must be persisted before the response that depends on it.
    let persisted = outputs.iter().position(Output::is_persist);
    let sent = outputs
        .iter()
        .position(|o| matches!(o, Output::Send { .. }));
    if vote == Some(Vote::Granted) {
        assert!(
            persisted < sent,
            "hard state persisted before the granted vote is sent"
        );
    }
    vote.expect("a response")
}

/// Runs `vote twice in one round across a restart` and returns the second vote.
fn second_vote_after_restart(config: Config) -> Vote {
    let now = Instant::ZERO;
    let mut voter: Engine<u64, u64> = Engine::new(3, config.clone(), Restored::default(), now, 1);
    assert_eq!(request_vote(&mut voter, 1, 1, now), Vote::Granted);
    // "Disk": replay the persisted hard state into a new engine.
    let hard_state = match voter.hard_state() {
        hs if config.planted_bug == Some(PlantedBug::DoubleVote) => {
            mosaik_raft::HardState { vote: None, ..hs }
        }
        hs => hs,
    };
    let restored = Restored {
        hard_state,
        ..Restored::default()
    };
    let mut restarted: Engine<u64, u64> = Engine::new(3, config, restored, now, 2);
    assert_eq!(restarted.role(), Role::Follower);
    request_vote(&mut restarted, 2, 1, now)
}

#[test]
fn restart_with_persisted_state_cannot_double_vote() {
    assert_eq!(second_vote_after_restart(Config::default()), Vote::Denied);
    let mut buggy = Config::default();
    buggy.planted_bug = Some(PlantedBug::DoubleVote);
    assert_eq!(
        second_vote_after_restart(buggy),
        Vote::Granted,
        "the planted bug forgets the vote"
    );
}

#[test]
fn vote_requires_up_to_date_log() {
    let mut cluster = Cluster::new(3, &fast_config(), 5);
    let leader = cluster.wait_for_leader();
    cluster.propose(leader, vec![1, 2, 3]);
    cluster.run_for(Duration::from_millis(200));
    // Past the leader lease (a live leader's followers ignore the request altogether), so the
    // log comparison is what denies.
    let now = cluster.now + Duration::from_secs(5);
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let engine = cluster
        .nodes
        .get_mut(&follower)
        .unwrap()
        .engine
        .as_mut()
        .unwrap();
    let round = engine.term().round() + 1;
    // A candidate whose log is empty is behind: denied.
    let msg = Message::RequestVote {
        term: Term::new(round, 9),
        candidate: 9,
        log_position: Cursor::zero(),
        rank: CommittedRank::zero(),
        records: Vec::new(),
        pre_vote: false,
    };
    engine.handle(now, Input::Message { from: 9, msg });
    let denied = engine.drain_outputs().iter().any(|o| {
        matches!(
            o,
            Output::Send {
                msg: Message::RequestVoteResponse {
                    vote: Vote::Denied,
                    ..
                },
                ..
            }
        )
    });
    assert!(denied);
}

/// Feeds a real `RequestVote` for round `round` from `candidate` (log as up to date as the
/// receiver's) and returns the receiver's answer.
fn real_vote_from(cluster: &mut Cluster, to: u64, candidate: u64, round: u64) -> Option<Vote> {
    let now = cluster.now;
    let engine = cluster.nodes.get_mut(&to).unwrap().engine.as_mut().unwrap();
    let msg = Message::RequestVote {
        term: Term::new(round, candidate),
        candidate,
        log_position: engine.last_log(),
        rank: CommittedRank::zero(),
        records: Vec::new(),
        pre_vote: false,
    };
    common::vote_answer(engine, now, candidate, msg)
}

#[test]
fn real_vote_does_not_depose_a_live_leader() {
    // Seed 47617 (mosaik-sim strict, 5 nodes): a candidate passed its pre-vote among voters that
    // had not yet heard of the round's new leader; its real request arrived after they had and
    // deposed that leader. A real vote must respect the same stickiness as a pre-vote.
    let mut cluster = Cluster::new(3, &fast_config(), 7);
    let leader = cluster.wait_for_leader();
    cluster.run_for(Duration::from_millis(100));
    let term = cluster.engine(leader).term();
    let mut others = cluster.ids().into_iter().filter(|id| *id != leader);
    let (follower, candidate) = (others.next().unwrap(), others.next().unwrap());
    let round = term.round() + 1;
    for to in [leader, follower] {
        assert_eq!(
            real_vote_from(&mut cluster, to, candidate, round),
            None,
            "node {to} hears from a live leader: no answer"
        );
        assert_eq!(cluster.engine(to).term(), term, "node {to} kept its term");
    }
    assert_eq!(cluster.engine(leader).role(), Role::Leader);
    assert_eq!(cluster.engine(follower).leader(), Some(leader));
    // The leader keeps leading and the group keeps committing.
    cluster.run_for(Duration::from_secs(2));
    assert_eq!(cluster.leader(), Some(leader));
    assert_eq!(cluster.engine(leader).term(), term);
    // Once the leader is silent for an election timeout, the same request wins the vote.
    let later = cluster.now + Duration::from_secs(5);
    cluster.now = later;
    let engine = cluster
        .nodes
        .get_mut(&follower)
        .unwrap()
        .engine
        .as_mut()
        .unwrap();
    engine.handle(later, Input::Tick);
    engine.drain_outputs();
    let round = cluster.engine(follower).term().round() + 1;
    assert_eq!(
        real_vote_from(&mut cluster, follower, candidate, round),
        Some(Vote::Granted),
        "without a live leader the vote is granted"
    );
}

#[test]
fn the_lower_ballot_of_a_split_vote_sits_out_the_next_round() {
    // Strict seeds 9244850 and 10015828 (mosaik-sim, 3 nodes): with the third member catching
    // up, the two voters left timed out together, passed each other's pre-votes, voted for
    // themselves in the same round and split it, three rounds in a row, since each split
    // re-synchronises their timers. The lower ballot of a split now sits out its next timeout.
    let mut splits = 0;
    for seed in 0..common::seeds(20) {
        let mut cluster = Cluster::new(3, &fast_config(), seed);
        let leader = cluster.wait_for_leader();
        cluster.crash(leader);
        let mut others = cluster.ids().into_iter().filter(|id| *id != leader);
        let (low, high) = (others.next().unwrap(), others.next().unwrap());
        cluster.auto_deliver = false;
        cluster.drop_where(|_| true);
        cluster.fire_timeout(low);
        cluster.fire_timeout(high);
        cluster.deliver_all();
        let round = cluster.engine(low).term().round();
        let split = [low, high].into_iter().all(|id| {
            let engine = cluster.engine(id);
            engine.role() == Role::Candidate && engine.term() == Term::new(round, id)
        });
        if !split {
            continue; // one campaign got ahead of the other: no split to resolve
        }
        splits += 1;
        cluster.auto_deliver = true;
        assert!(
            cluster.run_until(Duration::from_secs(3), |c| c.leader().is_some()),
            "seed {seed}: no leader after the split"
        );
        assert_eq!(cluster.leader(), Some(high), "seed {seed}");
        assert_eq!(
            cluster.engine(high).term(),
            Term::new(round + 1, high),
            "seed {seed}: the next round elects the higher ballot, unsplit"
        );
    }
    assert!(splits >= 10, "only {splits} of the set-ups split the vote");
}
