//! The checks of the `vec` workload: exactly-once, convergence, whole
//! batches, and in strict mode acknowledged writes kept in real-time
//! order (a linearizable append-only sequence).

use super::clients::Record;
use std::collections::BTreeMap;

/// No replica holds a value twice (every written value is unique, and
/// failed writes are never retried).
pub fn exactly_once(replicas: &[(usize, Vec<u64>)]) -> Option<String> {
    for (slot, items) in replicas {
        let mut seen = BTreeMap::new();
        for (position, value) in items.iter().enumerate() {
            if let Some(first) = seen.insert(*value, position) {
                return Some(format!(
                    "exactly-once: machine {slot}'s vec holds #{value} twice (positions {first} \
                     and {position} of {})",
                    items.len()
                ));
            }
        }
    }
    None
}

/// After healing, every replica holds the same elements.
pub fn converged(replicas: &[(usize, Vec<u64>)]) -> Option<String> {
    let (first_slot, first) = replicas.first()?;
    for (slot, items) in &replicas[1..] {
        if items != first {
            let at = first
                .iter()
                .zip(items)
                .position(|(a, b)| a != b)
                .unwrap_or(first.len().min(items.len()));
            return Some(format!(
                "convergence: machines {first_slot} and {slot} differ after healing ({} vs {} \
                 elements, first difference at position {at})",
                first.len(),
                items.len()
            ));
        }
    }
    None
}

/// One `extend` is one command: on every replica its values are either
/// all absent or all present, adjacent and in order.
pub fn batches_whole(record: &Record, replicas: &[(usize, Vec<u64>)]) -> Option<String> {
    for (slot, items) in replicas {
        let position: BTreeMap<u64, usize> =
            items.iter().enumerate().map(|(i, v)| (*v, i)).collect();
        for write in record.writes.iter().filter(|w| w.values.len() > 1) {
            let found: Vec<Option<usize>> = write
                .values
                .iter()
                .map(|v| position.get(v).copied())
                .collect();
            if found.iter().all(Option::is_none) {
                continue;
            }
            let whole = found.iter().all(Option::is_some)
                && found.windows(2).all(|w| w[1] == w[0].map(|p| p + 1));
            if !whole {
                return Some(format!(
                    "atomicity: machine {slot} holds extend {:?} torn (positions {found:?})",
                    write.values
                ));
            }
        }
    }
    None
}

/// Strict mode: every acknowledged value is in the final sequence.
pub fn acknowledged_kept(record: &Record, last: &[u64]) -> Option<String> {
    let present: std::collections::BTreeSet<u64> = last.iter().copied().collect();
    let lost: Vec<u64> = record
        .writes
        .iter()
        .filter(|w| w.acked.is_some())
        .flat_map(|w| w.values.iter().copied())
        .filter(|v| !present.contains(v))
        .collect();
    (!lost.is_empty()).then(|| {
        format!(
            "durability: {} acknowledged values missing after healing (first #{})",
            lost.len(),
            lost[0]
        )
    })
}

/// Strict mode: a write acknowledged before another was called comes
/// first in the sequence (the real-time order a linearizable append-only
/// sequence keeps).
pub fn real_time_order(record: &Record, last: &[u64]) -> Option<String> {
    let position: BTreeMap<u64, usize> = last.iter().enumerate().map(|(i, v)| (*v, i)).collect();
    let span = |values: &[u64]| -> Option<(usize, usize)> {
        let positions: Vec<usize> = values
            .iter()
            .filter_map(|v| position.get(v))
            .copied()
            .collect();
        Some((*positions.iter().min()?, *positions.iter().max()?))
    };
    // Acknowledged writes by return time, with the running maximum of
    // their last positions: everything that returned before a call.
    let mut acked: Vec<(u64, usize, u64)> = record
        .writes
        .iter()
        .filter_map(|w| Some((w.acked?, span(&w.values)?.1, w.values[0])))
        .collect();
    acked.sort_unstable();
    let mut latest: Vec<(u64, usize, u64)> = Vec::with_capacity(acked.len());
    for (ret, end, value) in acked {
        let best = latest.last().map_or(
            (end, value),
            |&(_, e, v)| {
                if e >= end { (e, v) } else { (end, value) }
            },
        );
        latest.push((ret, best.0, best.1));
    }
    for write in &record.writes {
        let Some((start, _)) = span(&write.values) else {
            continue;
        };
        let before = latest.partition_point(|&(ret, _, _)| ret < write.call);
        if let Some(&(_, end, earlier)) = before.checked_sub(1).and_then(|i| latest.get(i))
            && end >= start
        {
            return Some(format!(
                "linearizability: #{} was called after #{earlier} was acknowledged but sits \
                 before it (positions {start} and {end})",
                write.values[0]
            ));
        }
    }
    None
}
