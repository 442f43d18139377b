//! Test support: histories recorded from real sequential executions of a key-value store, and
//! mutations that certainly break them; with the tests that check long histories with them.

use std::collections::BTreeMap;

use super::{Budget, KvInput, KvModel, KvOutput, Operation, check};
use crate::net::SimRng;

pub(super) type Kv = KvModel<u64, u64>;
pub(super) type Op = Operation<KvInput<u64, u64>, KvOutput<u64>>;

/// The shape of a generated history.
#[derive(Clone, Copy, Debug)]
struct Shape {
    clients: u64,
    ops_per_client: usize,
    keys: u64,
    /// Longest gap between an operation's call, its effect and its return: larger means more
    /// overlap between clients, hence a harder search.
    max_span: u64,
    pending_probability: f64,
    /// Whether clients also issue compare-and-swaps.
    cas: bool,
}

/// Runs clients concurrently against a real sequential store and records what they observed.
///
/// Every operation takes effect at a random instant between its call and return (a pending one
/// takes effect or not, at random), so the history is linearizable by construction. Written
/// values are unique, which makes the mutations below certain violations.
fn generate(seed: u64, shape: Shape) -> Vec<Op> {
    let mut rng = SimRng::new(seed);
    let mut history = Vec::new();
    // (effect instant, client, index, takes effect)
    let mut effects = Vec::new();
    for client in 0..shape.clients {
        let mut now = rng.gen_range(0..=shape.max_span);
        for _ in 0..shape.ops_per_client {
            let call = now + rng.gen_range(0..=shape.max_span);
            let effect = call + rng.gen_range(0..=shape.max_span);
            let ret = effect + rng.gen_range(0..=shape.max_span);
            now = ret;
            let key = rng.gen_range(0..shape.keys);
            // Inputs are placeholders until the sequential run below fills in values.
            let kinds = if shape.cas { 10 } else { 9 };
            let input = match rng.gen_range(0..kinds) {
                0..4 => KvInput::Put { key, value: 0 },
                4..9 => KvInput::Get { key },
                _ => KvInput::Cas {
                    key,
                    expected: None,
                    new: 0,
                },
            };
            let pending = rng.gen_bool(shape.pending_probability);
            effects.push((effect, client, history.len(), !pending || rng.gen_bool(0.5)));
            history.push(if pending {
                Operation::pending(client, input, call)
            } else {
                Operation::completed(client, input, call, ret, KvOutput::Ok)
            });
        }
    }
    effects.sort_unstable();
    let mut store: BTreeMap<u64, u64> = BTreeMap::new();
    // The value each key held before its latest write: the stale expectation of a failing swap.
    let mut previous: BTreeMap<u64, Option<u64>> = BTreeMap::new();
    let mut next_value = 1..;
    for (_, _, index, takes_effect) in effects {
        let op = &mut history[index];
        let key = *op.input.key();
        let current = store.get(&key).copied();
        if let KvInput::Put { .. } | KvInput::Cas { .. } = op.input {
            previous.insert(key, current);
        }
        let output = match &mut op.input {
            KvInput::Put { value, .. } => {
                *value = next_value.next().expect("endless");
                if takes_effect {
                    store.insert(key, *value);
                }
                KvOutput::Ok
            }
            KvInput::Get { .. } => KvOutput::Value(current),
            KvInput::Cas { expected, new, .. } => {
                *new = next_value.next().expect("endless");
                // Half the swaps are set up to succeed, so both outcomes appear; failures expect
                // either a value never written or one this key held before.
                *expected = match rng.gen_range(0..4) {
                    0 | 1 => current,
                    2 => Some(0),
                    _ => previous.get(&key).copied().flatten(),
                };
                let swapped = *expected == current;
                if swapped && takes_effect {
                    store.insert(key, *new);
                }
                KvOutput::Swapped(swapped)
            }
        };
        if op.output.is_some() {
            op.output = Some(output);
        }
    }
    history
}

/// The key and value of a completed put.
fn completed_put(op: &Op) -> Option<(u64, u64)> {
    match (&op.input, &op.output) {
        (KvInput::Put { key, value }, Some(_)) => Some((*key, *value)),
        _ => None,
    }
}

/// The key of a completed get and when it was called and returned.
fn completed_get(op: &Op) -> Option<(u64, u64, u64)> {
    match (&op.input, op.ret, &op.output) {
        (KvInput::Get { key }, Some(ret), Some(_)) => Some((*key, op.call, ret)),
        _ => None,
    }
}

/// Makes one completed read return a value overwritten before the read began: the most subtle
/// stale read, the value replaced by the latest write that finished before the read.
fn plant_stale_read(history: &mut [Op], rng: &mut SimRng) -> bool {
    let mut targets = Vec::new();
    for (g, read) in history.iter().enumerate() {
        let Some((key, call, _)) = completed_get(read) else {
            continue;
        };
        let finished_puts = || {
            history.iter().filter(move |op| {
                completed_put(op).is_some_and(|(k, _)| k == key) && op.ret.is_some_and(|r| r < call)
            })
        };
        // Every put that finished before the latest finished put began was overwritten by it.
        let Some(overwriter) = finished_puts().map(|op| op.call).max() else {
            continue;
        };
        let stale = finished_puts()
            .filter(|op| op.ret.is_some_and(|r| r < overwriter))
            .max_by_key(|op| op.ret);
        if let Some((_, value)) = stale.and_then(completed_put) {
            targets.push((g, value));
        }
    }
    let Some(&(g, stale)) = rng.choose(&targets) else {
        return false;
    };
    history[g].output = Some(KvOutput::Value(Some(stale)));
    true
}

/// Makes one completed read return the value of the first write called after the read returned.
fn plant_future_read(history: &mut [Op], rng: &mut SimRng) -> bool {
    let mut targets = Vec::new();
    for (g, read) in history.iter().enumerate() {
        let Some((key, _, ret)) = completed_get(read) else {
            continue;
        };
        let future = history
            .iter()
            .filter(|op| op.call > ret)
            .filter_map(|op| match op.input {
                KvInput::Put { key: k, value } if k == key => Some((op.call, value)),
                _ => None,
            })
            .min();
        if let Some((_, value)) = future {
            targets.push((g, value));
        }
    }
    let Some(&(g, future)) = rng.choose(&targets) else {
        return false;
    };
    history[g].output = Some(KvOutput::Value(Some(future)));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizability::Verdict;

    const SMALL: Shape = Shape {
        clients: 5,
        ops_per_client: 60,
        keys: 3,
        max_span: 10,
        pending_probability: 0.05,
        cas: true,
    };

    /// A few thousand operations: 10 clients, 5 000 operations over 4 keys, heavy overlap.
    const LARGE: Shape = Shape {
        clients: 10,
        ops_per_client: 500,
        keys: 4,
        max_span: 20,
        pending_probability: 0.02,
        cas: true,
    };

    /// Generous for these histories, whose search is close to linear: a regression that makes it
    /// blow up fails here instead of just getting slower. Steps, not time, so it is exact.
    fn budget_for(history: &[Op]) -> Budget {
        Budget::steps(100 * history.len() as u64)
    }

    #[test]
    fn recorded_histories_are_linearizable() {
        for seed in 0..100 {
            let history = generate(seed, SMALL);
            let verdict = check(&Kv::new(), &history, budget_for(&history));
            assert!(verdict.is_linearizable(), "seed {seed}: {verdict}");
        }
    }

    #[test]
    fn planted_stale_and_future_reads_are_caught() {
        let mut planted = 0;
        for seed in 0..100 {
            let mut rng = SimRng::new(seed);
            for plant in [plant_stale_read, plant_future_read] {
                let mut history = generate(seed, SMALL);
                if !plant(&mut history, &mut rng) {
                    continue;
                }
                planted += 1;
                let verdict = check(&Kv::new(), &history, budget_for(&history));
                assert!(verdict.is_violation(), "seed {seed}: {verdict}");
            }
        }
        assert!(planted > 150, "only {planted} mutations planted");
    }

    #[test]
    fn five_thousand_operations_are_decided_within_budget() {
        let history = generate(7, LARGE);
        assert_eq!(history.len(), 5_000);
        let verdict = check(&Kv::new(), &history, budget_for(&history));
        assert!(verdict.is_linearizable(), "{verdict}");

        let mut rng = SimRng::new(7);
        for plant in [plant_stale_read, plant_future_read] {
            let mut broken = history.clone();
            assert!(plant(&mut broken, &mut rng));
            let verdict = check(&Kv::new(), &broken, budget_for(&broken));
            let Verdict::NotLinearizable(violation) = verdict else {
                panic!("planted read missed: {verdict}");
            };
            // The report points at the planted read.
            let changed = (0..history.len()).find(|&i| history[i] != broken[i]);
            assert_eq!(Some(violation.blocked.0), changed, "{violation}");
        }
    }

    #[test]
    fn many_timeouts_on_one_hot_key_are_decided_within_budget() {
        let shape = Shape {
            clients: 5,
            ops_per_client: 600,
            keys: 1,
            pending_probability: 0.3,
            ..LARGE
        };
        let history = generate(11, shape);
        let verdict = check(&Kv::new(), &history, budget_for(&history));
        assert!(verdict.is_linearizable(), "{verdict}");
        let mut broken = history;
        assert!(plant_stale_read(&mut broken, &mut SimRng::new(11)));
        let verdict = check(&Kv::new(), &broken, budget_for(&broken));
        assert!(verdict.is_violation(), "{verdict}");
    }

    #[test]
    fn a_hard_history_runs_out_of_budget_and_says_so() {
        // Ten clients hammering one key: proving the planted violation means exploring every
        // interleaving of ten overlapping operations, far beyond this budget.
        let shape = Shape {
            keys: 1,
            pending_probability: 0.0,
            cas: false,
            ..LARGE
        };
        let mut history = generate(3, shape);
        assert!(plant_stale_read(&mut history, &mut SimRng::new(3)));
        let verdict = check(&Kv::new(), &history, Budget::steps(20_000));
        let Verdict::Unknown(exhausted) = verdict else {
            panic!("expected unknown, got {verdict}");
        };
        assert_eq!(exhausted.steps, 20_000);
        assert_eq!(exhausted.partition, 0);
    }

    #[test]
    fn generator_produces_every_kind_of_operation() {
        let history = generate(3, SMALL);
        let count = |f: fn(&Op) -> bool| history.iter().filter(|op| f(op)).count();
        assert!(count(|op| matches!(op.input, KvInput::Put { .. })) > 0);
        assert!(count(|op| matches!(op.output, Some(KvOutput::Value(Some(_))))) > 0);
        assert!(count(|op| op.output == Some(KvOutput::Swapped(true))) > 0);
        assert!(count(|op| op.output == Some(KvOutput::Swapped(false))) > 0);
        assert!(count(|op| op.output.is_none()) > 0);
    }
}
