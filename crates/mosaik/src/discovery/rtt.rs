//! Round-trip time estimation (RFC 6298 smoothing).

use core::time::Duration;

/// Smoothed RTT per RFC 6298: SRTT with α = 1/8 and RTTVAR with β = 1/4;
/// the first sample sets SRTT = R and RTTVAR = R/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimator {
    srtt: Duration,
    rttvar: Duration,
}

impl RttEstimator {
    /// Starts from a first sample.
    pub fn new(sample: Duration) -> Self {
        Self {
            srtt: sample,
            rttvar: sample / 2,
        }
    }

    /// Folds in a new sample.
    pub fn update(&mut self, sample: Duration) {
        let delta = self.srtt.abs_diff(sample);
        self.rttvar = (self.rttvar * 3 + delta) / 4;
        self.srtt = (self.srtt * 7 + sample) / 8;
    }

    /// The smoothed RTT.
    pub fn smoothed(&self) -> Duration {
        self.srtt
    }

    /// The RTT variation.
    pub fn variation(&self) -> Duration {
        self.rttvar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6298_smoothing() {
        let ms = Duration::from_millis;
        let mut rtt = RttEstimator::new(ms(80));
        assert_eq!((rtt.smoothed(), rtt.variation()), (ms(80), ms(40)));
        rtt.update(ms(160));
        // RTTVAR = 3/4*40 + 1/4*80 = 50; SRTT = 7/8*80 + 1/8*160 = 90.
        assert_eq!((rtt.smoothed(), rtt.variation()), (ms(90), ms(50)));
    }
}
