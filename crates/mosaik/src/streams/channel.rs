//! `ChannelInfo`: one producer–consumer subscription as seen by either end.

use {
    super::{Criteria, State, Stats},
    crate::{PeerId, StreamId, discovery::PeerEntry},
    std::sync::Arc,
    tokio::sync::watch,
};

/// A snapshot handle of one subscription: ids, the remote peer's entry at
/// connect time, live state and counters.
#[derive(Clone)]
pub struct ChannelInfo(Arc<Inner>);

struct Inner {
    stream_id: StreamId,
    criteria: Criteria,
    producer_id: PeerId,
    consumer_id: PeerId,
    peer: PeerEntry,
    state: watch::Sender<State>,
    stats: Stats,
}

impl core::fmt::Debug for ChannelInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChannelInfo")
            .field("stream_id", &self.0.stream_id)
            .field("producer", &self.0.producer_id.fmt_short().to_string())
            .field("consumer", &self.0.consumer_id.fmt_short().to_string())
            .field("state", &self.state())
            .field("stats", &self.0.stats)
            .finish()
    }
}

impl ChannelInfo {
    pub(crate) fn new(
        stream_id: StreamId,
        criteria: Criteria,
        producer_id: PeerId,
        consumer_id: PeerId,
        peer: PeerEntry,
    ) -> Self {
        Self(Arc::new(Inner {
            stream_id,
            criteria,
            producer_id,
            consumer_id,
            peer,
            state: watch::channel(State::Connecting).0,
            stats: Stats::default(),
        }))
    }

    /// The stream.
    pub fn stream_id(&self) -> StreamId {
        self.0.stream_id
    }

    /// The consumer's criteria.
    pub fn criteria(&self) -> &Criteria {
        &self.0.criteria
    }

    /// The producing node.
    pub fn producer_id(&self) -> PeerId {
        self.0.producer_id
    }

    /// The consuming node.
    pub fn consumer_id(&self) -> PeerId {
        self.0.consumer_id
    }

    /// The remote peer's entry when the channel was made.
    pub fn peer(&self) -> &PeerEntry {
        &self.0.peer
    }

    /// The current state.
    pub fn state(&self) -> State {
        *self.0.state.borrow()
    }

    /// Notifications of state changes.
    pub fn state_watcher(&self) -> watch::Receiver<State> {
        self.0.state.subscribe()
    }

    /// This channel's counters.
    pub fn stats(&self) -> &Stats {
        &self.0.stats
    }

    /// Whether data flows.
    pub fn is_connected(&self) -> bool {
        self.state() == State::Connected
    }

    /// Resolves once the channel is terminated.
    pub async fn disconnected(&self) {
        let mut rx = self.0.state.subscribe();
        let _ = rx.wait_for(|s| *s == State::Terminated).await;
    }

    pub(crate) fn set_state(&self, state: State) {
        match state {
            State::Connected => self.0.stats.connected(),
            State::Terminated => self.0.stats.disconnected(),
            State::Connecting => {}
        }
        self.0.state.send_replace(state);
    }

    pub(crate) fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
