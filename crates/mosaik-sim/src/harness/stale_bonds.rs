//! Asymmetric bond views: a peer's shell still holding a bond to a restarted member's old
//! incarnation (see [`restarts`](super::restarts) for the fault and its two shell behaviours).

use mosaik_raft::Input;

use super::restarts::REPLACE_INTERVAL_MS;
use super::{Cluster, Id, StaleBonds};

impl Cluster {
    /// Whether a stale bond stands between `a` and `b` (held by either).
    pub fn is_stale(&self, a: Id, b: Id) -> bool {
        let stale = &self.restarts.stale;
        stale.contains_key(&(a, b)) || stale.contains_key(&(b, a))
    }

    /// On a restart of `id` whose bonds to `peers` survived the crash: maybe (if the seed has
    /// stale bonds) the peers' shells keep their bonds to the old incarnation for a while.
    /// Returns the peers that did; the restarted member is not bonded to them meanwhile (in
    /// dynamic mode, once a stale bond outlives an election timeout, it may elect itself alone).
    pub(super) fn open_stale_bonds(&mut self, id: Id, peers: &[Id]) -> Vec<Id> {
        let restarts = &mut self.restarts;
        let faults = restarts.faults;
        let Some(policy) = faults.stale_bonds else {
            return Vec::new();
        };
        if !restarts.active || peers.is_empty() || !restarts.rng.gen_bool(0.7) {
            return Vec::new();
        }
        let now = self.net.now();
        for &peer in peers {
            let recently = (restarts.replaced.get(&(peer, id)))
                .is_some_and(|at| now < at + REPLACE_INTERVAL_MS);
            let (min, max) = if policy == StaleBonds::Timeout || recently {
                faults.timeout_ms
            } else {
                faults.replace_ms
            };
            let until = now + restarts.rng.gen_range(min..=max);
            restarts.stale.insert((peer, id), until);
            self.bonds.remove(&(peer.min(id), peer.max(id)));
        }
        restarts.counts.asymmetric += 1;
        if self.trace {
            println!("{now:>7} n{id} stale bonds at {:?}", restarts.stale);
        }
        peers.to_vec()
    }

    /// Replaces one stale bond whose time is up: the holder's shell drops it
    /// (`PeerUnbonded`) and, if the two can reach each other, bonds the new incarnation at
    /// once (`PeerBonded` on both sides). Returns false if none was due.
    pub(super) fn step_stale_bonds(&mut self) -> bool {
        let now = self.now();
        let Some((&(holder, member), _)) = self.restarts.stale.iter().find(|(_, at)| **at <= now)
        else {
            return false;
        };
        self.restarts.stale.remove(&(holder, member));
        self.restarts.replaced.insert((holder, member), now);
        if self.trace {
            println!("{now:>7} n{holder} replaces its stale bond to n{member}");
        }
        let up = self.node(holder).is_up();
        if up {
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
