//! Failure-streak logging: one line when an operation starts failing, one
//! when it recovers, silence in between.
//!
//! A node without internet retries the DHT every few seconds forever; logging
//! each failure would flood the log, logging none would hide a real outage.

use core::fmt::Display;

/// Tracks whether an operation is currently failing.
#[derive(Debug)]
pub(super) struct Streak {
    /// What the operation is, for the log line.
    what: &'static str,
    /// Inside a failure streak.
    failing: bool,
    /// The operation has worked at least once.
    ever_succeeded: bool,
    /// Failures in the current streak.
    failures: u64,
}

impl Streak {
    pub(super) fn new(what: &'static str) -> Self {
        Self {
            what,
            failing: false,
            ever_succeeded: false,
            failures: 0,
        }
    }

    /// Records a failure; logs only the first of a streak. Losing a DHT that
    /// worked is a warning; never reaching it (an offline machine, a local
    /// cluster) is normal and only a debug line.
    pub(super) fn fail(&mut self, error: &dyn Display) {
        self.failures += 1;
        if self.failing {
            return;
        }
        self.failing = true;
        if self.ever_succeeded {
            tracing::warn!(
                "{} failing ({error}); retrying quietly with the poll interval",
                self.what
            );
        } else {
            tracing::debug!(
                "{} unavailable ({error}); retrying quietly with the poll interval",
                self.what
            );
        }
    }

    /// Records a success; logs the end of a streak.
    pub(super) fn succeed(&mut self) {
        if self.failing && self.ever_succeeded {
            tracing::info!(failures = self.failures, "{} working again", self.what);
        } else if self.failing {
            tracing::debug!(failures = self.failures, "{} available", self.what);
        }
        self.failing = false;
        self.ever_succeeded = true;
        self.failures = 0;
    }

    /// Whether the operation is inside a failure streak.
    #[cfg(test)]
    pub(super) fn is_failing(&self) -> bool {
        self.failing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_starts_on_failure_and_ends_on_success() {
        let mut streak = Streak::new("test");
        assert!(!streak.is_failing());
        streak.fail(&"boom");
        streak.fail(&"boom");
        assert!(streak.is_failing());
        assert_eq!(streak.failures, 2);
        streak.succeed();
        assert!(!streak.is_failing());
        assert_eq!(streak.failures, 0);
    }
}
