//! Catch-up: a late joiner receives a 100,000-entry map by snapshot while
//! writes continue.

use {
    crate::util::{cluster, config, joiner, within},
    core::sync::atomic::{AtomicBool, Ordering},
    mosaik::collections::{CollectionConfig, MapReader, MapWriter, SyncConfig},
    std::sync::Arc,
};

const ENTRIES: u64 = 100_000;
const BATCH: u64 = 100;

fn snapshotting() -> CollectionConfig {
    // Compact every 300 commands: the 1,000 commands of the fill are long
    // pruned when the joiner arrives, so it must take a snapshot, and the
    // entries after a snapshot stay available long enough to follow it.
    config().with_sync(SyncConfig::default().with_compaction_threshold(300))
}

/// Inserts `key → value(key)` from `first` on until `stop`, sleeping
/// `pace` between writes (none: as fast as commits go); returns the next
/// key.
fn keep_writing(
    writer: &MapWriter<u64, u64>,
    stop: &Arc<AtomicBool>,
    first: u64,
    value: fn(u64) -> u64,
    pace: Option<core::time::Duration>,
) -> tokio::task::JoinHandle<u64> {
    let (writer, stop) = (writer.clone(), stop.clone());
    tokio::spawn(async move {
        let mut key = first;
        while !stop.load(Ordering::Relaxed) {
            writer
                .insert(key, value(key))
                .await
                .expect("write during catch-up");
            key += 1;
            if let Some(pace) = pace {
                // Pacing, not a wait for a condition: the rate is the point.
                tokio::time::sleep(pace).await;
            }
        }
        key
    })
}

#[tokio::test]
async fn late_joiner_catches_up_a_large_map_while_writes_continue() {
    let nodes = cluster("coll-sync", 1).await;
    let writer = MapWriter::<u64, u64>::writer_with_config(&nodes[0], "big", snapshotting());
    within("online", writer.when().online()).await;
    for start in (0..ENTRIES).step_by(usize::try_from(BATCH).unwrap()) {
        within(
            "extend",
            writer.extend((start..start + BATCH).map(|k| (k, k * 2))),
        )
        .await
        .unwrap();
    }
    assert_eq!(writer.len() as u64, ENTRIES);

    // Writes keep coming while the joiner catches up.
    let stop = Arc::new(AtomicBool::new(false));
    // Pacing (not a wait for a condition): a steady write rate.
    let pace = Some(core::time::Duration::from_millis(5));
    let background = keep_writing(&writer, &stop, ENTRIES, |k| k * 2, pace);

    let late = joiner("coll-sync", &nodes[0]).await;
    let reader = MapReader::<u64, u64>::reader_with_config(&late, "big", snapshotting());
    // The joiner reaches a version committed after it joined.
    let target = within("a write after the join", async {
        let next = writer.when().updated();
        next.await
    })
    .await;
    within("catch-up", reader.when().reaches(target)).await;
    assert!(reader.len() as u64 >= ENTRIES);
    stop.store(true, Ordering::Relaxed);
    let written = within("background", background).await.unwrap();
    assert!(written > ENTRIES, "writes continued during the catch-up");

    // Converged: the reader holds exactly the writer's entries.
    let end = writer.version();
    within("final", reader.when().reaches(end)).await;
    assert_eq!(reader.len(), writer.len());
    for key in [0, 1, ENTRIES / 2, ENTRIES - 1, written - 1] {
        assert_eq!(reader.get(&key), Some(key * 2), "key {key}");
    }
}

/// Snapshots due faster than one can be digested (an anchor every 10
/// commands of unpaced writes, 20,000 items each) must not keep a joiner
/// waiting forever. Members used to digest every anchor as it was taken:
/// each digest ended after its snapshot had expired, no snapshot was ever
/// offered, and the joiner chased without end (B6 at 100,000 entries). A
/// digest now runs for a peer that asked, on a snapshot pinned for it.
#[tokio::test]
async fn joiner_catches_up_when_anchors_outpace_digests() {
    const ITEMS: u64 = 20_000;
    let fast = || config().with_sync(SyncConfig::default().with_compaction_threshold(10));
    let nodes = cluster("coll-sync-fast", 1).await;
    let writer = MapWriter::<u64, u64>::writer_with_config(&nodes[0], "fast", fast());
    within("online", writer.when().online()).await;
    for start in (0..ITEMS).step_by(1000) {
        within(
            "extend",
            writer.extend((start..start + 1000).map(|k| (k, k))),
        )
        .await
        .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let background = keep_writing(&writer, &stop, ITEMS, |k| k, None);
    let late = joiner("coll-sync-fast", &nodes[0]).await;
    let reader = MapReader::<u64, u64>::reader_with_config(&late, "fast", fast());
    let target = within("a write after the join", writer.when().updated()).await;
    within("catch-up", reader.when().reaches(target)).await;
    stop.store(true, Ordering::Relaxed);
    let written = within("background", background).await.unwrap();
    assert!(
        written > ITEMS + 10,
        "anchors kept coming during the catch-up"
    );
    within("final", reader.when().reaches(writer.version())).await;
    assert_eq!(reader.len(), writer.len());
    assert_eq!(reader.get(&(ITEMS - 1)), Some(ITEMS - 1));
}
