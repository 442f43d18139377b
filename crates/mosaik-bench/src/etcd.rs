//! The etcd side of B1/B2: a 3-member etcd cluster on loopback (Debian's
//! `etcd-server`; data on tmpfs so its fsyncs cost about what our in-memory
//! log does, or on a disk directory for the durable B1), driven through its HTTP/JSON gateway with a minimal
//! keep-alive HTTP/1.1 client (no gRPC stack to build). The gateway adds a
//! JSON translation on etcd's side, so its figures here are a little below
//! what native gRPC clients would see; say so when reporting.

use {
    base64::{Engine as _, engine::general_purpose::STANDARD as B64},
    std::{
        net::{SocketAddr, TcpListener},
        path::{Path, PathBuf},
        process::{Child, Command, Stdio},
        time::{Duration, Instant},
    },
    tokio::{
        io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
        net::TcpStream,
    },
};

/// One HTTP/1.1 connection to an etcd member.
pub struct Http {
    stream: BufReader<TcpStream>,
    host: SocketAddr,
}

impl Http {
    /// Connects to `host`.
    pub async fn connect(host: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            host,
        })
    }

    /// POSTs a JSON body; returns the status and the response body.
    pub async fn post(&mut self, path: &str, body: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("bad status line {line:?}"))?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let header = line.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(v) = header.strip_prefix("content-length:") {
                length = v.trim().parse()?;
            }
            if header.starts_with("transfer-encoding:") && header.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16)?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok((status, body))
    }

    /// One put of `key` = `value` (committed by the cluster when it returns).
    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        let body = format!(
            "{{\"key\":\"{}\",\"value\":\"{}\"}}",
            B64.encode(key),
            B64.encode(value)
        );
        let (status, reply) = self.post("/v3/kv/put", &body).await?;
        anyhow::ensure!(
            status == 200,
            "put failed: {status} {}",
            String::from_utf8_lossy(&reply)
        );
        Ok(())
    }

    /// The member's own id and the leader's id, as etcd reports them.
    pub async fn status(&mut self) -> anyhow::Result<(String, String)> {
        let (status, body) = self.post("/v3/maintenance/status", "{}").await?;
        anyhow::ensure!(status == 200, "status failed: {status}");
        let json: serde_json::Value = serde_json::from_slice(&body)?;
        let me = json["header"]["member_id"].as_str().unwrap_or_default();
        let leader = json["leader"].as_str().unwrap_or_default();
        Ok((me.to_string(), leader.to_string()))
    }
}

/// A running 3-member etcd cluster; killed (SIGKILL) and removed on drop.
pub struct Cluster {
    members: Vec<Option<Child>>,
    /// Client address of each member.
    pub clients: Vec<SocketAddr>,
    dir: PathBuf,
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
        let dir = base.join(format!("mosaik-bench-etcd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let ports: Vec<(u16, u16)> = (0..3)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<anyhow::Result<_>>()?;
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        let mut members = Vec::new();
        let mut clients = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let child = Command::new("etcd")
                .args(["--name", &format!("m{i}")])
                .arg("--data-dir")
                .arg(dir.join(format!("m{i}")))
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
                .args(["--initial-cluster", &initial.join(",")])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", name])
                .args(["--log-level", "error"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| anyhow::anyhow!("starting etcd (apt-get install etcd-server): {e}"))?;
            members.push(Some(child));
            clients.push(SocketAddr::from(([127, 0, 0, 1], *client)));
        }
        let cluster = Self {
            members,
            clients,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        for addr in &cluster.clients {
            loop {
                let ready = match Http::connect(*addr).await {
                    Ok(mut http) => http
                        .status()
                        .await
                        .is_ok_and(|(_, l)| !l.is_empty() && l != "0"),
                    Err(_) => false,
                };
                if ready {
                    break;
                }
                anyhow::ensure!(Instant::now() < deadline, "etcd did not start within 30 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(cluster)
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
