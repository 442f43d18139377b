//! [`SnapshotStore`]: the newest snapshot in one file, replaced atomically.
//!
//! ```text
//! snapshot: magic "MOSAIKSN" | version u32 | meta_len u32 | index u64 | data_len u64
//!           | meta | header crc u32 | data | data crc u32
//! ```
//!
//! Saving writes `snapshot.tmp`, syncs it, renames it over `snapshot` and
//! syncs the directory, so a crash leaves either the old or the new snapshot,
//! never a mix. A `snapshot` that fails its checks is therefore damage, not a
//! crash, and is reported as [`WalError::Corrupt`].

use {
    crate::{
        error::{IoContext, WalError},
        sync_dir,
    },
    crc::{CRC_32_ISCSI, Crc, Table},
    std::{
        fs::{self, File},
        io::{ErrorKind, Read, Write},
        path::{Path, PathBuf},
    },
};

static CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);
const MAGIC: [u8; 8] = *b"MOSAIKSN";
const VERSION: u32 = 1;
const FIXED: usize = 32;
const FILE: &str = "snapshot";
const TMP: &str = "snapshot.tmp";

/// Index and metadata of the stored snapshot (its data stays on disk until
/// [`Wal::load_snapshot`](crate::Wal::load_snapshot)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The last log index the snapshot covers.
    pub index: u64,
    /// The caller's metadata (e.g. term and membership at `index`).
    pub meta: Vec<u8>,
}

/// A snapshot read back from disk, checksums verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The last log index the snapshot covers.
    pub index: u64,
    /// The caller's metadata.
    pub meta: Vec<u8>,
    /// The caller's state bytes.
    pub data: Vec<u8>,
}

/// The snapshot file of one log directory.
#[derive(Debug)]
pub(crate) struct SnapshotStore {
    dir: PathBuf,
    path: PathBuf,
    current: Option<SnapshotInfo>,
}

impl SnapshotStore {
    /// Opens the directory's snapshot: removes a half-written `snapshot.tmp`
    /// and checks the header and the file length of `snapshot` (the data's
    /// checksum is verified when it is loaded, not read twice at open).
    pub(crate) fn open(dir: &Path) -> Result<Self, WalError> {
        let tmp = dir.join(TMP);
        match fs::remove_file(&tmp) {
            Ok(()) => tracing::warn!(path = %tmp.display(), "wal: removed an unfinished snapshot"),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(WalError::io("remove", tmp, e)),
        }
        let path = dir.join(FILE);
        let current = match File::open(&path) {
            Ok(mut file) => {
                let size = file.metadata().ctx("stat", &path)?.len();
                let mut fixed = [0u8; FIXED];
                file.read_exact(&mut fixed)
                    .map_err(|_| WalError::corrupt(&path, 0, "incomplete snapshot header"))?;
                let (meta_len, index, data_len) =
                    parse_fixed(&fixed).map_err(|r| WalError::corrupt(&path, 0, r))?;
                if (FIXED + meta_len + 8) as u64 > size {
                    return Err(WalError::corrupt(
                        &path,
                        12,
                        "snapshot metadata length exceeds the file",
                    ));
                }
                let mut rest = vec![0u8; meta_len + 4];
                file.read_exact(&mut rest)
                    .map_err(|_| WalError::corrupt(&path, 0, "incomplete snapshot header"))?;
                let meta =
                    check_header(&fixed, &rest).map_err(|r| WalError::corrupt(&path, 0, r))?;
                if size != (FIXED + meta_len + 8) as u64 + data_len {
                    return Err(WalError::corrupt(
                        &path,
                        size,
                        "snapshot file has the wrong length",
                    ));
                }
                Some(SnapshotInfo {
                    index,
                    meta: meta.to_vec(),
                })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(WalError::io("open", path, e)),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            path,
            current,
        })
    }

    /// The stored snapshot's index and metadata.
    pub(crate) fn info(&self) -> Option<&SnapshotInfo> {
        self.current.as_ref()
    }

    /// Durably replaces the snapshot.
    pub(crate) fn save(&mut self, index: u64, meta: &[u8], data: &[u8]) -> Result<(), WalError> {
        let meta_len = u32::try_from(meta.len())
            .map_err(|_| WalError::contract("save_snapshot", "metadata larger than 4 GiB"))?;
        let mut head = Vec::with_capacity(FIXED + meta.len() + 4);
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&meta_len.to_le_bytes());
        head.extend_from_slice(&index.to_le_bytes());
        head.extend_from_slice(&(data.len() as u64).to_le_bytes());
        head.extend_from_slice(meta);
        head.extend_from_slice(&CRC32C.checksum(&head).to_le_bytes());
        let tmp = self.dir.join(TMP);
        let mut file = File::create(&tmp).ctx("create", &tmp)?;
        file.write_all(&head).ctx("write", &tmp)?;
        file.write_all(data).ctx("write", &tmp)?;
        file.write_all(&CRC32C.checksum(data).to_le_bytes())
            .ctx("write", &tmp)?;
        file.sync_all().ctx("fsync", &tmp)?;
        drop(file);
        fs::rename(&tmp, &self.path).ctx("rename", &tmp)?;
        sync_dir(&self.dir)?;
        self.current = Some(SnapshotInfo {
            index,
            meta: meta.to_vec(),
        });
        Ok(())
    }

    /// Reads the snapshot back, verifying both checksums.
    pub(crate) fn load(&self) -> Result<Option<Snapshot>, WalError> {
        if self.current.is_none() {
            return Ok(None);
        }
        let bytes = fs::read(&self.path).ctx("read", &self.path)?;
        let corrupt =
            |offset: usize, reason: &str| WalError::corrupt(&self.path, offset as u64, reason);
        let fixed: &[u8; FIXED] = bytes
            .first_chunk()
            .ok_or_else(|| corrupt(0, "incomplete snapshot header"))?;
        let (meta_len, index, data_len) = parse_fixed(fixed).map_err(|r| corrupt(0, r))?;
        let data_at = FIXED + meta_len + 4;
        let rest = bytes
            .get(FIXED..data_at)
            .ok_or_else(|| corrupt(0, "incomplete snapshot header"))?;
        let meta = check_header(fixed, rest).map_err(|r| corrupt(0, r))?;
        let data_len =
            usize::try_from(data_len).map_err(|_| corrupt(24, "snapshot data too large"))?;
        if bytes.len() != data_at + data_len + 4 {
            return Err(corrupt(bytes.len(), "snapshot file has the wrong length"));
        }
        let data = &bytes[data_at..data_at + data_len];
        if CRC32C.checksum(data).to_le_bytes() != bytes[data_at + data_len..] {
            return Err(corrupt(data_at, "snapshot data checksum mismatch"));
        }
        Ok(Some(Snapshot {
            index,
            meta: meta.to_vec(),
            data: data.to_vec(),
        }))
    }
}

/// `(meta_len, index, data_len)` from the fixed header part.
fn parse_fixed(fixed: &[u8; FIXED]) -> Result<(usize, u64, u64), &'static str> {
    let word = |at: usize| u32::from_le_bytes(fixed[at..at + 4].try_into().expect("4 bytes"));
    let long = |at: usize| u64::from_le_bytes(fixed[at..at + 8].try_into().expect("8 bytes"));
    if fixed[..8] != MAGIC {
        return Err("not a snapshot (bad magic)");
    }
    if word(8) != VERSION {
        return Err("unsupported snapshot version");
    }
    Ok((word(12) as usize, long(16), long(24)))
}

/// Checks the header checksum; `rest` is `meta | crc`. Returns the metadata.
fn check_header<'a>(fixed: &[u8], rest: &'a [u8]) -> Result<&'a [u8], &'static str> {
    let (meta, crc) = rest.split_at(rest.len() - 4);
    let mut digest = CRC32C.digest();
    digest.update(fixed);
    digest.update(meta);
    if digest.finalize().to_le_bytes() != crc {
        return Err("snapshot header checksum mismatch");
    }
    Ok(meta)
}
