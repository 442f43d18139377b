//! `CollectionConfig::with_storage`: a replica kept on disk comes back
//! after its node restarts with the same key and directory; a directory
//! that does not open is reported, never replaced by memory; a reader
//! upgraded to a writer hands its open store over.

use {
    crate::{
        tmpfs::Tmpfs,
        util::{config, keyed, within},
    },
    core::time::Duration,
    mosaik::{
        Network, SecretKey,
        collections::{CollectionConfig, Error, Map, MapReader, MapWriter, SyncConfig, Vec},
        groups::StorageError,
    },
    std::path::{Path, PathBuf},
};

/// A fresh directory under the target's temp dir for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("coll-storage-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The test config on disk under `dir`, snapshotting every 10 commands
/// (so a restart restores a snapshot of a pruned log, then replays).
fn durable(dir: &Path) -> CollectionConfig {
    config()
        .with_sync(SyncConfig::default().with_compaction_threshold(10))
        .with_storage(dir)
}

/// Opens the writer of `store` on a node restarted in this process. The
/// previous node's group may still hold the directory for a moment after
/// its network shut down: the new replica takes the store over when that
/// group ends, instead of failing on the directory lock.
fn reopen(network: &Network, store: &str, dir: &Path) -> MapWriter<u64, u64> {
    let map = MapWriter::<u64, u64>::writer_with_config(network, store, durable(dir));
    assert!(map.storage_error().is_none(), "{:?}", map.storage_error());
    map
}

#[tokio::test]
async fn a_map_on_storage_comes_back_after_its_node_restarts() {
    let dir = scratch("restart");
    let key = SecretKey::generate();
    let node = keyed("coll-storage-restart", key.clone()).await;
    let map = MapWriter::<u64, u64>::writer_with_config(&node, "kept", durable(&dir));
    assert!(map.storage_error().is_none());
    within("online", map.when().online()).await;
    let mut last = None;
    for i in 0..35 {
        last = Some(within("insert", map.insert(i, i * 10)).await.unwrap());
    }
    let last = last.unwrap();
    drop(map);
    node.shutdown().await;

    let node = keyed("coll-storage-restart", key).await;
    let map = reopen(&node, "kept", &dir);
    within("restored", map.when().reaches(last)).await;
    assert_eq!(map.len(), 35);
    for i in 0..35 {
        assert_eq!(map.get(&i), Some(i * 10), "key {i} after the restart");
    }
    within("online again", map.when().online()).await;
    let next = within("insert after restart", map.insert(100, 1))
        .await
        .unwrap();
    assert!(next > last, "the log continues after {last}, got {next}");
    drop(map);
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn collections_sharing_a_base_directory_get_one_store_each() {
    let dir = scratch("shared-base");
    let node = keyed("coll-storage-base", SecretKey::generate()).await;
    let map = MapWriter::<u64, u64>::writer_with_config(&node, "a", durable(&dir));
    let vec = Vec::<u64>::writer_with_config(&node, "b", durable(&dir));
    within("map online", map.when().online()).await;
    within("vec online", vec.when().online()).await;
    within("insert", map.insert(1, 1)).await.unwrap();
    within("push", vec.push_back(1)).await.unwrap();
    let mut stores: std::vec::Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    stores.sort();
    let mut expected = vec![map.group_id().to_hex(), vec.group_id().to_hex()];
    expected.sort();
    assert_eq!(stores, expected, "one sub-directory per group id");
    drop((map, vec));
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_directory_that_does_not_open_is_reported_not_replaced_by_memory() {
    let dir = scratch("unopenable");
    // A file where the base directory should be: nothing can be created
    // under it.
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let node = keyed("coll-storage-bad", SecretKey::generate()).await;
    let map = MapWriter::<u64, u64>::writer_with_config(&node, "bad", durable(&dir));
    let err = map.storage_error().expect("the store does not open");
    assert!(err.to_string().contains("storage"), "{err}");
    match within("insert", map.insert(7, 8)).await {
        Err(Error::Storage((k, v), e)) => {
            assert_eq!((k, v), (7, 8), "the inputs come back");
            assert_eq!(e, err);
        }
        other => panic!("expected a storage error, got {other:?}"),
    }
    // The replica never runs: no leader, nothing applied.
    let online = tokio::time::timeout(Duration::from_secs(2), map.when().online()).await;
    assert!(
        online.is_err(),
        "a replica without storage never comes online"
    );
    assert!(map.is_empty());
    drop(map);
    node.shutdown().await;
    let _ = std::fs::remove_file(&dir);
}

#[tokio::test]
async fn a_reader_on_storage_hands_its_store_to_the_writer_of_its_node() {
    let dir = scratch("upgrade");
    let key = SecretKey::generate();
    let node = keyed("coll-storage-upgrade", key.clone()).await;
    let reader = MapReader::<u64, u64>::reader_with_config(&node, "up", durable(&dir));
    assert!(reader.storage_error().is_none());
    // The writer rejoins the group as a voter with the reader's open
    // store (a second open of the locked directory would fail).
    let writer = Map::<u64, u64>::writer_with_config(&node, "up", durable(&dir));
    within("online", writer.when().online()).await;
    let v = within("insert", writer.insert(1, 2)).await.unwrap();
    assert!(
        writer.storage_error().is_none(),
        "{:?}",
        writer.storage_error()
    );
    assert_eq!(reader.get(&1), Some(2));
    drop((reader, writer));
    node.shutdown().await;

    let node = keyed("coll-storage-upgrade", key).await;
    let map = reopen(&node, "up", &dir);
    within("restored", map.when().reaches(v)).await;
    assert_eq!(map.get(&1), Some(2));
    drop(map);
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A store that fails while running (its disk fills up) says why:
/// `storage_error()` names the full disk, and every write after the failure
/// is refused with `Error::Storage`, its inputs handed back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fills_its_disk_reports_it_and_hands_writes_back() {
    let name = "coll-storage-full";
    let Some(disk) = Tmpfs::mount(name, 2 << 20) else {
        eprintln!("{name}: cannot mount a tmpfs (not root): the full-disk test needs one");
        return;
    };
    let node = keyed(name, SecretKey::generate()).await;
    let map = MapWriter::<u64, std::vec::Vec<u8>>::writer_with_config(
        &node,
        "full",
        config().with_storage(disk.path().join("map")),
    );
    assert!(map.storage_error().is_none(), "{:?}", map.storage_error());
    within("online", map.when().online()).await;
    let mut written = 0;
    let failure = loop {
        match within("insert", map.insert(written, vec![7; 4096])).await {
            Ok(_) => written += 1,
            Err(err) => break err,
        }
        assert!(
            written < 5_000,
            "2 MiB fill up before 5,000 writes of 4 KiB"
        );
    };
    assert!(
        written > 20,
        "the store ran before its disk filled ({written} writes)"
    );
    // The write that met the failure finds the group stopped.
    assert!(
        matches!(failure, Error::NetworkDown | Error::Storage(..)),
        "{failure}"
    );
    let err = map.storage_error().expect("the failure is reported");
    assert!(matches!(err, StorageError::NoSpace { .. }), "{err}");
    match within("a write after the failure", map.insert(1, vec![1])).await {
        Err(Error::Storage((key, value), why)) => {
            assert_eq!((key, value), (1, vec![1]), "the inputs come back");
            assert!(matches!(why, StorageError::NoSpace { .. }), "{why}");
        }
        other => panic!("expected Error::Storage, got {other:?}"),
    }
}
