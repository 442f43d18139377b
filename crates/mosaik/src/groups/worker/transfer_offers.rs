//! The asking phase of a [`Transfer`]: the offers holders answer a
//! query with, and the choice of the anchor to fetch and its sources.

use {
    super::{Fetch, Phase, Progress, Sends, Transfer, check},
    crate::{
        PeerId,
        groups::sync::{
            SnapshotBuilder,
            wire::{MAX_OFFERED, SnapshotInfo},
        },
    },
    std::collections::{BTreeMap, BTreeSet},
};

impl<M> Transfer<M> {
    /// An offer from `peer`.
    pub(in crate::groups::worker) fn offer(
        &mut self,
        peer: PeerId,
        snapshots: Vec<SnapshotInfo>,
        builder: impl FnOnce() -> Option<Box<dyn SnapshotBuilder<M>>>,
    ) -> (Sends, Progress<M>) {
        let (asked, offers) = match &mut self.phase {
            Phase::Asking { asked, offers, .. } => (asked, offers),
            Phase::Fetching(_) => return self.offer_while_fetching(peer, &snapshots),
        };
        if !asked.contains(&peer) || snapshots.len() > MAX_OFFERED {
            return (Vec::new(), Progress::Running);
        }
        let base = self.base;
        offers.insert(
            peer,
            snapshots
                .into_iter()
                .filter(|s| s.anchor.index >= base)
                .collect(),
        );
        if offers.len() < asked.len() {
            return (Vec::new(), Progress::Running);
        }
        self.choose(builder)
    }

    /// Picks the anchor and starts fetching, if any peer offered one.
    pub(super) fn choose(
        &mut self,
        builder: impl FnOnce() -> Option<Box<dyn SnapshotBuilder<M>>>,
    ) -> (Sends, Progress<M>) {
        let Phase::Asking { offers, .. } = &self.phase else {
            return (Vec::new(), Progress::Running);
        };
        // Only anchors the leader offers: its log is the one the engine
        // follows. After a dynamic-mode partition heal, members of the
        // losing side still hold snapshots of the discarded history (same
        // indexes, other terms), and a member that diverged is exactly one
        // that needs this transfer. An anchor names a whole prefix (log
        // matching), so every peer offering the leader's anchor holds the
        // same state and may serve it.
        let offers_count = offers.len();
        let Some(ours) = offers.get(&self.leader) else {
            return (Vec::new(), Progress::Running);
        };
        // Grouped by the leader's infos: a holder whose offer names
        // another digest than the leader's is not one.
        let mut holders: BTreeMap<SnapshotInfo, BTreeSet<PeerId>> = BTreeMap::new();
        for (peer, infos) in offers.iter().filter(|(p, _)| !self.banned.contains(*p)) {
            for leaders in ours {
                if infos.iter().any(|info| info.same_content(leaders)) {
                    holders.entry(*leaders).or_default().insert(*peer);
                }
            }
        }
        // The highest anchor held by at least two peers if there is one
        // (more sources, faster transfer), else the highest.
        let shared = holders.values().any(|h| h.len() >= 2);
        let best = holders
            .into_iter()
            .filter(|(_, h)| !shared || h.len() >= 2)
            .max_by_key(|(info, _)| (info.anchor.index, info.anchor.term));
        let Some((info, sources)) = best else {
            return (Vec::new(), Progress::Running);
        };
        let sources = if self.single_source {
            check::one_source(&sources, self.leader)
        } else {
            sources
        };
        if let Phase::Asking {
            resume: Some(fetch),
            ..
        } = &mut self.phase
            && fetch.info.same_content(&info)
        {
            let mut fetch = core::mem::replace(fetch, Box::new(Fetch::empty()));
            fetch.sources = sources;
            fetch.info.digest = fetch.info.digest.or(info.digest);
            return self.fetch(fetch);
        }
        let Some(builder) = builder() else {
            return (Vec::new(), Progress::Running);
        };
        tracing::debug!(
            anchor = info.anchor.index.0,
            sources = sources.len(),
            offers = offers_count,
            "snapshot transfer starts"
        );
        let batch = self.settings.fetch_batch_size;
        self.fetch(Box::new(Fetch::new(info, batch, sources, builder)))
    }
}
