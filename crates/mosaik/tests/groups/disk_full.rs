//! A full disk: a durable group on a tiny tmpfs writes until the device is
//! full, then stops with a clear error on every handle, and every write it
//! acknowledged is on the disk (nothing that was not durable was
//! acknowledged).
//!
//! Mounting a tmpfs needs root (CI and the development machine run as
//! root). Elsewhere the test says so on stderr and checks nothing else.

use {
    crate::{
        tmpfs::Tmpfs,
        util::{fast, keyed, timing, within},
    },
    mosaik::{
        UniqueId,
        groups::{
            ApplyContext, CommandError, DurableStore, GroupKey, LogEntry, LogIndex, LogReplaySync,
            Payload, StateMachine, Storage, StorageError, WalOptions,
        },
        iroh::SecretKey,
    },
    std::path::{Path, PathBuf},
};

/// Size of the tmpfs: room for a few hundred entries of [`BLOB`] bytes.
const DISK_BYTES: u64 = 1 << 20;
/// Bytes per command.
const BLOB: usize = 4 << 10;
/// More writes than fit on the disk.
const MAX_WRITES: usize = 2_000;

/// A machine that counts the blobs it applied.
#[derive(Debug, Default)]
struct Blobs(u64);

impl StateMachine for Blobs {
    type Command = Vec<u8>;
    type Query = ();
    type QueryResult = u64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("test-disk-full-blobs-v1")
    }

    fn apply(&mut self, _: Vec<u8>, _: &dyn ApplyContext) {
        self.0 += 1;
    }

    fn query(&self, (): ()) -> u64 {
        self.0
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}

/// The blob written as the `n`th command: its first bytes say which.
fn blob(n: usize) -> Vec<u8> {
    let mut bytes = vec![0xab; BLOB];
    bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
    bytes
}

/// Copies the files of `from` into a fresh directory on the normal disk.
fn copy_dir(from: &Path, name: &str) -> PathBuf {
    let to = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-storage")
        .join(format!("{name}-{}-copy", std::process::id()));
    let _ = std::fs::remove_dir_all(&to);
    copy_tree(from, &to);
    to
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("copy dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_group_with_a_clear_error_and_loses_no_acknowledged_write() {
    let name = "groups-disk-full";
    let Some(disk) = Tmpfs::mount(name, DISK_BYTES) else {
        eprintln!("{name}: cannot mount a tmpfs (not root): the full-disk test needs one");
        return;
    };
    let options = WalOptions::default().with_segment_bytes(256 << 10);
    let store = DurableStore::<Vec<u8>>::open_with(disk.path().join("member"), options)
        .expect("opens on the empty tmpfs");
    let net = keyed(name, fast(), SecretKey::generate()).await;
    let group = net
        .groups()
        .with_key(GroupKey::from_secret("disk-full"))
        .with_state_machine(Blobs::default())
        .with_log_storage(store)
        .with_consensus_config(timing())
        .join();
    let other_handle = group.clone();
    within("leader", group.when().leader_elected()).await;

    let mut acknowledged = Vec::new();
    let mut failure = None;
    for n in 0..MAX_WRITES {
        match within("execute", group.execute(blob(n))).await {
            Ok(index) => acknowledged.push((index, n)),
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    let failure = failure.expect("the tmpfs fills up before MAX_WRITES blobs");
    assert!(
        matches!(failure, CommandError::GroupTerminated),
        "the group stopped: {failure}"
    );
    assert!(
        acknowledged.len() > 50,
        "{} writes fit on {DISK_BYTES} bytes",
        acknowledged.len()
    );
    // A clear error on every handle.
    for handle in [&group, &other_handle] {
        let err = handle
            .storage_error()
            .expect("the storage error is reported");
        assert!(
            matches!(err, StorageError::NoSpace { .. }),
            "a full disk is reported as such: {err}"
        );
        assert!(err.to_string().contains("no space left"), "{err}");
        let later = within("execute after the stop", handle.execute(blob(0))).await;
        assert!(matches!(later, Err(CommandError::GroupTerminated)));
    }
    drop(group);
    drop(other_handle);
    drop(net);

    // Every acknowledged write is durable: open a copy of the directory on a
    // disk with room (the full tmpfs leaves none to open with).
    let copy = copy_dir(&disk.path().join("member"), name);
    let store = within("the store's lock", async {
        loop {
            match DurableStore::<Vec<u8>>::open(&copy) {
                Ok(store) => return store,
                Err(StorageError::Io { detail, .. }) if detail.contains("locked") => {
                    tokio::time::sleep(core::time::Duration::from_millis(20)).await;
                }
                Err(err) => panic!("the full store reopens: {err}"),
            }
        }
    })
    .await;
    for &(index, n) in &acknowledged {
        let at = LogIndex(index.0);
        let entry = store.get(at).expect("reads").unwrap_or_else(|| {
            panic!("acknowledged write {n} at {at} is missing after the disk filled")
        });
        let LogEntry { payload, .. } = entry;
        assert!(
            matches!(&payload, Payload::Command(bytes) if *bytes == blob(n)),
            "the entry at {at} is write {n}"
        );
    }
    println!(
        "{name}: {} writes acknowledged before the disk filled, all on disk",
        acknowledged.len()
    );
    drop(store);
    let _ = std::fs::remove_dir_all(copy);
}
