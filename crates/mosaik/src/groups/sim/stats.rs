//! Counters of runtime paths a simulated run went through, so a sweep can
//! show it exercised them (a check that never runs proves nothing).
//! Process-wide, like the planted bugs: read them between seeds.

use core::sync::atomic::{AtomicU64, Ordering};

/// Snapshots installed by a catch-up (multi-peer snapshot transfer).
static SNAPSHOTS_INSTALLED: AtomicU64 = AtomicU64::new(0);

/// Counts one installed snapshot.
pub(crate) fn snapshot_installed() {
    SNAPSHOTS_INSTALLED.fetch_add(1, Ordering::Relaxed);
}

/// Snapshots installed by catch-ups in this process so far (only grows:
/// a run reads it before and after).
pub fn snapshots_installed() -> u64 {
    SNAPSHOTS_INSTALLED.load(Ordering::Relaxed)
}
