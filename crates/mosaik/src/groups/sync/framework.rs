//! The state-sync framework of SPEC §1.5: a [`StateSyncProvider`] runs on
//! every member and serves what others ask for; a [`StateSyncSession`] runs
//! on a lagging follower for one catch-up episode. Both see the group only
//! through the sealed contexts below.
//!
//! One deliberate difference from the original: a session never writes the
//! log or the commit index directly. It hands fetched entries to
//! [`SyncSessionContext::append`], and the consensus engine appends them
//! only after a position that matches its log, never acknowledges or
//! commits them on their own, and never truncates for them. The leader
//! verifies them with its next consistency check. A buggy or hostile
//! session can therefore slow a member down but never corrupt its log.

use {
    super::StateSync,
    crate::{GroupId, NetworkId, PeerId, groups::Cursor, groups::Index},
    bytes::Bytes,
    core::{
        ops::RangeInclusive,
        task::{Context, Poll},
    },
    serde::{Deserialize, Serialize},
};

/// Serves other members' catch-up requests; one per member and group,
/// made by [`StateSync::create_provider`] when the group starts, whatever
/// the member's role.
pub trait StateSyncProvider<S: StateSync + ?Sized>: Send + 'static {
    /// Background work. Called whenever the waker in `cx` fires and after
    /// every message or bond change; the default does nothing.
    fn poll(&mut self, cx: &mut Context<'_>, ctx: &mut dyn SyncContext<S>) -> Poll<()> {
        let _ = (cx, ctx);
        Poll::Pending
    }

    /// A message from `sender`. `Err(msg)` hands it to the local session,
    /// if one runs (a provider keeps requests, sessions take answers).
    ///
    /// # Errors
    ///
    /// The message back when it is not for the provider.
    fn receive(
        &mut self,
        msg: S::Message,
        sender: PeerId,
        ctx: &mut dyn SyncContext<S>,
    ) -> Result<(), S::Message>;

    /// The commit index advanced to `cursor` (after the entries were
    /// applied). The default does nothing.
    fn committed(&mut self, cursor: Cursor, ctx: &mut dyn SyncContext<S>) {
        let _ = (cursor, ctx);
    }
}

/// One catch-up episode of a lagging follower, made by
/// [`StateSync::create_session`] when the engine finds the member more than
/// [`StateSync::log_fetch_threshold`] entries behind its leader.
pub trait StateSyncSession<S: StateSync + ?Sized>: Send + 'static {
    /// Drives the episode. `Ready` ends it (caught up, or giving up: the
    /// leader then streams what is still missing), with the local log's
    /// last position. Called whenever the waker in `cx` fires and after
    /// every message or bond change.
    fn poll(&mut self, cx: &mut Context<'_>, ctx: &mut dyn SyncSessionContext<S>) -> Poll<Cursor>;

    /// A message the provider did not take.
    fn receive(&mut self, msg: S::Message, sender: PeerId, ctx: &mut dyn SyncSessionContext<S>);
}

mod sealed {
    /// Only the group driver implements the contexts.
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// What a provider or session can see and do (sealed: implemented by the
/// group driver only).
pub trait SyncContext<S: StateSync + ?Sized>: Sealed {
    /// The local state machine (reflects [`SyncContext::committed`]).
    fn state_machine(&self) -> &S::Machine;
    /// The committed (and applied) position.
    fn committed(&self) -> Cursor;
    /// The local log's last position.
    fn log_position(&self) -> Cursor;
    /// Committed entries of `range` from the local log, as one slice that
    /// continues the entry before it. Entries past the commit index or
    /// outside the log are left out, and the slice stops early (after at
    /// least one entry) once about `max_bytes` are collected, so it fits a
    /// message. Empty when nothing of `range` is available.
    fn log_slice(&self, range: RangeInclusive<Index>, max_bytes: usize) -> LogSlice;
    /// The largest encoded message a peer accepts (its frame size, at
    /// least ours): keep answers well below it.
    fn max_message_size(&self) -> usize;
    /// This member.
    fn local_id(&self) -> PeerId;
    /// The group.
    fn group_id(&self) -> GroupId;
    /// The network.
    fn network_id(&self) -> NetworkId;
    /// Sends `msg` to a bonded peer. Best effort: false if not bonded, the
    /// bond's queue is full (in messages, or in bytes of state-sync
    /// messages already queued to that peer) or the message does not
    /// encode, so protocols must retry on a timeout.
    fn send_to(&self, peer: PeerId, msg: S::Message) -> bool;
    /// Whether a reply to `peer` would be queued now: false while the
    /// bond's state-sync messages already fill its byte budget. A provider
    /// asks before it builds a large reply, so a peer that floods requests
    /// costs lookups, not slices and encodings. `true` by default.
    fn may_send(&self, _peer: PeerId) -> bool {
        true
    }
    /// Closes the bond of `peer`, which sent data no correct member sends
    /// (SPEC C4; counted in `mosaik.groups.sync.bonds_closed`). It may bond
    /// again later.
    fn misbehaved(&self, peer: PeerId);
    /// Sends `msg` to every bonded peer; returns those it was queued for.
    fn broadcast(&self, msg: S::Message) -> Vec<PeerId>;
    /// The bonded peers, ordered by id.
    fn bonds(&self) -> Vec<PeerId>;
    /// The current leader, if known.
    fn leader(&self) -> Option<PeerId>;
    /// Whether this member leads.
    fn is_leader(&self) -> bool;
}

/// A session's context: a [`SyncContext`] that can also extend the log.
pub trait SyncSessionContext<S: StateSync + ?Sized>: SyncContext<S> {
    /// Appends `slice` to the local log if it continues it (its first entry
    /// follows the local last position, or overlaps the end with the same
    /// entries). Returns the log's new last index.
    ///
    /// # Errors
    ///
    /// [`AppendError`] when the slice does not continue the log, does not
    /// decode, or the member no longer follows a leader.
    fn append(&mut self, slice: LogSlice) -> Result<Index, AppendError>;
}

/// Why [`SyncSessionContext::append`] refused a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The entry before the slice is not the local one at that index (a
    /// gap, or the serving peer's log diverged from ours there).
    #[error("the slice does not continue the local log")]
    Mismatch,
    /// A command in the slice does not decode: the sender is faulty.
    #[error("the slice holds a command that does not decode")]
    Undecodable,
    /// This member leads or campaigns; only a follower takes entries.
    #[error("not following a leader")]
    NotFollowing,
}

/// A run of consecutive log entries from one member, with the position of
/// the entry before it, so the receiver can check that it continues its own
/// log (log matching: same index and term ⇒ same history up to there).
/// Made by [`SyncContext::log_slice`], consumed by
/// [`SyncSessionContext::append`]; commands stay encoded in transit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogSlice {
    pub(crate) prev: mosaik_raft::Cursor<PeerId>,
    /// `(term, command)`; `None` is a leader's no-op entry.
    pub(crate) entries: Vec<(mosaik_raft::Term<PeerId>, Option<Bytes>)>,
}

impl LogSlice {
    /// A slice with no entries after `prev`.
    pub(crate) fn empty(prev: mosaik_raft::Cursor<PeerId>) -> Self {
        Self {
            prev,
            entries: Vec::new(),
        }
    }

    /// Index of the entry before the first one.
    pub fn prev_index(&self) -> Index {
        Index(self.prev.index.0)
    }

    /// Index of the first entry (`prev_index + 1`).
    pub fn first(&self) -> Index {
        self.prev_index().next()
    }

    /// Index of the last entry (`prev_index` when empty).
    pub fn last(&self) -> Index {
        self.prev_index() + self.entries.len() as u64
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the slice holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The slice without its entries before `from` (for overlapping
    /// fetches); `None` if `from` is not inside it.
    pub fn split_from(mut self, from: Index) -> Option<Self> {
        if from < self.first() || from > self.last() {
            return None;
        }
        let skip = usize::try_from(from.0 - self.first().0).ok()?;
        if skip == 0 {
            return Some(self);
        }
        let (term, _) = *self.entries.get(skip.checked_sub(1)?)?;
        self.entries.drain(..skip);
        self.prev = mosaik_raft::Cursor::new(term, mosaik_raft::Index(from.0 - 1));
        Some(self)
    }
}

/// The provider and session of strategies that have none (snapshot-only
/// strategies): takes no message and never runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Idle;

impl<S: StateSync + ?Sized> StateSyncProvider<S> for Idle {
    fn receive(
        &mut self,
        msg: S::Message,
        _: PeerId,
        _: &mut dyn SyncContext<S>,
    ) -> Result<(), S::Message> {
        Err(msg)
    }
}

impl<S: StateSync + ?Sized> StateSyncSession<S> for Idle {
    fn poll(&mut self, _: &mut Context<'_>, ctx: &mut dyn SyncSessionContext<S>) -> Poll<Cursor> {
        Poll::Ready(ctx.log_position())
    }

    fn receive(&mut self, _: S::Message, _: PeerId, _: &mut dyn SyncSessionContext<S>) {}
}
