//! mosaik: a runtime for self-organizing, leaderless distributed systems.
//!
//! Nodes started with only a network name find each other, open typed
//! links over QUIC (iroh), and build streams, consensus groups and
//! replicated collections on top.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mosaik::network::NetworkError> {
//! use mosaik::{Network, unique_id};
//!
//! const APP: mosaik::NetworkId = unique_id!("my-app");
//! let network = Network::new(APP).await?;
//! println!("I am {}", network.local().id());
//! # Ok(()) }
//! ```

extern crate self as mosaik;

/// Declaration macros, re-exported in one place.
pub mod declare {
    pub use crate::stream;
}
pub mod discovery;
pub mod groups;
pub mod network;
pub mod primitives;
pub mod streams;
pub mod tickets;

pub use {
    bytes::{Bytes, BytesMut},
    futures,
    groups::{Consistency, Group, GroupKey, Strong, Weak},
    iroh,
    iroh::{SecretKey, Signature},
    network::{Network, NetworkId, PeerId},
    primitives::{Datum, Digest, GroupId, StoreId, StreamId, Tag, TicketClass, UniqueId},
    streams::{ConsumerOf, Criteria, ProducerOf, StreamConsumer, StreamProducer},
};

#[doc(hidden)]
pub use mosaik_macros::{__stream_impl, __unique_id_impl};

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
