//! `PeerInfo` and `Event`.

use {
    super::PeerEntry,
    crate::PeerId,
    core::{ops::Deref, time::Duration},
};

/// A peer entry plus the locally observed smoothed RTT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    entry: PeerEntry,
    rtt: Option<Duration>,
}

impl PeerInfo {
    pub(crate) fn new(entry: PeerEntry, rtt: Option<Duration>) -> Self {
        Self { entry, rtt }
    }

    /// The smoothed RTT, if measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// True when the RTT is below `max`, or unknown (optimistic).
    pub fn rtt_below(&self, max: Duration) -> bool {
        self.rtt.is_none_or(|rtt| rtt < max)
    }

    /// The entry.
    pub fn into_entry(self) -> PeerEntry {
        self.entry
    }
}

impl Deref for PeerInfo {
    type Target = PeerEntry;

    fn deref(&self) -> &PeerEntry {
        &self.entry
    }
}

/// A change in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A peer we did not know (or had purged).
    PeerDiscovered(PeerEntry),
    /// A newer entry of a known peer.
    PeerUpdated(PeerEntry),
    /// A peer left gracefully or was purged as stale.
    PeerDeparted(PeerId),
}
