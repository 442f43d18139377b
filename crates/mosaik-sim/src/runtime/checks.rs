//! The checks of one runtime run: exactly-once application, convergence,
//! acknowledged writes kept (strict), linearizability (strict).

use super::clients::Record;
use crate::checkers::linearizable::{Outcome, check_history};
use std::collections::{BTreeMap, BTreeSet};

/// Every put applied at most once on every replica: the API resubmits only
/// what it promised never commits (`Superseded`), so a second copy in a
/// replica's history means a promise was broken.
pub fn exactly_once(replicas: &[(usize, Vec<u64>)]) -> Option<String> {
    for (slot, applied) in replicas {
        let mut seen = BTreeMap::new();
        for (position, value) in applied.iter().enumerate() {
            if let Some(first) = seen.insert(*value, position) {
                return Some(format!(
                    "exactly-once: machine {slot} applied put #{value} twice (positions \
                     {first} and {position} of {})",
                    applied.len()
                ));
            }
        }
    }
    None
}

/// After healing, every replica holds the same history.
pub fn converged(replicas: &[(usize, Vec<u64>)]) -> Option<String> {
    let (first_slot, first) = replicas.first()?;
    for (slot, applied) in &replicas[1..] {
        if applied != first {
            let at = first
                .iter()
                .zip(applied)
                .position(|(a, b)| a != b)
                .unwrap_or(first.len().min(applied.len()));
            return Some(format!(
                "convergence: machines {first_slot} and {slot} differ after healing \
                 ({} vs {} puts applied, first difference at position {at})",
                first.len(),
                applied.len()
            ));
        }
    }
    None
}

/// Strict mode: every put `execute` acknowledged is in the final history.
pub fn acknowledged_kept(record: &Record, final_history: &[u64]) -> Option<String> {
    let applied: BTreeSet<u64> = final_history.iter().copied().collect();
    let lost: Vec<u64> = record
        .acknowledged
        .iter()
        .filter(|v| !applied.contains(v))
        .copied()
        .collect();
    (!lost.is_empty()).then(|| {
        format!(
            "durability: {} acknowledged puts missing after healing (first #{})",
            lost.len(),
            lost[0]
        )
    })
}

/// Strict mode: the client history is linearizable. `Err` for an
/// inconclusive verdict (budget spent).
pub fn linearizable(record: &Record) -> Result<Option<String>, String> {
    match check_history(&record.history) {
        Outcome::Linearizable => Ok(None),
        Outcome::Unknown(why) => Err(why),
        Outcome::Violation(why) => Ok(Some(format!("linearizability: {why}"))),
    }
}
