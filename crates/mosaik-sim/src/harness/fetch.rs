//! The simulated shell's log fetch (`Output::NeedLogFetch`): a lagging member's missing entries
//! are served in chunks of random size by random running peers — only what each peer has
//! committed, chained to that peer's own log — and arrive late, out of order, or not at all,
//! possibly after the fetch ended or the member restarted. `LogFetchDone` follows, sometimes
//! before the chunks.

use mosaik_raft::{Cursor, Index, Input};

use super::{Cluster, Id};
use crate::kv::Put;
use crate::net::SimRng;

/// Largest chunk a simulated peer serves at once.
const MAX_CHUNK: u64 = 8;
/// Share of chunks lost on the way.
const DROP_PROBABILITY: f64 = 0.1;

/// A fetch the engine asked for: `(node, leader, after, up_to)`.
type Request = (Id, Id, Cursor<Id>, Index);

/// Something the simulated shell hands a fetching member at `due` (global milliseconds).
struct Delivery {
    due: u64,
    node: Id,
    input: Input<Id, Put>,
}

/// Pending fetch work of the simulated shell, and what it did (for the sweep summary).
pub struct Fetches {
    rng: SimRng,
    /// Requests not yet planned into deliveries. Bounded by the engines: at most one per
    /// `AppendEntries` a member receives, and each is planned at the next step.
    requests: Vec<Request>,
    /// Planned deliveries. A request adds at most one per missing entry plus its
    /// `LogFetchDone`, and each is handed over within 600 simulated milliseconds, so the queue
    /// never outgrows the gaps being fetched.
    deliveries: Vec<Delivery>,
    /// `NeedLogFetch` outputs seen.
    pub started: u64,
    /// Chunks handed to engines.
    pub chunks: u64,
    /// Entries engines appended from fetched chunks.
    pub appended: u64,
}

impl Fetches {
    /// An idle fetch shell whose choices are drawn from a stream of its own, so seeds without
    /// log fetch replay exactly the schedules they had before it existed.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SimRng::new(seed ^ 0xfe7c_f37c_0000_0001),
            requests: Vec::new(),
            deliveries: Vec::new(),
            started: 0,
            chunks: 0,
            appended: 0,
        }
    }

    /// Records an engine's `NeedLogFetch`.
    pub fn request(&mut self, node: Id, leader: Id, after: Cursor<Id>, up_to: Index) {
        self.started += 1;
        self.requests.push((node, leader, after, up_to));
    }
}

impl Cluster {
    /// Plans one fetch request or hands over one due delivery. Returns false if there was none.
    pub(super) fn step_fetch(&mut self) -> bool {
        if let Some(request) = self.fetches.requests.pop() {
            self.plan_fetch(request);
            return true;
        }
        let now = self.now();
        let Some(position) = self.fetches.deliveries.iter().position(|d| d.due <= now) else {
            return false;
        };
        let Delivery { node, input, .. } = self.fetches.deliveries.swap_remove(position);
        let before = self.last_index(node);
        if matches!(input, Input::EntriesFetched { .. }) {
            self.fetches.chunks += 1;
        }
        self.input(node, input);
        let after = self.last_index(node);
        if let (Some(before), Some(after)) = (before, after) {
            self.fetches.appended += after.get().saturating_sub(before.get());
        }
        true
    }

    fn last_index(&self, id: Id) -> Option<Index> {
        let node = &self.nodes[usize::try_from(id).ok()?];
        node.engine.as_ref().map(|e| e.last_log().index)
    }

    /// Splits `after + 1 ..= up_to` into random chunks, each served by a random running peer —
    /// mostly not the leader (a real shell asks the leader last, to spare it).
    fn plan_fetch(&mut self, (node, leader, after, up_to): Request) {
        let now = self.now();
        let peers: Vec<Id> = self.up().into_iter().filter(|&p| p != node).collect();
        let others: Vec<Id> = peers.iter().copied().filter(|&p| p != leader).collect();
        let mut latest = now;
        let mut from = after.index.next();
        while from <= up_to && !peers.is_empty() {
            let rng = &mut self.fetches.rng;
            let size = rng.gen_range(1..=MAX_CHUNK);
            let to = Index((from.get() + size - 1).min(up_to.get()));
            let pool = if others.is_empty() || rng.gen_bool(0.15) {
                &peers
            } else {
                &others
            };
            let source = *rng.choose(pool).expect("non-empty");
            let dropped = rng.gen_bool(DROP_PROBABILITY);
            // Mostly prompt, sometimes late enough to cross the fetch's end or a restart.
            let delay = if rng.gen_bool(0.2) {
                rng.gen_range(50..=600)
            } else {
                rng.gen_range(0..=20)
            };
            if !dropped && let Some(input) = self.serve(source, from, to) {
                let due = now + delay;
                latest = latest.max(due);
                self.fetches.deliveries.push(Delivery { due, node, input });
            }
            from = to.next();
        }
        let rng = &mut self.fetches.rng;
        // Usually after the last chunk; sometimes early, so chunks reach a member whose fetch
        // already ended.
        let due = if rng.gen_bool(0.15) {
            now + rng.gen_range(0..=10)
        } else {
            latest + rng.gen_range(0..=30)
        };
        let input = Input::LogFetchDone;
        self.fetches.deliveries.push(Delivery { due, node, input });
    }

    /// What `source` serves for `from ..= to`: its committed entries in that range, chained to
    /// its own entry before them. `None` if it has not committed `from` or pruned `from - 1`.
    fn serve(&self, source: Id, from: Index, to: Index) -> Option<Input<Id, Put>> {
        let engine = self.nodes[usize::try_from(source).ok()?].engine.as_ref()?;
        let to = to.min(engine.commit_index());
        if from > to {
            return None;
        }
        let prev_index = from.prev();
        let prev = Cursor::new(engine.log().term_at(prev_index)?, prev_index);
        let count = usize::try_from(to.get() - prev_index.get()).ok()?;
        let entries = engine.log().entries(from, count);
        Some(Input::EntriesFetched { prev, entries })
    }
}
