//! Planted runtime bugs: known-wrong behaviour the simulation must catch,
//! switched on for the whole process (`mosaik-sim runtime --plant-bug`).
//! They exist only with the `runtime-sim` feature.

use core::sync::atomic::{AtomicU8, Ordering};

/// Names accepted by [`plant_bug`].
pub const PLANTED_BUGS: &[&str] = &["strong-read-local", "snapshot-drops-item"];

/// The planted bug, as its index in [`PLANTED_BUGS`] plus one (0: none).
static PLANTED: AtomicU8 = AtomicU8::new(0);

/// Plants the bug `name` for every group of this process; false if the
/// name is unknown.
pub fn plant_bug(name: &str) -> bool {
    let Some(index) = PLANTED_BUGS.iter().position(|b| *b == name) else {
        return false;
    };
    PLANTED.store(u8::try_from(index + 1).unwrap_or(0), Ordering::Relaxed);
    true
}

/// True if `name` is planted.
pub(crate) fn planted(name: &str) -> bool {
    let index = usize::from(PLANTED.load(Ordering::Relaxed));
    index > 0 && PLANTED_BUGS.get(index - 1) == Some(&name)
}
