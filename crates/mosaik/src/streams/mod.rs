//! Streams: typed pub/sub between nodes.
//!
//! A [`Producer`] advertises its stream id in the local peer entry and fans
//! every datum out to its subscribers; a [`Consumer`] watches the catalog,
//! subscribes to every producer of its stream that passes its rules, and
//! merges what they send. One subscription is one [`Link`] of
//! `/mosaik/streams/1.0`: a [`ConsumerHandshake`], a [`StartStream`], then
//! raw datum frames.
//!
//! Every queue is bounded: the producer's input channel and each
//! subscriber's byte queue hold `buffer_size` items, and the consumer's
//! delivery channel holds its own `buffer_size` (in batches of up to 64
//! datums, rounded up to a whole batch), so a slow reader pushes back to
//! its subscriber queue, where `disconnect_lagging` decides.
//!
//! [`Link`]: crate::network::Link

mod accept;
pub mod backoff;
mod channel;
mod close;
pub mod consumer;
mod def;
mod messages;
pub(crate) mod observe;
pub mod producer;
mod registry;
mod require;
mod stats;
mod when;

pub use {
    backoff::{Backoff, BackoffFactory, ExponentialBackoff},
    channel::ChannelInfo,
    close::{NoCapacity, NotAllowed, StreamNotFound, TooSlow},
    consumer::Consumer,
    def::{
        ConsumerDef, ConsumerOf, ProducerDef, ProducerOf, StreamConsumer, StreamDef, StreamProducer,
    },
    messages::{ConsumerHandshake, Criteria, STREAMS_ALPN, StartStream, StreamsProtocol},
    producer::Producer,
    require::Denied,
    stats::{State, Stats},
    when::{ChannelConditions, When},
};

use {
    crate::{
        Datum, StreamId,
        discovery::Discovery,
        network::{Listener, LocalNode},
    },
    std::sync::Arc,
};

/// Closes `conn` at once with `reason`. Used for refusals and
/// disconnects: unsent data is discarded, and the peer sees the code rather
/// than a finished stream (a finished stream means a graceful end).
pub(crate) fn close_now(
    conn: &iroh::endpoint::Connection,
    reason: &dyn crate::network::CloseReason,
) {
    conn.close(
        iroh::endpoint::VarInt::from_u32(reason.code()),
        reason.name().as_bytes(),
    );
}

/// Streams configuration.
#[derive(Clone)]
pub struct Config {
    /// Consumers' reconnect policy (default: [`ExponentialBackoff`]).
    pub backoff: BackoffFactory,
}

impl core::fmt::Debug for Config {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Config").finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            backoff: backoff::factory(ExponentialBackoff::default()),
        }
    }
}

impl Config {
    /// A builder with the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }
}

/// Builds a [`Config`].
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder(Config);

impl ConfigBuilder {
    /// Sets the consumers' default reconnect policy.
    #[must_use]
    pub fn with_backoff<B: Backoff + Clone + Sync>(mut self, policy: B) -> Self {
        self.0.backoff = backoff::factory(policy);
        self
    }

    /// The configuration.
    pub fn build(self) -> Config {
        self.0
    }
}

/// This node's streams (cheap to clone).
#[derive(Debug, Clone)]
pub struct Streams(pub(crate) Arc<Shared>);

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) local: LocalNode,
    pub(crate) discovery: Discovery,
    pub(crate) config: Config,
    pub(crate) registry: registry::Registry,
    /// This node's consumers, for observers.
    pub(crate) consumers: observe::Consumers,
}

impl Streams {
    /// Starts the acceptor for `/mosaik/streams/1.0`.
    pub(crate) fn start(
        local: &LocalNode,
        discovery: &Discovery,
        listener: Listener<StreamsProtocol>,
        config: Config,
    ) -> Self {
        let shared = Arc::new(Shared {
            local: local.clone(),
            discovery: discovery.clone(),
            config,
            registry: registry::Registry::default(),
            consumers: observe::Consumers::default(),
        });
        tokio::spawn(accept::serve(shared.clone(), listener));
        Self(shared)
    }

    /// The default producer of `D` (type-derived stream id). If this node
    /// already produces that stream, a handle to the existing fan-out is
    /// returned (its configuration stays).
    ///
    /// If the stream id is taken by a producer of another datum type, the
    /// returned producer is closed (every send fails with
    /// [`producer::Error::Closed`]) and an error is logged; use
    /// [`producer::Builder::build`] to get the error instead.
    pub fn produce<D: Datum>(&self) -> Producer<D> {
        self.producer::<D>().build_or_existing()
    }

    /// A producer builder for `D`.
    pub fn producer<D: Datum>(&self) -> producer::Builder<D> {
        producer::Builder::new(self.clone())
    }

    /// A producer builder preset with `def`'s stream id.
    pub fn producer_of<D: Datum>(&self, def: StreamDef<D>) -> producer::Builder<D> {
        self.producer::<D>().with_stream_id(def.stream_id())
    }

    /// The default consumer of `D` (type-derived stream id).
    pub fn consume<D: Datum>(&self) -> Consumer<D> {
        self.consumer::<D>().build()
    }

    /// A consumer builder for `D`.
    pub fn consumer<D: Datum>(&self) -> consumer::Builder<D> {
        consumer::Builder::new(self.clone())
    }

    /// A consumer builder preset with `def`'s stream id.
    pub fn consumer_of<D: Datum>(&self, def: StreamDef<D>) -> consumer::Builder<D> {
        self.consumer::<D>().with_stream_id(def.stream_id())
    }

    /// Stream ids this node currently produces.
    pub fn produced(&self) -> Vec<StreamId> {
        self.0.registry.ids()
    }
}
