//! Producers: the builder, the handle, the shared fan-out and the control
//! worker.

mod fanout;
mod handle;
mod queue;
mod subscriber;
mod worker;

pub use handle::{Error, Producer};

use {
    super::{ChannelConditions, Streams, require::Requirements},
    crate::{Datum, StreamId, discovery::PeerInfo, tickets::TicketValidator},
    core::{any::TypeId, marker::PhantomData},
    handle::Inner,
    std::sync::{Arc, Weak},
    tokio::sync::mpsc,
};

/// Default capacity of each subscriber queue.
pub const DEFAULT_BUFFER_SIZE: usize = 1024;

pub(crate) type OnlineWhen = Arc<dyn Fn(ChannelConditions) -> ChannelConditions + Send + Sync>;

/// A producer's settings.
#[derive(Clone)]
pub struct ProducerConfig {
    /// The stream.
    pub stream_id: StreamId,
    /// Capacity of each subscriber's queue (sends push straight into
    /// them; there is no separate input channel).
    pub buffer_size: usize,
    /// Full subscriber queue: disconnect with `TooSlow` (true) or drop the
    /// datum for that subscriber (false).
    pub disconnect_lagging: bool,
    /// Most subscribers at once; more are refused with `NoCapacity`.
    pub max_consumers: usize,
    pub(crate) requirements: Requirements,
    pub(crate) online_when: Option<OnlineWhen>,
}

impl core::fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("stream_id", &self.stream_id)
            .field("buffer_size", &self.buffer_size)
            .field("disconnect_lagging", &self.disconnect_lagging)
            .field("max_consumers", &self.max_consumers)
            .field("requirements", &self.requirements)
            .finish_non_exhaustive()
    }
}

/// Building a producer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuilderError<D: Datum> {
    /// This node already produces the stream; here is a handle to it (its
    /// configuration is kept).
    #[error("a producer for this stream already exists")]
    AlreadyExists(Producer<D>),
    /// The stream id is taken by a producer of another datum type.
    #[error("stream {stream_id} is produced with datum type {existing}")]
    TypeMismatch {
        /// The stream.
        stream_id: StreamId,
        /// The datum type of the existing producer.
        existing: &'static str,
    },
}

/// Configures a [`Producer`].
pub struct Builder<D: Datum> {
    streams: Streams,
    config: ProducerConfig,
    // unbounded: the sink is the caller's own channel (SPEC §1.4 `with_undelivered_sink` takes an
    // `UnboundedSender`); it holds only datums the caller chose to collect, and draining it is theirs.
    undelivered: Option<mpsc::UnboundedSender<D>>,
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
        Self {
            streams,
            config: Self::config_for(D::derived_stream_id()),
            undelivered: None,
            _datum: PhantomData,
        }
    }

    pub(crate) fn config_for(stream_id: StreamId) -> ProducerConfig {
        ProducerConfig {
            stream_id,
            buffer_size: DEFAULT_BUFFER_SIZE,
            disconnect_lagging: true,
            max_consumers: usize::MAX,
            requirements: Requirements::default(),
            online_when: None,
        }
    }

    /// Sets the stream id (default: derived from the datum type).
    #[must_use]
    pub fn with_stream_id(mut self, id: impl Into<StreamId>) -> Self {
        self.config.stream_id = id.into();
        self
    }

    /// Consumers must satisfy `predicate` (AND with earlier ones); checked
    /// on subscribe and on every catalog change.
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

    /// Consumers must carry a ticket `validator` accepts; they are
    /// disconnected when it expires.
    #[must_use]
    pub fn require_ticket(mut self, validator: impl TicketValidator) -> Self {
        self.config
            .requirements
            .validators
            .push(Arc::new(validator));
        self
    }

    /// When the producer counts as online (default: at least one
    /// subscriber). `f` receives the default condition.
    #[must_use]
    pub fn online_when(
        mut self,
        f: impl Fn(ChannelConditions) -> ChannelConditions + Send + Sync + 'static,
    ) -> Self {
        self.config.online_when = Some(Arc::new(f));
        self
    }

    /// Full subscriber queue: disconnect (true, default) or drop the datum
    /// for that subscriber only.
    #[must_use]
    pub fn disconnect_lagging(mut self, disconnect: bool) -> Self {
        self.config.disconnect_lagging = disconnect;
        self
    }

    /// Capacity of each subscriber queue (default 1024, at least 1), in
    /// datums. Each queue keeps its own copy of encodings of up to 4 KiB,
    /// framed (4 bytes of length each) in buffers grown by doubling, so it
    /// holds at most twice their framed size, or 1 KiB; larger encodings
    /// are shared by every queue that holds them.
    #[must_use]
    pub fn with_buffer_size(mut self, size: usize) -> Self {
        self.config.buffer_size = size.max(1);
        self
    }

    /// Most subscribers at once (default unlimited).
    #[must_use]
    pub fn with_max_consumers(mut self, max: usize) -> Self {
        self.config.max_consumers = max;
        self
    }

    /// Datums no subscriber took are sent here. The channel is unbounded by
    /// SPEC's signature: the caller must drain it, or it grows with every
    /// datum no subscriber matched.
    // unbounded: the caller's own channel, by SPEC's signature; only datums
    // no subscriber took go there, and draining it is the caller's job.
    #[must_use]
    pub fn with_undelivered_sink(mut self, sink: mpsc::UnboundedSender<D>) -> Self {
        self.undelivered = Some(sink);
        self
    }

    /// Starts the producer, or returns the existing one for this stream id.
    pub fn build(self) -> Result<Producer<D>, BuilderError<D>> {
        let Self {
            streams,
            config,
            undelivered,
            ..
        } = self;
        let id = config.stream_id;
        let shared = streams.0.clone();
        let registry = &shared.registry;
        let producer = registry.with(|entries| {
            if let Some(entry) = entries.get(&id) {
                if entry.type_id != TypeId::of::<D>() {
                    return Err(BuilderError::TypeMismatch {
                        stream_id: id,
                        existing: entry.type_name,
                    });
                }
                let existing = entry
                    .handle
                    .downcast_ref::<Weak<Inner<D>>>()
                    .and_then(Weak::upgrade);
                if let Some(inner) = existing {
                    return Err(BuilderError::AlreadyExists(Producer::from_inner(inner)));
                }
                // The last handle is being dropped; this producer replaces it.
            }
            let serial = registry.next_serial();
            let (inner, intake) = worker::spawn(&shared, config, undelivered, serial);
            let weak = Arc::downgrade(&inner);
            let sample = move || {
                use core::sync::atomic::Ordering::Relaxed;
                let inner = weak.upgrade()?;
                Some(super::observe::ProducerSample {
                    stream_id: id,
                    datum: core::any::type_name::<D>(),
                    sent: inner.fanout.sent_total.load(Relaxed),
                    dropped: inner.fanout.dropped_total.load(Relaxed),
                    consumers: super::observe::channels(&inner.status, true),
                })
            };
            entries.insert(
                id,
                super::registry::Entry {
                    serial,
                    type_id: TypeId::of::<D>(),
                    type_name: core::any::type_name::<D>(),
                    handle: Box::new(Arc::downgrade(&inner)),
                    intake,
                    sample: Box::new(sample),
                },
            );
            // Advertised under the registry lock so a concurrent drop of an
            // older producer with this id cannot un-advertise it.
            shared.discovery.0.update_local(|e| e.add_streams([id]));
            Ok(Producer::from_inner(inner))
        })?;
        let net = shared.local.network_id().short_string();
        metrics::gauge!("mosaik.streams.producers.active", "network" => net).increment(1);
        Ok(producer)
    }

    /// [`Builder::build`], returning the existing producer when there is
    /// one. On a datum type mismatch the error is logged and a closed
    /// producer is returned (every send fails with [`Error::Closed`]).
    pub fn build_or_existing(self) -> Producer<D> {
        let id = self.config.stream_id;
        match self.build() {
            Ok(p) | Err(BuilderError::AlreadyExists(p)) => p,
            Err(err) => {
                tracing::error!(stream = %id, error = %err, "cannot produce stream");
                Producer::closed(id)
            }
        }
    }
}

pub(crate) trait ShortString {
    fn short_string(&self) -> String;
}

impl ShortString for crate::Digest {
    fn short_string(&self) -> String {
        use crate::primitives::ShortFmtExt;
        self.short().to_string()
    }
}

/// Metric labels of one stream: `stream` and `network` short ids.
pub(crate) fn labels(network: crate::NetworkId, stream: StreamId) -> Vec<metrics::Label> {
    vec![
        metrics::Label::new("stream", stream.short_string()),
        metrics::Label::new("network", network.short_string()),
    ]
}
