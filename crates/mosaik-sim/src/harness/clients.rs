//! Simulated clients: each issues one operation at a time (put, strong get, weak get) at a
//! random member and records the history the linearizability checker judges.
//!
//! Only outcomes the engine vouches for complete an operation: `Committed(Ok)` for a put,
//! `ReadReady` for a strong get. Everything else — `Offline`, `Superseded` (a forwarded command
//! may still have been appended under another index), a timeout, the member crashing — leaves
//! the operation pending (`ret: None`): it may or may not have taken effect.

use std::collections::BTreeMap;

use mosaik_raft::{Output, RequestId};

use super::{Id, Out};
use crate::checkers::linearizable::KvOp;
use crate::kv::{KvStore, Put};
use crate::linearizability::{KvInput, KvOutput, Operation};
use crate::net::SimRng;

/// What a client asks for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Propose this put at the member.
    Put(Put),
    /// A strong (read-index) get of the key.
    StrongGet(u64),
    /// A weak get of the key: the member's local state, answered at once.
    WeakGet(u64),
}

struct InFlight {
    client: usize,
    node: Id,
    op: usize,
    key: u64,
    deadline: u64,
}

/// The client population, its pending requests and the recorded history.
pub struct Clients {
    /// Per client: when it may issue its next request (`None` while one is outstanding).
    next_at: Vec<Option<u64>>,
    in_flight: BTreeMap<RequestId, InFlight>,
    history: Vec<KvOp>,
    /// Key of every value ever proposed (values are unique), to vet weak reads.
    written: BTreeMap<u64, u64>,
    next_request: u64,
    next_value: u64,
    keys: u64,
    timeout_ms: u64,
    /// Whether new requests are issued (off during the final quiesce phase).
    pub active: bool,
    /// Weak reads that returned a value nobody wrote to that key.
    pub fabricated: Vec<String>,
    /// Counters: completed puts, completed strong gets, weak gets.
    pub completed: (u64, u64, u64),
}

impl Clients {
    /// `count` clients over `keys` keys; requests not answered within `timeout_ms` are abandoned.
    pub fn new(count: usize, keys: u64, timeout_ms: u64) -> Self {
        Self {
            next_at: vec![Some(0); count],
            in_flight: BTreeMap::new(),
            history: Vec::new(),
            written: BTreeMap::new(),
            next_request: 1,
            next_value: 1,
            keys,
            timeout_ms,
            active: true,
            fabricated: Vec::new(),
            completed: (0, 0, 0),
        }
    }

    /// The recorded history.
    pub fn history(&self) -> &[KvOp] {
        &self.history
    }

    /// Requests due at `now`: `(node, request id, request)` for idle clients, each sent to a
    /// random member of `up`. Weak gets are not tracked; answer them with [`Clients::weak_get`].
    pub fn due(&mut self, now: u64, up: &[Id], rng: &mut SimRng) -> Vec<(Id, RequestId, Request)> {
        self.expire(now, rng);
        let mut due = Vec::new();
        if !self.active || up.is_empty() {
            return due;
        }
        for client in 0..self.next_at.len() {
            if self.next_at[client].is_none_or(|at| at > now) {
                continue;
            }
            let node = *rng.choose(up).expect("some member is up");
            let key = rng.gen_range(0..self.keys);
            let request_id = RequestId(self.next_request);
            self.next_request += 1;
            let roll = rng.gen_range(0..100);
            let (request, input) = if roll < 45 {
                let value = self.next_value;
                self.next_value += 1;
                self.written.insert(value, key);
                (
                    Request::Put(Put { key, value }),
                    KvInput::Put { key, value },
                )
            } else if roll < 85 {
                (Request::StrongGet(key), KvInput::Get { key })
            } else {
                self.next_at[client] = Some(now + rng.gen_range(5..60));
                due.push((node, request_id, Request::WeakGet(key)));
                continue;
            };
            self.history
                .push(Operation::pending(client as u64, input, now));
            let deadline = now + self.timeout_ms;
            let op = self.history.len() - 1;
            self.in_flight.insert(
                request_id,
                InFlight {
                    client,
                    node,
                    op,
                    key,
                    deadline,
                },
            );
            self.next_at[client] = None;
            due.push((node, request_id, request));
        }
        due
    }

    /// A weak get answered from `store`: any value is allowed except one never written to `key`.
    pub fn weak_get(&mut self, node: Id, key: u64, store: &KvStore) {
        self.completed.2 += 1;
        if let Some(value) = store.get(key)
            && self.written.get(&value) != Some(&key)
        {
            self.fabricated
                .push(format!("node {node} returned {value} for key {key}"));
        }
    }

    /// Abandons requests past their deadline: they stay pending in the history.
    fn expire(&mut self, now: u64, rng: &mut SimRng) {
        let expired: Vec<RequestId> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for request in expired {
            self.abandon(request, now + rng.gen_range(5..60));
        }
    }

    fn abandon(&mut self, request: RequestId, next_at: u64) {
        if let Some(flight) = self.in_flight.remove(&request) {
            self.next_at[flight.client] = Some(next_at);
        }
    }

    /// Every request outstanding at a crashed member is abandoned.
    pub fn on_crash(&mut self, node: Id) {
        let lost: Vec<RequestId> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.node == node)
            .map(|(id, _)| *id)
            .collect();
        for request in lost {
            // Retry soon; the exact pause does not matter for coverage.
            let next_at = self.in_flight[&request].deadline;
            self.abandon(request, next_at);
        }
    }

    /// A client-facing output of `node`, carried out at global time `now`.
    pub fn on_output(&mut self, node: Id, out: &Out, now: u64, store: &KvStore) {
        let (request, output) = match out {
            Output::Committed {
                request_id,
                result: Ok(_),
            } => (*request_id, Some(KvOutput::Ok)),
            Output::ReadReady { request_id, .. } => {
                let Some(flight) = self.in_flight.get(request_id) else {
                    return;
                };
                (*request_id, Some(KvOutput::Value(store.get(flight.key))))
            }
            Output::ProposeResult {
                request_id,
                result: Err(_),
            }
            | Output::Committed {
                request_id,
                result: Err(_),
            }
            | Output::ReadFailed { request_id } => (*request_id, None),
            _ => return,
        };
        let Some(flight) = self.in_flight.get(&request).filter(|f| f.node == node) else {
            return;
        };
        match output {
            Some(output) => {
                let op = &mut self.history[flight.op];
                op.ret = Some(now);
                if matches!(output, KvOutput::Ok) {
                    self.completed.0 += 1;
                } else {
                    self.completed.1 += 1;
                }
                op.output = Some(output);
                let client = flight.client;
                self.in_flight.remove(&request);
                self.next_at[client] = Some(now + 1);
            }
            None => self.abandon(request, now + 20),
        }
    }
}
