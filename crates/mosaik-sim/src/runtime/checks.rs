//! The checks of one runtime run: exactly-once application, refused puts
//! never applied, convergence, acknowledged writes kept (strict),
//! linearizability (strict).

use super::clients::Record;
use crate::checkers::linearizable::{Outcome, check_history};
use std::collections::{BTreeMap, BTreeSet};

/// Every put applied at most once on every replica: the clients resubmit
/// only what the API promised was not applied (`Superseded`, `Offline`),
/// so a second copy in a replica's history means a promise was broken.
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

/// No replica applied a put the API refused on every attempt (`Superseded`
/// or `Offline`, each promising that nothing was applied): such a put in a
/// replica's history means a promise was broken although no retry applied
/// it a second time. Checked in both modes: the promise is the API's in
/// dynamic mode too (a watch is decided `Superseded` only on a commit a
/// majority backed, which no merge reverts).
pub fn refused_absent(record: &Record, replicas: &[(usize, Vec<u64>)]) -> Option<String> {
    let refused: BTreeSet<u64> = record.refused.iter().copied().collect();
    for (slot, applied) in replicas {
        if let Some((position, value)) = applied
            .iter()
            .enumerate()
            .find(|(_, value)| refused.contains(value))
        {
            return Some(format!(
                "not applied: machine {slot} applied put #{value} (position {position} of {}), \
                 every attempt of which was answered `Superseded` or `Offline`",
                applied.len()
            ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_put_applied_anywhere_is_a_violation() {
        let record = Record {
            refused: vec![7],
            ..Record::default()
        };
        let clean = [(0, vec![1, 2, 3]), (1, vec![1, 2, 3])];
        assert_eq!(refused_absent(&record, &clean), None);
        let applied = [(0, vec![1, 2, 3]), (1, vec![1, 7, 2, 3])];
        let violation = refused_absent(&record, &applied).expect("a violation");
        assert!(
            violation.contains("machine 1 applied put #7"),
            "{violation}"
        );
    }

    #[test]
    fn a_resubmitted_put_applied_twice_is_a_violation() {
        assert_eq!(exactly_once(&[(0, vec![1, 2, 3])]), None);
        let violation = exactly_once(&[(0, vec![1, 2, 1])]).expect("a violation");
        assert!(violation.contains("applied put #1 twice"), "{violation}");
    }
}
