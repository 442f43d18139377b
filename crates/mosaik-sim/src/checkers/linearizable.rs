//! Linearizability of the client history, checked once per seed with the repository's
//! Wing–Gong/Lowe checker (per key, under a step budget).

use crate::linearizability::{Budget, KvInput, KvModel, KvOutput, Operation, Verdict, check};

/// One recorded client operation on the simulated store.
pub type KvOp = Operation<KvInput<u64, u64>, KvOutput<u64>>;

/// Search steps allowed per history. Steps rather than wall time keep the verdict a pure
/// function of the seed, so a replay reproduces an `Unknown` too.
pub const STEP_BUDGET: u64 = 2_000_000;

/// The outcome of checking one history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every key's history is linearizable.
    Linearizable,
    /// The budget ran out: neither a pass nor a failure, counted and reported as unknown.
    Unknown(String),
    /// A violation, described.
    Violation(String),
}

/// Checks `history` against a key-value register per key.
pub fn check_history(history: &[KvOp]) -> Outcome {
    let model = KvModel::new();
    match check(&model, history, Budget::steps(STEP_BUDGET)) {
        Verdict::Linearizable => Outcome::Linearizable,
        Verdict::Unknown(exhausted) => Outcome::Unknown(format!("{exhausted:?}")),
        verdict @ Verdict::NotLinearizable(_) => Outcome::Violation(format!("{verdict}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_read_is_a_violation() {
        let history = vec![
            Operation::completed(0, KvInput::Put { key: 1, value: 5 }, 0, 10, KvOutput::Ok),
            Operation::completed(1, KvInput::Get { key: 1 }, 20, 30, KvOutput::Value(None)),
        ];
        assert!(matches!(check_history(&history), Outcome::Violation(_)));
        let fresh = vec![
            history[0].clone(),
            Operation::completed(1, KvInput::Get { key: 1 }, 20, 30, KvOutput::Value(Some(5))),
        ];
        assert_eq!(check_history(&fresh), Outcome::Linearizable);
    }
}
