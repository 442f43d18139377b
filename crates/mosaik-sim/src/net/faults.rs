//! The knobs of the simulated network's misbehaviour.

/// Probabilistic faults applied to every message, and the clock skew given to new nodes.
///
/// Reordering has no knob of its own: it falls out of independent random delays. Partitions and
/// crashes are not probabilities but runtime state, changed through
/// [`SimNetwork`](super::SimNetwork) methods.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultConfig {
    /// Probability that a message copy is lost.
    pub loss_probability: f64,
    /// Probability that a sent message is delivered twice (the copy gets its own delay).
    pub duplicate_probability: f64,
    /// Smallest delivery delay in milliseconds.
    pub delay_min_ms: u64,
    /// Largest delivery delay in milliseconds (inclusive).
    pub delay_max_ms: u64,
    /// Largest clock-rate deviation for new nodes, in parts per million (100 000 = ±10%).
    pub max_drift_ppm: u64,
    /// Largest local clock reading at global time zero for new nodes.
    pub max_clock_offset_ms: u64,
}

impl FaultConfig {
    /// A perfect network: nothing lost or duplicated, a fixed 1 ms delay, ideal clocks.
    pub const RELIABLE: Self = Self {
        loss_probability: 0.0,
        duplicate_probability: 0.0,
        delay_min_ms: 1,
        delay_max_ms: 1,
        max_drift_ppm: 0,
        max_clock_offset_ms: 0,
    };

    /// A hostile but still live network, a sensible default for fault sweeps: 5% loss, 2%
    /// duplication, 1–50 ms delays (so plenty of reordering), clocks within ±10% and 0–10 s apart.
    pub const HOSTILE: Self = Self {
        loss_probability: 0.05,
        duplicate_probability: 0.02,
        delay_min_ms: 1,
        delay_max_ms: 50,
        max_drift_ppm: 100_000,
        max_clock_offset_ms: 10_000,
    };

    /// Checks that the configuration describes a possible network.
    ///
    /// # Panics
    ///
    /// If a probability is outside `[0, 1]`, the delay range is empty or the drift could stop a
    /// clock.
    pub fn validate(&self) {
        for (name, p) in [
            ("loss_probability", self.loss_probability),
            ("duplicate_probability", self.duplicate_probability),
        ] {
            assert!((0.0..=1.0).contains(&p), "{name} {p} is not a probability");
        }
        assert!(
            self.delay_min_ms <= self.delay_max_ms,
            "empty delay range {}..={}",
            self.delay_min_ms,
            self.delay_max_ms
        );
        assert!(
            self.max_drift_ppm < super::clock::PPM,
            "drift must stay below 100%"
        );
    }
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self::RELIABLE
    }
}
