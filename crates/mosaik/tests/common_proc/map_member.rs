//! A member that replicates a `collections::Map<u64, u64>` instead of a
//! group with a custom machine (`member --map`). With `--data-dir` the
//! map's replica lives there (`CollectionConfig::with_storage`); a replica
//! whose storage does not open ends the process with exit status
//! `EXIT_STORE`, like `member.rs`. Same protocol with the test: every
//! written value `v` is inserted as `v → v` and acknowledged with the
//! version the insert returned; `dump` lists the keys in ascending order
//! (a map has no apply order), those whose value is not the key left out.

use {
    crate::{
        member::{
            Args, RETRY_PAUSE, Replica, WRITE_TIMEOUT, answer, consensus, refuse, start_network,
        },
        protocol::{Dump, Status, encode_value},
    },
    mosaik::{
        PeerId, StoreId,
        collections::{CollectionConfig, MapWriter, SyncConfig},
    },
    std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

/// The store every map member replicates.
const STORE: &str = "durability-test-map";

/// Commands between two snapshots of the map (the default is 2000): low,
/// so the scenario's restarts restore a stored snapshot of a pruned log.
pub const COMPACTION: u64 = 50;

/// Runs a map member until stdin closes (or the test kills it).
pub async fn serve(args: Args) {
    let network = start_network(&args).await;
    let mut config = CollectionConfig::default()
        .with_consensus(consensus(args.strict))
        .with_sync(SyncConfig::default().with_compaction_threshold(COMPACTION));
    if let Some(dir) = &args.data_dir {
        config = config.with_storage(dir);
    }
    let map: MapWriter<u64, u64> =
        MapWriter::writer_with_config(&network, StoreId::from(STORE), config);
    if let (Some(err), Some(dir)) = (map.storage_error(), &args.data_dir) {
        refuse(&args, dir, &err);
    }
    let map = Arc::new(map);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write(
        map.clone(),
        args.index,
        args.incarnation,
        stop.clone(),
    ));
    let replica = MapReplica {
        map,
        me: network.local().id(),
    };
    answer(args.index, &replica, stop, writer).await;
}

/// Inserts globally unique values one at a time until `stop`, printing an
/// `ack` line for each insert that returned a version.
async fn write(map: Arc<MapWriter<u64, u64>>, index: u64, incarnation: u64, stop: Arc<AtomicBool>) {
    let mut seq = 0;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let value = encode_value(index, incarnation, seq);
        match tokio::time::timeout(WRITE_TIMEOUT, map.insert(value, value)).await {
            Ok(Ok(version)) => println!("ack {value} {}", version.0.get()),
            Ok(Err(_)) | Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
        }
    }
}

struct MapReplica {
    map: Arc<MapWriter<u64, u64>>,
    me: PeerId,
}

impl Replica for MapReplica {
    fn status(&self) -> Status {
        let leader = self.map.leader();
        Status {
            committed: self.map.version().0.get(),
            is_leader: leader == Some(self.me),
            leader: leader.map(|l| l.to_string()),
        }
    }

    async fn dump(&self) -> Dump {
        let committed = self.map.version().0.get();
        let mut applied: Vec<u64> = self
            .map
            .iter()
            .filter(|(k, v)| k == v)
            .map(|(k, _)| k)
            .collect();
        applied.sort_unstable();
        Dump { committed, applied }
    }
}
