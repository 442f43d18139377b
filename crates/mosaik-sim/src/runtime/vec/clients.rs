//! Clients of the `vec` workload: each writes unique values through a
//! random member's `Vec` handle (`push_back` one, `extend` several) and
//! records what it was told.

use super::VecCluster;
use crate::runtime::{clients::Stamps, cluster::Members};
use core::time::Duration;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::time::{Instant, sleep, timeout};

/// How long a client waits for one answer before it gives up on it.
const PATIENCE: Duration = Duration::from_secs(8);

/// One write: its values (one for `push_back`, several for `extend`), when
/// it was called and, if acknowledged, when it returned (microseconds
/// since the run began).
#[derive(Clone, Debug, Hash)]
pub struct Write {
    /// The values, in the order they were passed.
    pub values: Vec<u64>,
    /// Call time.
    pub call: u64,
    /// Return time of an acknowledged write; `None` if it failed or timed
    /// out (outcome unknown: the collection API does not tell whether a
    /// failed write may still commit, so it is never retried).
    pub acked: Option<u64>,
}

/// What all clients observed.
#[derive(Default)]
pub struct Record {
    /// Every write, acknowledged or not.
    pub writes: Vec<Write>,
}

impl Record {
    /// Values of acknowledged writes.
    pub fn acknowledged(&self) -> usize {
        self.writes
            .iter()
            .filter(|w| w.acked.is_some())
            .map(|w| w.values.len())
            .sum()
    }
}

/// Shared between the clients of one run.
#[derive(Clone)]
pub struct Recorder {
    record: Arc<Mutex<Record>>,
    stamps: Stamps,
}

impl Recorder {
    /// An empty record; times count from `origin`.
    pub fn new(origin: Instant) -> Self {
        Self {
            record: Arc::default(),
            stamps: Stamps::new(origin),
        }
    }

    fn push(&self, write: Write) {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .writes
            .push(write);
    }

    /// Takes the record (after the clients stopped).
    pub fn take(&self) -> Record {
        core::mem::take(&mut *self.record.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// One client: writes back to back on random members until `until`.
pub async fn run(id: u64, cluster: VecCluster, recorder: Recorder, until: Instant) {
    while Instant::now() < until {
        let net = cluster.net().clone();
        let slot = usize::try_from(net.random() % cluster.size() as u64).unwrap_or(0);
        let Some(vec) = cluster.replica(slot) else {
            sleep(Duration::from_millis(50)).await;
            continue;
        };
        let count = if net.random().is_multiple_of(4) {
            2 + net.random() % 3
        } else {
            1
        };
        let values: Vec<u64> = (0..count).map(|_| recorder.stamps.fresh_value()).collect();
        let call = recorder.stamps.now();
        let ok = if values.len() == 1 {
            matches!(timeout(PATIENCE, vec.push_back(values[0])).await, Ok(Ok(_)))
        } else {
            matches!(
                timeout(PATIENCE, vec.extend(values.clone())).await,
                Ok(Ok(_))
            )
        };
        let acked = ok.then(|| recorder.stamps.now());
        tracing::debug!(
            client = id,
            slot,
            ?values,
            acked = acked.is_some(),
            "vec write"
        );
        recorder.push(Write {
            values,
            call,
            acked,
        });
        sleep(Duration::from_millis(net.random() % 40)).await;
    }
}
