//! Driving the cluster: feeding inputs, carrying out outputs (the simulated shell), delivering
//! messages and firing timers in virtual time.

use std::time::Duration;

use mosaik_raft::{Cursor, Engine, Input, Instant, Message, Output, Role};

use super::{Cluster, Cmd, Id, InFlight, Msg, Out};

impl Cluster {
    pub fn input(&mut self, id: Id, input: Input<Id, Cmd>) {
        let now = self.now;
        let Some(engine) = self.nodes.get_mut(&id).unwrap().engine.as_mut() else {
            return;
        };
        engine.handle(now, input);
        // A shell with nothing else ready: held commit notices go out at once, so tests see
        // commit indexes spread as soon as they advance.
        if self.idle && engine.holds_commit_notices() {
            engine.handle(now, Input::Idle);
        }
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

    /// Manual mode: fires `id`'s timers (its clock, and the cluster's, jump ahead) until it asks
    /// for votes, i.e. its election timeout fired.
    pub fn fire_timeout(&mut self, id: Id) {
        for _ in 0..100 {
            let node = self.nodes.get_mut(&id).unwrap();
            let engine = node.engine.as_mut().unwrap();
            let deadline = engine.next_deadline().unwrap();
            engine.handle(deadline, Input::Tick);
            self.now = self.now.max(deadline);
            let before = self.queue.len();
            self.process(id);
            let asked = self
                .queue
                .values()
                .skip(before)
                .any(|f| matches!(f.msg, Message::RequestVote { .. }));
            if asked || self.queue.len() > before && self.engine(id).role() == Role::Candidate {
                return;
            }
        }
        panic!("node {id} never campaigned");
    }

    /// Manual mode: `id` campaigns with only `voters` reachable (pre-vote, then the election,
    /// learning newer rounds from refusals) until it leads.
    pub fn elect(&mut self, id: Id, voters: &[Id]) {
        for _ in 0..5 {
            self.drop_where(|_| true);
            self.fire_timeout(id);
            for _ in 0..4 {
                self.deliver_where(|f| voters.contains(&f.to) && f.from == id);
                self.deliver_where(|f| f.to == id && voters.contains(&f.from));
                if self.engine(id).role() == Role::Leader {
                    return;
                }
            }
        }
        panic!("{id} did not win");
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
}
