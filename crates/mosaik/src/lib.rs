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

pub mod discovery;
pub mod groups;
pub mod network;
pub mod primitives;
pub mod tickets;

pub use {
    bytes::{Bytes, BytesMut},
    futures,
    groups::{Consistency, Group, GroupKey, Strong, Weak},
    iroh,
    iroh::{SecretKey, Signature},
    network::{Network, NetworkId, PeerId},
    primitives::{Datum, Digest, GroupId, StoreId, StreamId, Tag, TicketClass, UniqueId},
};

#[doc(hidden)]
pub use mosaik_macros::__unique_id_impl;

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
