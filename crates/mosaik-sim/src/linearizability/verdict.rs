//! What a check concludes, with enough detail to debug a violation.

use std::fmt;

use super::{Limit, Model, Operation};

/// The answer of [`check`](super::check).
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Verdict<M: Model> {
    /// Some order of the operations respects both real time and the model.
    Linearizable,
    /// No such order exists; the violation says where the search got stuck.
    NotLinearizable(Box<Violation<M>>),
    /// The budget ran out first. Never treat this as a pass: count it and report it.
    Unknown(Exhausted),
}

impl<M: Model> Verdict<M> {
    /// Whether the history was proven linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Self::Linearizable)
    }

    /// Whether the history was proven not linearizable.
    pub fn is_violation(&self) -> bool {
        matches!(self, Self::NotLinearizable(_))
    }

    /// Whether the budget ran out before a decision.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown(_))
    }
}

/// Why a history is not linearizable, described by the search's furthest attempt.
///
/// The search tries to explain the history in real-time order. Every attempt eventually reaches
/// the return of some operation that it cannot place; the attempt that got furthest is reported.
/// The operations called up to `prefix_end` already admit no linearization, so the bug happened
/// at or before that time; everything later is irrelevant.
#[derive(Clone, Debug)]
pub struct Violation<M: Model> {
    /// Which part of [`Model::partition`]'s split failed (for a key-value store: which key).
    pub partition: usize,
    /// The operation no attempt could place before its return, with its index in the history.
    pub blocked: IndexedOp<M>,
    /// The return time of `blocked`: the end of the shortest failing prefix the search saw.
    pub prefix_end: u64,
    /// The longest valid order found, with history indices, oldest first.
    pub linearized: Vec<IndexedOp<M>>,
    /// The model state after `linearized`.
    pub state: M::State,
    /// The operations called before `prefix_end` that are not in `linearized`: every one was
    /// tried next and none fit (or led to a dead end). Includes `blocked`.
    pub candidates: Vec<IndexedOp<M>>,
}

/// An operation of the checked history together with its index in it.
pub type IndexedOp<M> = (usize, Operation<<M as Model>::Input, <M as Model>::Output>);

/// How far a check got before its budget ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exhausted {
    /// The partition being searched when the budget ran out.
    pub partition: usize,
    /// The model steps taken in total.
    pub steps: u64,
    /// Which limit ran out.
    pub limit: Limit,
}

/// How many of the last linearized operations a report shows; the rest only adds noise.
const REPORTED_TAIL: usize = 8;

impl<M: Model> fmt::Display for Verdict<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Linearizable => write!(f, "linearizable"),
            Self::NotLinearizable(violation) => write!(f, "{violation}"),
            Self::Unknown(exhausted) => write!(
                f,
                "unknown: {:?} budget exhausted after {} steps in partition {}",
                exhausted.limit, exhausted.steps, exhausted.partition
            ),
        }
    }
}

impl<M: Model> fmt::Display for Violation<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "not linearizable: partition {}, no valid order up to time {}",
            self.partition, self.prefix_end
        )?;
        let skipped = self.linearized.len().saturating_sub(REPORTED_TAIL);
        writeln!(f, "  longest valid order ({} ops):", self.linearized.len())?;
        if skipped > 0 {
            writeln!(f, "    ... {skipped} earlier ops")?;
        }
        for (index, op) in &self.linearized[skipped..] {
            writeln!(f, "    {}", describe(*index, op))?;
        }
        writeln!(f, "  state after it: {:?}", self.state)?;
        writeln!(
            f,
            "  cannot place: {}",
            describe(self.blocked.0, &self.blocked.1)
        )?;
        write!(f, "  other candidates at that point:")?;
        let others: Vec<_> = self
            .candidates
            .iter()
            .filter(|(index, _)| *index != self.blocked.0)
            .collect();
        if others.is_empty() {
            write!(f, " none")?;
        }
        for (index, op) in others {
            write!(f, "\n    {}", describe(*index, op))?;
        }
        Ok(())
    }
}

/// One line per operation: `#index client c [call, ret] input -> output`.
fn describe<I: fmt::Debug, O: fmt::Debug>(index: usize, op: &Operation<I, O>) -> String {
    let ret = op.ret.map_or_else(|| "never".to_owned(), |t| t.to_string());
    let output = op
        .output
        .as_ref()
        .map_or_else(|| "unknown".to_owned(), |o| format!("{o:?}"));
    format!(
        "#{index} client {} [{}, {ret}] {:?} -> {output}",
        op.client, op.call, op.input
    )
}
