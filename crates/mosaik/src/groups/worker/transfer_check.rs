//! The digests' part in a [`Transfer`]: offers during a fetch (the
//! leader's digest arriving, holders joining or leaving by theirs), what a
//! mismatch does, and how the single source of a round after one is picked.

use {
    super::{Fetch, Phase, Progress, Sends, Transfer},
    crate::{
        PeerId,
        groups::sync::wire::{MAX_OFFERED, SnapshotInfo},
    },
    std::collections::BTreeSet,
};

impl<M> Transfer<M> {
    /// An offer from `peer` while fetching: the leader's digest to check
    /// the assembled snapshot against, a late holder joining the sources,
    /// or a source whose offer names another digest leaving them.
    pub(super) fn offer_while_fetching(
        &mut self,
        peer: PeerId,
        snapshots: &[SnapshotInfo],
    ) -> (Sends, Progress<M>) {
        let Phase::Fetching(fetch) = &mut self.phase else {
            return (Vec::new(), Progress::Running);
        };
        if snapshots.len() > MAX_OFFERED {
            return (Vec::new(), Progress::Running);
        }
        let held = snapshots.iter().find(|s| s.anchor == fetch.info.anchor);
        if peer == self.leader && fetch.info.digest.is_none() {
            match held.filter(|s| s.items == fetch.info.items) {
                // The leader's digest: what the assembled snapshot is
                // checked against.
                Some(info) if info.digest.is_some() => fetch.info.digest = info.digest,
                Some(_) => {}
                // The leader no longer holds it (or cannot digest it):
                // nothing could vouch for what we fetch.
                None => return (self.restart(), Progress::Running),
            }
        }
        fetch.late.remove(&peer);
        let same = held.is_some_and(|s| s.same_content(&fetch.info));
        if !same && held.is_some() {
            fetch.drop_source(peer);
        } else if same
            && !self.single_source
            && !self.banned.contains(&peer)
            && !fetch.sources.contains(&peer)
        {
            fetch.sources.insert(peer);
        }
        self.step()
    }

    /// Starts the episode's asking phase over with every peer it knows of
    /// (progress is kept for a resumed fetch of the same snapshot).
    pub(super) fn restart(&mut self) -> Sends {
        let mut peers = BTreeSet::from([self.leader]);
        if let Phase::Fetching(fetch) = &self.phase {
            peers.extend(fetch.known_peers());
        }
        self.ask(peers)
    }

    /// The assembled snapshot does not match its offered digest: a source
    /// served other content than it offered. Nothing is installed and the
    /// progress is discarded (it is the suspect part); the holders are
    /// asked again and the next fetch has a single source. A lone
    /// contributor is the culprit and is banned; among several, the
    /// single-source rounds find it.
    pub(super) fn mismatch(&mut self, fetch: &Fetch<M>) -> Sends {
        tracing::warn!(
            anchor = fetch.info.anchor.index.0,
            sources = fetch.contributors.len(),
            "refused a snapshot transfer: its content does not match the offered digest"
        );
        self.mismatches += 1;
        if fetch.contributors.len() == 1
            && let Some(culprit) = fetch.contributors.iter().next()
        {
            self.ban(*culprit);
        }
        self.single_source = true;
        let mut peers = BTreeSet::from([self.leader]);
        peers.extend(fetch.known_peers());
        self.ask(peers)
    }
}

/// One holder out of `sources`: a follower before the leader (as in
/// `step`, the leader serves last), the lowest id so a new round picks the
/// same one unless it was banned.
pub(super) fn one_source(sources: &BTreeSet<PeerId>, leader: PeerId) -> BTreeSet<PeerId> {
    sources
        .iter()
        .filter(|p| **p != leader)
        .min()
        .or_else(|| sources.get(&leader))
        .copied()
        .into_iter()
        .collect()
}
