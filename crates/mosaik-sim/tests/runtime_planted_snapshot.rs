//! The `vec` workload's checks catch a snapshot transfer bug: with the planted bug
//! `snapshot-drops-item` (every fetched range after the first loses an item while it is
//! stitched, past the digest check) a member that catches up by snapshot diverges, and the
//! convergence check says so within 20 seeds. Its own test binary: planting is process-wide.

use mosaik::groups::sim::plant_bug;
use mosaik_sim::runtime::{Mode, Workload, capture_panics, run_seed_with};

#[test]
fn a_snapshot_stitched_with_an_item_missing_is_caught() {
    capture_panics();
    assert!(plant_bug("snapshot-drops-item"));
    let caught = (0..20).find_map(|seed| {
        run_seed_with(seed, Mode::Dynamic, Workload::Vec)
            .violation
            .map(|violation| (seed, violation))
    });
    let (seed, violation) = caught.expect("the planted bug went undetected in 20 seeds");
    println!("caught on seed {seed}: {violation}");
    assert!(violation.starts_with("convergence"), "{violation}");
}
