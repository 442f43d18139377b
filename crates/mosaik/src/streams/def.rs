//! Stream declarations: `StreamDef`, `ProducerDef`/`ConsumerDef` and the
//! `StreamProducer`/`StreamConsumer` traits implemented by `stream!`.

use {
    super::{Consumer, Producer, consumer, producer},
    crate::{Datum, Network, StreamId},
    core::marker::PhantomData,
};

/// A stream's datum type and id.
pub struct StreamDef<T> {
    id: Option<StreamId>,
    _datum: PhantomData<fn() -> T>,
}

impl<T> Clone for StreamDef<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for StreamDef<T> {}

impl<T> core::fmt::Debug for StreamDef<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamDef").field("id", &self.id).finish()
    }
}

impl<T: Datum> Default for StreamDef<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Datum> StreamDef<T> {
    /// The stream of `T` with the type-derived id.
    pub const fn new() -> Self {
        Self {
            id: None,
            _datum: PhantomData,
        }
    }

    /// The stream of `T` with id `id`.
    pub const fn with_stream_id(id: StreamId) -> Self {
        Self {
            id: Some(id),
            _datum: PhantomData,
        }
    }

    /// The stream id.
    pub fn stream_id(&self) -> StreamId {
        self.id.unwrap_or_else(T::derived_stream_id)
    }
}

/// A producer declaration: stream id (or type-derived).
pub struct ProducerDef<T> {
    id: Option<StreamId>,
    _datum: PhantomData<fn() -> T>,
}

impl<T> core::fmt::Debug for ProducerDef<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProducerDef").field("id", &self.id).finish()
    }
}

impl<T: Datum> ProducerDef<T> {
    /// A declaration with `id` (`None`: type-derived).
    pub const fn new(id: Option<StreamId>) -> Self {
        Self {
            id,
            _datum: PhantomData,
        }
    }

    /// A builder for this producer on `network`.
    pub fn open(&self, network: &Network) -> producer::Builder<T> {
        let builder = network.streams().producer::<T>();
        match self.id {
            Some(id) => builder.with_stream_id(id),
            None => builder,
        }
    }
}

/// A consumer declaration: stream id (or type-derived).
pub struct ConsumerDef<T> {
    id: Option<StreamId>,
    _datum: PhantomData<fn() -> T>,
}

impl<T> core::fmt::Debug for ConsumerDef<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConsumerDef").field("id", &self.id).finish()
    }
}

impl<T: Datum> ConsumerDef<T> {
    /// A declaration with `id` (`None`: type-derived).
    pub const fn new(id: Option<StreamId>) -> Self {
        Self {
            id,
            _datum: PhantomData,
        }
    }

    /// A builder for this consumer on `network`.
    pub fn open(&self, network: &Network) -> consumer::Builder<T> {
        let builder = network.streams().consumer::<T>();
        match self.id {
            Some(id) => builder.with_stream_id(id),
            None => builder,
        }
    }
}

/// A declared stream that can be produced (implemented by `stream!`).
pub trait StreamProducer {
    /// The datum type.
    type Datum: Datum;

    /// The node's producer of this stream; an existing one is returned as
    /// is (the declaration's settings are then ignored).
    fn producer(network: &Network) -> Producer<Self::Datum>;

    /// [`StreamProducer::producer`], resolved once it is online.
    fn online_producer(
        network: &Network,
    ) -> impl Future<Output = Producer<Self::Datum>> + Send + 'static {
        let producer = Self::producer(network);
        async move {
            producer.when().online().await;
            producer
        }
    }
}

/// A declared stream that can be consumed (implemented by `stream!`).
pub trait StreamConsumer {
    /// The datum type.
    type Datum: Datum;

    /// A new consumer of this stream.
    fn consumer(network: &Network) -> Consumer<Self::Datum>;

    /// [`StreamConsumer::consumer`], resolved once it is online.
    fn online_consumer(
        network: &Network,
    ) -> impl Future<Output = Consumer<Self::Datum>> + Send + 'static {
        let consumer = Self::consumer(network);
        async move {
            consumer.when().online().await;
            consumer
        }
    }
}

/// The producer type of a declared stream.
pub type ProducerOf<S> = Producer<<S as StreamProducer>::Datum>;

/// The consumer type of a declared stream.
pub type ConsumerOf<S> = Consumer<<S as StreamConsumer>::Datum>;
