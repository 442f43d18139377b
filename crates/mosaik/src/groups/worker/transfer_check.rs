//! The digest check's consequences for a [`Transfer`]: what a mismatch
//! does, and how the single source of a round after one is picked.

use {
    super::{Fetch, Sends, Transfer},
    crate::PeerId,
    std::collections::HashSet,
};

impl<M> Transfer<M> {
    /// The assembled snapshot does not match its offered digest: a source
    /// served other content than it offered. Nothing is installed and the
    /// progress is discarded (it is the suspect part); the holders are
    /// asked again and the next fetch has a single source. A lone
    /// contributor is the culprit and is banned; among several, the
    /// single-source rounds find it.
    pub(super) fn mismatch(&mut self, fetch: Fetch<M>) -> Sends {
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
        let mut peers = fetch.contributors;
        peers.extend(fetch.sources);
        peers.extend(fetch.late);
        peers.insert(self.leader);
        self.ask(peers)
    }
}

/// One holder out of `sources`: a follower before the leader (as in
/// `step`, the leader serves last), the lowest id so a new round picks the
/// same one unless it was banned.
pub(super) fn one_source(sources: &HashSet<PeerId>, leader: PeerId) -> HashSet<PeerId> {
    sources
        .iter()
        .filter(|p| **p != leader)
        .min()
        .or_else(|| sources.get(&leader))
        .copied()
        .into_iter()
        .collect()
}
