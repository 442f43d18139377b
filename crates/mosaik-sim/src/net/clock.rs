//! Per-node clocks that drift away from simulated global time.
//!
//! Real members of a group never agree on the time: their oscillators run a little fast or slow
//! and they booted at different moments. Consensus timeouts are measured on the local clock, so
//! the simulator gives every node its own rate and offset and converts local deadlines back to the
//! global time at which the event queue must fire them.
//!
//! Rates are integers in parts per million rather than floats so that the conversion is exact and
//! the round trip `local_time(to_global(t)) >= t` holds without rounding slack.

use super::SimRng;

/// Parts per million in a rate of exactly 1.0.
pub const PPM: u64 = 1_000_000;

/// One node's clock: `local = offset + global * rate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeClock {
    rate_ppm: u64,
    offset_ms: u64,
}

impl NodeClock {
    /// A clock that reads exactly the global time.
    pub const IDEAL: Self = Self {
        rate_ppm: PPM,
        offset_ms: 0,
    };

    /// A clock running at `rate_ppm / 1_000_000` of global speed that reads `offset_ms` at global
    /// time zero.
    ///
    /// # Panics
    ///
    /// If `rate_ppm` is zero (a stopped clock would never reach any deadline).
    pub fn new(rate_ppm: u64, offset_ms: u64) -> Self {
        assert!(rate_ppm > 0, "a clock rate must be positive");
        Self {
            rate_ppm,
            offset_ms,
        }
    }

    /// A clock whose rate is uniform in `1.0 ± max_drift_ppm / 1_000_000` and whose offset is
    /// uniform in `0..=max_offset_ms`.
    ///
    /// # Panics
    ///
    /// If `max_drift_ppm >= 1_000_000` (the rate could reach zero).
    pub fn random(rng: &mut SimRng, max_drift_ppm: u64, max_offset_ms: u64) -> Self {
        assert!(max_drift_ppm < PPM, "drift must stay below 100%");
        let rate_ppm = rng.gen_range(PPM - max_drift_ppm..=PPM + max_drift_ppm);
        let offset_ms = rng.gen_range(0..=max_offset_ms);
        Self::new(rate_ppm, offset_ms)
    }

    /// The rate in parts per million of global speed.
    pub fn rate_ppm(&self) -> u64 {
        self.rate_ppm
    }

    /// The local reading at global time zero.
    pub fn offset_ms(&self) -> u64 {
        self.offset_ms
    }

    /// What this clock reads at `global_ms` (rounded down; saturates at `u64::MAX`).
    pub fn local_time(&self, global_ms: u64) -> u64 {
        let scaled = u128::from(global_ms) * u128::from(self.rate_ppm) / u128::from(PPM);
        saturate(scaled + u128::from(self.offset_ms))
    }

    /// The earliest global time at which this clock reads at least `local_ms`.
    ///
    /// This is what a node's timer needs: a deadline on its own clock becomes the moment the
    /// global event queue fires it. Deadlines the clock had already passed at global time zero map
    /// to zero.
    pub fn to_global(&self, local_ms: u64) -> u64 {
        let Some(elapsed) = local_ms.checked_sub(self.offset_ms) else {
            return 0;
        };
        // local(g) >= L  <=>  floor(g * rate / PPM) >= L - offset  <=>  g * rate >= (L - offset) * PPM
        let numerator = u128::from(elapsed) * u128::from(PPM);
        saturate(numerator.div_ceil(u128::from(self.rate_ppm)))
    }
}

impl Default for NodeClock {
    fn default() -> Self {
        Self::IDEAL
    }
}

fn saturate(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideal_clock_reads_global_time() {
        for t in [0, 1, 999, 123_456_789] {
            assert_eq!(NodeClock::IDEAL.local_time(t), t);
            assert_eq!(NodeClock::IDEAL.to_global(t), t);
        }
    }

    #[test]
    fn rate_and_offset_table() {
        // (rate_ppm, offset, global, expected local)
        let table = [
            (1_100_000, 0, 1000, 1100),
            (900_000, 0, 1000, 900),
            (900_000, 50, 1000, 950),
            (1_000_000, 7, 0, 7),
            (999_999, 0, 1000, 999), // rounds down
        ];
        for (rate, offset, global, local) in table {
            let clock = NodeClock::new(rate, offset);
            assert_eq!(clock.local_time(global), local, "{clock:?} at {global}");
        }
    }

    #[test]
    fn to_global_is_the_earliest_moment_the_deadline_is_reached() {
        let mut rng = SimRng::new(11);
        for _ in 0..200 {
            let clock = NodeClock::random(&mut rng, 100_000, 5_000);
            for _ in 0..50 {
                let deadline = rng.gen_range(0..10_000_000);
                let global = clock.to_global(deadline);
                assert!(clock.local_time(global) >= deadline, "{clock:?} {deadline}");
                if global > 0 {
                    assert!(
                        clock.local_time(global - 1) < deadline,
                        "{clock:?} {deadline}"
                    );
                }
            }
        }
    }

    #[test]
    fn conversions_round_trip_exactly_where_the_clock_is_injective_or_surjective() {
        // A slow clock reads every local value at some global instant: local -> global -> local.
        let slow = NodeClock::new(950_000, 300);
        for local in (300..50_000).step_by(7) {
            assert_eq!(slow.local_time(slow.to_global(local)), local);
        }
        // A fast clock reads a distinct value at every global instant: global -> local -> global.
        let fast = NodeClock::new(1_050_000, 300);
        for global in (0..50_000).step_by(7) {
            assert_eq!(fast.to_global(fast.local_time(global)), global);
        }
    }

    #[test]
    fn deadlines_before_the_offset_map_to_time_zero() {
        let clock = NodeClock::new(PPM, 500);
        assert_eq!(clock.to_global(100), 0);
        assert_eq!(clock.to_global(500), 0);
        assert_eq!(clock.to_global(501), 1);
    }

    #[test]
    fn random_clocks_stay_within_bounds() {
        let mut rng = SimRng::new(5);
        for _ in 0..100 {
            let clock = NodeClock::random(&mut rng, 100_000, 1000);
            assert!((900_000..=1_100_000).contains(&clock.rate_ppm()));
            assert!(clock.offset_ms() <= 1000);
        }
    }

    #[test]
    fn huge_times_saturate_instead_of_overflowing() {
        let clock = NodeClock::new(2 * PPM, 10);
        assert_eq!(clock.local_time(u64::MAX), u64::MAX);
        assert_eq!(NodeClock::new(PPM / 2, 0).to_global(u64::MAX), u64::MAX);
    }
}
