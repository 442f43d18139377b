//! When a validated ticket stops being valid.

use {
    chrono::{DateTime, Utc},
    core::time::Duration,
    serde::{Deserialize, Serialize},
};

/// The moment a ticket expires. `Never` sorts after every `At`, so the
/// minimum over a set of expirations is the earliest one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Expiration {
    /// Expires at this instant.
    At(DateTime<Utc>),
    /// Never expires.
    Never,
}

impl Expiration {
    /// A ticket that never expires.
    pub const fn never() -> Self {
        Self::Never
    }

    /// An expiration one hour in the past (useful in tests).
    pub fn already_expired() -> Self {
        Self::At(Utc::now() - chrono::Duration::hours(1))
    }

    /// Expires `after` from now.
    pub fn after(after: chrono::Duration) -> Self {
        Self::At(Utc::now() + after)
    }

    /// Expires `hours` hours from now.
    pub fn in_n_hours(hours: i64) -> Self {
        Self::after(chrono::Duration::hours(hours))
    }

    /// Expires one hour from now.
    pub fn in_1h() -> Self {
        Self::in_n_hours(1)
    }

    /// Expires three hours from now.
    pub fn in_3h() -> Self {
        Self::in_n_hours(3)
    }

    /// Expires six hours from now.
    pub fn in_6h() -> Self {
        Self::in_n_hours(6)
    }

    /// Expires a day from now.
    pub fn in_24h() -> Self {
        Self::in_n_hours(24)
    }

    /// Whether the expiry lies in the past.
    pub fn is_expired(&self) -> bool {
        match self {
            Self::At(at) => *at <= Utc::now(),
            Self::Never => false,
        }
    }

    /// Time left until expiry; `None` if it never expires or already did.
    pub fn remaining(&self) -> Option<Duration> {
        match self {
            Self::At(at) => (*at - Utc::now()).to_std().ok().filter(|d| !d.is_zero()),
            Self::Never => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_sorts_last_and_min_is_earliest() {
        let soon = Expiration::in_1h();
        let later = Expiration::in_24h();
        assert!(soon < later && later < Expiration::Never);
        assert_eq!(
            [later, Expiration::Never, soon].into_iter().min(),
            Some(soon)
        );
    }

    #[test]
    fn remaining_and_expired() {
        assert!(Expiration::already_expired().is_expired());
        assert_eq!(Expiration::already_expired().remaining(), None);
        assert_eq!(Expiration::Never.remaining(), None);
        assert!(!Expiration::Never.is_expired());
        let left = Expiration::in_1h().remaining().unwrap();
        assert!(left > Duration::from_secs(3500) && left <= Duration::from_hours(1));
    }
}
