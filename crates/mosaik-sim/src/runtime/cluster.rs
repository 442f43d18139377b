//! The simulated members: one group handle and one disk per machine,
//! started, crashed and restarted by the fault schedule.

use super::machine::{Put, Registers};
use mosaik::groups::{
    ConsensusConfig, Group, GroupKey,
    sim::{Disk, SimNet},
};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What the fault schedule needs of a run's machines, whatever they run.
pub trait Members: Clone {
    /// The simulated network.
    fn net(&self) -> &SimNet;
    /// Number of machines.
    fn size(&self) -> usize;
    /// Starts (or restarts) machine `slot` on what its disk kept.
    fn start(&self, slot: usize);
    /// Kills machine `slot`'s process (`SIGKILL`).
    fn crash(&self, slot: usize);
    /// The machine that believes it leads, if one runs.
    fn leader(&self) -> Option<usize>;
    /// Whether losing machine `slot`'s disk now keeps the group both safe
    /// and live: only then does the fault schedule wipe it (and a workload
    /// without wipes answers false, so it draws the same numbers and
    /// replays as before).
    fn can_wipe(&self, _slot: usize) -> bool {
        false
    }
    /// Loses crashed machine `slot`'s disk (a replaced machine).
    fn wipe(&self, _slot: usize) {}
}

impl Members for Cluster {
    fn net(&self) -> &SimNet {
        &self.net
    }

    fn size(&self) -> usize {
        Cluster::size(self)
    }

    fn start(&self, slot: usize) {
        Cluster::start(self, slot);
    }

    fn crash(&self, slot: usize) {
        Cluster::crash(self, slot);
    }

    fn leader(&self) -> Option<usize> {
        Cluster::leader(self)
    }
}

/// The machines of one run and the group handle each one runs now.
#[derive(Clone)]
pub struct Cluster {
    /// The simulated network.
    pub net: SimNet,
    key: GroupKey,
    consensus: ConsensusConfig,
    disks: Vec<Disk<Put>>,
    groups: Arc<Mutex<Vec<Option<Group<Registers>>>>>,
}

impl Cluster {
    /// `net`'s machines, none running yet.
    pub fn new(net: SimNet, consensus: ConsensusConfig) -> Self {
        let size = net.size();
        Self {
            net,
            key: GroupKey::from_secret("mosaik-sim-runtime"),
            consensus,
            disks: (0..size).map(|_| Disk::default()).collect(),
            groups: Arc::new(Mutex::new(vec![None; size])),
        }
    }

    fn groups(&self) -> MutexGuard<'_, Vec<Option<Group<Registers>>>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of machines.
    pub fn size(&self) -> usize {
        self.disks.len()
    }

    /// Starts (or restarts) machine `slot` on what its disk kept.
    pub fn start(&self, slot: usize) {
        let group = self.net.join(
            slot,
            self.key,
            self.consensus.clone(),
            &self.disks[slot],
            Registers::default(),
        );
        // The previous handle (if any) is dropped here, after its process
        // was replaced: its drop cannot touch the new one.
        let _old = self.groups()[slot].replace(group);
    }

    /// Kills machine `slot`'s process (`SIGKILL`).
    pub fn crash(&self, slot: usize) {
        self.net.crash(slot);
        let _old = self.groups()[slot].take();
    }

    /// The group handle of machine `slot`, if it runs.
    pub fn group(&self, slot: usize) -> Option<Group<Registers>> {
        self.groups()[slot].clone()
    }

    /// The running machines.
    pub fn up(&self) -> Vec<usize> {
        (0..self.size()).filter(|s| self.net.is_up(*s)).collect()
    }

    /// The machine that believes it leads, if one runs.
    pub fn leader(&self) -> Option<usize> {
        let groups = self.groups();
        (0..groups.len()).find(|s| groups[*s].as_ref().is_some_and(Group::is_leader))
    }
}
