//! The etcd side of B1/B2 and B6: a 3-member etcd cluster on loopback
//! (Debian's `etcd-server`; data on tmpfs so its fsyncs cost about what
//! our in-memory log does, or on a disk directory for the durable B1), to
//! which B6 adds a learner, driven through its HTTP/JSON gateway with a
//! minimal keep-alive HTTP/1.1 client (no gRPC stack to build). The gateway adds a
//! JSON translation on etcd's side, so its figures here are a little below
//! what native gRPC clients would see; say so when reporting.

mod http;

pub use http::Http;

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running etcd cluster (3 members, and a learner when one is added);
/// every member is killed (SIGKILL) and its data removed on drop.
pub struct Cluster {
    members: Vec<Option<Child>>,
    /// Client address of each member.
    pub clients: Vec<SocketAddr>,
    /// `name=peer URL` of each member, for `--initial-cluster`.
    peers: Vec<String>,
    /// Flags every member is started with, beyond the addresses.
    extra: Vec<String>,
    name: String,
    dir: PathBuf,
}

/// The ports of a learner added to the cluster but not started yet.
pub struct Learner {
    client: u16,
    peer: u16,
    metrics: u16,
}

/// A loopback TCP port nothing listens on right now (the OS picks it; the
/// probe socket is closed before the caller's process binds it). Shared
/// by every peer the bench starts on a port of its own.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    /// Starts 3 members with their data on tmpfs (`/dev/shm`).
    pub async fn start(name: &str) -> anyhow::Result<Self> {
        Self::start_in(name, Path::new("/dev/shm")).await
    }

    /// Starts 3 members (etcd's default timing: heartbeat 100 ms, election
    /// 1 s) with their data directories under `base`, and waits until every
    /// one answers a status request.
    pub async fn start_in(name: &str, base: &Path) -> anyhow::Result<Self> {
        Self::start_with(name, base, &[]).await
    }

    /// [`Cluster::start_in`], every member also started with `extra` flags.
    pub async fn start_with(name: &str, base: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        let dir = base.join(format!("mosaik-bench-etcd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let ports: Vec<(u16, u16)> = (0..3)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<anyhow::Result<_>>()?;
        let mut cluster = Self {
            members: Vec::new(),
            clients: Vec::new(),
            peers: ports
                .iter()
                .enumerate()
                .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
                .collect(),
            extra: extra.iter().map(ToString::to_string).collect(),
            name: name.to_string(),
            dir,
        };
        for (i, (client, peer)) in ports.into_iter().enumerate() {
            cluster.spawn(i, client, peer, "new", &[])?;
        }
        for i in 0..3 {
            cluster.wait_ready(i, Duration::from_secs(30)).await?;
        }
        Ok(cluster)
    }

    /// Starts member `i` on its ports (`state` is etcd's
    /// `--initial-cluster-state`: `new` or `existing`) with `more` flags.
    fn spawn(
        &mut self,
        i: usize,
        client: u16,
        peer: u16,
        state: &str,
        more: &[String],
    ) -> anyhow::Result<()> {
        let child = Command::new("etcd")
            .args(["--name", &format!("m{i}")])
            .arg("--data-dir")
            .arg(self.dir.join(format!("m{i}")))
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args([
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
            ])
            .args(["--initial-cluster", &self.peers.join(",")])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", &self.name])
            .args(["--log-level", "error"])
            .args(&self.extra)
            .args(more)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting etcd (apt-get install etcd-server): {e}"))?;
        self.members.push(Some(child));
        self.clients
            .push(SocketAddr::from(([127, 0, 0, 1], client)));
        Ok(())
    }

    /// Waits until member `i` answers a status request naming a leader.
    async fn wait_ready(&self, i: usize, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let ready = match Http::connect(self.clients[i]).await {
                Ok(mut http) => http
                    .status()
                    .await
                    .is_ok_and(|(_, l)| !l.is_empty() && l != "0"),
                Err(_) => false,
            };
            if ready {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "etcd member {i} did not start within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Adds a learner (a non-voting member, etcd's way to bring in a new
    /// member without touching the quorum) through the member at `via`.
    /// etcd refuses a new member until every member has been connected for
    /// 5 s (its strict reconfiguration check), so a refusal for an
    /// unhealthy cluster is retried for up to 30 s. Start it with
    /// [`Cluster::start_learner`].
    pub async fn add_learner(&mut self, via: SocketAddr) -> anyhow::Result<Learner> {
        let learner = Learner {
            client: free_port()?,
            peer: free_port()?,
            metrics: free_port()?,
        };
        let url = format!("http://127.0.0.1:{}", learner.peer);
        let body = format!("{{\"peerURLs\":[\"{url}\"],\"isLearner\":true}}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, reply) = Http::connect(via)
                .await?
                .post("/v3/cluster/member/add", &body)
                .await?;
            if status == 200 {
                break;
            }
            let reply = String::from_utf8_lossy(&reply);
            anyhow::ensure!(
                reply.contains("unhealthy cluster") && Instant::now() < deadline,
                "adding a learner failed: {status} {reply}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.peers.push(format!("m{}={url}", self.members.len()));
        Ok(learner)
    }

    /// Starts an added learner; it starts empty and catches up from the
    /// leader. Returns the address of its metrics listener: its client
    /// port opens only once it has published itself to the cluster (a
    /// raft round that may wait out a 7 s request timeout, after the data
    /// has arrived), while the metrics port answers from the start.
    pub fn start_learner(&mut self, learner: &Learner) -> anyhow::Result<SocketAddr> {
        let more = [
            "--listen-metrics-urls".to_string(),
            format!("http://127.0.0.1:{}", learner.metrics),
        ];
        let i = self.members.len();
        self.spawn(i, learner.client, learner.peer, "existing", &more)?;
        Ok(SocketAddr::from(([127, 0, 0, 1], learner.metrics)))
    }

    /// Index of the current leader.
    pub async fn leader(&self) -> anyhow::Result<usize> {
        let mut ids = Vec::new();
        let mut leader = String::new();
        for addr in &self.clients {
            let (me, l) = Http::connect(*addr).await?.status().await?;
            ids.push(me);
            leader = l;
        }
        ids.iter()
            .position(|id| *id == leader)
            .ok_or_else(|| anyhow::anyhow!("no leader among {ids:?}"))
    }

    /// SIGKILLs member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
