//! Outgoing catalog syncs and RTT probes: two bounded queues, each worked
//! off by a fixed pool of tasks of its own.
//!
//! Every peer we hear of is synced once; a snapshot full of fresh entries
//! used to spawn one task per new peer (a Sybil flood of 10,000 entries made
//! 10,000 tasks). Now a full queue drops the job (the peer is marked
//! unsynced, so a later contact retries) and at most
//! [`MAX_CONCURRENT_SYNCS`] syncs and [`MAX_CONCURRENT_PROBES`] probes run
//! at once. Probes have their own queue and tasks because every signed
//! entry is probed each round, and an entry whose peer never answers holds
//! its task for the whole exchange timeout: a few hundred such entries (one
//! signature each, cheap for an attacker) kept a shared pool busy and made
//! it drop the first-contact syncs it exists for.

use {
    super::{handle::Shared, protocols},
    crate::primitives::ShortFmtExt,
    iroh::EndpointAddr,
    std::sync::Arc,
    tokio::sync::{Mutex, mpsc},
};

/// Most first-contact syncs running at once.
pub(crate) const MAX_CONCURRENT_SYNCS: usize = 16;

/// Most RTT probes running at once.
pub(crate) const MAX_CONCURRENT_PROBES: usize = 8;

/// One unit of outgoing discovery work.
#[derive(Debug)]
pub(crate) enum Job {
    /// A first-contact catalog sync.
    Sync(EndpointAddr),
    /// An RTT probe (ping), merging the fresh entry it returns.
    Probe(EndpointAddr),
}

/// Starts `tasks` tasks working off `rx`; they stop when the network shuts
/// down.
pub(crate) fn spawn_pool(shared: &Arc<Shared>, rx: mpsc::Receiver<Job>, tasks: usize) {
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..tasks {
        let (shared, rx) = (shared.clone(), rx.clone());
        tokio::spawn(async move {
            loop {
                let job = tokio::select! {
                    () = shared.local.termination().cancelled() => break,
                    job = async { rx.lock().await.recv().await } => job,
                };
                let Some(job) = job else { break };
                run(&shared, job).await;
            }
        });
    }
}

async fn run(shared: &Shared, job: Job) {
    match job {
        Job::Sync(addr) => {
            let peer = addr.id;
            if let Err(err) = protocols::sync_with(shared, addr).await {
                tracing::debug!(peer = %peer.fmt_short(), error = %err, "catalog sync failed");
                let net = shared.local.network_id().short().to_string();
                metrics::counter!("mosaik.discovery.catalog.syncs.failed", "network" => net)
                    .increment(1);
                // Allow another attempt on the next contact.
                shared.synced.lock().expect("synced lock").remove(&peer);
            }
        }
        Job::Probe(addr) => {
            if let Ok((entry, _)) = protocols::ping(shared, addr).await {
                shared.merge(entry);
            }
        }
    }
}

/// Queues a first-contact sync; a full queue forgets the contact so the
/// next one retries.
pub(crate) fn sync(shared: &Shared, addr: EndpointAddr) {
    let peer = addr.id;
    if shared.jobs.try_send(Job::Sync(addr)).is_err() {
        shared.synced.lock().expect("synced lock").remove(&peer);
        count_dropped(shared);
    }
}

/// Queues an RTT probe; a full queue skips it (the next round probes
/// again).
pub(crate) fn probe(shared: &Shared, addr: EndpointAddr) {
    if shared.probes.try_send(Job::Probe(addr)).is_err() {
        count_dropped(shared);
    }
}

fn count_dropped(shared: &Shared) {
    let net = shared.local.network_id().short().to_string();
    metrics::counter!("mosaik.discovery.jobs.dropped", "network" => net).increment(1);
}
