//! Asymmetric bond views: a peer's shell still holding a bond to a restarted member's old
//! incarnation (see [`restarts`](super::restarts) for the fault and its two shell behaviours).

use mosaik_raft::Input;

use super::{Cluster, Id};

impl Cluster {
    /// Whether a stale bond stands between `a` and `b` (held by either).
    pub fn is_stale(&self, a: Id, b: Id) -> bool {
        let stale = &self.restarts.stale;
        stale.contains_key(&(a, b)) || stale.contains_key(&(b, a))
    }

    /// On a restart of `id` whose bonds to `peers` survived the crash: maybe (if the seed has
    /// stale bonds) the peers' shells keep their bonds to the old incarnation for a while.
    /// Returns the peers that did; the restarted member is not bonded to them meanwhile.
    pub(super) fn open_stale_bonds(&mut self, id: Id, peers: &[Id]) -> Vec<Id> {
        let restarts = &mut self.restarts;
        let faults = restarts.faults;
        if !restarts.active
            || faults.stale_bonds.is_none()
            || peers.is_empty()
            || !restarts.rng.gen_bool(0.7)
        {
            return Vec::new();
        }
        let now = self.net.now();
        for &peer in peers {
            let lifetime = restarts
                .rng
                .gen_range(faults.stale_ms.0..=faults.stale_ms.1);
            restarts.stale.insert((peer, id), now + lifetime);
            self.bonds.remove(&(peer.min(id), peer.max(id)));
        }
        restarts.counts.asymmetric += 1;
        if self.trace {
            println!("{now:>7} n{id} stale bonds at {:?}", restarts.stale);
        }
        if !self.strict {
            // The restarted member's voters shrank to itself.
            self.churn = true;
        }
        peers.to_vec()
    }

    /// Replaces one stale bond whose time is up: the holder's shell drops it
    /// (`PeerUnbonded`) and, if the two can reach each other, bonds the new incarnation.
    /// Returns false if none was due.
    pub(super) fn step_stale_bonds(&mut self) -> bool {
        let now = self.now();
        let Some((&(holder, member), _)) = self.restarts.stale.iter().find(|(_, at)| **at <= now)
        else {
            return false;
        };
        self.restarts.stale.remove(&(holder, member));
        if self.trace {
            println!("{now:>7} n{holder} replaces its stale bond to n{member}");
        }
        if self.node(holder).is_up() {
            if !self.strict {
                self.churn = true;
            }
            self.input(holder, Input::PeerUnbonded { peer: member });
        }
        if self.reachable(holder, member) {
            self.bond(holder, member);
        }
        true
    }

    /// Replaces every stale bond now (the heal-and-quiesce phase).
    pub(super) fn replace_stale_bonds(&mut self) {
        let now = self.now();
        for at in self.restarts.stale.values_mut() {
            *at = now;
        }
        while self.step_stale_bonds() {}
    }
}
