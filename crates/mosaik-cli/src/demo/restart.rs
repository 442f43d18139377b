//! The demo's restart of the killed leader: its data directories, the
//! restart from the same key and directory, and the check that the
//! restarted member holds every acknowledged write.

use {
    super::{Demo, agreed_leader, member::Ack, member::Member, start_node, summary::Restart},
    mosaik::SecretKey,
    std::{
        path::{Path, PathBuf},
        time::{Instant, SystemTime, UNIX_EPOCH},
    },
};

/// The temporary directory holding every member's data directory
/// (`m<i>`); removed when dropped.
pub struct DataDirs(PathBuf);

impl DataDirs {
    /// Creates a fresh directory under the system's temp directory.
    pub fn create() -> anyhow::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("mosaik-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for DataDirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The killed leader, running again.
pub struct Restarted {
    /// Its peer id, as the members list shows it.
    id: mosaik::PeerId,
    /// From its restart until every member, it included, followed one
    /// leader and it applied what the survivors had committed.
    rejoined: Option<core::time::Duration>,
}

impl Demo {
    /// Starts the killed leader again with the same key and data
    /// directory, writing under a new key prefix, and waits until it
    /// follows the group's leader and applied what the survivors had
    /// committed when it restarted.
    pub(super) async fn restart(&mut self, key: SecretKey, dir: PathBuf) {
        self.phase = "restarting the old leader";
        let id = key.public();
        self.event(&format!(
            "restarting {} from its data directory (same key)",
            id.fmt_short()
        ));
        let started = Instant::now();
        // What the survivors had committed: the restarted member has
        // rejoined once it follows their leader and applied that much.
        let target = self
            .members
            .iter()
            .map(|m| m.store.committed())
            .max()
            .unwrap_or_default();
        let bootstrap = self.members.first().map(|m| &m.network);
        let node = match start_node(self.network, bootstrap, key.clone(), None).await {
            Ok(node) => node,
            Err(err) => {
                self.event(&format!("the restart failed: {err}"));
                return;
            }
        };
        let mut member = Member::new(node, key, dir);
        if let Some(err) = member.store.storage_error() {
            self.event(&format!("the restarted member's store did not open: {err}"));
            return;
        }
        self.rates.remove(&id);
        member.write(format!("r{}", self.members.len()));
        self.members.push(member);
        self.phase = "restarted member rejoining";
        let rejoined = self
            .wait(|m| {
                agreed_leader(m).is_some()
                    && m.iter()
                        .any(|m| m.id() == id && m.store.committed() >= target)
            })
            .await
            .map(|_| started.elapsed());
        match rejoined {
            Some(t) => {
                let keys = self.members.last().map_or(0, |m| m.store.len());
                self.event(&format!(
                    "{} rejoined after {} ms, {keys} keys in its replica",
                    id.fmt_short(),
                    t.as_millis()
                ));
            }
            None => self.event("the restarted member did not rejoin within the timeout"),
        }
        self.restarted = Some(Restarted { id, rejoined });
    }

    /// Checks every acknowledged write (of every member and incarnation)
    /// on the restarted member.
    pub(super) fn check_restarted(&self, acks: &[Ack]) -> Option<Restart> {
        let restarted = self.restarted.as_ref()?;
        let member = self.members.iter().find(|m| m.id() == restarted.id)?;
        let lost = acks
            .iter()
            .filter(|a| member.store.get(&a.key) != Some(a.value))
            .count();
        Some(Restart {
            rejoined: restarted.rejoined,
            checked: acks.len(),
            lost,
        })
    }
}
