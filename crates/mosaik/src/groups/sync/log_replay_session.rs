//! [`LogReplaySync`](super::LogReplaySync)'s provider and session: a
//! lagging member fetches committed entries in parallel from every peer
//! that holds them, one request in flight per peer, the leader last.

use {
    super::{
        AppendError, LogSlice, StateSync, StateSyncProvider, StateSyncSession, SyncContext,
        SyncSessionContext,
    },
    crate::{PeerId, groups::Cursor, groups::Index},
    core::{
        ops::RangeInclusive,
        pin::Pin,
        task::{Context, Poll},
        time::Duration,
    },
    serde::{Deserialize, Serialize},
    std::collections::{BTreeMap, BTreeSet, VecDeque},
    tokio::time::{Instant, Sleep},
};

/// Messages of [`LogReplaySync`](super::LogReplaySync) (SPEC §2.4; the
/// entries travel as a [`LogSlice`], commands still encoded).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LogReplaySyncMessage {
    /// Which committed entries do you hold?
    AvailabilityRequest,
    /// The committed entries the sender holds (empty when none).
    AvailabilityResponse(RangeInclusive<Index>),
    /// Send these committed entries.
    FetchEntriesRequest(RangeInclusive<Index>),
    /// A prefix of the requested range (the sender stops at its byte
    /// budget); empty when it no longer holds the range.
    FetchEntriesResponse {
        /// The requested range.
        range: RangeInclusive<Index>,
        /// The entries.
        slice: LogSlice,
    },
}

/// Answers availability and fetch requests from the local log.
#[derive(Debug, Clone)]
pub struct LogReplayProvider {
    batch_size: u64,
}

impl LogReplayProvider {
    /// A provider answering at most `batch_size` entries per request (for
    /// strategies that wrap [`LogReplaySync`](super::LogReplaySync)'s).
    pub fn new(batch_size: core::num::NonZero<u64>) -> Self {
        Self {
            batch_size: batch_size.get(),
        }
    }
}

impl<S> StateSyncProvider<S> for LogReplayProvider
where
    S: StateSync<Message = LogReplaySyncMessage>,
{
    fn receive(
        &mut self,
        msg: LogReplaySyncMessage,
        sender: PeerId,
        ctx: &mut dyn SyncContext<S>,
    ) -> Result<(), LogReplaySyncMessage> {
        match msg {
            LogReplaySyncMessage::AvailabilityRequest => {
                let committed = ctx.committed().index();
                let answer = LogReplaySyncMessage::AvailabilityResponse(Index(1)..=committed);
                ctx.send_to(sender, answer);
                Ok(())
            }
            LogReplaySyncMessage::FetchEntriesRequest(range) => {
                // Replies already queued to this peer fill its budget:
                // dropped before the slice is built (it asks again).
                if !ctx.may_send(sender) {
                    return Ok(());
                }
                // Never more than a batch, whatever was asked.
                let end = (*range.end()).min(*range.start() + (self.batch_size - 1));
                let budget = (ctx.max_message_size() / 4).max(1);
                let slice = ctx.log_slice(*range.start()..=end, budget);
                ctx.send_to(
                    sender,
                    LogReplaySyncMessage::FetchEntriesResponse { range, slice },
                );
                Ok(())
            }
            answer => Err(answer),
        }
    }
}

/// One catch-up episode: fetches `next ..= target` from the peers.
pub struct LogReplaySession {
    batch: u64,
    timeout: Duration,
    target: Index,
    /// First index never handed out as a fresh range.
    next: Index,
    /// Peers asked for their availability (and not since dropped).
    asked: BTreeSet<PeerId>,
    /// Highest committed index each answering peer serves.
    available: BTreeMap<PeerId, Index>,
    /// One request per peer: the range and when it was sent.
    in_flight: BTreeMap<PeerId, (RangeInclusive<Index>, Instant)>,
    /// Ranges handed back (a dropped peer's, a partial answer's rest): at
    /// most one per answer, so bounded by the requests sent.
    retry: VecDeque<RangeInclusive<Index>>,
    /// Answers waiting for the entries before them, by first index, with
    /// their sender: at most one per request in flight.
    ready: BTreeMap<Index, (PeerId, LogSlice)>,
    /// Peers whose entries did not continue the log, for this episode.
    banned: BTreeSet<PeerId>,
    /// Since when nothing is in flight and nobody offers anything.
    stalled_since: Instant,
    /// Wakes the session for its next deadline (made on the first poll,
    /// inside the runtime).
    timer: Option<Pin<Box<Sleep>>>,
}

impl LogReplaySession {
    /// A session fetching `start ..= target` in `batch`-entry ranges, each
    /// request allowed `timeout` (for strategies that wrap
    /// [`LogReplaySync`](super::LogReplaySync)'s).
    pub fn new(
        batch: core::num::NonZero<u64>,
        timeout: Duration,
        start: Index,
        target: Index,
    ) -> Self {
        let batch = batch.get();
        let now = Instant::now();
        Self {
            batch,
            timeout,
            target,
            next: start,
            asked: BTreeSet::new(),
            available: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            retry: VecDeque::new(),
            ready: BTreeMap::new(),
            banned: BTreeSet::new(),
            stalled_since: now,
            timer: None,
        }
    }

    /// Forgets peers no longer bonded and asks new ones.
    fn refresh_peers<S>(&mut self, ctx: &dyn SyncSessionContext<S>)
    where
        S: StateSync<Message = LogReplaySyncMessage>,
    {
        let bonds: BTreeSet<PeerId> = ctx.bonds().into_iter().collect();
        let gone: Vec<PeerId> = self
            .asked
            .iter()
            .filter(|p| !bonds.contains(*p))
            .copied()
            .collect();
        for peer in gone {
            self.drop_peer(peer);
        }
        for peer in bonds {
            if !self.banned.contains(&peer)
                && !self.asked.contains(&peer)
                && ctx.send_to(peer, LogReplaySyncMessage::AvailabilityRequest)
            {
                self.asked.insert(peer);
            }
        }
    }

    /// Drops `peer` from this round; it is asked again on the next refresh.
    fn drop_peer(&mut self, peer: PeerId) {
        self.asked.remove(&peer);
        self.available.remove(&peer);
        if let Some((range, _)) = self.in_flight.remove(&peer) {
            self.retry.push_front(range);
        }
    }

    /// `peer` sent entries that cannot be ours: never asked again in this
    /// episode.
    fn ban(&mut self, peer: PeerId) {
        self.drop_peer(peer);
        self.banned.insert(peer);
    }

    /// Appends every answer that continues the log. `Err` ends the episode.
    fn append_ready<S>(&mut self, ctx: &mut dyn SyncSessionContext<S>) -> Result<(), ()>
    where
        S: StateSync<Message = LogReplaySyncMessage>,
    {
        loop {
            let last = ctx.log_position().index();
            let Some(entry) = self.ready.first_entry() else {
                return Ok(());
            };
            if *entry.key() > last.next() {
                return Ok(()); // a gap: wait for the answer before it
            }
            let (peer, slice) = entry.remove();
            let end = slice.last();
            let Some(slice) = slice.split_from(last.next()) else {
                continue; // we hold all of it already
            };
            match ctx.append(slice) {
                Ok(new_last) if new_last >= end => {}
                Ok(new_last) => {
                    // Partly refused: the peer's entries diverge from ours.
                    tracing::debug!(peer = %peer.fmt_short(), "fetched entries diverge; peer dropped");
                    self.ban(peer);
                    self.retry.push_front(new_last.next()..=end);
                }
                Err(AppendError::Mismatch) => {
                    tracing::debug!(peer = %peer.fmt_short(), "fetched entries do not continue the log");
                    self.ban(peer);
                    self.retry.push_front(last.next()..=end);
                }
                Err(AppendError::Undecodable) => {
                    tracing::warn!(peer = %peer.fmt_short(), "fetched entries do not decode");
                    ctx.misbehaved(peer);
                    self.ban(peer);
                    self.retry.push_front(last.next()..=end);
                }
                Err(AppendError::NotFollowing) => return Err(()),
            }
        }
    }

    /// Drops silent peers; returns the earliest pending deadline.
    fn expire(&mut self, now: Instant) -> Instant {
        let silent: Vec<PeerId> = self
            .in_flight
            .iter()
            .filter(|(_, (_, at))| now.duration_since(*at) >= self.timeout)
            .map(|(p, _)| *p)
            .collect();
        for peer in silent {
            tracing::debug!(peer = %peer.fmt_short(), "log fetch timed out; peer dropped");
            // Slow is not hostile: it is asked again on the next refresh.
            self.drop_peer(peer);
        }
        self.in_flight
            .values()
            .map(|(_, at)| *at + self.timeout)
            .min()
            .unwrap_or(self.stalled_since + self.timeout)
    }

    /// The next range `peer` (serving up to `upto`) can take.
    fn take_range(&mut self, upto: Index, from: Index) -> Option<RangeInclusive<Index>> {
        let pos = self
            .retry
            .iter()
            .position(|r| *r.start() <= upto && *r.end() >= from);
        if let Some(pos) = pos {
            let range = self.retry.remove(pos)?;
            let start = (*range.start()).max(from);
            if *range.end() > upto {
                self.retry.push_front(upto.next()..=*range.end());
            }
            return Some(start..=(*range.end()).min(upto));
        }
        let start = self.next.max(from);
        let end = (start + (self.batch - 1)).min(self.target).min(upto);
        if start > end {
            return None;
        }
        self.next = end.next();
        Some(start..=end)
    }

    /// Hands ranges to idle peers: followers first, the leader only when no
    /// other peer can serve what is missing.
    fn assign<S>(&mut self, ctx: &dyn SyncSessionContext<S>, now: Instant)
    where
        S: StateSync<Message = LogReplaySyncMessage>,
    {
        let from = ctx.log_position().index().next();
        self.retry.retain(|r| *r.end() >= from);
        let leader = ctx.leader();
        let mut peers: Vec<(PeerId, Index)> =
            self.available.iter().map(|(p, i)| (*p, *i)).collect();
        peers.sort_by_key(|(p, _)| (Some(*p) == leader, *p));
        let followers_can_serve = peers
            .iter()
            .any(|(p, upto)| Some(*p) != leader && *upto >= from);
        for (peer, upto) in peers {
            if self.in_flight.contains_key(&peer) || (Some(peer) == leader && followers_can_serve) {
                continue;
            }
            let Some(range) = self.take_range(upto, from) else {
                continue;
            };
            let msg = LogReplaySyncMessage::FetchEntriesRequest(range.clone());
            if ctx.send_to(peer, msg) {
                self.in_flight.insert(peer, (range, now));
            } else {
                self.retry.push_front(range);
            }
        }
    }
}

impl<S> StateSyncSession<S> for LogReplaySession
where
    S: StateSync<Message = LogReplaySyncMessage>,
{
    fn poll(&mut self, cx: &mut Context<'_>, ctx: &mut dyn SyncSessionContext<S>) -> Poll<Cursor> {
        let now = Instant::now();
        // Expire first, so a dropped peer is asked again right away.
        let deadline = self.expire(now);
        self.refresh_peers(ctx);
        if self.append_ready(ctx).is_err() {
            return Poll::Ready(ctx.log_position());
        }
        let last = ctx.log_position().index();
        if last >= self.target {
            return Poll::Ready(ctx.log_position());
        }
        self.assign(ctx, now);
        if self.in_flight.is_empty() && self.ready.is_empty() {
            let everyone_answered = self.asked.iter().all(|p| self.available.contains_key(p));
            let nothing_offered = self.available.values().all(|upto| *upto <= last);
            if (everyone_answered && nothing_offered) || now >= self.stalled_since + self.timeout {
                // Nobody (else) holds what we miss, committed: the leader
                // streams the rest.
                tracing::debug!(last = last.0, target = self.target.0, "log fetch ends");
                return Poll::Ready(ctx.log_position());
            }
        } else {
            self.stalled_since = now;
        }
        let deadline = if self.in_flight.is_empty() {
            self.stalled_since + self.timeout
        } else {
            deadline
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        timer.as_mut().reset(deadline);
        if timer.as_mut().poll(cx).is_ready() {
            // Already due: come back at once rather than sleeping.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    fn receive(
        &mut self,
        msg: LogReplaySyncMessage,
        sender: PeerId,
        _: &mut dyn SyncSessionContext<S>,
    ) {
        match msg {
            LogReplaySyncMessage::AvailabilityResponse(range) if self.asked.contains(&sender) => {
                let upto = if range.is_empty() {
                    Index(0)
                } else {
                    *range.end()
                };
                self.available.insert(sender, upto);
            }
            LogReplaySyncMessage::FetchEntriesResponse { range, slice } => {
                let Some((asked, _)) = self.in_flight.get(&sender) else {
                    return; // stale: timed out and reassigned
                };
                if *asked != range {
                    return; // an older request's late answer
                }
                self.in_flight.remove(&sender);
                if slice.is_empty() {
                    // It no longer holds the range.
                    self.available.insert(sender, range.start().prev());
                    self.retry.push_front(range);
                    return;
                }
                if slice.first() != *range.start() || slice.last() > *range.end() {
                    tracing::debug!(peer = %sender.fmt_short(), "log fetch answer out of range; peer dropped");
                    self.ban(sender);
                    self.retry.push_front(range);
                    return;
                }
                if slice.last() < *range.end() {
                    // The provider hit its byte budget: ask for the rest.
                    self.retry.push_front(slice.last().next()..=*range.end());
                }
                self.ready.insert(slice.first(), (sender, slice));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "log_replay_tests.rs"]
mod tests;
