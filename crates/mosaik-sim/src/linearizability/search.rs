//! The search for a linearization of one partition: Wing & Gong's backtracking with Lowe's
//! just-in-time linearization and memoization.
//!
//! Calls and returns are laid out in one list in real-time order. The search walks the list from
//! the front: at a call it tries to linearize that operation *now* — apply it to the model, lift
//! its call and return out of the list, restart from the front; at the first return it has run out
//! of candidates — that operation had to take effect before it returned — so it backtracks.
//! Linearizing only operations called before the first remaining return is what keeps real-time
//! order, and it is "just in time": nothing is placed earlier than it must be, which prunes most
//! of the tree. [`super::memo`] keeps the search from exploring a configuration twice.

use super::budget::Meter;
use super::entries::EntryList;
use super::memo::{Bits, Memo};
use super::{Limit, Model, Operation};

/// The result of searching one partition; indices are positions in the partition's op list.
#[derive(Debug)]
pub(super) enum Outcome<S> {
    Linearizable,
    Stuck(Stuck<S>),
    Exhausted(Limit),
}

/// The furthest point any attempt reached before failing.
#[derive(Debug)]
pub(super) struct Stuck<S> {
    /// The operation whose return could not be passed.
    pub(super) blocked: usize,
    /// The order linearized up to there.
    pub(super) linearized: Vec<usize>,
    /// The model state after `linearized`.
    pub(super) state: S,
    /// Operations called before the blocking return and not linearized (including `blocked`).
    pub(super) candidates: Vec<usize>,
}

/// Searches for a linearization of `ops` (one partition) under `model`.
pub(super) fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    meter: &mut Meter,
) -> Outcome<M::State> {
    Search::new(model, ops).run(meter)
}

/// A linearized operation: its call entry, and the model state before it.
struct Frame<S> {
    call: usize,
    state: S,
}

struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [&'a Operation<M::Input, M::Output>],
    list: EntryList,
    /// Per operation: its bit in `unobserved_done` (unobserved operations only).
    unobserved_bit: Vec<usize>,
    observed_done: Bits,
    unobserved_done: Bits,
    memo: Memo<M::State>,
    state: M::State,
    stack: Vec<Frame<M::State>>,
    /// Observed operations not yet linearized; the search succeeds when none are left.
    required_left: usize,
    furthest: Option<Stuck<M::State>>,
    /// The list position of `furthest`'s blocking return.
    furthest_at: usize,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, ops: &'a [&'a Operation<M::Input, M::Output>]) -> Self {
        let mut unobserved_bit = vec![usize::MAX; ops.len()];
        let mut unobserved = 0;
        for (op, bit) in ops.iter().zip(&mut unobserved_bit) {
            if !op.is_observed() {
                *bit = unobserved;
                unobserved += 1;
            }
        }
        // Unobserved operations get no return entry: they never have to happen, and the walk
        // always stops at an observed return before it could reach the end of the list.
        let entries = ops
            .iter()
            .enumerate()
            .map(|(i, op)| (i, op.call, op.is_observed().then(|| op.deadline())));
        Self {
            model,
            ops,
            list: EntryList::new(ops.len(), entries),
            unobserved_bit,
            observed_done: Bits::new(ops.len()),
            unobserved_done: Bits::new(unobserved),
            memo: Memo::new(),
            state: model.init(),
            stack: Vec::new(),
            required_left: ops.len() - unobserved,
            furthest: None,
            furthest_at: 0,
        }
    }

    fn run(mut self, meter: &mut Meter) -> Outcome<M::State> {
        let mut at = self.list.first();
        loop {
            // Unobserved operations left over can always be left out.
            if self.required_left == 0 {
                return Outcome::Linearizable;
            }
            // An observed return is still listed, so the walk meets a return before the end.
            debug_assert_ne!(at, 0, "walked past every return");
            if self.list.entries[at].is_call {
                if let Err(limit) = meter.tick() {
                    return Outcome::Exhausted(limit);
                }
                at = if self.try_linearize(at) {
                    self.list.first()
                } else {
                    self.list.next[at]
                };
            } else {
                self.record_stuck(at);
                let Some(frame) = self.stack.pop() else {
                    return Outcome::Stuck(self.furthest.expect("recorded just above"));
                };
                self.list.unlift(frame.call);
                let op = self.list.entries[frame.call].op;
                self.mark(op);
                self.required_left += usize::from(self.ops[op].is_observed());
                self.state = frame.state;
                at = self.list.next[frame.call];
            }
        }
    }

    /// Places the operation called at `call` next, if the model allows it and the resulting
    /// configuration is not already explored.
    fn try_linearize(&mut self, call: usize) -> bool {
        let op = self.list.entries[call].op;
        let operation = self.ops[op];
        let next = match &operation.output {
            Some(output) => self.model.step(&self.state, &operation.input, output),
            // Placing an unobserved operation that changes nothing gains nothing: every
            // continuation is also open with the operation left out.
            None => Some(self.model.step_unobserved(&self.state, &operation.input))
                .filter(|next| *next != self.state),
        };
        let Some(next) = next else {
            return false;
        };
        self.mark(op);
        if !self
            .memo
            .visit(&self.observed_done, &next, &self.unobserved_done)
        {
            self.mark(op);
            return false;
        }
        let state = std::mem::replace(&mut self.state, next);
        self.stack.push(Frame { call, state });
        self.required_left -= usize::from(operation.is_observed());
        self.list.lift(call);
        true
    }

    /// Toggles whether `op` counts as linearized.
    fn mark(&mut self, op: usize) {
        if self.ops[op].is_observed() {
            self.observed_done.flip(op);
        } else {
            self.unobserved_done.flip(self.unobserved_bit[op]);
        }
    }

    /// Remembers the current attempt if it got further than any before.
    fn record_stuck(&mut self, blocked_at: usize) {
        // List positions are in real-time order, so a later blocking return got further.
        if self.furthest.is_some() && blocked_at <= self.furthest_at {
            return;
        }
        self.furthest_at = blocked_at;
        let blocked = self.list.entries[blocked_at].op;
        let mut candidates: Vec<usize> = self.list.calls_before(blocked_at).collect();
        candidates.push(blocked);
        self.furthest = Some(Stuck {
            blocked,
            linearized: self
                .stack
                .iter()
                .map(|frame| self.list.entries[frame.call].op)
                .collect(),
            state: self.state.clone(),
            candidates,
        });
    }
}
