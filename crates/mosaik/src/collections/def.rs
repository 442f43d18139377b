//! Declarations of stores: [`CollectionDef`], [`ReaderDef`], [`WriterDef`]
//! (const values naming a store and its config), and the traits
//! [`CollectionReader`] / [`CollectionWriter`] that `collection!`
//! implements.

use {
    super::{
        Cell, CollectionConfig, Key, Map, Once, OrderedKey, PriorityQueue, Set, Value, Vec, When,
    },
    crate::{Network, StoreId},
    core::{future::Future, marker::PhantomData},
};

/// A collection handle: what every reader and writer type offers to
/// generic code (used by the `online_*` constructors).
pub trait CollectionHandle: Send + Sync + 'static {
    /// The handle's observers.
    fn when(&self) -> &When;
}

/// A collection type that can be opened from a declaration: names its
/// reader and writer handle types.
pub trait CollectionFromDef {
    /// The read-only handle type.
    type Reader: CollectionHandle;
    /// The writing handle type.
    type Writer: CollectionHandle;

    /// Opens a reader of `store`.
    fn reader(network: &Network, store: StoreId) -> Self::Reader {
        Self::reader_with_config(network, store, CollectionConfig::default())
    }

    /// Opens a writer of `store`.
    fn writer(network: &Network, store: StoreId) -> Self::Writer {
        Self::writer_with_config(network, store, CollectionConfig::default())
    }

    /// Opens a reader of `store` with `config`.
    fn reader_with_config(
        network: &Network,
        store: StoreId,
        config: CollectionConfig,
    ) -> Self::Reader;

    /// Opens a writer of `store` with `config`.
    fn writer_with_config(
        network: &Network,
        store: StoreId,
        config: CollectionConfig,
    ) -> Self::Writer;
}

macro_rules! from_def {
    ($kind:ident [$($gen:tt)*] [$($arg:tt)*]) => {
        impl<$($gen)*, const IS_WRITER: bool> CollectionHandle for $kind<$($arg)*, IS_WRITER> {
            fn when(&self) -> &When {
                $kind::when(self)
            }
        }

        impl<$($gen)*, const IS_WRITER: bool> CollectionFromDef for $kind<$($arg)*, IS_WRITER> {
            type Reader = $kind<$($arg)*, false>;
            type Writer = $kind<$($arg)*, true>;

            fn reader_with_config(
                network: &Network,
                store: StoreId,
                config: CollectionConfig,
            ) -> Self::Reader {
                $kind::<$($arg)*, false>::reader_with_config(network, store, config)
            }

            fn writer_with_config(
                network: &Network,
                store: StoreId,
                config: CollectionConfig,
            ) -> Self::Writer {
                $kind::<$($arg)*, true>::writer_with_config(network, store, config)
            }
        }
    };
}

from_def!(Map [K: Key, V: Value] [K, V]);
from_def!(Vec [T: Value] [T]);
from_def!(Set [T: Key] [T]);
from_def!(Cell [T: Value] [T]);
from_def!(Once [T: Value] [T]);
from_def!(PriorityQueue [P: OrderedKey, K: Key, V: Value, const CAP: u64] [P, K, V, CAP]);

fn config_of(config: Option<fn() -> CollectionConfig>) -> CollectionConfig {
    config.map_or_else(CollectionConfig::default, |f| f())
}

/// A store declaration usable in `const` items: the store id, the
/// collection type `C` and an optional config constructor.
pub struct CollectionDef<C> {
    store: StoreId,
    config: Option<fn() -> CollectionConfig>,
    _kind: PhantomData<fn() -> C>,
}

impl<C> Clone for CollectionDef<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for CollectionDef<C> {}

impl<C: CollectionFromDef> CollectionDef<C> {
    /// Declares `store`.
    pub const fn new(store: StoreId) -> Self {
        Self {
            store,
            config: None,
            _kind: PhantomData,
        }
    }

    /// Uses `config()` whenever a handle is opened.
    #[must_use]
    pub const fn with_config(mut self, config: fn() -> CollectionConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// The declaration behind a reader declaration.
    pub const fn from_reader(def: ReaderDef<C>) -> Self {
        Self {
            store: def.store,
            config: def.config,
            _kind: PhantomData,
        }
    }

    /// The declaration behind a writer declaration.
    pub const fn from_writer(def: WriterDef<C>) -> Self {
        Self {
            store: def.store,
            config: def.config,
            _kind: PhantomData,
        }
    }

    /// The reader side.
    pub const fn as_reader(&self) -> ReaderDef<C> {
        ReaderDef {
            store: self.store,
            config: self.config,
            _kind: PhantomData,
        }
    }

    /// The writer side.
    pub const fn as_writer(&self) -> WriterDef<C> {
        WriterDef {
            store: self.store,
            config: self.config,
            _kind: PhantomData,
        }
    }

    /// The store id.
    pub const fn store_id(&self) -> StoreId {
        self.store
    }

    /// Opens a reader.
    pub fn reader(&self, network: &Network) -> C::Reader {
        C::reader_with_config(network, self.store, config_of(self.config))
    }

    /// Opens a writer.
    pub fn writer(&self, network: &Network) -> C::Writer {
        C::writer_with_config(network, self.store, config_of(self.config))
    }
}

/// A reader-only store declaration.
pub struct ReaderDef<C> {
    store: StoreId,
    config: Option<fn() -> CollectionConfig>,
    _kind: PhantomData<fn() -> C>,
}

impl<C> Clone for ReaderDef<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for ReaderDef<C> {}

impl<C: CollectionFromDef> ReaderDef<C> {
    /// Declares a reader of `store`.
    pub const fn new(store: StoreId) -> Self {
        Self {
            store,
            config: None,
            _kind: PhantomData,
        }
    }

    /// Uses `config()` whenever the reader is opened.
    #[must_use]
    pub const fn with_config(mut self, config: fn() -> CollectionConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Opens the reader.
    pub fn open(&self, network: &Network) -> C::Reader {
        C::reader_with_config(network, self.store, config_of(self.config))
    }
}

/// A writer-only store declaration.
pub struct WriterDef<C> {
    store: StoreId,
    config: Option<fn() -> CollectionConfig>,
    _kind: PhantomData<fn() -> C>,
}

impl<C> Clone for WriterDef<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for WriterDef<C> {}

impl<C: CollectionFromDef> WriterDef<C> {
    /// Declares a writer of `store`.
    pub const fn new(store: StoreId) -> Self {
        Self {
            store,
            config: None,
            _kind: PhantomData,
        }
    }

    /// Uses `config()` whenever the writer is opened.
    #[must_use]
    pub const fn with_config(mut self, config: fn() -> CollectionConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Opens the writer.
    pub fn open(&self, network: &Network) -> C::Writer {
        C::writer_with_config(network, self.store, config_of(self.config))
    }
}

/// A declared store that can be read (implemented by `collection!`).
pub trait CollectionReader {
    /// The reader handle type.
    type Reader: CollectionHandle;

    /// Opens a reader of the declared store.
    fn reader(network: &Network) -> Self::Reader;

    /// [`CollectionReader::reader`], resolved once it is online.
    fn online_reader(network: &Network) -> impl Future<Output = Self::Reader> + Send + 'static {
        let reader = Self::reader(network);
        async move {
            reader.when().online().await;
            reader
        }
    }
}

/// A declared store that can be written (implemented by `collection!`).
pub trait CollectionWriter {
    /// The writer handle type.
    type Writer: CollectionHandle;

    /// Opens a writer of the declared store.
    fn writer(network: &Network) -> Self::Writer;

    /// [`CollectionWriter::writer`], resolved once it is online.
    fn online_writer(network: &Network) -> impl Future<Output = Self::Writer> + Send + 'static {
        let writer = Self::writer(network);
        async move {
            writer.when().online().await;
            writer
        }
    }
}

/// The reader handle type of a declared store.
pub type ReaderOf<C> = <C as CollectionReader>::Reader;
/// The writer handle type of a declared store.
pub type WriterOf<C> = <C as CollectionWriter>::Writer;
