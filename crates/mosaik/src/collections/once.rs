//! [`Once`]: a replicated write-once value (SPEC §1.6).

use {
    super::{
        Error, Value, Version, handle_common,
        once_state::{OnceCommand, OnceState},
        shared::Core,
    },
    crate::primitives::Encoded,
    std::sync::Arc,
};

/// A replicated value of `T` set at most once: the first committed write
/// wins, later writes commit and change nothing.
pub struct Once<T: Value, const IS_WRITER: bool = true> {
    core: Arc<Core<OnceState<T>>>,
}

/// A once handle that can write.
pub type OnceWriter<T> = Once<T, true>;
/// A once handle that only reads.
pub type OnceReader<T> = Once<T, false>;

handle_common!(Once [T: Value] [T] OnceState<T>);

impl<T: Value, const IS_WRITER: bool> Once<T, IS_WRITER> {
    /// The value, once set.
    pub fn read(&self) -> Option<T> {
        self.core.read(|s| s.value.clone())
    }

    /// Same as [`Self::read`].
    pub fn get(&self) -> Option<T> {
        self.read()
    }

    /// True while no value is set.
    pub fn is_empty(&self) -> bool {
        self.core.read(|s| s.value.is_none())
    }

    /// Same as [`Self::is_empty`].
    pub fn is_none(&self) -> bool {
        self.is_empty()
    }

    /// True once a value is set.
    pub fn is_some(&self) -> bool {
        !self.is_empty()
    }

    /// Waits until the store is online, then until the value is set here.
    pub async fn await_value(&self) -> T {
        self.when().online().await;
        loop {
            // Armed before the read: a commit between the two still wakes
            // us (state is published before the committed index moves).
            let next = self.when().updated();
            if let Some(value) = self.read() {
                return value;
            }
            next.await;
        }
    }
}

impl<T: Value> Once<T, true> {
    /// Sets the value if none is set yet; a later write still commits and
    /// returns its version.
    pub async fn write(&self, value: T) -> Result<Version, Error<T>> {
        self.core
            .write(
                OnceCommand::Write(Encoded(value)),
                |OnceCommand::Write(v)| Some(v.0),
            )
            .await
    }

    /// Same as [`Self::write`].
    pub async fn set(&self, value: T) -> Result<Version, Error<T>> {
        self.write(value).await
    }
}
