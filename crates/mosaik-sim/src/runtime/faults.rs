//! The fault schedule: one fault at a time, each undone before the next,
//! all drawn from the network's seeded stream.

use super::cluster::Members;
use core::time::Duration;
use tokio::time::{Instant, sleep};

/// Counts of the faults injected in one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultCounts {
    /// One member cut off both ways.
    pub isolations: u64,
    /// One direction between two members blocked.
    pub asymmetric: u64,
    /// Crashes (and restarts on the member's disk).
    pub crashes: u64,
    /// Of those, the member that led.
    pub leader_crashes: u64,
    /// Crashes that also lost the member's disk: at most one per run, and
    /// only while both other members are up and hold everything committed
    /// (see `VecCluster::can_wipe`).
    pub wipes: u64,
}

/// A duration uniform in `min..max` milliseconds.
fn millis(cluster: &impl Members, min: u64, max: u64) -> Duration {
    Duration::from_millis(min + cluster.net().random() % (max - min).max(1))
}

/// Injects faults until `until`, then heals and restarts every member.
pub async fn run(cluster: impl Members, until: Instant) -> FaultCounts {
    let mut counts = FaultCounts::default();
    let n = cluster.size();
    while Instant::now() < until {
        sleep(millis(&cluster, 300, 2_000)).await;
        let pick = cluster.net().random() % 10;
        let a = usize::try_from(cluster.net().random() % n as u64).unwrap_or(0);
        let b = (a + 1 + usize::try_from(cluster.net().random() % (n as u64 - 1)).unwrap_or(0)) % n;
        match pick {
            0..=2 => {
                counts.isolations += 1;
                tracing::debug!(slot = a, "fault: isolate");
                cluster.net().isolate(&[a]);
                sleep(millis(&cluster, 200, 4_000)).await;
                cluster.net().heal();
                tracing::debug!("fault: healed");
            }
            3 => {
                counts.asymmetric += 1;
                tracing::debug!(from = a, to = b, "fault: block one direction");
                cluster.net().block(a, b);
                sleep(millis(&cluster, 200, 4_000)).await;
                cluster.net().heal();
                tracing::debug!("fault: healed");
            }
            4..=6 => {
                let victim = if pick == 6 {
                    cluster.leader().unwrap_or(a)
                } else {
                    a
                };
                counts.crashes += 1;
                tracing::debug!(slot = victim, "fault: crash");
                counts.leader_crashes += u64::from(cluster.leader() == Some(victim));
                cluster.crash(victim);
                sleep(millis(&cluster, 10, 3_000)).await;
                cluster.start(victim);
                tracing::debug!(slot = victim, "fault: restarted");
            }
            7 if counts.wipes == 0 && cluster.can_wipe(a) => {
                counts.crashes += 1;
                counts.wipes += 1;
                counts.leader_crashes += u64::from(cluster.leader() == Some(a));
                tracing::debug!(slot = a, "fault: crash and lose the disk");
                cluster.crash(a);
                cluster.wipe(a);
                sleep(millis(&cluster, 10, 3_000)).await;
                cluster.start(a);
                tracing::debug!(slot = a, "fault: restarted empty");
            }
            _ => {}
        }
    }
    cluster.net().heal();
    for slot in 0..n {
        if !cluster.net().is_up(slot) {
            cluster.start(slot);
        }
    }
    counts
}
