//! Replicated collections (SPEC §1.6): `Map`, `Vec`, `Set`, `Cell`, `Once`
//! and `PriorityQueue`, each store its own consensus group.
//!
//! ```no_run
//! # async fn demo(network: &mosaik::Network) -> Result<(), Box<dyn std::error::Error>> {
//! use mosaik::collections::{Map, MapReader};
//! let prices = Map::<String, u64>::writer(network, "prices");
//! prices.when().online().await;
//! let version = prices.insert("ABC".into(), 1234).await?;
//! let view = MapReader::<String, u64>::reader(network, "prices");
//! view.when().reaches(version).await;
//! assert_eq!(view.get("ABC"), Some(1234));
//! # Ok(()) }
//! ```
//!
//! Reads are synchronous, from the local replica's latest applied state
//! (a `watch` of a persistent `imbl` structure, so every read clones in
//! O(1)). Writes are async and resolve once their own command committed
//! and was applied locally, so the writer reads its own write (the one
//! exception: a replica that stops applying, its group shutting down, gets
//! `Ok` 2 s after the commit, which is certain by then). Readers join as
//! observers: they replicate but never lead and never count toward quorum.
//!
//! Module map: `shared` (per-store core: group, state watch, write
//! path), `registry` (the process-wide registry of live cores and the
//! dashboard's read-only samples of them), `machine` (the generic state machine,
//! snapshots), `<kind>_state` (command enum and deterministic apply),
//! `<kind>` (the handle), `config`, `when` (`Version`, `When`), `error`,
//! `def` (declarations and the traits behind `collection!`).

mod cell;
mod cell_state;
mod config;
mod def;
mod error;
mod machine;
mod map;
mod map_state;
mod once;
mod once_state;
mod order;
mod pq;
mod pq_state;
pub(crate) mod registry;
mod set;
mod set_state;
mod shared;
#[cfg(feature = "runtime-sim")]
pub mod sim;
mod storage;
mod vec;
mod vec_state;
mod when;

pub use {
    crate::primitives::StoreId,
    cell::{Cell, CellReader, CellWriter},
    config::{CollectionConfig, SyncConfig},
    def::{
        CollectionDef, CollectionFromDef, CollectionHandle, CollectionReader, CollectionWriter,
        ReaderDef, ReaderOf, WriterDef, WriterOf,
    },
    error::Error,
    map::{Map, MapReader, MapWriter},
    once::{Once, OnceReader, OnceWriter},
    pq::{
        BoundedPriorityQueue, PriorityQueue, PriorityQueueReader, PriorityQueueWriter,
        UnboundedPriorityQueue,
    },
    set::{Set, SetReader, SetWriter},
    vec::{Vec, VecReader, VecWriter},
    when::{Version, When},
};

use crate::primitives::Datum;

/// A value a collection can hold.
pub trait Value: Clone + Datum + Sync {}
impl<T: Clone + Datum + Sync> Value for T {}

/// A value usable as a map key or set element.
pub trait Key: Value + core::hash::Hash + Eq {}
impl<T: Value + core::hash::Hash + Eq> Key for T {}

/// A key with an order (priorities).
pub trait OrderedKey: Key + Ord {}
impl<T: Key + Ord> OrderedKey for T {}

/// Fixed-seed hasher (`SipHash` with zero keys): every replica lays out its
/// hash structures identically, so iteration and snapshot order agree.
pub(crate) type FixedHasher = core::hash::BuildHasherDefault<std::hash::DefaultHasher>;

pub(crate) type HashMap<K, V> =
    imbl::GenericHashMap<K, V, FixedHasher, imbl::shared_ptr::DefaultSharedPtr>;
pub(crate) type HashSet<T> =
    imbl::GenericHashSet<T, FixedHasher, imbl::shared_ptr::DefaultSharedPtr>;

/// Encoded-bytes equality (SPEC: compare-exchange compares encodings, so
/// values need no `PartialEq`). A value that fails to encode equals
/// nothing.
pub(crate) fn same_encoding<T: Datum>(a: Option<&T>, b: Option<&T>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => match (a.encode(), b.encode()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        },
        _ => false,
    }
}

/// The surface every handle shares: constructors, `when`, `version`,
/// `group_id`, `leader`, `Clone`, `Debug`.
macro_rules! handle_common {
    ($kind:ident [$($gen:tt)*] [$($arg:tt)*] $state:ty) => {
        impl<$($gen)*, const IS_WRITER: bool> $kind<$($arg)*, IS_WRITER> {
            /// A reader of `store` (observer: never leads, never counts
            /// toward quorum).
            pub fn reader(
                network: &$crate::Network,
                store: impl Into<$crate::StoreId>,
            ) -> $kind<$($arg)*, false> {
                Self::reader_with_config(network, store, $crate::collections::CollectionConfig::default())
            }

            /// A reader of `store` with `config`.
            pub fn reader_with_config(
                network: &$crate::Network,
                store: impl Into<$crate::StoreId>,
                config: impl Into<$crate::collections::CollectionConfig>,
            ) -> $kind<$($arg)*, false> {
                $kind {
                    core: $crate::collections::shared::Core::open(
                        network,
                        store.into(),
                        &config.into(),
                        false,
                    ),
                }
            }

            /// Observers: online, offline, updates, versions.
            pub fn when(&self) -> &$crate::collections::When {
                self.core.when()
            }

            /// The committed index applied by the local replica.
            pub fn version(&self) -> $crate::collections::Version {
                self.core.version()
            }

            /// The store's group id.
            pub fn group_id(&self) -> $crate::GroupId {
                self.core.group_id()
            }

            /// The leader of the store's group as known here, if any
            /// (observability; not in SPEC's surface).
            pub fn leader(&self) -> Option<$crate::PeerId> {
                self.core.leader()
            }

            /// Why this node's replica has no usable storage (beyond
            /// SPEC): the directory of
            /// [`CollectionConfig::with_storage`]($crate::collections::CollectionConfig::with_storage)
            /// did not open (the replica then never runs and every write
            /// fails with [`Error::Storage`]($crate::collections::Error::Storage)),
            /// or its store failed while running (a full disk, an I/O
            /// error), which stopped the replica's group.
            pub fn storage_error(&self) -> Option<$crate::groups::StorageError> {
                self.core.storage_error()
            }
        }

        impl<$($gen)*> $kind<$($arg)*, true> {
            /// A writer of `store`.
            pub fn writer(network: &$crate::Network, store: impl Into<$crate::StoreId>) -> Self {
                Self::writer_with_config(network, store, $crate::collections::CollectionConfig::default())
            }

            /// A writer of `store` with `config`.
            pub fn writer_with_config(
                network: &$crate::Network,
                store: impl Into<$crate::StoreId>,
                config: impl Into<$crate::collections::CollectionConfig>,
            ) -> Self {
                $kind {
                    core: $crate::collections::shared::Core::open(
                        network,
                        store.into(),
                        &config.into(),
                        true,
                    ),
                }
            }

            /// Same as [`Self::writer`].
            pub fn new(network: &$crate::Network, store: impl Into<$crate::StoreId>) -> Self {
                Self::writer(network, store)
            }

            /// Same as [`Self::writer_with_config`].
            pub fn new_with_config(
                network: &$crate::Network,
                store: impl Into<$crate::StoreId>,
                config: impl Into<$crate::collections::CollectionConfig>,
            ) -> Self {
                Self::writer_with_config(network, store, config)
            }
        }

        impl<$($gen)*, const IS_WRITER: bool> Clone for $kind<$($arg)*, IS_WRITER> {
            fn clone(&self) -> Self {
                Self { core: self.core.clone() }
            }
        }

        impl<$($gen)*, const IS_WRITER: bool> ::core::fmt::Debug for $kind<$($arg)*, IS_WRITER> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                use $crate::primitives::ShortFmtExt as _;
                f.debug_struct(stringify!($kind))
                    .field("writer", &IS_WRITER)
                    .field("group", &self.core.group_id().short().to_string())
                    .field("version", &self.core.version().0.0)
                    .finish_non_exhaustive()
            }
        }
    };
}
pub(crate) use handle_common;
