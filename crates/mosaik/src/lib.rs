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
//! let value = ga.query((), Strong).await?;       // linearizable read via the leader
//! assert_eq!(*value, 5);
//! # let _ = first; Ok(()) }
//! ```

extern crate self as mosaik;

/// Declaration macros, re-exported in one place.
pub mod declare {
    pub use crate::{collection, stream};
}
pub mod collections;
pub mod discovery;
pub mod groups;
#[cfg(feature = "prometheus")]
mod metrics_exporter;
pub mod network;
pub mod primitives;
pub mod streams;
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
