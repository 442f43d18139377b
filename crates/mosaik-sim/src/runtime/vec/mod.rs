//! The `vec` workload of `mosaik-sim runtime`: the same simulated machines
//! and fault schedule, but each machine runs a replica of a
//! `mosaik::collections::Vec<u64>` and clients write through the
//! collection's public API (`push_back`, `extend`). The collection is set
//! to snapshot every few dozen commands and to fetch snapshots in small
//! batches, so restarted and lagging members catch up through the
//! runtime's multi-peer snapshot transfer, which the `registers` workload
//! (log replay) never runs.

pub mod checks;
pub mod clients;

use super::{Mode, Report, cluster::Members, faults};
use core::time::Duration;
use mosaik::{
    StoreId,
    collections::{CollectionConfig, SyncConfig, VecWriter, sim::SimVecDisks},
    groups::{
        ConsensusConfig,
        sim::{Faults, SimNet},
    },
};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::time::Instant;

/// Commands between two snapshots: small, so every run compacts often and
/// catch-ups go through snapshot transfers.
const COMPACTION_THRESHOLD: u64 = 40;
/// Items per snapshot fetch: small, so a transfer takes several chunks
/// (from several peers when more than one holds the snapshot).
const FETCH_BATCH: u64 = 8;
/// Clients per run.
const CLIENTS: u64 = 4;

/// The machines of one run, each running a replica of the store.
#[derive(Clone)]
pub struct VecCluster {
    net: SimNet,
    store: StoreId,
    config: CollectionConfig,
    disks: Arc<SimVecDisks<u64>>,
    vecs: Arc<Mutex<Vec<Option<VecWriter<u64>>>>>,
}

impl VecCluster {
    fn new(net: SimNet, mode: Mode) -> Self {
        let sync = SyncConfig::default()
            .with_compaction_threshold(COMPACTION_THRESHOLD)
            .with_fetch_batch_size(FETCH_BATCH)
            .with_fetch_timeout(Duration::from_secs(2))
            .with_snapshot_ttl(Duration::from_secs(1));
        let mut config = CollectionConfig::default().with_sync(sync);
        if mode == Mode::Strict {
            let strict = ConsensusConfig::builder()
                .with_min_quorum(2)
                .build()
                .unwrap_or_else(|never| match never {});
            config = config.with_consensus(strict);
        }
        let size = net.size();
        Self {
            net,
            store: StoreId::from("mosaik-sim-runtime-vec"),
            config,
            disks: Arc::new(SimVecDisks::new(size)),
            vecs: Arc::new(Mutex::new(vec![None; size])),
        }
    }

    fn vecs(&self) -> MutexGuard<'_, Vec<Option<VecWriter<u64>>>> {
        self.vecs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The replica machine `slot` runs, if it runs.
    pub fn replica(&self, slot: usize) -> Option<VecWriter<u64>> {
        self.vecs()[slot].clone()
    }
}

impl Members for VecCluster {
    fn net(&self) -> &SimNet {
        &self.net
    }

    fn size(&self) -> usize {
        self.net.size()
    }

    fn start(&self, slot: usize) {
        let vec = self.disks.start(&self.net, slot, self.store, &self.config);
        // The old handle is dropped after its process was replaced.
        let _old = self.vecs()[slot].replace(vec);
    }

    fn crash(&self, slot: usize) {
        self.net.crash(slot);
        let _old = self.vecs()[slot].take();
    }

    /// Safe and live only while every other member is up and has applied
    /// everything any member knows committed. Then each committed entry
    /// outlives the wipe on both of them, and they are two voters with
    /// history: a quorum even in strict mode. Otherwise a wipe could leave
    /// a single member with history, which by design (`groups/worker/
    /// rejoin.rs`: amnesiac members do not vote) stays leaderless in strict
    /// mode — a loss of two copies, beyond what the group promises to
    /// survive.
    fn can_wipe(&self, slot: usize) -> bool {
        let vecs = self.vecs();
        let versions: Option<Vec<u64>> = vecs
            .iter()
            .map(|v| v.as_ref().map(|v| v.version().0.0))
            .collect();
        let Some(versions) = versions else {
            return false;
        };
        let newest = versions.iter().copied().max().unwrap_or(0);
        versions
            .iter()
            .enumerate()
            .all(|(s, v)| s == slot || (*v > 0 && *v == newest))
    }

    fn wipe(&self, slot: usize) {
        self.disks.wipe(slot);
    }

    fn leader(&self) -> Option<usize> {
        let vecs = self.vecs();
        (0..vecs.len()).find(|s| {
            vecs[*s]
                .as_ref()
                .is_some_and(|v| v.leader() == Some(self.net.peer_id(*s)))
        })
    }
}

/// One seed of the `vec` workload.
pub async fn scenario(seed: u64, mode: Mode, active: Duration, settle_for: Duration) -> Report {
    let net = SimNet::new(seed, super::MEMBERS, Faults::default());
    let cluster = VecCluster::new(net, mode);
    for slot in 0..super::MEMBERS {
        cluster.start(slot);
    }
    let origin = Instant::now();
    let until = origin + active;
    let recorder = clients::Recorder::new(origin);
    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        let client = clients::run(id, cluster.clone(), recorder.clone(), until);
        tasks.push(tokio::spawn(client));
    }
    let faults = faults::run(cluster.clone(), until).await;
    for task in tasks {
        let _ = task.await;
    }
    let record = recorder.take();
    let mut report = Report {
        operations: record.writes.len(),
        acknowledged: record.acknowledged(),
        faults,
        ..Report::default()
    };
    let (replicas, led) = super::settle(&cluster, settle_for, |slot| {
        let items = cluster.replica(slot).map(|v| v.iter().collect());
        async move { items }
    })
    .await;
    report.fingerprint = crate::runtime::fingerprint(&record.writes, &replicas);
    report.violation = checks::exactly_once(&replicas)
        .or_else(|| checks::converged(&replicas))
        .or_else(|| checks::batches_whole(&record, &replicas));
    if report.violation.is_none() && !led {
        report.violation = Some(format!(
            "liveness: no leader within {} s of healing (every member up, no faults)",
            settle_for.as_secs()
        ));
    }
    if mode == Mode::Strict && report.violation.is_none() {
        let last = replicas.first().map_or(&[][..], |(_, v)| v.as_slice());
        report.violation = checks::acknowledged_kept(&record, last)
            .or_else(|| checks::real_time_order(&record, last));
    }
    report
}
