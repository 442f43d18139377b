//! The test's side of the member processes: start, SIGKILL, restart with
//! the same identity and address, request/reply over the pipes, and the
//! collection of every acknowledged write.
//!
//! Acks are read by one task per process until its stdout closes, so the
//! acks a killed incarnation printed before the kill are never missed.
//! Every process is killed when its handle drops (also when the test
//! panics or bails out early), so no member outlives the test.

use {
    crate::protocol::{Dump, Status},
    anyhow::{Context as _, anyhow, bail},
    core::time::Duration,
    mosaik::{PeerId, SecretKey},
    std::{
        process::Stdio,
        sync::{Arc, Mutex},
    },
    tokio::{
        io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
        process::{Child, ChildStdin, Command},
        sync::mpsc,
        task::JoinHandle,
    },
};

/// Upper bound for one reply (a dump of a few thousand values included).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The consensus mode a scenario runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The default: quorum of the members currently known.
    Dynamic,
    /// `with_min_quorum(2)`.
    Strict,
    /// Dynamic, every member on a `DurableStore` in its own directory: a
    /// killed member comes back with its log instead of catching up.
    Durable,
}

impl Mode {
    /// The scenario's name (also what the command-line filter matches).
    pub fn name(self) -> &'static str {
        match self {
            Self::Dynamic => "restart::dynamic",
            Self::Strict => "restart::strict",
            Self::Durable => "restart::durable",
        }
    }
}

/// One acknowledged write, as printed by a member.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    /// The written value.
    pub value: u64,
    /// The index `execute` returned.
    pub index: u64,
    /// The member that wrote it.
    pub member: usize,
    /// The incarnation of that member.
    pub incarnation: u64,
}

/// What stays the same across a member's restarts.
struct Identity {
    secret: SecretKey,
    port: u16,
}

/// One running incarnation.
struct Process {
    child: Child,
    stdin: ChildStdin,
    replies: mpsc::UnboundedReceiver<String>,
    reader: JoinHandle<()>,
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGKILL; a process already reaped by `kill` ignores it.
        let _ = self.child.start_kill();
    }
}

/// The member processes of one scenario.
pub struct Cluster {
    mode: Mode,
    identities: Vec<Identity>,
    processes: Vec<Option<Process>>,
    incarnations: Vec<u64>,
    acks: Arc<Mutex<Vec<Ack>>>,
    /// How many members were killed.
    pub kills: usize,
    /// Durable mode: the directory holding one store directory per member.
    dirs: Option<std::path::PathBuf>,
}

impl Cluster {
    /// Starts `n` members, each on its own fixed loopback port.
    pub fn start(mode: Mode, n: usize) -> anyhow::Result<Self> {
        let mut cluster = Self {
            mode,
            identities: free_ports(n)?
                .into_iter()
                .map(|port| Identity {
                    secret: SecretKey::generate(),
                    port,
                })
                .collect(),
            processes: (0..n).map(|_| None).collect(),
            incarnations: vec![0; n],
            acks: Arc::default(),
            kills: 0,
            dirs: (mode == Mode::Durable).then(|| {
                std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
                    "restart-durable-{}-{}",
                    std::process::id(),
                    rand::random::<u64>()
                ))
            }),
        };
        for i in 0..n {
            cluster.spawn(i)?;
        }
        Ok(cluster)
    }

    /// Member `i`'s peer id, as members display it.
    pub fn id(&self, i: usize) -> String {
        self.peer_id(i).to_string()
    }

    fn peer_id(&self, i: usize) -> PeerId {
        self.identities[i].secret.public()
    }

    /// Member `i`'s current incarnation.
    pub fn incarnation(&self, i: usize) -> u64 {
        self.incarnations[i]
    }

    /// Every ack printed so far.
    pub fn acks(&self) -> Vec<Ack> {
        self.acks.lock().unwrap().clone()
    }

    /// Acks printed by incarnation `incarnation` of member `i`.
    pub fn acked_by(&self, i: usize, incarnation: u64) -> usize {
        let acks = self.acks.lock().unwrap();
        acks.iter()
            .filter(|a| a.member == i && a.incarnation == incarnation)
            .count()
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let me = &self.identities[i];
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("member")
            .args(["--network", self.mode.name()])
            .args(["--index", &i.to_string()])
            .args(["--incarnation", &self.incarnations[i].to_string()])
            .args(["--secret", &hex::encode(me.secret.to_bytes())])
            .args(["--port", &me.port.to_string()]);
        for (j, other) in self.identities.iter().enumerate() {
            if j != i {
                let peer = format!("{}@127.0.0.1:{}", self.peer_id(j), other.port);
                command.args(["--peer", &peer]);
            }
        }
        if self.mode == Mode::Strict {
            command.arg("--strict");
        }
        if let Some(dirs) = &self.dirs {
            command.arg("--dir").arg(dirs.join(i.to_string()));
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning member {i}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (replies_tx, replies) = mpsc::unbounded_channel();
        let acks = self.acks.clone();
        let incarnation = self.incarnations[i];
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match parse_ack(&line) {
                    Some((value, index)) => acks.lock().unwrap().push(Ack {
                        value,
                        index,
                        member: i,
                        incarnation,
                    }),
                    None => {
                        let _ = replies_tx.send(line);
                    }
                }
            }
        });
        self.processes[i] = Some(Process {
            child,
            stdin,
            replies,
            reader,
        });
        Ok(())
    }

    /// SIGKILLs member `i` by its pid, reaps it and reads the rest of its
    /// stdout, so every ack it printed before dying is recorded.
    pub async fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        let mut process = self.processes[i]
            .take()
            .ok_or_else(|| anyhow!("member {i} is not running"))?;
        process.child.kill().await.context("SIGKILL")?;
        (&mut process.reader).await.context("ack reader")?;
        self.kills += 1;
        Ok(())
    }

    /// Starts member `i` again: same key and port, next incarnation.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        if self.processes[i].is_some() {
            bail!("member {i} is still running");
        }
        self.incarnations[i] += 1;
        self.spawn(i)
    }

    /// Sends `command` to member `i` and returns its reply's payload (the
    /// reply line without the leading `command` word).
    async fn request(&mut self, i: usize, command: &str) -> anyhow::Result<String> {
        let process = self.processes[i]
            .as_mut()
            .ok_or_else(|| anyhow!("member {i} is not running"))?;
        // A reply that arrived after an earlier request timed out is stale.
        while process.replies.try_recv().is_ok() {}
        process
            .stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .with_context(|| format!("member {i} stdin"))?;
        process.stdin.flush().await?;
        let word = if command == "stop-writing" {
            "stopped"
        } else {
            command
        };
        let line = tokio::time::timeout(REPLY_TIMEOUT, process.replies.recv())
            .await
            .map_err(|_| anyhow!("member {i} did not answer {command:?} within {REPLY_TIMEOUT:?}"))?
            .ok_or_else(|| anyhow!("member {i} exited while asked {command:?}"))?;
        let payload = line
            .strip_prefix(word)
            .ok_or_else(|| anyhow!("member {i} answered {command:?} with {line:?}"))?;
        Ok(payload.trim().to_owned())
    }

    /// Member `i`'s leader view and committed index.
    pub async fn status(&mut self, i: usize) -> anyhow::Result<Status> {
        let reply = self.request(i, "status").await?;
        serde_json::from_str(&reply).context("status reply")
    }

    /// Member `i`'s applied values.
    pub async fn dump(&mut self, i: usize) -> anyhow::Result<Dump> {
        let reply = self.request(i, "dump").await?;
        serde_json::from_str(&reply).context("dump reply")
    }

    /// Stops member `i`'s writer; returns once its last write returned.
    pub async fn stop_writing(&mut self, i: usize) -> anyhow::Result<()> {
        self.request(i, "stop-writing").await.map(drop)
    }
}

/// `ack <value> <index>` → `(value, index)`.
fn parse_ack(line: &str) -> Option<(u64, u64)> {
    let mut words = line.strip_prefix("ack ")?.split_whitespace();
    let value = words.next()?.parse().ok()?;
    let index = words.next()?.parse().ok()?;
    Some((value, index))
}

/// `n` distinct free UDP ports on 127.0.0.1 (all sockets held until every
/// port is picked, so none repeats). The members bind them a moment later;
/// a restarted member binds its port again (UDP has no `TIME_WAIT`).
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let sockets = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    sockets.iter().map(|s| Ok(s.local_addr()?.port())).collect()
}
