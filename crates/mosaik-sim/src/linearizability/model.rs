//! What the checker checks against: a sequential model, and the operations clients observed.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification: the behaviour a linearizable system must be indistinguishable from.
///
/// The model is a pure function from a state and an operation to the next state. It never
/// mutates: the search keeps many states alive at once and memoizes them, hence `Clone + Eq +
/// Hash` on the state.
pub trait Model: Clone {
    /// What a client asked for.
    type Input: Clone + Debug;
    /// What the client was told.
    type Output: Clone + Debug + PartialEq;
    /// The model's state between operations.
    type State: Clone + Eq + Hash + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state`, given that the client observed `output`.
    ///
    /// Returns the next state, or `None` if `output` is impossible from `state`.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;

    /// Applies `input` to `state` when nobody saw the output (a request that timed out).
    ///
    /// This must always succeed: an operation whose outcome was never observed cannot contradict
    /// anything by itself. The checker relies on that to omit such operations (equivalently, to
    /// linearize them after everything else).
    fn step_unobserved(&self, state: &Self::State, input: &Self::Input) -> Self::State;

    /// Splits a history into independent parts that can be checked separately, as lists of
    /// indices into `history`.
    ///
    /// Linearizability is compositional (P-compositionality, Herlihy & Wing; Lowe): a history of a
    /// key-value store is linearizable exactly when each key's sub-history is, and checking many
    /// small histories is exponentially cheaper than checking one large one. The default keeps
    /// the history whole. Every index must appear in exactly one part.
    fn partition(&self, history: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..history.len()).collect()]
    }

    /// Positions in `part` (one partition) of unobserved operations the search may ignore.
    ///
    /// Unobserved operations are the checker's weak spot: each may be placed at any point after
    /// its call or nowhere, and proving a violation means ruling out every such placement. A
    /// model that can tell an operation could never matter — say, a write whose value nobody
    /// ever read — saves that work. The obligation: if the partition has a linearization that
    /// places the operation, it must also have one that leaves it out. The default drops nothing.
    fn droppable(&self, part: &[&Operation<Self::Input, Self::Output>]) -> Vec<usize> {
        let _ = part;
        Vec::new()
    }
}

/// One client operation as the client observed it.
///
/// Times are any monotonic clock shared by all clients (in the simulator: global virtual time).
/// An operation with an `output` took effect exactly once, at some instant between `call` and
/// `ret`. An operation without an `output` (the client timed out, the node crashed, the answer
/// was lost) may have taken effect at any instant after `call` — even after the client gave up —
/// or never; its `ret` is then irrelevant to the check.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Operation<I, O> {
    /// Who issued the operation (for reports; each client should have one operation at a time).
    pub client: u64,
    /// What was asked.
    pub input: I,
    /// When the request was issued.
    pub call: u64,
    /// When the response arrived; `None` if it never did.
    pub ret: Option<u64>,
    /// The response; `None` if its outcome is unknown.
    pub output: Option<O>,
}

impl<I, O> Operation<I, O> {
    /// An operation that returned `output` at `ret`.
    pub fn completed(client: u64, input: I, call: u64, ret: u64, output: O) -> Self {
        Self {
            client,
            input,
            call,
            ret: Some(ret),
            output: Some(output),
        }
    }

    /// An operation that never returned: it may or may not have taken effect.
    pub fn pending(client: u64, input: I, call: u64) -> Self {
        Self {
            client,
            input,
            call,
            ret: None,
            output: None,
        }
    }

    /// Whether the outcome was observed, so the operation must appear in any linearization.
    pub fn is_observed(&self) -> bool {
        self.output.is_some()
    }

    /// The latest instant the operation can take effect: its return if observed, else never.
    pub(super) fn deadline(&self) -> u64 {
        match (&self.output, self.ret) {
            (Some(_), Some(ret)) => ret,
            // An observed output without a return time only says it happened at some point.
            _ => u64::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_what_was_observed() {
        assert_eq!(Operation::completed(0, (), 1, 5, ()).deadline(), 5);
        assert_eq!(Operation::<(), ()>::pending(0, (), 1).deadline(), u64::MAX);
        let timed_out = Operation::<(), ()> {
            ret: Some(9),
            ..Operation::pending(0, (), 1)
        };
        assert_eq!(timed_out.deadline(), u64::MAX);
        assert!(!timed_out.is_observed());
        let late = Operation {
            ret: None,
            ..Operation::completed(0, (), 1, 5, ())
        };
        assert_eq!(late.deadline(), u64::MAX);
        assert!(late.is_observed());
    }
}
