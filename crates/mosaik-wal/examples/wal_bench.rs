//! Measures the WAL where it matters for consensus: the latency of one
//! batch made durable (`append` + `sync`), and how long a restart takes.
//!
//! ```text
//! cargo run --release -p mosaik-wal --example wal_bench -- [DIR] [--iters N]
//!     [--recovery-entries N] [--cold]
//! cargo run --release -p mosaik-wal --features redb-compare --example wal_bench -- ...
//! ```
//!
//! `DIR` defaults to the system temp dir unless that is a tmpfs (a RAM disk
//! measures nothing), then the current directory. `--cold` drops the page
//! cache (root only) before each recovery, so it reads from the disk.

use {
    mosaik_wal::{Wal, WalOptions},
    std::{
        fs::{self, File},
        io::Write,
        path::{Path, PathBuf},
        time::{Duration, Instant},
    },
};

const ENTRY: usize = 1024;
const BATCHES: [usize; 3] = [1, 16, 256];

struct Args {
    dir: PathBuf,
    iters: usize,
    recovery_entries: u64,
    cold: bool,
}

fn main() {
    let args = parse_args();
    let root = args.dir.join(format!("wal-bench-{}", std::process::id()));
    fs::create_dir_all(&root).expect("create the bench directory");
    println!("directory: {} ({})", root.display(), fs_type(&root));

    // The contenders take turns commit by commit, so a burst of disk load
    // from elsewhere on the machine hits them alike.
    for batch in BATCHES {
        let mut contenders = vec![raw_file(&root, batch), wal(&root, batch)];
        #[cfg(feature = "redb-compare")]
        contenders.push(redb_compare::commits(&root, batch));
        let mut samples = vec![Vec::with_capacity(args.iters); contenders.len()];
        for _ in 0..args.iters {
            for (contender, samples) in contenders.iter_mut().zip(&mut samples) {
                samples.push((contender.commit)());
            }
        }
        for (contender, samples) in contenders.into_iter().zip(samples) {
            println!("{:<34} {}", contender.name, summary(samples, batch));
        }
    }
    wal_recovery(&root.join("wal-recovery"), args.recovery_entries, args.cold);

    #[cfg(feature = "redb-compare")]
    redb_compare::recovery(
        &root.join("redb-recovery"),
        args.recovery_entries,
        args.cold,
    );
    #[cfg(not(feature = "redb-compare"))]
    println!("(redb comparison: rerun with --features redb-compare)");

    fs::remove_dir_all(&root).expect("remove the bench directory");
}

fn parse_args() -> Args {
    let mut args = Args {
        dir: default_dir(),
        iters: 300,
        recovery_entries: 1_000_000,
        cold: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--iters" => args.iters = usize::try_from(value("--iters")).expect("fits"),
            "--recovery-entries" => args.recovery_entries = value("--recovery-entries"),
            "--cold" => args.cold = true,
            dir if !dir.starts_with('-') => args.dir = PathBuf::from(dir),
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

/// The temp dir, unless it is a RAM disk.
fn default_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    if matches!(fs_type(&tmp).as_str(), "tmpfs" | "ramfs") {
        std::env::current_dir().expect("current directory")
    } else {
        tmp
    }
}

/// The filesystem type of the longest mount point containing `path`.
fn fs_type(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind.to_owned()))
        })
        .max()
        .map_or_else(|| "unknown".into(), |(_, kind)| kind)
}

/// Something that makes a batch of `batch` 1 KiB entries durable per call.
struct Contender {
    name: String,
    commit: Box<dyn FnMut() -> Duration>,
}

/// The physical floor: the batch's bytes appended to a plain file, one
/// `fdatasync`.
fn raw_file(root: &Path, batch: usize) -> Contender {
    let mut file = File::create(root.join(format!("raw-{batch}"))).expect("create");
    let bytes = vec![7u8; ENTRY * batch];
    Contender {
        name: format!("raw write {batch:>3} KiB + fdatasync"),
        commit: Box::new(move || {
            let start = Instant::now();
            file.write_all(&bytes).expect("write");
            file.sync_data().expect("fdatasync");
            start.elapsed()
        }),
    }
}

fn wal(root: &Path, batch: usize) -> Contender {
    let (mut wal, _) =
        Wal::open(root.join(format!("wal-{batch}")), WalOptions::default()).expect("open");
    let entries = vec![vec![0x5au8; ENTRY]; batch];
    let mut next = 1;
    Contender {
        name: format!("wal append {batch:>3} x 1 KiB + sync"),
        commit: Box::new(move || {
            let start = Instant::now();
            wal.append(next, &entries).expect("append");
            wal.sync().expect("sync");
            next += batch as u64;
            start.elapsed()
        }),
    }
}

fn wal_recovery(dir: &Path, entries: u64, cold: bool) {
    let (mut wal, _) = Wal::open(dir, WalOptions::default()).expect("open");
    let batch = vec![vec![0xa5u8; ENTRY]; 1024];
    let start = Instant::now();
    let mut next = 1;
    while next <= entries {
        let n = usize::try_from((entries + 1 - next).min(1024)).expect("fits");
        wal.append(next, &batch[..n]).expect("append");
        wal.sync().expect("sync");
        next += n as u64;
    }
    let written = start.elapsed();
    drop(wal);
    println!(
        "{:<34} {:>8.2} s ({:.0} MiB/s)",
        format!("wal write {entries} x 1 KiB (1024/sync)"),
        written.as_secs_f64(),
        mib(entries) / written.as_secs_f64()
    );
    for pass in recovery_passes(cold) {
        let start = Instant::now();
        let (wal, recovered) = Wal::open(dir, WalOptions::default()).expect("reopen");
        let opened = start.elapsed();
        assert_eq!(recovered.last_index, entries);
        let start = Instant::now();
        let mut read = 0u64;
        for from in (1..=entries).step_by(4096) {
            read += wal.entries(from..from + 4096).expect("read").len() as u64;
        }
        assert_eq!(read, entries);
        println!(
            "{:<34} {:>8.3} s open, {:.3} s reading every entry back",
            format!("wal recovery, {pass}"),
            opened.as_secs_f64(),
            start.elapsed().as_secs_f64()
        );
    }
    fs::remove_dir_all(dir).expect("remove");
}

/// "warm cache", and "cold cache" when asked for and possible.
fn recovery_passes(cold: bool) -> impl Iterator<Item = &'static str> {
    ["warm cache", "cold cache"]
        .into_iter()
        .enumerate()
        .filter(move |&(i, _)| i == 0 || (cold && drop_caches()))
        .map(|(_, name)| name)
}

fn drop_caches() -> bool {
    let dropped = fs::write("/proc/sys/vm/drop_caches", "3").is_ok();
    if !dropped {
        println!("(cannot drop the page cache: not root?)");
    }
    dropped
}

fn mib(entries: u64) -> f64 {
    f64::from(u32::try_from(entries).expect("fits"))
        * f64::from(u32::try_from(ENTRY).expect("fits"))
        / f64::from(1 << 20)
}

/// `p50 p99 mean` of commit latency plus entries per second.
fn summary(mut samples: Vec<Duration>, batch: usize) -> String {
    samples.sort_unstable();
    let n = samples.len();
    let pick = |q: usize| samples[(n * q / 100).min(n - 1)];
    let total: Duration = samples.iter().sum();
    let mean = total / u32::try_from(n).expect("fits");
    let rate = f64::from(u32::try_from(n * batch).expect("fits")) / total.as_secs_f64();
    format!(
        "p50 {:>7.3} ms  p99 {:>7.3} ms  mean {:>7.3} ms  {:>9.0} entries/s",
        ms(pick(50)),
        ms(pick(99)),
        ms(mean),
        rate
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(feature = "redb-compare")]
mod redb_compare {
    //! The same measurements against redb (copy-on-write B-tree, one
    //! `commit` per batch with the default `Durability::Immediate`).

    use {
        super::{Contender, ENTRY, mib, ms, recovery_passes},
        redb::{Database, ReadableDatabase, TableDefinition},
        std::{fs, path::Path, time::Instant},
    };

    const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");

    /// One redb write transaction per batch.
    pub(super) fn commits(root: &Path, batch: usize) -> Contender {
        let db = Database::create(root.join(format!("redb-{batch}"))).expect("create");
        let value = vec![0x5au8; ENTRY];
        let mut next = 1u64;
        Contender {
            name: format!("redb insert {batch:>3} x 1 KiB + commit"),
            commit: Box::new(move || {
                let start = Instant::now();
                let txn = db.begin_write().expect("begin");
                {
                    let mut table = txn.open_table(LOG).expect("table");
                    for i in 0..batch as u64 {
                        table.insert(next + i, value.as_slice()).expect("insert");
                    }
                }
                txn.commit().expect("commit");
                next += batch as u64;
                start.elapsed()
            }),
        }
    }

    pub(super) fn recovery(path: &Path, entries: u64, cold: bool) {
        let db = Database::create(path).expect("create");
        let value = vec![0xa5u8; ENTRY];
        let start = Instant::now();
        let mut next = 1u64;
        while next <= entries {
            let txn = db.begin_write().expect("begin");
            {
                let mut table = txn.open_table(LOG).expect("table");
                while next <= entries {
                    table.insert(next, value.as_slice()).expect("insert");
                    next += 1;
                    if next % 1024 == 1 {
                        break;
                    }
                }
            }
            txn.commit().expect("commit");
        }
        let written = start.elapsed();
        drop(db);
        println!(
            "{:<34} {:>8.2} s ({:.0} MiB/s), file {} MiB",
            format!("redb write {entries} x 1 KiB (1024/commit)"),
            written.as_secs_f64(),
            mib(entries) / written.as_secs_f64(),
            fs::metadata(path).expect("stat").len() >> 20
        );
        for pass in recovery_passes(cold) {
            let start = Instant::now();
            let db = Database::open(path).expect("open");
            let opened = start.elapsed();
            let start = Instant::now();
            let txn = db.begin_read().expect("read");
            let table = txn.open_table(LOG).expect("table");
            let mut read = 0u64;
            for row in table.range(1..=entries).expect("range") {
                let (_, value) = row.expect("row");
                read += u64::from(value.value().len() == ENTRY);
            }
            assert_eq!(read, entries);
            println!(
                "{:<34} {:>8.3} s open, {:.3} s reading every entry back ({:.3} ms to open)",
                format!("redb open, {pass}"),
                opened.as_secs_f64(),
                start.elapsed().as_secs_f64(),
                ms(opened)
            );
        }
        fs::remove_file(path).expect("remove");
    }
}
