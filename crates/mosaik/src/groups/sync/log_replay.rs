//! [`LogReplaySync`]: catch-up by replaying the log (never prunes).

use {
    super::{
        LogReplayProvider, LogReplaySession, LogReplaySyncMessage, SyncContext, SyncSessionContext,
    },
    crate::{
        UniqueId,
        groups::{Index, StateMachine},
    },
    core::{marker::PhantomData, num::NonZero, time::Duration},
};

/// Catch-up by replaying the log (the default for custom machines). The
/// log is never pruned. A member more than `batch_size` entries behind its
/// leader fetches the committed entries it misses in `batch_size` ranges
/// from every peer in parallel (one request in flight per peer, the leader
/// only for what no other peer holds); a peer silent for `fetch_timeout`
/// is dropped and asked again later. The leader streams the rest, and
/// everything shorter, by ordinary log repair.
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

    /// A provider with these settings (for strategies wrapping this one).
    pub fn provider(&self) -> LogReplayProvider {
        LogReplayProvider::new(self.batch_size)
    }

    /// A session with these settings fetching `start ..= target` (for
    /// strategies wrapping this one).
    pub fn session(&self, start: Index, target: Index) -> LogReplaySession {
        LogReplaySession::new(self.batch_size, self.fetch_timeout, start, target)
    }
}

impl<M: StateMachine> super::StateSync for LogReplaySync<M> {
    type Machine = M;
    type Message = LogReplaySyncMessage;
    type Provider = LogReplayProvider;
    type Session = LogReplaySession;

    fn create_provider(&self, _: &dyn SyncContext<Self>) -> LogReplayProvider {
        self.provider()
    }

    /// A member a batch or more behind fetches from all peers.
    fn log_fetch_threshold(&self) -> Option<u64> {
        Some(self.batch_size.get())
    }

    fn create_session(
        &self,
        ctx: &mut dyn SyncSessionContext<Self>,
        target: Index,
    ) -> Option<LogReplaySession> {
        Some(self.session(ctx.log_position().index().next(), target))
    }

    fn signature(&self) -> UniqueId {
        UniqueId::from("mosaik_log_replay_sync")
            .derive(core::any::type_name::<M>())
            .derive(self.batch_size.get().to_le_bytes())
            .derive(self.fetch_timeout.as_secs().to_le_bytes())
    }
}
