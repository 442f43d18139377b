//! A brute-force oracle: decides linearizability of tiny histories by trying every order, to
//! cross-check the search (and the model's dropping of irrelevant operations) on thousands of
//! random histories with arbitrary, often impossible, outputs.

use super::testkit::{Kv, Op};
use super::{Budget, KvInput, KvOutput, Model, Operation, check};
use crate::net::SimRng;

/// Decides linearizability by trying every order (only for a handful of operations).
fn brute_force<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>]) -> bool {
    fn extend<M: Model>(
        model: &M,
        ops: &[Operation<M::Input, M::Output>],
        done: &mut Vec<bool>,
        state: &M::State,
    ) -> bool {
        if ops
            .iter()
            .zip(done.iter())
            .all(|(op, &d)| d || !op.is_observed())
        {
            return true;
        }
        for i in 0..ops.len() {
            // `i` may go next unless a remaining operation had to finish before `i` began.
            let blocked = (0..ops.len()).any(|j| !done[j] && ops[j].deadline() < ops[i].call);
            if done[i] || blocked {
                continue;
            }
            let next = match &ops[i].output {
                Some(output) => model.step(state, &ops[i].input, output),
                None => Some(model.step_unobserved(state, &ops[i].input)),
            };
            if let Some(next) = next {
                done[i] = true;
                let found = extend(model, ops, done, &next);
                done[i] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }
    extend(model, ops, &mut vec![false; ops.len()], &model.init())
}

/// A small single-key history with arbitrary (often impossible) outputs and values in
/// `1..=values` (few values: many coincidences; more: unread writes the model may drop).
fn random_small_history(rng: &mut SimRng, values: u64) -> Vec<Op> {
    let len = rng.gen_range(1..=7);
    (0..len)
        .map(|client| {
            let call = rng.gen_range(0..20);
            let ret = call + rng.gen_range(0..10);
            let (input, output) = match rng.gen_range(0..3) {
                0 => {
                    let value = rng.gen_range(1..=values);
                    (KvInput::Put { key: 0, value }, KvOutput::Ok)
                }
                1 => {
                    let seen = rng.gen_bool(0.8).then(|| rng.gen_range(1..=values));
                    (KvInput::Get { key: 0 }, KvOutput::Value(seen))
                }
                _ => {
                    let expected = rng.gen_bool(0.7).then(|| rng.gen_range(1..=values));
                    let input = KvInput::Cas {
                        key: 0,
                        expected,
                        new: rng.gen_range(1..=values),
                    };
                    (input, KvOutput::Swapped(rng.gen_bool(0.5)))
                }
            };
            if rng.gen_bool(0.2) {
                Operation::pending(client, input, call)
            } else {
                Operation::completed(client, input, call, ret, output)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_agrees_with_brute_force(values: u64, cases: usize) {
        let mut rng = SimRng::new(2024 + values);
        let (mut yes, mut no) = (0, 0);
        for case in 0..cases {
            let history = random_small_history(&mut rng, values);
            let expected = brute_force(&Kv::new(), &history);
            let verdict = check(&Kv::new(), &history, Budget::unlimited());
            assert_eq!(
                verdict.is_linearizable(),
                expected,
                "values {values} case {case}: {verdict}\n{history:#?}"
            );
            assert!(!verdict.is_unknown());
            if expected {
                yes += 1;
            } else {
                no += 1;
            }
        }
        // Both answers must be well represented for the agreement to mean anything.
        assert!(
            yes > cases / 10 && no > cases / 10,
            "{yes} linearizable, {no} not"
        );
    }

    #[test]
    fn search_agrees_with_brute_force_when_values_repeat() {
        assert_agrees_with_brute_force(2, 4_000);
    }

    #[test]
    fn search_agrees_with_brute_force_when_values_rarely_repeat() {
        // Many timed-out writes of values nobody read: exercises the model's dropping of them.
        assert_agrees_with_brute_force(6, 4_000);
    }
}
