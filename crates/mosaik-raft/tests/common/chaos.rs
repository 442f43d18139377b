//! Random fault schedules and the client retry loop.

use std::time::Duration;

use mosaik_raft::Output;

use super::{Cluster, Cmd, Rng};

/// Client loop: propose `cmd` at the current leader until it is reported committed (retrying
/// after `Superseded` or `Offline`, as a client would). False if it never commits in 30 s.
pub fn commit_with_retries(cluster: &mut Cluster, cmd: Cmd) -> bool {
    let deadline = cluster.now + Duration::from_secs(30);
    while cluster.now < deadline {
        let leader = cluster.wait_for_leader();
        let request = cluster.propose(leader, vec![cmd]);
        let decided = cluster.run_until(Duration::from_secs(5), |c| {
            c.commit_result(leader, request).is_some()
                || matches!(
                    c.propose_result(leader, request),
                    Some(Output::ProposeResult { result: Err(_), .. })
                )
        });
        if decided
            && matches!(
                cluster.commit_result(leader, request),
                Some(Output::Committed { result: Ok(_), .. })
            )
        {
            return true;
        }
    }
    false
}

impl Cluster {
    /// Splits a bonded cluster into the current leader plus one follower versus the rest
    /// (bonds break, as the shell's heartbeat would make them). Returns (minority, majority).
    pub fn split_with_leader_in_minority(&mut self) -> (Vec<u64>, Vec<u64>) {
        let leader = self.wait_for_leader();
        self.run_for(Duration::from_millis(200));
        let buddy = self.ids().into_iter().find(|id| *id != leader).unwrap();
        let minority = vec![leader, buddy];
        let majority: Vec<u64> = self
            .ids()
            .into_iter()
            .filter(|id| !minority.contains(id))
            .collect();
        self.partition(&[&minority, &majority], true);
        (minority, majority)
    }

    /// Waits (up to 10 s) for a leader among `side` and returns it.
    pub fn leader_among(&mut self, side: &[u64]) -> u64 {
        let elected = self.run_until(Duration::from_secs(10), |c| {
            c.leaders().iter().any(|l| side.contains(l))
        });
        assert!(elected, "no leader among {side:?}");
        *self.leaders().iter().find(|l| side.contains(l)).unwrap()
    }

    /// Random faults for `rounds` × `round_ms`: crashes (at most `max_down` nodes down at
    /// once), restarts and client proposals at random nodes. Returns the commands proposed.
    pub fn chaos(&mut self, rounds: u64, round_ms: u64, max_down: usize) -> Vec<Cmd> {
        let mut rng = Rng::new(self.seed ^ 0x00C0_FFEE);
        let mut proposed = Vec::new();
        let ids = self.ids();
        for _ in 0..rounds {
            let id = ids[usize::try_from(rng.below(ids.len() as u64)).unwrap()];
            let down = self.nodes.values().filter(|n| !n.is_up()).count();
            match rng.below(10) {
                0 | 1 if self.node(id).is_up() && down < max_down => self.crash(id),
                0..=3 if !self.node(id).is_up() => self.restart(id),
                _ => {
                    let cmd = rng.next() >> 8;
                    proposed.push(cmd);
                    self.propose(id, vec![cmd]);
                }
            }
            self.run_for(Duration::from_millis(round_ms));
        }
        proposed
    }

    /// Like [`chaos`](Self::chaos), plus network faults: two-way splits and single-link cuts,
    /// with or without the bonds breaking, heals, and strong reads.
    pub fn chaos_with_partitions(&mut self, rounds: u64, round_ms: u64) {
        let mut rng = Rng::new(self.seed ^ 0x005E_ED0F_FA11);
        let ids = self.ids();
        let pick = |rng: &mut Rng| ids[usize::try_from(rng.below(ids.len() as u64)).unwrap()];
        for _ in 0..rounds {
            let unbond = rng.percent(50);
            match rng.below(12) {
                0 => {
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    for &id in &ids {
                        if rng.percent(50) {
                            a.push(id);
                        } else {
                            b.push(id);
                        }
                    }
                    self.partition(&[&a, &b], unbond);
                }
                1 => {
                    let (x, y) = (pick(&mut rng), pick(&mut rng));
                    if x != y {
                        self.blocked.insert((x, y));
                        self.blocked.insert((y, x));
                        if unbond {
                            self.unbond(x, y);
                        }
                    }
                }
                2 => self.heal(),
                3 => {
                    let id = pick(&mut rng);
                    if self.node(id).is_up() {
                        self.crash(id);
                    } else {
                        self.restart(id);
                    }
                }
                4 | 5 => {
                    let id = pick(&mut rng);
                    self.read(id);
                }
                _ => {
                    let id = pick(&mut rng);
                    self.propose(id, vec![rng.next() >> 8]);
                }
            }
            self.run_for(Duration::from_millis(round_ms));
        }
    }

    /// Restarts every crashed node and clears network faults.
    pub fn calm(&mut self) {
        self.loss_percent = 0;
        self.dup_percent = 0;
        self.heal();
        for id in self.ids() {
            if !self.node(id).is_up() {
                self.restart(id);
            }
        }
    }
}
