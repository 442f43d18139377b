//! The shell's side of a catch-up after a restart on lost storage: what it tells the engine, what it
//! advertises to the peers, and when it considers the member caught up.

use mosaik_raft::{Input, Message};

use super::{Cluster, Id, Msg};

impl Cluster {
    /// `id` just restarted after losing its storage: like the real shell, feed
    /// `Input::BeginCatchUp` before anything else (so it never votes on what it lost), and
    /// `Input::EndCatchUp`
    /// right after if no other member is live (`alone`: a brand-new group, as far as the shell
    /// can tell). While it catches up the shell advertises the member as an observer.
    pub(super) fn begin_catch_up(&mut self, id: Id, alone: bool) {
        if let Some(catch_up) = self.node_mut(id).catch_up.as_mut() {
            catch_up.begun = true;
        }
        self.input(id, Input::BeginCatchUp);
        if alone {
            self.input(id, Input::EndCatchUp);
        }
    }

    /// A message is about to be delivered to `to`: a leader's commit index announced to a
    /// member that is catching up raises the model's catch-up target (a message of an older
    /// round is refused by the engine, so it does not count).
    pub(super) fn note_delivery(&mut self, to: Id, msg: &Msg) {
        let Some(node) = self
            .nodes
            .get_mut(usize::try_from(to).unwrap_or(usize::MAX))
        else {
            return;
        };
        let (Some(catch_up), Some(engine)) = (node.catch_up.as_mut(), node.engine.as_ref()) else {
            return;
        };
        let (Message::AppendEntries {
            term,
            leader_commit,
            ..
        }
        | Message::StateSyncRequired {
            term,
            leader_commit,
            ..
        }) = msg
        else {
            return;
        };
        if term.round() >= engine.term().round() {
            let target = catch_up.target.get_or_insert(*leader_commit);
            *target = (*target).max(*leader_commit);
        }
    }

    /// After `id` took a step: the model ends a catch-up the engine was not told about once
    /// the member's commit index reached its target.
    pub(super) fn model_catch_up(&mut self, id: Id) {
        let node = self.node_mut(id);
        let (Some(catch_up), Some(engine)) = (node.catch_up, node.engine.as_ref()) else {
            return;
        };
        if !catch_up.begun && catch_up.target.is_some_and(|t| engine.commit_index() >= t) {
            node.catch_up = None;
            node.disk.lost = false;
            self.restarts.counts.caught_up += 1;
        }
    }

    /// `id`'s engine reported `Output::CaughtUp`: it votes again, and its shell announces its
    /// real preference to its peers (after the current step).
    pub(super) fn caught_up(&mut self, id: Id) {
        let node = self.node_mut(id);
        node.disk.lost = false;
        if node.catch_up.take().is_some() {
            self.restarts.counts.caught_up += 1;
            self.restarts.announce.push(id);
        }
    }

    /// Announces one member's end of catch-up to its bonded peers. Returns false if there was
    /// nothing to announce.
    pub(super) fn step_announce(&mut self) -> bool {
        let Some(id) = self.restarts.announce.pop() else {
            return false;
        };
        if !self.node(id).is_up() {
            return true;
        }
        let preference = self.advertised(id);
        for peer in self.bonded_peers(id) {
            self.input(
                peer,
                Input::PeerBonded {
                    peer: id,
                    preference,
                },
            );
        }
        true
    }
}
