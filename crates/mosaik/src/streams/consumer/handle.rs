//! `Consumer<D>`: the receiving handle.

use {
    super::{ConsumerConfig, delivery::Delivered},
    crate::{
        Datum, StreamId,
        streams::{ChannelInfo, Stats, When, when::Status},
    },
    core::{
        pin::Pin,
        task::{Context, Poll},
    },
    std::sync::Arc,
    tokio_util::sync::DropGuard,
};

/// Receives a stream's datums from every eligible producer.
///
/// Implements [`futures::Stream`]. Dropping it stops its worker and closes
/// its subscriptions.
pub struct Consumer<D: Datum> {
    pub(super) rx: Delivered<D>,
    pub(super) when: When,
    pub(super) status: Arc<Status>,
    pub(super) stats: Arc<Stats>,
    pub(super) config: Arc<ConsumerConfig>,
    pub(super) _guard: DropGuard,
}

impl<D: Datum> core::fmt::Debug for Consumer<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer")
            .field("stream_id", &self.config.stream_id)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<D: Datum> Consumer<D> {
    /// The next datum; `None` once the consumer stopped. Cancel-safe.
    pub async fn recv(&mut self) -> Option<D> {
        self.rx.recv().await
    }

    /// The next datum if one is waiting.
    pub fn try_recv(&mut self) -> Option<D> {
        self.rx.try_recv()
    }

    /// The stream.
    pub fn stream_id(&self) -> &StreamId {
        &self.config.stream_id
    }

    /// Status and conditions.
    pub fn when(&self) -> &When {
        &self.when
    }

    /// Whether the online condition holds.
    pub fn is_online(&self) -> bool {
        self.when.is_online()
    }

    /// The configuration in use.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Counters over every producer.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The current subscriptions, one per producer.
    pub fn producers(&self) -> impl Iterator<Item = ChannelInfo> + use<D> {
        self.status.channels().into_iter()
    }
}

impl<D: Datum> futures::Stream for Consumer<D> {
    type Item = D;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<D>> {
        self.get_mut().rx.poll_recv(cx)
    }
}
