//! The runtime simulation's checks can fail: the planted runtime bug `strong-read-local` (a
//! Strong query answered from the local machine) is caught by the linearizability check in
//! strict mode within 50 seeds. Its own test binary: planting is process-wide.

use mosaik::groups::sim::plant_bug;
use mosaik_sim::runtime::{Mode, capture_panics, run_seed};

#[test]
fn a_strong_read_served_locally_is_caught() {
    capture_panics();
    assert!(plant_bug("strong-read-local"));
    let caught = (0..50).find_map(|seed| {
        run_seed(seed, Mode::Strict)
            .violation
            .map(|violation| (seed, violation))
    });
    let (seed, violation) = caught.expect("the planted bug went undetected in 50 seeds");
    println!("caught on seed {seed}: {violation}");
    assert!(violation.starts_with("linearizability"), "{violation}");
}
