//! [`LogReplaySync`]: catch-up by replaying the log (never prunes).

use {
    crate::{UniqueId, groups::StateMachine},
    core::{marker::PhantomData, num::NonZero, time::Duration},
};

/// Catch-up by replaying the log (the default for custom machines). The
/// log is never pruned, so the engine's log repair always has the entries.
#[derive(Debug)]
pub struct LogReplaySync<M> {
    batch_size: NonZero<u64>,
    fetch_timeout: Duration,
    _machine: PhantomData<fn() -> M>,
}

impl<M> Clone for LogReplaySync<M> {
    fn clone(&self) -> Self {
        Self {
            batch_size: self.batch_size,
            fetch_timeout: self.fetch_timeout,
            _machine: PhantomData,
        }
    }
}

impl<M> Default for LogReplaySync<M> {
    fn default() -> Self {
        Self {
            batch_size: NonZero::new(2000).expect("non-zero"),
            fetch_timeout: Duration::from_secs(25),
            _machine: PhantomData,
        }
    }
}

impl<M> LogReplaySync<M> {
    /// Entries per fetch.
    #[must_use]
    pub fn with_batch_size(mut self, batch_size: NonZero<u64>) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// How long one fetch may take.
    #[must_use]
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Entries per fetch.
    pub fn batch_size(&self) -> NonZero<u64> {
        self.batch_size
    }

    /// How long one fetch may take.
    pub fn fetch_timeout(&self) -> Duration {
        self.fetch_timeout
    }
}

impl<M: StateMachine> super::StateSync for LogReplaySync<M> {
    type Machine = M;

    fn signature(&self) -> UniqueId {
        UniqueId::from("mosaik_log_replay_sync")
            .derive(core::any::type_name::<M>())
            .derive(self.batch_size.get().to_le_bytes())
            .derive(self.fetch_timeout.as_secs().to_le_bytes())
    }
}
