//! The shells' membership work: bonds (and the stale bonds of asymmetric views), partitions,
//! crashes and restarts — including restarts on empty storage, which put a member in catch-up.

use mosaik_raft::{Engine, Input, Instant, LeadershipPreference, Role};

use super::restarts::RestartPolicy;
use super::{CatchUp, Cluster, Id};

impl Cluster {
    /// The preference `id`'s shell advertises to its peers: observer while it catches up after
    /// an empty restart (once the engine was told so), its configured one otherwise.
    pub(super) fn advertised(&self, id: Id) -> LeadershipPreference {
        match self.node(id).catch_up {
            Some(CatchUp { begun: true, .. }) => LeadershipPreference::Observer,
            _ => self.node(id).config.preference,
        }
    }

    /// The peers `id` is bonded with, as the cluster's shells see it.
    pub(super) fn bonded_peers(&self, id: Id) -> Vec<Id> {
        self.bonds
            .iter()
            .filter_map(|&(a, b)| (a == id).then_some(b).or((b == id).then_some(a)))
            .collect()
    }

    /// Bonds `a` and `b` (both running), announcing each one's advertised preference to the
    /// other. A pair with a stale bond on either side waits until that bond is replaced.
    pub(super) fn bond(&mut self, a: Id, b: Id) {
        if a == b || !self.node(a).is_up() || !self.node(b).is_up() || self.is_stale(a, b) {
            return;
        }
        if self.bonds.insert((a.min(b), a.max(b))) {
            let (pa, pb) = (self.advertised(a), self.advertised(b));
            self.input(
                a,
                Input::PeerBonded {
                    peer: b,
                    preference: pb,
                },
            );
            self.input(
                b,
                Input::PeerBonded {
                    peer: a,
                    preference: pa,
                },
            );
        }
    }

    /// Breaks the bond between `a` and `b` (what the shells do when heartbeats stop).
    pub fn unbond(&mut self, a: Id, b: Id) {
        if self.bonds.remove(&(a.min(b), a.max(b))) {
            self.input(a, Input::PeerUnbonded { peer: b });
            self.input(b, Input::PeerUnbonded { peer: a });
        }
    }

    /// Bonds every pair of running members that can reach each other both ways.
    pub fn bond_reachable(&mut self) {
        let up = self.up();
        for &a in &up {
            for &b in &up {
                if a < b && self.reachable(a, b) {
                    self.bond(a, b);
                }
            }
        }
    }

    /// Whether `a` and `b` can reach each other both ways (partitions and one-way cuts).
    pub(super) fn reachable(&self, a: Id, b: Id) -> bool {
        let blocked = self.net.blocked_links();
        !blocked.is_blocked(a, b) && !blocked.is_blocked(b, a)
    }

    /// Splits the members into `groups`; with `unbond`, cross-group bonds break too.
    pub fn partition(&mut self, groups: &[Vec<Id>], unbond: bool) {
        self.net.partition(groups);
        if unbond {
            for (i, ga) in groups.iter().enumerate() {
                for gb in &groups[i + 1..] {
                    for &a in ga {
                        for &b in gb {
                            self.unbond(a, b);
                        }
                    }
                }
            }
        }
    }

    /// Removes every partition and one-way block and bonds everyone reachable again.
    pub fn heal(&mut self) {
        self.net.heal();
        self.bond_reachable();
    }

    /// Crashes `id`: engine and state machine are lost, the disk stays. With `unbond`, its
    /// peers notice (their bonds to it break). Stale bonds `id` held die with it.
    pub fn crash(&mut self, id: Id, unbond: bool) {
        if !self.node(id).is_up() {
            return;
        }
        if self.trace {
            println!("{:>7} n{id} crash (unbond: {unbond})", self.now());
        }
        // The writes not flushed yet: a torn tail keeps a prefix of them.
        self.torn.disarm(id);
        let keep = self.torn.keep(self.node(id).disk.unflushed());
        self.node_mut(id).disk.tear(keep);
        self.net.crash(id);
        self.clients.on_crash(id);
        self.node_mut(id).engine = None;
        self.node_mut(id).catch_up = None;
        self.restarts.stale.retain(|&(holder, _), _| holder != id);
        if unbond {
            for peer in self.ids() {
                self.unbond(id, peer);
            }
        }
    }

    /// Crashes `id` like [`crash`](Self::crash), or — in seeds with torn writes, sometimes —
    /// in the middle of its next step instead (see `torn`).
    pub fn crash_soon(&mut self, id: Id, unbond: bool) {
        if self.node(id).is_up() && !self.torn.defer(id, unbond) {
            self.crash(id, unbond);
        }
    }

    /// Restarts a crashed `id` from its disk and re-announces its bonds.
    ///
    /// On storage that replaces a lost one (see [`Disk::lost`](super::Disk::lost)) the shell
    /// puts the engine in catch-up before anything else, so it never votes on what it lost,
    /// and advertises it as an observer; if no other member is running it ends the catch-up at
    /// once (a brand-new group, as far as it can tell). Storage that is merely empty (a member
    /// that crashed before it persisted anything) promised nothing and restarts normally, like
    /// the first start of a brand-new group. Bonds that survived the crash (the peers never noticed)
    /// are announced to the new engine — unless the restart fault gives the peers a stale bond
    /// to the old incarnation for a while (see `restarts`).
    pub fn restart(&mut self, id: Id) {
        if self.node(id).is_up() {
            return;
        }
        let now = Instant::from_millis(self.net.local_time(id));
        let seed = self.seed;
        let global_now = self.now();
        let trace = self.trace;
        let node = self.node_mut(id);
        let lost = node.disk.lost;
        if trace {
            println!("{global_now:>7} n{id} restart (lost storage: {lost})");
        }
        node.incarnation += 1;
        let engine_seed = seed ^ (id << 40) ^ (node.incarnation << 52) ^ 0x5eed;
        // Each life's storage epoch above every earlier one's, as the real shell's clock gives.
        node.engine = Some(
            Engine::new(
                id,
                node.config.clone(),
                node.disk.restored(),
                now,
                engine_seed,
            )
            .with_life_epoch((node.incarnation << 32) | id),
        );
        node.store = node.disk.snapshot.clone();
        node.role_seen = Role::Follower;
        node.catch_up = lost.then_some(CatchUp {
            since: global_now,
            begun: false,
            target: None,
        });
        self.restarts.scheduled.remove(&id);
        let wiped = self.restarts.wiped.remove(&id);
        self.net.restart(id);
        self.check(id, |checkers, view| {
            if wiped {
                checkers.on_wipe(view);
            } else {
                checkers.on_reset(view);
            }
            Ok(())
        });
        if lost {
            // The real shell ends a catch-up only when discovery shows no other member of the
            // group: members that are merely down are still in the catalog (they are purged
            // only long after). Only the reckless schedule's whole-group outages model a group
            // that is gone, so only there does a member restarting alone end its catch-up.
            let alone =
                self.up().len() == 1 && self.restarts.faults.policy == RestartPolicy::Reckless;
            self.begin_catch_up(id, alone);
        }
        let peers = self.bonded_peers(id);
        let stale = self.open_stale_bonds(id, &peers);
        let advertised = self.advertised(id);
        for peer in peers.into_iter().filter(|peer| !stale.contains(peer)) {
            let preference = self.advertised(peer);
            self.input(id, Input::PeerBonded { peer, preference });
            if advertised != self.node(id).config.preference {
                // The new incarnation's handshake carries its catch-up preference.
                self.input(
                    peer,
                    Input::PeerBonded {
                        peer: id,
                        preference: advertised,
                    },
                );
            }
        }
        self.input(id, Input::Tick);
        self.bond_reachable();
    }
}
