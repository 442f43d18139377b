//! Members restored from a disk written for the test: a log, a hard state and commit records
//! chosen to put a member in a given position after a partition.

use mosaik_raft::{CommitRecords, Config, Engine, HardState, Index, Instant, Log, Restored, Term};

/// Member 2 of a 3-member group with `config` (dynamic mode unless it caps the voters),
/// restored from its disk: `log`, hard term `term`, committed through `commit` with the commit
/// `records` (`(up to index, weight)`), its state applied through `applied`; its start-up
/// outputs drained.
pub fn member_2_restored(
    config: Config,
    log: Log<u64, u64>,
    term: Term<u64>,
    commit: Index,
    records: &[(Index, u64)],
    applied: Index,
) -> Engine<u64, u64> {
    // The engine persists the last record of the highest weight as the peak.
    let max = records.iter().map(|(_, w)| *w).max().unwrap_or(0);
    let peak = (records.iter().rev())
        .find(|(_, w)| *w == max)
        .copied()
        .unwrap_or((Index::ZERO, 0));
    let hard_state = HardState {
        term,
        commit,
        commit_weight: records.last().map_or(0, |(_, w)| *w),
        peak,
        records: CommitRecords::from_slice(records),
        ..HardState::default()
    };
    let restored = Restored {
        hard_state,
        log,
        applied,
    };
    let mut member = Engine::new(2, config, restored, Instant::ZERO, 3);
    member.drain_outputs();
    member
}
