//! `Stats` and `State`: counters and lifecycle of a channel.

use {
    core::{
        fmt,
        sync::atomic::{AtomicU64, Ordering},
        time::Duration,
    },
    std::{sync::Mutex, time::Instant},
};

/// Lifecycle of one producer–consumer channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Handshake in progress.
    Connecting,
    /// Data flows.
    Connected,
    /// The channel ended and will not come back (a new one may be made).
    Terminated,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Terminated => "terminated",
        })
    }
}

/// Datums and payload bytes moved, and time since the last connect.
#[derive(Debug, Default)]
pub struct Stats {
    datums: AtomicU64,
    bytes: AtomicU64,
    connected_at: Mutex<Option<Instant>>,
}

impl Stats {
    /// Datums moved.
    pub fn datums(&self) -> usize {
        usize::try_from(self.datums.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    /// Encoded payload bytes moved (framing excluded).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Time since the last connect, `None` while disconnected.
    pub fn uptime(&self) -> Option<Duration> {
        self.connected_at
            .lock()
            .expect("stats lock")
            .map(|at| at.elapsed())
    }

    /// Counts `datums` datums of `bytes` bytes in all (a batch).
    pub(crate) fn record_many(&self, datums: usize, bytes: usize) {
        self.datums.fetch_add(datums as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn connected(&self) {
        let mut at = self.connected_at.lock().expect("stats lock");
        if at.is_none() {
            *at = Some(Instant::now());
        }
    }

    pub(crate) fn disconnected(&self) {
        *self.connected_at.lock().expect("stats lock") = None;
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} datums, {} bytes", self.datums(), self.bytes())?;
        match self.uptime() {
            Some(up) => write!(f, ", up {up:.1?}"),
            None => f.write_str(", down"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_displays() {
        let stats = Stats::default();
        stats.record_many(2, 10);
        stats.record_many(1, 5);
        assert_eq!((stats.datums(), stats.bytes()), (3, 15));
        assert!(stats.uptime().is_none());
        assert_eq!(stats.to_string(), "3 datums, 15 bytes, down");
        stats.connected();
        assert!(stats.uptime().is_some());
        assert!(stats.to_string().contains("up"));
    }
}
