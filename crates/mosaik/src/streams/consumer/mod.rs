//! Consumers: the builder, the handle, the catalog-watching worker and one
//! receiver task per producer.

mod delivery;
mod handle;
mod receiver;
mod worker;

pub use handle::Consumer;

use {
    super::{
        Backoff, BackoffFactory, ChannelConditions, Criteria, Streams, backoff,
        require::Requirements,
    },
    crate::{Datum, StreamId, discovery::PeerInfo, tickets::TicketValidator},
    core::marker::PhantomData,
    std::sync::Arc,
};

/// Default capacity of the delivery channel between the receivers and the
/// handle.
pub const DEFAULT_BUFFER_SIZE: usize = 1024;

/// A consumer's settings.
#[derive(Clone)]
pub struct ConsumerConfig {
    /// The stream.
    pub stream_id: StreamId,
    /// What the consumer asks producers for.
    pub criteria: Criteria,
    /// Capacity of the delivery channel in datums (bounded, so a slow
    /// reader pushes back to the producer's queue for it). Datums travel
    /// in batches of up to 64, so the bound is rounded up to whole batches.
    pub buffer_size: usize,
    pub(crate) backoff: BackoffFactory,
    pub(crate) requirements: Requirements,
    pub(crate) online_when: Option<super::producer::OnlineWhen>,
}

impl core::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConsumerConfig")
            .field("stream_id", &self.stream_id)
            .field("criteria", &self.criteria)
            .field("buffer_size", &self.buffer_size)
            .field("requirements", &self.requirements)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Consumer`].
pub struct Builder<D: Datum> {
    streams: Streams,
    config: ConsumerConfig,
    _datum: PhantomData<fn() -> D>,
}

impl<D: Datum> core::fmt::Debug for Builder<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<D: Datum> Builder<D> {
    pub(crate) fn new(streams: Streams) -> Self {
        let backoff = streams.0.config.backoff.clone();
        Self {
            streams,
            config: ConsumerConfig {
                stream_id: D::derived_stream_id(),
                criteria: Criteria::default(),
                buffer_size: DEFAULT_BUFFER_SIZE,
                backoff,
                requirements: Requirements::default(),
                online_when: None,
            },
            _datum: PhantomData,
        }
    }

    /// Sets the stream id (default: derived from the datum type).
    #[must_use]
    pub fn with_stream_id(mut self, id: impl Into<StreamId>) -> Self {
        self.config.stream_id = id.into();
        self
    }

    /// Sets the criteria sent to producers.
    #[must_use]
    pub fn with_criteria(mut self, criteria: Criteria) -> Self {
        self.config.criteria = criteria;
        self
    }

    /// Sets the reconnect policy (default: the streams config's).
    #[must_use]
    pub fn with_backoff<B: Backoff + Clone + Sync>(mut self, policy: B) -> Self {
        self.config.backoff = backoff::factory(policy);
        self
    }

    /// Producers must satisfy `predicate` (AND with earlier ones); checked
    /// before connecting and on every catalog change.
    #[must_use]
    pub fn require(
        mut self,
        predicate: impl Fn(&PeerInfo) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config
            .requirements
            .predicates
            .push(Arc::new(predicate));
        self
    }

    /// Producers must carry a ticket `validator` accepts; they are
    /// disconnected when it expires.
    #[must_use]
    pub fn require_ticket(mut self, validator: impl TicketValidator) -> Self {
        self.config
            .requirements
            .validators
            .push(Arc::new(validator));
        self
    }

    /// When the consumer counts as online (default: at once, zero
    /// producers). `f` receives the default condition.
    #[must_use]
    pub fn online_when(
        mut self,
        f: impl Fn(ChannelConditions) -> ChannelConditions + Send + Sync + 'static,
    ) -> Self {
        self.config.online_when = Some(Arc::new(f));
        self
    }

    /// Capacity of the delivery channel in datums (default 1024, at least
    /// 1; rounded up to whole batches of up to 64 datums).
    #[must_use]
    pub fn with_buffer_size(mut self, size: usize) -> Self {
        self.config.buffer_size = size.max(1);
        self
    }

    /// Starts the consumer's worker; dropping the consumer stops it.
    pub fn build(self) -> Consumer<D> {
        worker::spawn(&self.streams.0, self.config)
    }
}
