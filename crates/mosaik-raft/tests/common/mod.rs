//! A tiny deterministic cluster harness for scenario tests: N engines, a message queue with
//! latency/loss/duplication, a virtual clock, simulated disks, and invariant checks that run on
//! every output (election safety, committed-entry agreement, leader completeness, apply once).
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mosaik_raft::{
    AppendResult, Config, Cursor, Engine, Entry, HardState, Index, Input, Instant,
    LeadershipPreference, Log, Message, Output, RequestId, Restored, Role, Term, Vote,
};

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

/// Client loop: propose `cmd` at the current leader until it is reported committed (retrying
/// after `Superseded` or `Offline`, as a client would). False if it never commits in 30 s.
pub fn commit_with_retries(cluster: &mut Cluster, cmd: Cmd) -> bool {
    let deadline = cluster.now + Duration::from_secs(30);
    while cluster.now < deadline {
        let leader = cluster.wait_for_leader();
        let request = cluster.propose(leader, vec![cmd]);
        let decided = cluster.run_until(Duration::from_secs(5), |c| {
            c.commit_result(leader, request).is_some()
                || matches!(
                    c.propose_result(leader, request),
                    Some(Output::ProposeResult { result: Err(_), .. })
                )
        });
        if decided
            && matches!(
                cluster.commit_result(leader, request),
                Some(Output::Committed { result: Ok(_), .. })
            )
        {
            return true;
        }
    }
    false
}

/// splitmix64 for the harness's own faults.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    pub fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// What the shell keeps durably for one node.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    pub hard: HardState<Id>,
    pub base: Cursor<Id>,
    pub entries: Vec<Entry<Id, Cmd>>,
    /// State machine at `base` (the snapshot the shell keeps when the log is pruned).
    pub snapshot: BTreeMap<Index, Cmd>,
}

impl Disk {
    fn offset(&self, index: Index) -> usize {
        usize::try_from(index.get() - self.base.index.get() - 1).unwrap()
    }

    fn persist(&mut self, out: &Out, sm: &BTreeMap<Index, Cmd>) {
        match out {
            Output::PersistHardState(hard) => self.hard = *hard,
            Output::PersistLog {
                truncate_from,
                first_index,
                append,
            } => {
                if let Some(from) = truncate_from {
                    let keep = self.offset(*from);
                    self.entries.truncate(keep);
                }
                let expected = self.base.index + self.entries.len() as u64 + 1;
                assert_eq!(*first_index, expected, "PersistLog first_index");
                self.entries.extend(append.iter().cloned());
            }
            Output::PersistLogPrune { up_to } => {
                let drop = usize::try_from(up_to.index.get() - self.base.index.get()).unwrap();
                self.entries.drain(..drop);
                self.base = *up_to;
                self.snapshot = sm.range(..=up_to.index).map(|(i, c)| (*i, *c)).collect();
            }
            Output::PersistLogReset { base } => {
                self.entries.clear();
                self.base = *base;
                self.snapshot = sm.range(..=base.index).map(|(i, c)| (*i, *c)).collect();
            }
            _ => {}
        }
    }

    pub fn restored(&self) -> Restored<Id, Cmd> {
        Restored {
            hard_state: self.hard,
            log: Log::from_parts(self.base, self.entries.clone()),
            applied: self.base.index,
        }
    }
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
    /// Committed entries must never change (strict mode, or no partitions). Off for dynamic
    /// partition tests, where reverts are expected.
    pub check_committed: bool,
    /// Term of every index ever committed anywhere.
    pub committed: BTreeMap<Index, Term<Id>>,
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

    // ---- driving -----------------------------------------------------------------------------

    pub fn input(&mut self, id: Id, input: Input<Id, Cmd>) {
        let now = self.now;
        let Some(engine) = self.nodes.get_mut(&id).unwrap().engine.as_mut() else {
            return;
        };
        engine.handle(now, input);
        self.process(id);
    }

    fn process(&mut self, id: Id) {
        loop {
            let node = self.nodes.get_mut(&id).unwrap();
            let Some(out) = node.engine.as_mut().and_then(Engine::poll_output) else {
                return;
            };
            self.on_output(id, out);
        }
    }

    fn enqueue(&mut self, from: Id, to: Id, msg: &Msg) {
        if self.rng.percent(self.loss_percent) {
            return;
        }
        let copies = if self.rng.percent(self.dup_percent) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.latency_ms + self.rng.below(self.latency_jitter_ms + 1);
            let at = self.now + Duration::from_millis(delay);
            self.next_seq += 1;
            self.queue.insert(
                (at, self.next_seq),
                InFlight {
                    from,
                    to,
                    msg: msg.clone(),
                },
            );
        }
    }

    fn on_output(&mut self, id: Id, out: Out) {
        if std::env::var_os("RAFT_TRACE").is_some() {
            println!("{} n{id} {out:?}", self.now);
        }
        if let Output::Send { to, msg } = out {
            self.check_durable_before_send(id, &msg);
            self.enqueue(id, to, &msg);
            return;
        }
        let node = self.nodes.get_mut(&id).unwrap();
        if out.is_persist() {
            if let Output::PersistLog {
                truncate_from: Some(from),
                ..
            } = &out
            {
                assert!(
                    !node.engine().is_leader(),
                    "leader append-only: leader {id} truncated at {from}"
                );
            }
            node.disk.persist(&out, &node.sm);
            return;
        }
        match &out {
            Output::Apply { entries } => {
                for (index, _, cmd) in entries {
                    let previous = node.sm.insert(*index, *cmd);
                    assert!(
                        previous.is_none(),
                        "node {id} applied index {index} twice without a revert"
                    );
                }
            }
            Output::Reverted {
                to,
                discarded,
                replay_from,
            } => {
                assert!(
                    !self.check_committed,
                    "node {id} reverted committed entries: {out:?}"
                );
                node.discarded += discarded;
                node.commit_seen = *to;
                node.sm.retain(|index, _| *index <= replay_from.index);
            }
            Output::CommitAdvanced(index) => self.record_commit(id, *index),
            Output::RoleChanged(Role::Leader) => self.record_leader(id),
            Output::Committed {
                result: Ok(range), ..
            } => {
                self.acked_max = self.acked_max.max(*range.end());
            }
            Output::ReadReady {
                request_id,
                read_index,
            } => {
                let floor = self
                    .read_floors
                    .remove(&(id, *request_id))
                    .unwrap_or_default();
                if self.check_committed {
                    assert!(
                        *read_index >= floor,
                        "linearizability: node {id} read at {read_index} misses a write acknowledged at {floor}"
                    );
                }
            }
            Output::NeedStateSync { leader, .. } if self.auto_state_sync => {
                self.pending_syncs.push((id, *leader));
            }
            _ => {}
        }
        self.nodes.get_mut(&id).unwrap().events.push(out);
    }

    /// Ordering contract: what a message vouches for is already on disk.
    fn check_durable_before_send(&self, id: Id, msg: &Msg) {
        let node = &self.nodes[&id];
        let disk = &node.disk;
        let disk_last = disk.base.index + disk.entries.len() as u64;
        match msg {
            Message::AppendEntriesResponse {
                result: AppendResult::Success { match_index },
                ..
            } => {
                assert!(
                    *match_index <= disk_last,
                    "node {id} acked {match_index} before persisting it"
                );
            }
            Message::RequestVoteResponse {
                term,
                vote: Vote::Granted,
            } => {
                assert_eq!(
                    disk.hard.term, *term,
                    "node {id} voted before persisting the term"
                );
                if node.config.planted_bug.is_none() {
                    assert!(
                        disk.hard.vote.is_some(),
                        "node {id} voted before persisting the vote"
                    );
                }
            }
            Message::RequestVote { term, .. } | Message::AppendEntries { term, .. } => {
                assert_eq!(
                    disk.hard.term, *term,
                    "node {id} sent in a term it did not persist"
                );
            }
            _ => {}
        }
    }

    fn record_commit(&mut self, id: Id, commit: Index) {
        let node = &self.nodes[&id];
        let log = node.engine().log();
        let mut index = node.commit_seen.next().max(log.base().index).max(Index(1));
        while index <= commit {
            let term = log.term_at(index).unwrap();
            let seen = *self.committed.entry(index).or_insert(term);
            if self.check_committed {
                assert_eq!(
                    seen, term,
                    "state machine safety: index {index} committed with two terms (node {id})"
                );
            } else {
                self.committed.insert(index, term);
            }
            index = index.next();
        }
        self.nodes.get_mut(&id).unwrap().commit_seen = commit;
    }

    fn record_leader(&mut self, id: Id) {
        let engine = self.nodes[&id].engine();
        let term = engine.term();
        let previous = self.leaders_by_term.insert(term, id);
        assert!(
            previous.is_none_or(|p| p == id),
            "election safety: two leaders in term {term}"
        );
        self.leaders_by_round
            .entry(term.round())
            .or_default()
            .insert(id);
        if self.check_committed {
            // Leader completeness: every committed entry is in the new leader's log.
            let log = engine.log();
            for (index, term) in &self.committed {
                if *index > log.base().index {
                    assert_eq!(
                        log.term_at(*index),
                        Some(*term),
                        "leader completeness: node {id} misses committed {index}"
                    );
                }
            }
        }
    }

    /// Plays the shell's state sync: copies the leader's applied state to `id`.
    fn state_sync(&mut self, id: Id, leader: Id) {
        let Some(source) = self.nodes.get(&leader).and_then(|n| n.engine.as_ref()) else {
            return;
        };
        let commit = source.commit_index();
        let Some(term) = source.log().term_at(commit) else {
            return;
        };
        let sm = self.nodes[&leader].sm.clone();
        let node = self.nodes.get_mut(&id).unwrap();
        if node.engine.is_none() {
            return;
        }
        node.sm = sm;
        self.input(
            id,
            Input::SnapshotInstalled {
                cursor: Cursor::new(term, commit),
            },
        );
    }

    /// Next event time (message or timer).
    fn next_event(&self) -> Option<Instant> {
        let message = if self.auto_deliver {
            self.queue.keys().next().map(|k| k.0)
        } else {
            None
        };
        let timer = self
            .nodes
            .values()
            .filter_map(|n| n.engine.as_ref()?.next_deadline())
            .min();
        message.into_iter().chain(timer).min()
    }

    /// Runs one event. Returns false when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        if let Some((id, leader)) = self.pending_syncs.pop() {
            self.state_sync(id, leader);
            return true;
        }
        let Some(at) = self.next_event() else {
            return false;
        };
        self.now = self.now.max(at);
        let first = self.queue.keys().next().copied();
        if self.auto_deliver && first.is_some_and(|k| k.0 <= self.now) {
            let flight = self.queue.remove(&first.unwrap()).unwrap();
            self.deliver(flight);
            return true;
        }
        let due: Vec<Id> = self
            .nodes
            .values()
            .filter(|n| {
                n.engine
                    .as_ref()
                    .and_then(Engine::next_deadline)
                    .is_some_and(|d| d <= self.now)
            })
            .map(|n| n.id)
            .collect();
        for id in due {
            self.input(id, Input::Tick);
        }
        true
    }

    pub fn deliver(&mut self, flight: InFlight) {
        if self.blocked.contains(&(flight.from, flight.to)) {
            return;
        }
        self.input(
            flight.to,
            Input::Message {
                from: flight.from,
                msg: flight.msg,
            },
        );
    }

    /// Manual mode: delivers (in order) the queued messages matching `filter`; returns how many.
    pub fn deliver_where(&mut self, mut filter: impl FnMut(&InFlight) -> bool) -> usize {
        let keys: Vec<_> = self
            .queue
            .iter()
            .filter(|(_, f)| filter(f))
            .map(|(k, _)| *k)
            .collect();
        for key in &keys {
            let flight = self.queue.remove(key).unwrap();
            self.deliver(flight);
        }
        keys.len()
    }

    /// Manual mode: drops queued messages matching `filter`.
    pub fn drop_where(&mut self, mut filter: impl FnMut(&InFlight) -> bool) {
        self.queue.retain(|_, f| !filter(f));
    }

    /// Manual mode: delivers until the queue is empty (messages sent meanwhile included).
    pub fn deliver_all(&mut self) {
        while self.deliver_where(|_| true) > 0 {}
    }

    /// Manual mode: fires `id`'s timers (its clock jumps ahead) until its election timeout
    /// starts a new round.
    pub fn fire_timeout(&mut self, id: Id) {
        let round = self.engine(id).term().round();
        for _ in 0..100 {
            let node = self.nodes.get_mut(&id).unwrap();
            let engine = node.engine.as_mut().unwrap();
            let deadline = engine.next_deadline().unwrap();
            engine.handle(deadline, Input::Tick);
            self.process(id);
            if self.engine(id).term().round() > round {
                return;
            }
        }
        panic!("node {id} never started a new round");
    }

    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.next_event().is_some_and(|t| t <= end) || !self.pending_syncs.is_empty() {
            self.step();
        }
        self.now = self.now.max(end);
    }

    /// Runs until `pred` holds (checked after every event) or `max` elapses. Returns whether it
    /// held.
    pub fn run_until(&mut self, max: Duration, mut pred: impl FnMut(&Cluster) -> bool) -> bool {
        let end = self.now + max;
        loop {
            if pred(self) {
                return true;
            }
            if self.next_event().is_none_or(|t| t > end) && self.pending_syncs.is_empty() {
                self.now = self.now.max(end);
                return pred(self);
            }
            self.step();
        }
    }

    // ---- clients and queries -----------------------------------------------------------------

    pub fn leaders(&self) -> Vec<Id> {
        self.nodes
            .values()
            .filter(|n| n.engine.as_ref().is_some_and(Engine::is_leader))
            .map(|n| n.id)
            .collect()
    }

    /// The single current leader, if exactly one.
    pub fn leader(&self) -> Option<Id> {
        match self.leaders().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    pub fn wait_for_leader(&mut self) -> Id {
        assert!(
            self.run_until(Duration::from_secs(30), |c| c.leader().is_some()),
            "no leader elected"
        );
        self.leader().unwrap()
    }

    pub fn propose(&mut self, id: Id, commands: Vec<Cmd>) -> RequestId {
        let request_id = RequestId(self.next_request);
        self.next_request += 1;
        self.input(
            id,
            Input::Propose {
                request_id,
                commands,
            },
        );
        request_id
    }

    pub fn read(&mut self, id: Id) -> RequestId {
        let request_id = RequestId(self.next_request);
        self.next_request += 1;
        self.read_floors.insert((id, request_id), self.acked_max);
        self.input(id, Input::Read { request_id });
        request_id
    }

    pub fn propose_result(&self, id: Id, request: RequestId) -> Option<Out> {
        self.nodes[&id]
            .events
            .iter()
            .find(
                |e| matches!(e, Output::ProposeResult { request_id, .. } if *request_id == request),
            )
            .cloned()
    }

    pub fn commit_result(&self, id: Id, request: RequestId) -> Option<Out> {
        self.nodes[&id]
            .events
            .iter()
            .find(|e| matches!(e, Output::Committed { request_id, .. } if *request_id == request))
            .cloned()
    }

    /// `Some(Ok(read_index))`, `Some(Err(()))` on failure, `None` while pending.
    pub fn read_result(&self, id: Id, request: RequestId) -> Option<Result<Index, ()>> {
        self.nodes[&id].events.iter().find_map(|e| match e {
            Output::ReadReady {
                request_id,
                read_index,
            } if *request_id == request => Some(Ok(*read_index)),
            Output::ReadFailed { request_id } if *request_id == request => Some(Err(())),
            _ => None,
        })
    }

    /// Random faults for `rounds` × `round_ms`: crashes (at most `max_down` nodes down at
    /// once), restarts and client proposals at random nodes. Returns the commands proposed.
    pub fn chaos(&mut self, rounds: u64, round_ms: u64, max_down: usize) -> Vec<Cmd> {
        let mut rng = Rng::new(self.seed ^ 0x00C0_FFEE);
        let mut proposed = Vec::new();
        let ids = self.ids();
        for _ in 0..rounds {
            let id = ids[usize::try_from(rng.below(ids.len() as u64)).unwrap()];
            let down = self.nodes.values().filter(|n| !n.is_up()).count();
            match rng.below(10) {
                0 | 1 if self.node(id).is_up() && down < max_down => self.crash(id),
                0..=3 if !self.node(id).is_up() => self.restart(id),
                _ => {
                    let cmd = rng.next() >> 8;
                    proposed.push(cmd);
                    self.propose(id, vec![cmd]);
                }
            }
            self.run_for(Duration::from_millis(round_ms));
        }
        proposed
    }

    /// Like [`chaos`](Self::chaos), plus network faults: two-way splits and single-link cuts,
    /// with or without the bonds breaking, heals, and strong reads.
    pub fn chaos_with_partitions(&mut self, rounds: u64, round_ms: u64) {
        let mut rng = Rng::new(self.seed ^ 0x005E_ED0F_FA11);
        let ids = self.ids();
        let pick = |rng: &mut Rng| ids[usize::try_from(rng.below(ids.len() as u64)).unwrap()];
        for _ in 0..rounds {
            let unbond = rng.percent(50);
            match rng.below(12) {
                0 => {
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    for &id in &ids {
                        if rng.percent(50) {
                            a.push(id);
                        } else {
                            b.push(id);
                        }
                    }
                    self.partition(&[&a, &b], unbond);
                }
                1 => {
                    let (x, y) = (pick(&mut rng), pick(&mut rng));
                    if x != y {
                        self.blocked.insert((x, y));
                        self.blocked.insert((y, x));
                        if unbond {
                            self.unbond(x, y);
                        }
                    }
                }
                2 => self.heal(),
                3 => {
                    let id = pick(&mut rng);
                    if self.node(id).is_up() {
                        self.crash(id);
                    } else {
                        self.restart(id);
                    }
                }
                4 | 5 => {
                    let id = pick(&mut rng);
                    self.read(id);
                }
                _ => {
                    let id = pick(&mut rng);
                    self.propose(id, vec![rng.next() >> 8]);
                }
            }
            self.run_for(Duration::from_millis(round_ms));
        }
    }

    /// Restarts every crashed node and clears network faults.
    pub fn calm(&mut self) {
        self.loss_percent = 0;
        self.dup_percent = 0;
        self.heal();
        for id in self.ids() {
            if !self.node(id).is_up() {
                self.restart(id);
            }
        }
    }

    // ---- invariants --------------------------------------------------------------------------

    /// Log matching: if two logs hold an entry with the same term at the same index, they are
    /// identical up to that index (over the range both still hold).
    pub fn check_log_matching(&self) {
        let live: Vec<&Node> = self.nodes.values().filter(|n| n.is_up()).collect();
        for (i, a) in live.iter().enumerate() {
            for b in &live[i + 1..] {
                let (la, lb) = (a.engine().log(), b.engine().log());
                let low = la.base().index.max(lb.base().index);
                let mut index = la.last_index().min(lb.last_index());
                while index > low && la.term_at(index) != lb.term_at(index) {
                    index = index.prev();
                }
                while index > low {
                    assert_eq!(
                        la.get(index),
                        lb.get(index),
                        "log matching: nodes {} and {} differ at {index}",
                        a.id,
                        b.id
                    );
                    index = index.prev();
                }
            }
        }
    }

    /// State machine safety: no two nodes applied different commands at the same index.
    pub fn check_state_machines(&self) {
        let mut seen: BTreeMap<Index, (Id, Cmd)> = BTreeMap::new();
        for node in self.nodes.values().filter(|n| n.is_up()) {
            for (index, cmd) in &node.sm {
                let (other, theirs) = *seen.entry(*index).or_insert((node.id, *cmd));
                assert_eq!(
                    theirs, *cmd,
                    "state machine safety: nodes {other} and {} at {index}",
                    node.id
                );
            }
        }
    }

    /// Prints every node's state when `RAFT_DUMP` is set (debugging aid).
    pub fn dump(&self) {
        if std::env::var_os("RAFT_DUMP").is_some() {
            for n in self.nodes.values() {
                let e = n.engine();
                println!(
                    "n{} {:?} term {} leader {:?} commit {} last {} base {} peers {:?} disc {}",
                    n.id,
                    e.role(),
                    e.term(),
                    e.leader(),
                    e.commit_index(),
                    e.last_log(),
                    e.log().base(),
                    e.peers().keys().collect::<Vec<_>>(),
                    n.discarded
                );
                for (i, entry) in e.log().iter_from(Index(15)) {
                    println!("   {i} {} {:?}", entry.term, entry.payload);
                }
            }
        }
    }

    /// Every live node has applied exactly the same commands.
    pub fn assert_converged(&self) {
        self.dump();
        let live: Vec<&Node> = self.nodes.values().filter(|n| n.is_up()).collect();
        for node in &live[1..] {
            assert_eq!(
                node.sm, live[0].sm,
                "nodes {} and {} did not converge",
                live[0].id, node.id
            );
            assert_eq!(
                node.engine().commit_index(),
                live[0].engine().commit_index()
            );
        }
    }

    /// At most one leader per round (strict mode, or dynamic mode without partitions).
    pub fn check_one_leader_per_round(&self) {
        for (round, leaders) in &self.leaders_by_round {
            assert!(
                leaders.len() <= 1,
                "two leaders in round {round}: {leaders:?}"
            );
        }
    }
}
