//! How much work a check may do before it gives up with an `Unknown` verdict.
//!
//! Linearizability checking is NP-complete, so some histories (long stretches where many
//! operations overlap) cannot be decided in reasonable time. A budget turns those into an explicit
//! `Unknown` for the caller to count and report, rather than a hang or a silent pass.

use std::time::{Duration, Instant};

/// Limits on one call of [`check`](super::check), shared by all of its partitions.
///
/// Steps (model applications) are deterministic, so a step budget gives the same verdict on
/// every machine; a time budget is the safety net for interactive use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// The most model steps to try, or `None` for no limit.
    pub max_steps: Option<u64>,
    /// The most wall-clock time to spend, or `None` for no limit.
    pub max_time: Option<Duration>,
}

impl Budget {
    /// No limit at all.
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// At most `max_steps` model steps.
    pub fn steps(max_steps: u64) -> Self {
        Self {
            max_steps: Some(max_steps),
            max_time: None,
        }
    }

    /// At most `max_time` of wall-clock time.
    pub fn time(max_time: Duration) -> Self {
        Self {
            max_steps: None,
            max_time: Some(max_time),
        }
    }

    /// This budget with a step limit added.
    #[must_use]
    pub fn with_steps(self, max_steps: u64) -> Self {
        Self {
            max_steps: Some(max_steps),
            ..self
        }
    }

    /// This budget with a time limit added.
    #[must_use]
    pub fn with_time(self, max_time: Duration) -> Self {
        Self {
            max_time: Some(max_time),
            ..self
        }
    }
}

/// Which limit of a [`Budget`] ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `max_steps` was reached.
    Steps,
    /// `max_time` passed.
    Time,
}

/// Counts steps against a budget during one check.
#[derive(Debug)]
pub(super) struct Meter {
    steps: u64,
    max_steps: u64,
    deadline: Option<Instant>,
}

impl Meter {
    /// Reading the clock costs far more than a model step, so it is read once per this many.
    const STEPS_PER_CLOCK_READ: u64 = 256;

    pub(super) fn start(budget: Budget) -> Self {
        Self {
            steps: 0,
            max_steps: budget.max_steps.unwrap_or(u64::MAX),
            // A deadline too far away to represent is no deadline.
            deadline: budget.max_time.and_then(|t| Instant::now().checked_add(t)),
        }
    }

    /// Accounts for one more step, or says which limit forbids it.
    pub(super) fn tick(&mut self) -> Result<(), Limit> {
        if self.steps >= self.max_steps {
            return Err(Limit::Steps);
        }
        // Checking on the very first step makes a zero time budget fail immediately.
        if self.steps.is_multiple_of(Self::STEPS_PER_CLOCK_READ)
            && self.deadline.is_some_and(|d| Instant::now() >= d)
        {
            return Err(Limit::Time);
        }
        self.steps += 1;
        Ok(())
    }

    /// Steps taken so far.
    pub(super) fn steps(&self) -> u64 {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_limit_allows_exactly_that_many_steps() {
        let mut meter = Meter::start(Budget::steps(3));
        assert_eq!(
            (0..3).map(|_| meter.tick()).collect::<Vec<_>>(),
            [Ok(()); 3]
        );
        assert_eq!(meter.tick(), Err(Limit::Steps));
        assert_eq!(meter.steps(), 3);
    }

    #[test]
    fn zero_time_budget_is_exhausted_at_once() {
        let mut meter = Meter::start(Budget::time(Duration::ZERO));
        assert_eq!(meter.tick(), Err(Limit::Time));
    }

    #[test]
    fn unlimited_and_huge_budgets_never_run_out_in_practice() {
        for budget in [
            Budget::unlimited(),
            Budget::time(Duration::MAX).with_steps(u64::MAX),
        ] {
            let mut meter = Meter::start(budget);
            assert!((0..10_000).all(|_| meter.tick().is_ok()));
        }
    }
}
