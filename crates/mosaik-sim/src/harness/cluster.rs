//! The simulated shell around K engines: carries out their outputs over a [`SimNetwork`],
//! keeps disks and state machines, manages bonds, crashes and restarts, and feeds the checkers.

use std::collections::BTreeSet;

use mosaik_raft::{
    Config, Cursor, Engine, Input, Instant, Message, Output, RequestId, Role, Vote, majority,
};

use super::fetch::Fetches;
use super::{Clients, Disk, Figure8, Id, Msg, Out, Restarts, SimNode, TornWrites};
use crate::checkers::{Cause, Checkers, View, Violation};
use crate::kv::KvStore;
use crate::net::{Event, FaultConfig, SimNetwork, SimRng};

/// K engines over a simulated network, with the checkers watching every step.
pub struct Cluster {
    /// The network and global clock.
    pub net: SimNetwork<Id, Msg>,
    /// The members, indexed by id.
    pub nodes: Vec<SimNode>,
    /// Bonded pairs `(low, high)`, as the members' shells currently see them.
    pub bonds: BTreeSet<(Id, Id)>,
    /// The clients and their history.
    pub clients: Clients,
    /// The harness's random stream (faults schedule, workload).
    pub rng: SimRng,
    /// Strict mode (`min_quorum`).
    pub strict: bool,
    /// Dynamic mode only: some leader acted (was elected, committed, confirmed a read) on a
    /// quorum smaller than a majority of all members, so two sides may have committed and one
    /// may be reverted. A bond that breaks or turns stale does not by itself count: with one
    /// member missing from an odd-sized group a majority of the rest is still a majority of all.
    pub churn: bool,
    /// During a step: how many voters the stepping member counted before its input. The
    /// engine fires due timers before it handles the input, so a member can win an election
    /// alone and then take the bond the input brings in the same step; `note_quorum` must judge
    /// the election by the smaller set (dynamic seed 13028832).
    step_voters: usize,
    /// The first violation found; the run stops there.
    pub violation: Option<Violation>,
    /// Network events processed.
    pub events: u64,
    /// Members that granted a vote since the harness last looked (adversarial reboots aim at
    /// them: a vote must survive a crash right after it was cast).
    pub just_voted: Vec<Id>,
    /// Leaders that appended to their log or advanced their commit index since the harness last
    /// looked (adversarial crashes aim at them: a leader dying mid-replication, or right after
    /// committing before anyone learnt it, is the Figure 8 shape).
    pub just_appended: Vec<Id>,
    /// Print every output (set `MOSAIK_SIM_TRACE=1` when replaying a seed).
    pub trace: bool,
    pub(super) checkers: Checkers,
    /// Restart faults: empty restarts, stale bonds, and the shell's catch-up bookkeeping.
    pub restarts: Restarts,
    /// The Figure 8 script (acts only in `Figure8` seeds).
    pub figure8: Figure8,
    /// Torn writes: what crashes keep of unflushed writes, and crashes in mid-step.
    pub torn: TornWrites,
    /// State syncs requested: `(node, source, base it must reach)`.
    pending_syncs: Vec<(Id, Id, Cursor<Id>)>,
    /// The shell's log fetches (requests, chunks in flight, counters).
    pub fetches: Fetches,
    pub(super) seed: u64,
    /// The `AppendEntries` being handled: `(receiver, leader and ranks)`, for the merge rule.
    cause: Option<(Id, Cause)>,
}

impl Cluster {
    /// `configs.len()` members with ids `0..`, all bonded to each other.
    pub fn new(configs: Vec<Config>, faults: FaultConfig, clients: Clients, seed: u64) -> Self {
        let mut net = SimNetwork::new(seed, faults);
        let rng = net.rng().fork();
        let strict = configs[0].is_strict();
        let mut nodes = Vec::new();
        for (id, config) in (0..).zip(configs) {
            net.add_node(id);
            nodes.push(SimNode {
                id,
                engine: None,
                config,
                disk: Disk::default(),
                store: KvStore::new(),
                incarnation: 0,
                role_seen: Role::Follower,
                catch_up: None,
            });
        }
        let mut cluster = Self {
            net,
            nodes,
            bonds: BTreeSet::new(),
            clients,
            rng,
            strict,
            churn: false,
            step_voters: usize::MAX,
            violation: None,
            events: 0,
            just_voted: Vec::new(),
            just_appended: Vec::new(),
            trace: std::env::var_os("MOSAIK_SIM_TRACE").is_some(),
            checkers: Checkers::default(),
            pending_syncs: Vec::new(),
            fetches: Fetches::new(seed),
            restarts: Restarts::off(seed),
            torn: TornWrites::off(),
            figure8: Figure8::new(),
            seed,
            cause: None,
        };
        for id in cluster.ids() {
            cluster.restart(id);
        }
        cluster.bond_reachable();
        cluster
    }

    /// All member ids.
    pub fn ids(&self) -> Vec<Id> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// The running members.
    pub fn up(&self) -> Vec<Id> {
        self.nodes
            .iter()
            .filter(|n| n.is_up())
            .map(|n| n.id)
            .collect()
    }

    /// Global simulated time.
    pub fn now(&self) -> u64 {
        self.net.now()
    }

    /// Whether the strong properties must hold now.
    pub fn strong(&self) -> bool {
        self.strict || !self.churn
    }

    /// The running leaders.
    pub fn leaders(&self) -> Vec<Id> {
        let leads = |n: &&SimNode| n.engine.as_ref().is_some_and(Engine::is_leader);
        self.nodes.iter().filter(leads).map(|n| n.id).collect()
    }

    pub(super) fn node(&self, id: Id) -> &SimNode {
        &self.nodes[usize::try_from(id).expect("small id")]
    }

    pub(super) fn node_mut(&mut self, id: Id) -> &mut SimNode {
        &mut self.nodes[usize::try_from(id).expect("small id")]
    }

    /// Records a violation (the first one wins) so the run stops.
    pub fn fail(&mut self, violation: Violation) {
        self.violation.get_or_insert(violation);
    }

    // ---- driving engines ---------------------------------------------------------------------

    /// Feeds `input` to `id` (ignored while it is crashed) and carries out everything it emits.
    pub fn input(&mut self, id: Id, input: Input<Id, crate::kv::Put>) {
        self.run_step(id, input, false);
    }

    /// As [`input`](Self::input) for a message or timer from the network: a crash armed for
    /// `id` (see `torn`) may cut this step.
    fn input_from_network(&mut self, id: Id, input: Input<Id, crate::kv::Put>) {
        self.run_step(id, input, true);
    }

    fn run_step(&mut self, id: Id, input: Input<Id, crate::kv::Put>, cut: bool) {
        let now = Instant::from_millis(self.net.local_time(id));
        // Only `note_quorum` reads the count, and only until churn is noted in dynamic mode;
        // counting allocates, on every step.
        let judged = !self.strict && !self.churn;
        let Some(engine) = self.node_mut(id).engine.as_mut() else {
            return;
        };
        let voters = if judged {
            engine.voters().len()
        } else {
            usize::MAX
        };
        engine.handle(now, input);
        let notices = engine.holds_commit_notices();
        self.step_voters = voters;
        // A real shell feeds `Idle` only when nothing else is ready: half the steps play that
        // (held commit notices go out now), the other half leave them for the next entries, a
        // heartbeat or a later idle step.
        if notices && self.rng.gen_bool(0.5) {
            let engine = self.node_mut(id).engine.as_mut().expect("running");
            engine.handle(now, Input::Idle);
        }
        // Group commit as the real shell does it: one barrier before the first output that
        // depends on the writes. Beyond that (Raft thesis §10.2.1): while everything unflushed
        // is plain appends of this step, a leader's `AppendEntries` leave before the barrier,
        // `ProposeResult`s wait for it, and the step ends with it. The engine sees no input
        // between those sends and the barrier, so the acknowledgements that could commit the
        // entries are handled once the leader's own copy is durable.
        let mut appends_only = !self.node(id).disk.must_sync();
        let mut deferred = Vec::new();
        let mut sent_early = false;
        let mut carried = 0;
        while let Some(out) = self
            .node_mut(id)
            .engine
            .as_mut()
            .and_then(Engine::poll_output)
        {
            if out.is_persist() {
                let disk = &self.node(id).disk;
                appends_only &= out.is_plain_append(disk.written_last())
                    || disk.is_commit_record_only(&out, self.strict);
            }
            let unflushed = self.node(id).disk.unflushed() > 0;
            let early = appends_only && self.node(id).disk.must_sync() && !out.is_persist();
            if early && matches!(out, Output::ProposeResult { .. }) {
                deferred.push(out);
                continue;
            }
            let early_send = early && out.is_append_entries();
            sent_early |= early_send;
            self.torn.early_appends += u64::from(early_send);
            let skip = self.torn.unflushed_send && matches!(out, Output::Send { .. });
            let barrier =
                !out.is_persist() && !skip && !early_send && self.node(id).disk.must_sync();
            if cut && let Some(unbond) = self.torn.due(id, carried, barrier && unflushed, false) {
                self.step_voters = usize::MAX;
                self.crash(id, unbond);
                return;
            }
            if barrier {
                self.flush(id);
                appends_only = true;
                for held in std::mem::take(&mut deferred) {
                    self.carry_out(id, &held);
                }
            }
            self.carry_out(id, &out);
            carried += 1;
        }
        let last_barrier = sent_early || !deferred.is_empty();
        let unflushed = self.node(id).disk.unflushed() > 0;
        if cut && let Some(unbond) = self.torn.due(id, carried, last_barrier && unflushed, true) {
            self.step_voters = usize::MAX;
            self.crash(id, unbond);
            return;
        }
        if last_barrier {
            self.flush(id);
            for held in deferred {
                self.carry_out(id, &held);
            }
        }
        self.model_catch_up(id);
        self.note_quorum(id, false);
        self.step_voters = usize::MAX;
        let engine = self.node(id).engine();
        match engine.next_deadline() {
            Some(deadline) => self.net.set_local_timer(id, deadline.as_millis()),
            None => self.net.cancel_timer(id),
        }
        self.check(id, Checkers::after_step);
    }

    /// Runs `f` on the checkers with a view of `id`; a violation stops the run.
    pub(super) fn check(
        &mut self,
        id: Id,
        f: impl FnOnce(&mut Checkers, &View<'_>) -> Result<(), Violation>,
    ) {
        let view = View {
            now: self.net.now(),
            strong: self.strict || !self.churn,
            node: &self.nodes[usize::try_from(id).expect("small id")],
            nodes: &self.nodes,
            cause: self
                .cause
                .as_ref()
                .filter(|(to, _)| *to == id)
                .map(|(_, cause)| cause),
        };
        if let Err(v) = f(&mut self.checkers, &view) {
            self.violation.get_or_insert(v);
        }
    }

    /// The shell's part: persist, send, apply, answer clients — in poll order.
    fn carry_out(&mut self, id: Id, out: &Out) {
        let now = self.net.now();
        if self.trace {
            println!("{now:>7} n{id} {out:?}");
        }
        let index = usize::try_from(id).expect("small id");
        let strict = self.strict;
        let node = &mut self.nodes[index];
        let result = match out {
            Output::Send { to, msg } => {
                if msg.kind() == "RequestVoteResponse"
                    && matches!(
                        msg,
                        Message::RequestVoteResponse {
                            vote: Vote::Granted,
                            ..
                        }
                    )
                {
                    self.just_voted.push(id);
                }
                self.net.send(id, *to, msg.clone());
                Ok(())
            }
            Output::PersistHardState(_)
            | Output::PersistLog { .. }
            | Output::PersistLogPrune { .. }
            | Output::PersistLogReset { .. } => {
                if node.role_seen == Role::Leader && matches!(out, Output::PersistLog { .. }) {
                    self.just_appended.push(id);
                }
                node.disk.persist(out, &node.store, strict)
            }
            Output::Apply { entries } => entries
                .iter()
                .try_for_each(|(index, _, put)| node.store.apply(*index, *put)),
            Output::Reverted { replay_from, .. } => {
                node.store.revert_to(replay_from.index);
                Ok(())
            }
            Output::RoleChanged(role) => {
                node.role_seen = *role;
                Ok(())
            }
            Output::NeedStateSync { leader, base } => {
                self.pending_syncs.push((id, *leader, *base));
                Ok(())
            }
            Output::NeedLogFetch {
                leader,
                after,
                up_to,
            } => {
                self.fetches.request(id, *leader, *after, *up_to);
                Ok(())
            }
            Output::ProposeResult { .. }
            | Output::Committed { .. }
            | Output::ReadReady { .. }
            | Output::ReadFailed { .. } => {
                self.clients.on_output(id, out, now, &node.store);
                Ok(())
            }
            Output::CommitAdvanced(_) => {
                if node.role_seen == Role::Leader {
                    self.just_appended.push(id);
                }
                Ok(())
            }
            Output::LeaderChanged(_) | Output::CaughtUp => Ok(()),
        };
        if matches!(out, Output::CaughtUp) {
            self.caught_up(id);
        }
        if let Err(detail) = result {
            self.fail(Violation {
                checker: "shell-contract",
                at_ms: now,
                detail: format!("node {id}: {detail} ({out:?})"),
            });
        }
        self.note_quorum(id, matches!(out, Output::RoleChanged(Role::Leader)));
        self.check(id, |checkers, view| checkers.on_output(view, out));
    }

    /// The durability barrier of `id`'s storage.
    pub(super) fn flush(&mut self, id: Id) {
        self.node_mut(id).disk.flush();
    }

    /// Dynamic mode: if `id` leads with voters whose majority is smaller than a majority of all
    /// members, quorums no longer intersect and the strong properties stop (`churn`).
    /// `elected`: the output at hand says it became leader. That counts even if it no longer
    /// leads: outputs are read after the whole step, and an overdue election timer fires before
    /// the input that woke the member, which can move it to a later ballot of the same round
    /// (dynamic 5-node seed 33011215 elected a lone member in a round another member won with a
    /// majority, and the one-leader-per-round check took the quorums for intersecting).
    fn note_quorum(&mut self, id: Id, elected: bool) {
        if self.strict || self.churn {
            return;
        }
        let Some(engine) = self.node(id).engine.as_ref() else {
            return;
        };
        let voters = engine.voters().len().min(self.step_voters);
        if (elected || engine.is_leader()) && majority(voters) < majority(self.nodes.len()) {
            self.churn = true;
        }
    }

    /// Processes one pending state sync, one log-fetch action, one shell announcement or
    /// stale-bond replacement, or one network event due by `until`. Returns false (with time
    /// advanced to `until`) when there was none.
    pub fn step(&mut self, until: u64) -> bool {
        if let Some((id, source, base)) = self.pending_syncs.pop() {
            self.state_sync(id, source, base);
            return true;
        }
        if self.step_fetch() || self.step_announce() || self.step_stale_bonds() {
            return true;
        }
        match self.net.next_event_until(until) {
            Some(Event::Deliver { from, to, msg }) => {
                self.events += 1;
                // A stale bond: the holder writes to a dead connection and the restarted member
                // has no bond to it, so nothing passes either way.
                let holds = |at: Cursor<Id>| {
                    let receiver = self.node(to).engine.as_ref();
                    receiver.is_some_and(|e| e.log().term_at(at.index) == Some(at.term))
                };
                let msg = (!self.is_stale(from, to))
                    .then(|| self.figure8.pass(from, msg, holds))
                    .flatten();
                if let Some(msg) = msg {
                    self.note_delivery(to, &msg);
                    self.cause = self.cause_of(to, &msg).map(|cause| (to, cause));
                    self.input_from_network(to, Input::Message { from, msg });
                    self.cause = None;
                }
                true
            }
            Some(Event::Timer { node }) => {
                self.events += 1;
                self.input_from_network(node, Input::Tick);
                true
            }
            None => false,
        }
    }

    /// The leader of `msg` if it is an `AppendEntries` for running `to`, with both sides' commit
    /// records as they stand before `to` handles it.
    fn cause_of(&self, to: Id, msg: &Msg) -> Option<Cause> {
        let Message::AppendEntries { leader, term, .. } = msg else {
            return None;
        };
        // The network may deliver a message after its sender crashed and restarted (or stepped
        // down): unless the sender still leads that term, its engine no longer describes the
        // message, and the revert is not judged.
        let source =
            (self.node(*leader).engine.as_ref()).filter(|e| e.term() == *term && e.is_leader())?;
        Some(Cause::new(*leader, source, self.node(to).engine.as_ref()?))
    }

    /// Plays the shell's state sync: installs the source's applied state on `id` at once.
    ///
    /// The state is served even when the source has not applied the requested `base` yet: after
    /// a dynamic-mode heal the new leader may be unable to commit its own entries until the
    /// diverged followers reset, so waiting for the base would deadlock. The engine handles an
    /// older snapshot (it reports the rewind as `Reverted`); in strict mode the source's
    /// committed state always agrees with the requester's.
    fn state_sync(&mut self, id: Id, source: Id, _base: Cursor<Id>) {
        let (Some(from), Some(to)) = (&self.node(source).engine, &self.node(id).engine) else {
            return;
        };
        if from.is_catching_up() {
            // It restarted empty since it asked for the sync (the request was its old
            // incarnation's): it serves nothing, like the real transfer, which fetches only
            // anchors a live leader offers.
            return;
        }
        let applied = from.applied_index();
        let Some(term) = from.log().term_at(applied) else {
            return;
        };
        // The history installed is the source's: a rewind it causes is judged by its rank.
        let mut cause = Cause::new(source, from, to);
        cause.snapshot = true;
        let store = self.node(source).store.prefix(applied);
        self.node_mut(id).store = store;
        let cursor = Cursor::new(term, applied);
        self.cause = Some((id, cause));
        self.input(id, Input::SnapshotInstalled { cursor });
        self.cause = None;
        self.check(id, |checkers, view| {
            checkers.on_reset(view);
            Ok(())
        });
    }

    /// Lets `id` prune its log up to `up_to` (the shell keeps a snapshot there).
    pub fn prune(&mut self, id: Id, up_to: mosaik_raft::Index) {
        self.input(id, Input::PruneLog { up_to });
    }

    /// Issues a strong read at `id` after telling the checkers.
    pub fn read(&mut self, id: Id, request_id: RequestId) {
        self.checkers.on_read_issued(id, request_id);
        self.input(id, Input::Read { request_id });
    }
}
