//! The entry point: split a history with the model's partition, search each part.

use super::budget::Meter;
use super::search::{Outcome, search};
use super::{Budget, Exhausted, Model, Operation, Verdict, Violation};

/// Decides whether `history` is linearizable with respect to `model`, within `budget`.
///
/// The history may be in any order. Each part of [`Model::partition`] is checked on its own; the
/// first violation found is returned. The budget is shared by all parts, and running out of it
/// returns [`Verdict::Unknown`] — a partial check is never reported as a pass.
///
/// # Panics
///
/// If an operation returned before it was called, or the partition does not cover every
/// operation exactly once: both are bugs in whatever recorded the history.
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Budget,
) -> Verdict<M> {
    for (index, op) in history.iter().enumerate() {
        if let Some(ret) = op.ret {
            assert!(
                op.call <= ret,
                "operation #{index} returned at {ret} before its call at {}",
                op.call
            );
        }
    }
    let parts = model.partition(history);
    assert_covers_once(&parts, history.len());

    let mut meter = Meter::start(budget);
    for (partition, indices) in parts.iter().enumerate() {
        let indices = without_droppable(model, history, indices);
        let ops: Vec<_> = indices.iter().map(|&i| &history[i]).collect();
        match search(model, &ops, &mut meter) {
            Outcome::Linearizable => {}
            Outcome::Exhausted(limit) => {
                return Verdict::Unknown(Exhausted {
                    partition,
                    steps: meter.steps(),
                    limit,
                });
            }
            Outcome::Stuck(stuck) => {
                // Translate partition-local positions back to history indices.
                let entry = |local: usize| (indices[local], history[indices[local]].clone());
                let blocked = entry(stuck.blocked);
                return Verdict::NotLinearizable(Box::new(Violation {
                    partition,
                    prefix_end: blocked.1.deadline(),
                    blocked,
                    linearized: stuck.linearized.into_iter().map(entry).collect(),
                    state: stuck.state,
                    candidates: stuck.candidates.into_iter().map(entry).collect(),
                }));
            }
        }
    }
    Verdict::Linearizable
}

/// The partition's indices minus those the model says the search may ignore.
fn without_droppable<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    indices: &[usize],
) -> Vec<usize> {
    let ops: Vec<_> = indices.iter().map(|&i| &history[i]).collect();
    let mut keep = vec![true; indices.len()];
    for position in model.droppable(&ops) {
        assert!(
            !ops[position].is_observed(),
            "the model may only drop unobserved operations"
        );
        keep[position] = false;
    }
    (0..indices.len())
        .filter(|&p| keep[p])
        .map(|p| indices[p])
        .collect()
}

fn assert_covers_once(parts: &[Vec<usize>], len: usize) {
    let mut seen = vec![false; len];
    for &index in parts.iter().flatten() {
        assert!(
            index < len && !seen[index],
            "partition lists operation #{index} twice or out of range"
        );
        seen[index] = true;
    }
    assert!(seen.iter().all(|&s| s), "partition leaves out an operation");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::linearizability::{KvInput, KvModel, KvOutput, Limit};

    type Kv = KvModel<u64, u64>;
    type Op = Operation<KvInput<u64, u64>, KvOutput<u64>>;

    const KEY: u64 = 1;

    fn put(client: u64, value: u64, call: u64, ret: u64) -> Op {
        let input = KvInput::Put { key: KEY, value };
        Operation::completed(client, input, call, ret, KvOutput::Ok)
    }

    fn get(client: u64, seen: Option<u64>, call: u64, ret: u64) -> Op {
        let input = KvInput::Get { key: KEY };
        Operation::completed(client, input, call, ret, KvOutput::Value(seen))
    }

    fn pending_put(client: u64, value: u64, call: u64) -> Op {
        Operation::pending(client, KvInput::Put { key: KEY, value }, call)
    }

    fn cas(client: u64, expected: Option<u64>, new: u64, swapped: bool, span: (u64, u64)) -> Op {
        let input = KvInput::Cas {
            key: KEY,
            expected,
            new,
        };
        Operation::completed(client, input, span.0, span.1, KvOutput::Swapped(swapped))
    }

    fn verdict(history: &[Op]) -> Verdict<Kv> {
        check(&Kv::new(), history, Budget::steps(1_000_000))
    }

    #[track_caller]
    fn assert_linearizable(history: &[Op]) {
        let verdict = verdict(history);
        assert!(verdict.is_linearizable(), "{verdict}");
    }

    #[track_caller]
    fn assert_violation(history: &[Op]) -> Violation<Kv> {
        match verdict(history) {
            Verdict::NotLinearizable(violation) => *violation,
            other => panic!("expected a violation, got {other}"),
        }
    }

    #[test]
    fn empty_and_sequential_histories_are_linearizable() {
        assert_linearizable(&[]);
        assert_linearizable(&[
            get(0, None, 0, 1),
            put(0, 1, 2, 3),
            get(1, Some(1), 4, 5),
            put(1, 2, 6, 7),
            get(0, Some(2), 8, 9),
        ]);
    }

    #[test]
    fn stale_read_after_a_completed_write_is_caught() {
        let history = [put(0, 1, 0, 10), put(0, 2, 20, 30), get(1, Some(1), 40, 50)];
        let violation = assert_violation(&history);
        assert_eq!(violation.blocked.0, 2);
        assert_eq!(violation.prefix_end, 50);
        let order: Vec<usize> = violation.linearized.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, [0, 1]);
        assert_eq!(violation.state, Some(2));
        let report = violation.to_string();
        assert!(
            report.contains("cannot place: #2 client 1 [40, 50]"),
            "{report}"
        );
    }

    #[test]
    fn a_read_overlapping_a_write_may_see_either_value() {
        assert_linearizable(&[put(0, 1, 0, 10), put(0, 2, 20, 30), get(1, Some(1), 25, 50)]);
        assert_linearizable(&[put(0, 1, 0, 10), put(0, 2, 20, 30), get(1, Some(2), 25, 50)]);
    }

    #[test]
    fn concurrent_writes_seen_in_opposite_orders_are_caught() {
        let writes = [put(0, 1, 0, 100), put(1, 2, 0, 100)];
        let agreeing = [
            get(2, Some(1), 10, 20),
            get(2, Some(2), 30, 40),
            get(3, Some(1), 10, 20),
            get(3, Some(2), 30, 40),
        ];
        assert_linearizable(&[&writes[..], &agreeing].concat());
        let disagreeing = [
            get(2, Some(1), 10, 20),
            get(2, Some(2), 30, 40),
            get(3, Some(2), 10, 20),
            get(3, Some(1), 30, 40),
        ];
        assert_violation(&[&writes[..], &disagreeing].concat());
    }

    #[test]
    fn lost_write_is_caught() {
        assert_violation(&[put(0, 1, 0, 10), get(1, None, 20, 30)]);
        assert_violation(&[
            put(0, 1, 0, 10),
            put(1, 2, 5, 15),
            get(2, Some(2), 20, 30),
            get(2, Some(1), 40, 50),
        ]);
    }

    #[test]
    fn operations_that_touch_in_time_count_as_concurrent() {
        assert_linearizable(&[put(0, 1, 0, 10), get(1, None, 10, 20)]);
        assert_violation(&[put(0, 1, 0, 10), get(1, None, 11, 20)]);
    }

    #[test]
    fn a_pending_write_may_take_effect_late_or_never() {
        assert_linearizable(&[
            pending_put(0, 1, 0),
            get(1, None, 10, 20),
            get(1, Some(1), 30, 40),
            get(2, Some(1), 50, 60),
        ]);
        assert_linearizable(&[pending_put(0, 1, 0), get(1, None, 10, 20)]);
    }

    #[test]
    fn a_pending_write_takes_effect_at_most_once_and_only_after_its_call() {
        assert_violation(&[
            pending_put(0, 1, 0),
            get(1, Some(1), 10, 20),
            get(1, None, 30, 40),
        ]);
        assert_violation(&[get(1, Some(1), 10, 20), pending_put(0, 1, 30)]);
    }

    #[test]
    fn a_timed_out_write_may_still_take_effect_after_the_client_gave_up() {
        let timed_out = Operation {
            ret: Some(5),
            output: None,
            ..put(0, 1, 0, 5)
        };
        assert_linearizable(&[timed_out, get(1, None, 10, 20), get(1, Some(1), 30, 40)]);
    }

    #[test]
    fn compare_and_swap_lets_exactly_one_contender_win() {
        let span = (0, 10);
        assert_linearizable(&[cas(0, None, 1, true, span), cas(1, None, 2, false, span)]);
        assert_violation(&[cas(0, None, 1, true, span), cas(1, None, 2, true, span)]);
        assert_violation(&[cas(0, None, 1, false, span), cas(1, None, 2, false, span)]);
    }

    #[test]
    fn violations_name_the_failing_key() {
        let other_key = |mut op: Op| {
            op.input = match op.input {
                KvInput::Put { value, .. } => KvInput::Put { key: 2, value },
                KvInput::Get { .. } => KvInput::Get { key: 2 },
                cas @ KvInput::Cas { .. } => cas,
            };
            op
        };
        let history = [
            put(0, 1, 0, 10),
            get(1, Some(1), 20, 30),
            other_key(put(0, 5, 0, 10)),
            other_key(get(1, None, 20, 30)),
        ];
        let violation = assert_violation(&history);
        assert_eq!(violation.partition, 1);
        assert_eq!(violation.blocked.0, 3);
        assert_eq!(*violation.blocked.1.input.key(), 2);
    }

    #[test]
    fn an_exhausted_budget_yields_unknown() {
        // Eight overlapping writes and reads: far more than three steps of work.
        let history: Vec<Op> = (0..8)
            .flat_map(|c| [put(c, c, 0, 100), get(c + 10, Some(c), 50, 150)])
            .collect();
        match check(&Kv::new(), &history, Budget::steps(3)) {
            Verdict::Unknown(exhausted) => {
                assert_eq!(exhausted.steps, 3);
                assert_eq!(exhausted.limit, Limit::Steps);
            }
            other => panic!("expected unknown, got {other}"),
        }
        let verdict = check(&Kv::new(), &history, Budget::time(Duration::ZERO));
        assert!(matches!(
            verdict,
            Verdict::Unknown(Exhausted {
                limit: Limit::Time,
                ..
            })
        ));
        assert!(verdict.to_string().starts_with("unknown"));
        assert!(check(&Kv::new(), &history, Budget::unlimited()).is_linearizable());
    }

    #[test]
    #[should_panic(expected = "before its call")]
    fn a_return_before_the_call_is_rejected() {
        let _ = verdict(&[put(0, 1, 10, 5)]);
    }
}
