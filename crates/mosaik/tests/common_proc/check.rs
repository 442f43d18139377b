//! The verdict: no acknowledged write may be missing from any replica, and
//! all replicas must have applied exactly the same sequence.
//!
//! An acknowledged write is one whose `execute` returned `Ok` to some
//! incarnation of some member (including incarnations killed later): a
//! client was told it committed, so every replica must hold it for ever.

use {
    crate::{
        cluster::{Ack, Mode},
        protocol::{Dump, show_value},
    },
    core::time::Duration,
    std::collections::{BTreeMap, HashSet},
};

/// How many lost values a failure message lists by name.
const LISTED: usize = 5;

/// The figures and failures of one scenario run.
pub struct Outcome {
    /// One line of figures.
    pub summary: String,
    /// Why the run failed; empty if it passed.
    pub failures: Vec<String>,
}

/// Checks the final `dumps` of every member against every ack.
/// `problems` are the scenario steps that did not complete.
pub fn verify(
    mode: Mode,
    acks: &[Ack],
    dumps: &[Dump],
    kills: usize,
    problems: Vec<String>,
    elapsed: Duration,
) -> Outcome {
    let mut failures = problems;

    // Ack value → the ack, to say who was told it committed where.
    let acked: BTreeMap<u64, Ack> = acks.iter().map(|a| (a.value, *a)).collect();
    let mut lost_anywhere = HashSet::new();
    let mut lost_counts = Vec::with_capacity(dumps.len());
    for (member, dump) in dumps.iter().enumerate() {
        let applied: HashSet<u64> = dump.applied.iter().copied().collect();
        let lost: Vec<&Ack> = acked
            .values()
            .filter(|a| !applied.contains(&a.value))
            .collect();
        lost_counts.push(lost.len());
        if !lost.is_empty() {
            failures.push(format!(
                "m{member} lost {} of {} acknowledged writes; {}",
                lost.len(),
                acked.len(),
                describe(&lost, acks)
            ));
        }
        lost_anywhere.extend(lost.iter().map(|a| a.value));
    }

    let reference = &dumps[0].applied;
    for (member, dump) in dumps.iter().enumerate().skip(1) {
        if dump.applied != *reference {
            failures.push(format!(
                "m{member} diverged from m0: {}",
                diverge(reference, &dump.applied)
            ));
        }
    }

    let duplicates: usize = dumps
        .iter()
        .map(|d| d.applied.len() - d.applied.iter().collect::<HashSet<_>>().len())
        .max()
        .unwrap_or(0);
    let lengths: Vec<usize> = dumps.iter().map(|d| d.applied.len()).collect();
    let committed: Vec<u64> = dumps.iter().map(|d| d.committed).collect();
    let summary = format!(
        "{}: kills={kills} acked={} lost={} (per member {lost_counts:?}) identical={} \
         applied={lengths:?} committed={committed:?} duplicates={duplicates} duration={:.1}s",
        mode.name(),
        acked.len(),
        lost_anywhere.len(),
        dumps.iter().all(|d| d.applied == *reference),
        elapsed.as_secs_f64(),
    );
    Outcome { summary, failures }
}

/// Lost writes per writer incarnation (lost/acked), then the first
/// [`LISTED`] lost values with who was told they committed at which index.
fn describe(lost: &[&Ack], acks: &[Ack]) -> String {
    let mut by_writer: BTreeMap<(usize, u64), (usize, usize)> = BTreeMap::new();
    for ack in acks {
        by_writer
            .entry((ack.member, ack.incarnation))
            .or_default()
            .1 += 1;
    }
    for ack in lost {
        by_writer
            .entry((ack.member, ack.incarnation))
            .or_default()
            .0 += 1;
    }
    let writers: Vec<String> = by_writer
        .iter()
        .map(|((m, inc), (l, a))| format!("m{m}.{inc} {l}/{a}"))
        .collect();
    let first: Vec<String> = lost
        .iter()
        .take(LISTED)
        .map(|a| {
            format!(
                "{} (acked to m{}.{} at index {})",
                show_value(a.value),
                a.member,
                a.incarnation,
                a.index
            )
        })
        .collect();
    format!(
        "lost/acked by writer: {}; first lost: {}",
        writers.join(", "),
        first.join(", ")
    )
}

/// Where two applied sequences first differ.
fn diverge(a: &[u64], b: &[u64]) -> String {
    let at = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let show = |s: &[u64]| {
        s.get(at)
            .map_or_else(|| "end".to_owned(), |v| show_value(*v))
    };
    format!(
        "lengths {} vs {}, first difference at position {at}: {} vs {}",
        a.len(),
        b.len(),
        show(a),
        show(b)
    )
}
