//! Reconnect backoff: a small exponential backoff with jitter.
//!
//! SPEC names the unmaintained `backoff` crate; this type keeps its
//! defaults (500 ms initial, ×1.5, ±50 % jitter, 60 s max interval) with
//! 300 s max elapsed time, and any [`Backoff`] implementation can replace it.

use {
    core::time::Duration,
    std::{sync::Arc, time::Instant},
};

/// A retry policy: the delay before the next attempt, or `None` to give up.
pub trait Backoff: Send + 'static {
    /// The delay before the next attempt; `None` when retries are exhausted.
    fn next_backoff(&mut self) -> Option<Duration>;

    /// Starts over (called after a success and when a policy is created).
    fn reset(&mut self);
}

/// Makes a fresh policy for each receiver.
pub type BackoffFactory = Arc<dyn Fn() -> Box<dyn Backoff> + Send + Sync>;

/// A factory cloning `policy` and resetting the clone.
pub fn factory<B: Backoff + Clone + Sync>(policy: B) -> BackoffFactory {
    Arc::new(move || {
        let mut fresh = policy.clone();
        fresh.reset();
        Box::new(fresh)
    })
}

/// Exponential backoff with uniform jitter and a total time budget.
#[derive(Debug, Clone)]
pub struct ExponentialBackoff {
    /// First delay.
    pub initial_interval: Duration,
    /// Growth factor per attempt.
    pub multiplier: f64,
    /// Jitter: each delay is drawn from `interval × [1 − r, 1 + r]`.
    pub randomization_factor: f64,
    /// Largest delay (before jitter).
    pub max_interval: Duration,
    /// Give up once this much time passed since the last reset (`None`:
    /// never).
    pub max_elapsed_time: Option<Duration>,
    current: Duration,
    started: Instant,
}

impl Default for ExponentialBackoff {
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_millis(500),
            multiplier: 1.5,
            randomization_factor: 0.5,
            max_interval: Duration::from_mins(1),
            max_elapsed_time: Some(Duration::from_mins(5)),
            current: Duration::from_millis(500),
            started: Instant::now(),
        }
    }
}

impl ExponentialBackoff {
    /// A policy with the given first and largest delays and default growth
    /// and jitter.
    pub fn new(initial_interval: Duration, max_interval: Duration) -> Self {
        Self {
            initial_interval,
            max_interval,
            current: initial_interval,
            ..Self::default()
        }
    }

    /// Sets the total time budget.
    #[must_use]
    pub fn with_max_elapsed_time(mut self, max: Option<Duration>) -> Self {
        self.max_elapsed_time = max;
        self
    }
}

impl Backoff for ExponentialBackoff {
    fn next_backoff(&mut self) -> Option<Duration> {
        if self
            .max_elapsed_time
            .is_some_and(|max| self.started.elapsed() >= max)
        {
            return None;
        }
        let base = self.current.as_secs_f64();
        let spread = base * self.randomization_factor.clamp(0.0, 1.0);
        let jittered = if spread > 0.0 {
            base + rand::random_range(-spread..=spread)
        } else {
            base
        };
        let next = (base * self.multiplier.max(1.0)).min(self.max_interval.as_secs_f64());
        self.current = Duration::from_secs_f64(next);
        Some(Duration::from_secs_f64(jittered.max(0.0)))
    }

    fn reset(&mut self) {
        self.current = self.initial_interval;
        self.started = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_bounded_jitter() {
        let mut b = ExponentialBackoff::new(Duration::from_millis(100), Duration::from_millis(300));
        let first = b.next_backoff().unwrap();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(150));
        for _ in 0..10 {
            let d = b.next_backoff().unwrap();
            assert!(d <= Duration::from_millis(450));
        }
        b.reset();
        assert!(b.next_backoff().unwrap() <= Duration::from_millis(150));
    }

    #[test]
    fn gives_up_after_the_budget() {
        let mut b = ExponentialBackoff::default().with_max_elapsed_time(Some(Duration::ZERO));
        assert_eq!(b.next_backoff(), None);
    }
}
