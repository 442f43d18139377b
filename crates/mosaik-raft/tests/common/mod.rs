//! A tiny deterministic cluster harness for scenario tests: N engines, a message queue with
//! latency/loss/duplication, a virtual clock, simulated disks, and invariant checks that run on
//! every output (election safety, committed-entry agreement, leader completeness, apply once,
//! persistence before acknowledgement, read linearizability).
#![allow(dead_code)] // each test binary uses a different subset

mod chaos;
mod checks;
mod client;
mod disk;
mod driving;
mod restored;
mod rng;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mosaik_raft::{
    AppendResult, Config, Engine, Index, Input, Instant, LeadershipPreference, Message, Output,
    RequestId, Restored, Term, Vote,
};

#[allow(unused_imports)] // not every test binary retries
pub use chaos::commit_with_retries;
pub use disk::Disk;
#[allow(unused_imports)] // only the vote tests restore members
pub use restored::member_2_restored;
pub use rng::Rng;

pub type Id = u64;
pub type Cmd = u64;
pub type Msg = Message<Id, Cmd>;
pub type Out = Output<Id, Cmd>;

/// Number of seeds for randomized tests: `RAFT_SEEDS` (for soak runs) or `default`.
pub fn seeds(default: u64) -> u64 {
    std::env::var("RAFT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Short timeouts so scenarios run in little virtual time.
pub fn fast_config() -> Config {
    Config::default()
        .with_heartbeat_interval(Duration::from_millis(50))
        .with_election_timeout(Duration::from_millis(300))
        .with_election_timeout_jitter(Duration::from_millis(150))
        .with_bootstrap_delay(Duration::from_millis(200))
        .with_forward_timeout(Duration::from_millis(300))
        .with_query_timeout(Duration::from_millis(300))
}

/// Feeds `msg` from `from` straight into `engine` (no network) and returns the vote of the
/// `RequestVoteResponse` it answers with, if any.
pub fn vote_answer(engine: &mut Engine<Id, Cmd>, now: Instant, from: Id, msg: Msg) -> Option<Vote> {
    engine.handle(now, Input::Message { from, msg });
    engine.drain_outputs().iter().find_map(|o| match o {
        Output::Send {
            msg: Message::RequestVoteResponse { vote, .. },
            ..
        } => Some(*vote),
        _ => None,
    })
}

/// The answer `engine` sends `from` to `msg` (an `AppendEntries`), handled at `now`.
pub fn append_answer(
    engine: &mut Engine<Id, Cmd>,
    now: Instant,
    from: Id,
    msg: Msg,
) -> Option<AppendResult<Id>> {
    engine.handle(now, Input::Message { from, msg });
    engine.drain_outputs().into_iter().find_map(|o| match o {
        Output::Send {
            msg: Message::AppendEntriesResponse { result, .. },
            ..
        } => Some(result),
        _ => None,
    })
}

pub struct Node {
    pub id: Id,
    pub config: Config,
    pub engine: Option<Engine<Id, Cmd>>,
    pub disk: Disk,
    /// The state machine: applied commands by index.
    pub sm: BTreeMap<Index, Cmd>,
    /// Every output except `Send` and `Persist*`, in order.
    pub events: Vec<Out>,
    pub restarts: u64,
    pub discarded: u64,
    /// Commit index already recorded by the harness's checkers.
    pub commit_seen: Index,
}

impl Node {
    pub fn engine(&self) -> &Engine<Id, Cmd> {
        self.engine.as_ref().expect("node is crashed")
    }
    pub fn is_up(&self) -> bool {
        self.engine.is_some()
    }
}

#[derive(Clone, Debug)]
pub struct InFlight {
    pub from: Id,
    pub to: Id,
    pub msg: Msg,
}

// Independent switches a test flips one at a time; an enum per pair would only rename them.
#[allow(clippy::struct_excessive_bools)]
pub struct Cluster {
    pub now: Instant,
    pub nodes: BTreeMap<Id, Node>,
    pub queue: BTreeMap<(Instant, u64), InFlight>,
    next_seq: u64,
    pub rng: Rng,
    pub seed: u64,
    pub latency_ms: u64,
    pub latency_jitter_ms: u64,
    pub loss_percent: u64,
    pub dup_percent: u64,
    /// Directed links that drop everything.
    pub blocked: BTreeSet<(Id, Id)>,
    /// Bonded pairs `(low, high)`.
    pub bonds: BTreeSet<(Id, Id)>,
    /// When false, messages stay queued until the test delivers them.
    pub auto_deliver: bool,
    pub auto_state_sync: bool,
    /// When false, the shell never feeds `Input::Idle`: commit notices a leader holds back
    /// wait for its next entries or heartbeat.
    pub idle: bool,
    /// Committed entries must never change (strict mode, or no partitions). Off for dynamic
    /// partition tests, where reverts are expected.
    pub check_committed: bool,
    /// Term of every index ever committed anywhere, and the earliest round in which it was
    /// known committed (the committing node's round).
    pub committed: BTreeMap<Index, (Term<Id>, u64)>,
    /// Leaders seen, by term and by round.
    pub leaders_by_term: BTreeMap<Term<Id>, Id>,
    pub leaders_by_round: BTreeMap<u64, BTreeSet<Id>>,
    pending_syncs: Vec<(Id, Id)>,
    next_request: u64,
    /// Highest index of any write acknowledged as committed so far (real time order).
    pub acked_max: Index,
    /// For each pending read: the `acked_max` when it was issued (it must observe that much).
    pub read_floors: BTreeMap<(Id, RequestId), Index>,
}

impl Cluster {
    /// `n` nodes with ids `1..=n`, all bonded, same config.
    pub fn new(n: u64, config: &Config, seed: u64) -> Self {
        Self::with_configs((1..=n).map(|_| config.clone()).collect(), seed)
    }

    pub fn with_configs(configs: Vec<Config>, seed: u64) -> Self {
        let mut cluster = Cluster {
            now: Instant::ZERO,
            nodes: BTreeMap::new(),
            queue: BTreeMap::new(),
            next_seq: 0,
            rng: Rng::new(seed),
            seed,
            latency_ms: 2,
            latency_jitter_ms: 3,
            loss_percent: 0,
            dup_percent: 0,
            blocked: BTreeSet::new(),
            bonds: BTreeSet::new(),
            auto_deliver: true,
            auto_state_sync: true,
            idle: true,
            check_committed: true,
            committed: BTreeMap::new(),
            leaders_by_term: BTreeMap::new(),
            leaders_by_round: BTreeMap::new(),
            pending_syncs: Vec::new(),
            next_request: 1,
            acked_max: Index::ZERO,
            read_floors: BTreeMap::new(),
        };
        for (i, config) in configs.into_iter().enumerate() {
            let id = i as u64 + 1;
            cluster.add_node(id, config);
        }
        cluster.bond_all();
        cluster
    }

    pub fn add_node(&mut self, id: Id, config: Config) {
        let engine = Engine::new(
            id,
            config.clone(),
            Restored::default(),
            self.now,
            self.seed ^ (id << 32),
        );
        self.nodes.insert(
            id,
            Node {
                id,
                config,
                engine: Some(engine),
                disk: Disk::default(),
                sm: BTreeMap::new(),
                events: Vec::new(),
                restarts: 0,
                discarded: 0,
                commit_seen: Index::ZERO,
            },
        );
    }

    pub fn ids(&self) -> Vec<Id> {
        self.nodes.keys().copied().collect()
    }

    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[&id]
    }

    pub fn engine(&self, id: Id) -> &Engine<Id, Cmd> {
        self.nodes[&id].engine()
    }

    fn preference(&self, id: Id) -> LeadershipPreference {
        self.nodes[&id].config.preference
    }

    // ---- membership and faults ---------------------------------------------------------------

    pub fn bond(&mut self, a: Id, b: Id) {
        let pair = (a.min(b), a.max(b));
        if a == b || !self.bonds.insert(pair) {
            return;
        }
        let (pa, pb) = (self.preference(a), self.preference(b));
        self.input(
            a,
            Input::PeerBonded {
                peer: b,
                preference: pb,
            },
        );
        self.input(
            b,
            Input::PeerBonded {
                peer: a,
                preference: pa,
            },
        );
    }

    pub fn unbond(&mut self, a: Id, b: Id) {
        if !self.bonds.remove(&(a.min(b), a.max(b))) {
            return;
        }
        self.input(a, Input::PeerUnbonded { peer: b });
        self.input(b, Input::PeerUnbonded { peer: a });
    }

    pub fn bond_all(&mut self) {
        let ids = self.ids();
        for &a in &ids {
            for &b in &ids {
                if a < b {
                    self.bond(a, b);
                }
            }
        }
    }

    /// Splits the nodes into groups: cross-group links drop everything; with `unbond`, the
    /// bonds break too (what the shell's heartbeat does after a while), shrinking the voters.
    pub fn partition(&mut self, groups: &[&[Id]], unbond: bool) {
        for (gi, ga) in groups.iter().enumerate() {
            for (gj, gb) in groups.iter().enumerate() {
                if gi == gj {
                    continue;
                }
                for &a in *ga {
                    for &b in *gb {
                        self.blocked.insert((a, b));
                        if unbond {
                            self.unbond(a, b);
                        }
                    }
                }
            }
        }
    }

    /// Cuts `id` off from everyone else.
    pub fn isolate(&mut self, id: Id, unbond: bool) {
        let rest: Vec<Id> = self.ids().into_iter().filter(|x| *x != id).collect();
        self.partition(&[&[id], &rest], unbond);
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
        self.bond_all();
    }

    pub fn crash(&mut self, id: Id) {
        let node = self.nodes.get_mut(&id).unwrap();
        node.engine = None;
        node.sm.clear();
    }

    pub fn restart(&mut self, id: Id) {
        let now = self.now;
        let node = self.nodes.get_mut(&id).unwrap();
        assert!(node.engine.is_none(), "restart of a running node");
        node.restarts += 1;
        let seed = self.seed ^ (id << 32) ^ (node.restarts << 48);
        node.engine = Some(Engine::new(
            id,
            node.config.clone(),
            node.disk.restored(),
            now,
            seed,
        ));
        node.sm = node.disk.snapshot.clone();
        node.commit_seen = node.disk.base.index;
        let peers: Vec<Id> = self
            .bonds
            .iter()
            .filter_map(|&(a, b)| {
                if a == id {
                    Some(b)
                } else if b == id {
                    Some(a)
                } else {
                    None
                }
            })
            .collect();
        for peer in peers {
            let preference = self.preference(peer);
            self.input(id, Input::PeerBonded { peer, preference });
        }
    }

    /// Crashes `id` and restarts it with an empty disk, as an in-memory member killed and
    /// restarted under the same identity. With `guard`, the shell tells the engine it may have
    /// lost state (`Input::BeginCatchUp`).
    pub fn restart_empty(&mut self, id: Id, guard: bool) {
        self.crash(id);
        self.nodes.get_mut(&id).expect("node").disk = Disk::default();
        self.restart(id);
        if guard {
            self.input(id, Input::BeginCatchUp);
        }
    }
}
