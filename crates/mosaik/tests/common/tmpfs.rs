//! A small tmpfs mounted for one test (a disk that fills up), shared by
//! the test binaries that include this file by path.
//!
//! Mounting needs root (CI and the development machine run as root);
//! `mount` returns `None` elsewhere and the caller says so and skips.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// A tmpfs mounted for the test, unmounted on drop.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts `bytes` of tmpfs on a fresh directory; `None` if this process
    /// may not mount.
    pub fn mount(name: &str, bytes: u64) -> Option<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/test-storage")
            .join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|status| status.success());
        if mounted {
            Some(Self(dir))
        } else {
            let _ = std::fs::remove_dir(&dir);
            None
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}
