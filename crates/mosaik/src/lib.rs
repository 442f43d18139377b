//! mosaik: a runtime for self-organizing, leaderless distributed systems.
//!
//! Nodes started with only a network name find each other, open typed
//! links over QUIC (iroh), and build streams, consensus groups and
//! replicated collections on top.
//!
//! ```no_run
//! use mosaik::{
//!     Network, Strong, UniqueId, unique_id,
//!     groups::{ApplyContext, GroupKey, LogReplaySync, StateMachine},
//! };
//! use serde::{Deserialize, Serialize};
//!
//! const APP: mosaik::NetworkId = unique_id!("my-app"); // compile-time id
//!
//! #[derive(Debug, Clone, Serialize, Deserialize)]
//! struct Price { symbol: String, cents: u64 }
//!
//! /// A replicated counter: every member applies the same commands in order.
//! /// (`Clone` is optional; `try_clone` lets the group rebuild it after a revert.)
//! #[derive(Debug, Clone, Default)]
//! struct Counter(i64);
//!
//! impl StateMachine for Counter {
//!     type Command = i64;
//!     type Query = ();
//!     type QueryResult = i64;
//!     type StateSync = LogReplaySync<Self>;
//!     fn signature(&self) -> UniqueId { unique_id!("counter-v1") }
//!     fn apply(&mut self, add: i64, _: &dyn ApplyContext) { self.0 += add; }
//!     fn query(&self, (): ()) -> i64 { self.0 }
//!     fn state_sync(&self) -> Self::StateSync { LogReplaySync::default() }
//!     fn try_clone(&self) -> Option<Self> { Some(self.clone()) }
//! }
//!
//! # async fn run() -> anyhow::Result<()> {
//! let a = Network::new(APP).await?;              // ready in milliseconds, no internet needed
//! let b = Network::builder(APP)
//!     .with_discovery(mosaik::discovery::Config::builder().with_bootstrap([a.local().addr()]))
//!     .build()
//!     .await?;
//!
//! // Typed pub/sub: the consumer finds the producer through discovery.
//! let prices = a.streams().produce::<Price>();
//! let mut feed = b.streams().consume::<Price>();
//! prices.when().online().await;                  // a subscriber is connected
//! prices.send(Price { symbol: "ABC".into(), cents: 1234 }).await?;
//! let first = feed.recv().await;
//!
//! // Raft group: whoever holds the key joins; a leader is elected on its own.
//! let key = GroupKey::from_secret("counter-secret");
//! let ga = a.groups().with_key(key.clone()).with_state_machine(Counter::default()).join();
//! let gb = b.groups().with_key(key).with_state_machine(Counter::default()).join();
//! gb.when().leader_elected().await;
//! gb.execute(5).await?;                          // resolves once *this* command committed
//! let value = ga.query((), Strong).await?;       // read via the leader (linearizable in strict mode)
//! assert_eq!(*value, 5);
//! # let _ = first; Ok(()) }
//! ```
//!
//! # The model
//!
//! - **Network.** A [`Network`] is one node of one network, named by a
//!   [`NetworkId`] (any string, hashed). It binds QUIC endpoints, starts
//!   discovery and the protocol listeners, and is ready in milliseconds
//!   with no internet. Dropping it (or [`Network::shutdown`]) leaves
//!   gracefully: peers learn of the departure at once, not after a timeout.
//! - **Discovery** ([`discovery`]). Every node signs a [`discovery::PeerEntry`]
//!   describing itself: tags (roles), the streams it produces, the groups it
//!   is in, its tickets. Entries spread by gossip and by a full catalog sync
//!   on first contact; the local [`discovery::Catalog`] is what everything
//!   else selects peers from. Forged, foreign or oversized entries are
//!   refused and counted.
//! - **Streams** ([`streams`]). Typed pub/sub: a `Producer<D>` is a
//!   `futures::Sink`, a `Consumer<D>` a `futures::Stream`. Consumers find
//!   producers of the same stream id in the catalog and subscribe; each
//!   subscriber has its own bounded queue, so a slow one never slows the
//!   others (`disconnect_lagging` decides what happens to it).
//! - **Groups** ([`groups`]). Members holding the same [`GroupKey`] (and
//!   configuration) bond with each other and run Raft with your
//!   [`groups::StateMachine`]. `execute` resolves only when *its own*
//!   command committed. Dynamic mode (default) keeps the group available on
//!   any side of a partition and reconciles when it heals: an acknowledged
//!   write of the losing side is then reverted (`when().committed()
//!   .reverted()`), and `Strong` queries are confirmed by a quorum of the
//!   querying side only. Strict mode
//!   ([`groups::ConsensusConfigBuilder::with_min_quorum`]) never lets two
//!   sides of a partition commit: acknowledged writes stay and `Strong`
//!   queries are linearizable.
//! - **Collections** ([`collections`]). `Map`, `Vec`, `Set`, `Cell`, `Once`
//!   and `PriorityQueue`, each a group of its own: reads are synchronous
//!   from the local replica, writes resolve once committed. Readers
//!   replicate but never vote. A late joiner copies a snapshot from several
//!   members in parallel.
//! - **Tickets** ([`tickets`]). Access control: producers check consumers,
//!   consumers check producers, group members check each other, with any
//!   [`tickets::TicketValidator`] (JWT built in; Intel TDX attestation
//!   verified to Intel's root with feature `tdx`). Expiry is enforced on
//!   live connections; publishing a refreshed ticket keeps them.
//!
//! Every queue and frame is bounded, every accept path has a timeout, and a
//! remote peer can never crash or stall a node. Metrics go through the
//! `metrics` facade; [`network::NetworkBuilder::with_prometheus_addr`] serves them.
//!
//! # Replicated collections
//!
//! ```no_run
//! use mosaik::collections::{Map, MapReader, Vec as Log};
//!
//! # async fn run(a: &mosaik::Network, b: &mosaik::Network) -> anyhow::Result<()> {
//! // Any node can write; the store id is the only thing to agree on.
//! let prices = Map::<String, u64>::writer(a, "prices");
//! prices.when().online().await;
//! let version = prices.insert("ABC".into(), 1234).await?; // committed
//!
//! // A reader elsewhere: wait for that version, then read locally.
//! let view = MapReader::<String, u64>::reader(b, "prices");
//! view.when().reaches(version).await;
//! assert_eq!(view.get("ABC"), Some(1234));
//!
//! // Compare-and-swap on encoded bytes: applies only if ABC is still 1234.
//! prices.compare_exchange("ABC".into(), Some(1234), Some(1300)).await?;
//!
//! let log = Log::<String>::writer(a, "audit");
//! log.push_back("price changed".into()).await?;
//! # Ok(()) }
//! ```
//!
//! # Declarations
//!
//! [`stream!`] and [`collection!`] declare a stream or store once, in a
//! shared crate, so producers, consumers, readers and writers all use the
//! same id, type and rules:
//!
//! ```no_run
//! use mosaik::declare::{collection, stream};
//! use mosaik::streams::{StreamConsumer, StreamProducer};
//! use mosaik::collections::{CollectionReader, CollectionWriter, Map};
//!
//! stream!(pub Ticks = u64, "example.ticks", max_consumers: 16);
//! collection!(pub Positions = Map<String, i64>, "example.positions");
//!
//! # async fn run(network: &mosaik::Network) {
//! let ticks = Ticks::producer(network);
//! let positions = Positions::writer(network);
//! # let _ = (ticks, positions); }
//! ```

extern crate self as mosaik;

/// Declaration macros, re-exported in one place.
pub mod declare {
    pub use crate::{collection, stream};
}
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
#[path = "fuzzing.rs"]
pub mod __fuzz;
pub mod collections;
#[cfg(feature = "dashboard")]
pub mod dashboard;
pub mod discovery;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use __fuzz as fuzzing;
pub mod groups;
#[cfg(feature = "prometheus")]
mod metrics_exporter;
pub mod network;
pub mod primitives;
pub mod streams;
#[cfg(feature = "tee")]
pub mod tee;
pub mod tickets;

pub use {
    bytes::{Bytes, BytesMut},
    collections::{CollectionConfig, CollectionReader, CollectionWriter, ReaderOf, WriterOf},
    futures,
    groups::{Consistency, Group, GroupKey, Strong, Weak},
    iroh,
    iroh::{SecretKey, Signature},
    network::{Network, NetworkId, PeerId},
    primitives::{Datum, Digest, GroupId, StoreId, StreamId, Tag, TicketClass, UniqueId},
    streams::{ConsumerOf, Criteria, ProducerOf, StreamConsumer, StreamProducer},
};

/// Intel TDX attestation tickets (`mosaik::tdx` = [`tee::tdx`]).
#[cfg(feature = "tdx")]
pub use tee::{tdx, tdx::NetworkTdxExt};

#[doc(hidden)]
pub use mosaik_macros::{__collection_impl, __stream_impl, __unique_id_impl};

/// Computes an id from a string at compile time: 64 hex characters are
/// used verbatim, anything else is hashed with blake3 (the same rule as
/// `Digest::from(&str)`). Usable in `const` items.
#[macro_export]
macro_rules! unique_id {
    ($text:literal $(,)?) => {
        $crate::__unique_id_impl!($crate, $text)
    };
}

/// Short form of [`unique_id!`].
#[macro_export]
macro_rules! id {
    ($text:literal $(,)?) => {
        $crate::__unique_id_impl!($crate, $text)
    };
}

/// A compile-time [`Tag`]; same rule as [`unique_id!`].
#[macro_export]
macro_rules! tag {
    ($text:literal $(,)?) => {
        $crate::__unique_id_impl!($crate, $text)
    };
}

/// Declares a stream: a unit type (or a `PhantomData` tuple type when
/// generic) implementing [`StreamProducer`] and/or [`StreamConsumer`].
///
/// `stream!([attrs] [vis] [producer|consumer] Name[<generics>] = Datum
/// [, "id" | , expr] [, [producer|consumer] key: expr]*)`. Producer keys:
/// `max_consumers`, `buffer_size`, `disconnect_lagging`; consumer keys:
/// `criteria`, `backoff`; both sides: `require`, `require_ticket`,
/// `online_when`. A side prefix targets one side, except that for
/// `require`/`require_ticket` it names who must satisfy the rule:
/// `consumer require_ticket: V` installs `V` on the producer.
///
/// ```no_run
/// # async fn demo(network: mosaik::Network) {
/// use mosaik::{StreamConsumer, StreamProducer, stream};
///
/// stream!(pub Prices = u64, "prices", buffer_size: 64);
///
/// let producer = Prices::producer(&network);
/// let mut consumer = Prices::consumer(&network);
/// # }
/// ```
#[macro_export]
macro_rules! stream {
    ($($input:tt)*) => {
        $crate::__stream_impl!($crate; $($input)*);
    };
}

/// Declares a replicated store: a unit type (or a `PhantomData` tuple type
/// when generic) implementing [`CollectionReader`] and/or
/// [`CollectionWriter`].
///
/// `collection!([attrs] [vis] [reader|writer] Name[<generics>] =
/// CollectionType, "store-id" | expr [, require_ticket: expr]*
/// [, config: expr])`. The literal is hashed at compile time;
/// `require_ticket` is repeatable; `config` (beyond SPEC) is the base
/// [`CollectionConfig`]. In `reader` (`writer`) mode the other side is only
/// generated as a `pub(crate)` inherent method.
///
/// ```no_run
/// # async fn demo(network: mosaik::Network) {
/// use mosaik::{CollectionReader, CollectionWriter, collection, collections::Map};
///
/// collection!(pub Prices = Map<String, u64>, "prices");
///
/// let writer = Prices::online_writer(&network).await;
/// let reader = Prices::reader(&network);
/// # }
/// ```
#[macro_export]
macro_rules! collection {
    ($($input:tt)*) => {
        $crate::__collection_impl!($crate; $($input)*);
    };
}
