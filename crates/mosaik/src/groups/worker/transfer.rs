//! Snapshot transfer, receiving side: one catch-up episode of a member
//! whose needed entries were pruned everywhere.
//!
//! The member asks every bond which snapshots at or after the engine's
//! `NeedStateSync` base they hold, picks the highest anchor the leader
//! holds, preferring one more peers hold, and fetches `fetch_batch_size`-item
//! ranges of it in parallel from its holders, one request in flight per
//! peer. The leader serves ranges only once no other holder is left: its
//! cores carry the group's writes. A peer that times out, answers a range
//! it was not asked for, stops holding the snapshot or sends items that do
//! not decode is dropped from the transfer and its range goes back to the
//! queue.
//!
//! Holders offer their snapshots at once, mostly without a content
//! digest: the transfer asks the leader alone for its digest
//! (`SyncMessage::Digest`) and fetches from every holder meanwhile. The
//! assembled snapshot is checked against the leader's digest before it is
//! handed out for install (it waits for the digest if all items came
//! first); a holder whose offer names another digest is never a source.
//! On a mismatch nothing is installed, the fetch starts
//! over and, since the culprit among several sources is unknown, takes
//! the snapshot from one holder at a time for the rest of the episode: a
//! holder whose whole snapshot mismatches (or that falls silent) is
//! banned. Nothing here does I/O: the worker sends what [`Transfer`]
//! returns.

use {
    super::fetch::Fetch,
    crate::{
        PeerId,
        groups::sync::{
            SnapshotBuilder, TransferSettings,
            wire::{SnapshotInfo, SyncMessage},
        },
        primitives::Digest,
    },
    bytes::Bytes,
    mosaik_raft::{Cursor, Index},
    std::collections::{BTreeMap, BTreeSet},
    tokio::time::{Duration, Instant},
};

/// Messages to send: (peer, message).
pub(super) type Sends = Vec<(PeerId, SyncMessage)>;

/// What an incoming message or a tick did to the transfer.
pub(super) enum Progress<M> {
    /// Still running.
    Running,
    /// Every item arrived and matched the offered digest: install
    /// `builder`'s snapshot at `anchor`.
    Done {
        anchor: Cursor<PeerId>,
        digest: Digest,
        builder: Box<dyn SnapshotBuilder<M>>,
    },
}

/// One catch-up episode.
pub(super) struct Transfer<M> {
    pub(super) base: Index,
    leader: PeerId,
    settings: TransferSettings,
    phase: Phase<M>,
    /// Peers dropped during this episode: their offers are ignored, so a
    /// peer offering a snapshot it cannot serve cannot win every round.
    /// Cleared when a round finds no offer from anyone else.
    banned: BTreeSet<PeerId>,
    /// Peers dropped since the worker last looked (for a metric).
    dropped: u64,
    /// Peers whose data did not decode since the worker last looked: their
    /// bonds are closed (SPEC C4), not just dropped from the transfer.
    hostile: Vec<PeerId>,
    /// Set by a digest mismatch: from then on each fetch has one source,
    /// so the next mismatch names its culprit.
    single_source: bool,
    /// Digest mismatches since the worker last looked (for a metric).
    mismatches: u64,
}

enum Phase<M> {
    Asking {
        since: Instant,
        asked: BTreeSet<PeerId>,
        offers: BTreeMap<PeerId, Vec<SnapshotInfo>>,
        /// The interrupted fetch, resumed if the same snapshot is chosen
        /// again (its sources were lost, its progress need not be).
        resume: Option<Box<Fetch<M>>>,
    },
    /// Boxed: a fetch (with its digest state) is far larger than the
    /// asking phase.
    Fetching(Box<Fetch<M>>),
}

impl<M> Transfer<M> {
    /// Starts an episode by asking `peers`.
    pub(super) fn start(
        base: Index,
        leader: PeerId,
        settings: TransferSettings,
        peers: impl IntoIterator<Item = PeerId>,
    ) -> (Self, Sends) {
        let mut transfer = Self {
            base,
            leader,
            settings,
            phase: Phase::idle(),
            banned: BTreeSet::new(),
            dropped: 0,
            hostile: Vec::new(),
            single_source: false,
            mismatches: 0,
        };
        let sends = transfer.ask(peers);
        (transfer, sends)
    }

    /// The anchor being fetched, if past the asking phase.
    pub(super) fn anchor(&self) -> Option<Cursor<PeerId>> {
        match &self.phase {
            Phase::Fetching(f) => Some(f.info.anchor),
            Phase::Asking { .. } => None,
        }
    }

    /// The engine follows `leader` now. A fetch still without the
    /// leader's digest asks the new one for it.
    pub(super) fn set_leader(&mut self, leader: PeerId) -> Sends {
        let changed = self.leader != leader;
        self.leader = leader;
        match &mut self.phase {
            Phase::Fetching(fetch) if changed && fetch.info.digest.is_none() => {
                vec![fetch.ask_digest(leader)]
            }
            _ => Vec::new(),
        }
    }

    /// Lowers the base to `base` and asks every bond again; a partial
    /// fetch resumes if the leader offers its anchor again.
    pub(super) fn rebase(&mut self, base: Index, peers: impl IntoIterator<Item = PeerId>) -> Sends {
        self.base = self.base.min(base);
        self.ask(peers)
    }

    /// (Re)starts the asking phase: every bond gets a query.
    pub(super) fn ask(&mut self, peers: impl IntoIterator<Item = PeerId>) -> Sends {
        let asked: BTreeSet<PeerId> = peers.into_iter().collect();
        let sends = asked
            .iter()
            .map(|p| (*p, SyncMessage::Query { base: self.base }))
            .collect();
        let resume = match core::mem::replace(&mut self.phase, Phase::idle()) {
            Phase::Fetching(mut fetch) => {
                let in_flight = core::mem::take(&mut fetch.in_flight);
                fetch.retry.extend(in_flight.into_values().map(|(r, _)| r));
                fetch.sources.clear();
                fetch.late.clear();
                Some(fetch)
            }
            Phase::Asking { resume, .. } => resume,
        };
        self.phase = Phase::Asking {
            since: Instant::now(),
            asked,
            offers: BTreeMap::new(),
            resume,
        };
        sends
    }

    /// A new bond is asked too: while collecting offers it may offer a
    /// better anchor, while fetching it may become one more source (the
    /// engine asks for state sync as soon as the leader is bonded, often
    /// before the other bonds form).
    pub(super) fn bonded(&mut self, peer: PeerId) -> Sends {
        let fresh = match &mut self.phase {
            Phase::Asking { asked, .. } => asked.insert(peer),
            Phase::Fetching(fetch) => fetch.late.insert(peer),
        };
        if fresh {
            vec![(peer, SyncMessage::Query { base: self.base })]
        } else {
            Vec::new()
        }
    }

    /// Starts (or resumes) fetching: ranges to the sources, and the
    /// leader asked for its digest unless its offer named it.
    fn fetch(&mut self, mut fetch: Box<Fetch<M>>) -> (Sends, Progress<M>) {
        let ask = fetch
            .info
            .digest
            .is_none()
            .then(|| fetch.ask_digest(self.leader));
        self.phase = Phase::Fetching(fetch);
        let (mut sends, progress) = self.step();
        sends.extend(ask);
        (sends, progress)
    }

    /// Items from `peer`.
    pub(super) fn data(
        &mut self,
        peer: PeerId,
        anchor: Cursor<PeerId>,
        offset: u64,
        items: &[Bytes],
    ) -> (Sends, Progress<M>) {
        let Phase::Fetching(fetch) = &mut self.phase else {
            return (Vec::new(), Progress::Running);
        };
        if anchor != fetch.info.anchor || !fetch.sources.contains(&peer) {
            // Stale: an earlier episode, or a peer already dropped.
            return (Vec::new(), Progress::Running);
        }
        let Some((range, _)) = fetch.in_flight.remove(&peer) else {
            tracing::debug!(peer = %peer.fmt_short(), "unrequested snapshot data; peer dropped");
            fetch.sources.remove(&peer);
            self.ban(peer);
            return self.step();
        };
        let count = items.len() as u64;
        let valid = offset == range.start && count > 0 && count <= range.end - range.start;
        let inserted = valid
            && {
                match fetch.builder.insert(offset, items) {
                    Ok(()) => true,
                    Err(err) => {
                        tracing::warn!(peer = %peer.fmt_short(), %err, "bad snapshot data; peer dropped");
                        self.hostile.push(peer);
                        false
                    }
                }
            };
        if inserted {
            fetch.accepted(peer, offset, items);
            if offset + count < range.end {
                // The provider hit its byte budget: ask for the rest.
                fetch.retry.push_front(offset + count..range.end);
            }
        } else {
            fetch.sources.remove(&peer);
            fetch.retry.push_front(range);
            self.ban(peer);
        }
        self.step()
    }

    /// A bond went down.
    pub(super) fn unbonded(&mut self, peer: PeerId) -> (Sends, Progress<M>) {
        match &mut self.phase {
            Phase::Asking { asked, offers, .. } => {
                asked.remove(&peer);
                offers.remove(&peer);
                (Vec::new(), Progress::Running)
            }
            Phase::Fetching(fetch) => {
                fetch.drop_source(peer);
                self.step()
            }
        }
    }

    /// Timeouts: silent fetches drop their peer; an asking phase decides
    /// with what it has after a short window, and asks again after
    /// `snapshot_request_timeout` if nobody offered.
    pub(super) fn tick(
        &mut self,
        peers: impl IntoIterator<Item = PeerId>,
        builder: impl FnOnce() -> Option<Box<dyn SnapshotBuilder<M>>>,
    ) -> (Sends, Progress<M>) {
        let now = Instant::now();
        match &mut self.phase {
            Phase::Asking { since, offers, .. } => {
                let waited = now.duration_since(*since);
                let window = (self.settings.fetch_timeout / 4).min(Duration::from_secs(1));
                if waited >= window && offers.values().any(|o| !o.is_empty()) {
                    return self.choose(builder);
                }
                if waited >= self.settings.snapshot_request_timeout {
                    // Nobody usable offered: give dropped peers another chance.
                    self.banned.clear();
                    return (self.ask(peers), Progress::Running);
                }
                (Vec::new(), Progress::Running)
            }
            Phase::Fetching(fetch) => {
                let mut sends = Vec::new();
                if fetch.info.digest.is_none()
                    && fetch.digest_asked.is_none_or(|at| {
                        now.duration_since(at) >= self.settings.snapshot_request_timeout
                    })
                {
                    // The request was lost (its answer waits for room on the
                    // leader's side, see `digests.rs`).
                    sends.push(fetch.ask_digest(self.leader));
                }
                let timeout = self.settings.fetch_timeout;
                let silent: Vec<PeerId> = fetch
                    .in_flight
                    .iter()
                    .filter(|(_, (_, at))| now.duration_since(*at) >= timeout)
                    .map(|(p, _)| *p)
                    .collect();
                for peer in &silent {
                    tracing::debug!(peer = %peer.fmt_short(), "snapshot fetch timed out; peer dropped");
                    fetch.drop_source(*peer);
                    if self.single_source {
                        // The lone source: without a ban the next round
                        // would pick the same silent peer again.
                        self.banned.insert(*peer);
                    }
                }
                // Slow is not hostile: a timed-out peer may serve again after
                // the next round of queries (progress is kept).
                self.dropped += silent.len() as u64;
                if fetch.sources.is_empty() {
                    return (self.ask(peers), Progress::Running);
                }
                let (more, progress) = self.step();
                sends.extend(more);
                (sends, progress)
            }
        }
    }

    /// Drops `peer` for the rest of this episode's rounds.
    fn ban(&mut self, peer: PeerId) {
        self.banned.insert(peer);
        self.dropped += 1;
    }

    /// Peers dropped since the last call.
    pub(super) fn take_dropped(&mut self) -> u64 {
        core::mem::take(&mut self.dropped)
    }

    /// Digest mismatches since the last call.
    pub(super) fn take_mismatches(&mut self) -> u64 {
        core::mem::take(&mut self.mismatches)
    }

    /// Peers that sent undecodable data since the last call.
    pub(super) fn take_hostile(&mut self) -> Vec<PeerId> {
        core::mem::take(&mut self.hostile)
    }

    /// Hands out ranges to idle sources; reports completion.
    fn step(&mut self) -> (Sends, Progress<M>) {
        let Phase::Fetching(fetch) = &mut self.phase else {
            return (Vec::new(), Progress::Running);
        };
        if fetch.remaining() == 0 && fetch.in_flight.is_empty() {
            if fetch.info.digest.is_none() {
                // Every item is here; the leader's digest is not yet.
                return (Vec::new(), Progress::Running);
            }
            // Finished: the worker drops this transfer after installing.
            let Phase::Fetching(fetch) = core::mem::replace(&mut self.phase, Phase::idle()) else {
                return (Vec::new(), Progress::Running);
            };
            let Some(digest) = fetch.verified() else {
                return (self.mismatch(&fetch), Progress::Running);
            };
            return (
                Vec::new(),
                Progress::Done {
                    anchor: fetch.info.anchor,
                    digest,
                    builder: fetch.builder,
                },
            );
        }
        // The leader only when no other source is left: its cores carry
        // the group's writes. Serving about a third of B6's snapshot nearly
        // doubled the leader's write p99 during the catch-up (medians 4.4
        // against 2.4 ms without it), for a tenth more rate
        // (docs/benchmarks.md).
        let leader = self.leader;
        let others = fetch.sources.iter().any(|p| *p != leader);
        let idle: Vec<PeerId> = fetch
            .sources
            .iter()
            .filter(|p| !others || **p != leader)
            .filter(|p| !fetch.in_flight.contains_key(*p))
            .copied()
            .collect();
        let mut sends = Vec::new();
        let now = Instant::now();
        for peer in idle {
            let Some(range) = fetch.next_range() else {
                break;
            };
            sends.push((
                peer,
                SyncMessage::Fetch {
                    anchor: fetch.info.anchor,
                    range: range.clone(),
                },
            ));
            fetch.in_flight.insert(peer, (range, now));
        }
        (sends, Progress::Running)
    }
}

impl<M> Phase<M> {
    /// Asking nobody (before the first query, and after completion).
    fn idle() -> Self {
        Phase::Asking {
            since: Instant::now(),
            asked: BTreeSet::new(),
            offers: BTreeMap::new(),
            resume: None,
        }
    }
}

#[path = "transfer_check.rs"]
mod check;

#[path = "transfer_offers.rs"]
mod offers;

#[cfg(test)]
#[path = "transfer_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "transfer_digest_tests.rs"]
mod digest_tests;
