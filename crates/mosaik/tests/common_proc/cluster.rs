//! The test's side of the member processes: start, SIGKILL, restart with
//! the same identity, address (and data directory, for durable members),
//! request/reply over the pipes, and the collection of every acknowledged
//! write. Shared by the `restart` and `durability` tests.
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
        path::{Path, PathBuf},
        process::{ExitStatus, Stdio},
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
    /// `with_min_quorum(2)`, every member on a `DurableStore`.
    DurableStrict,
    /// `with_min_quorum(2)`, every member replicating a `collections::Map`
    /// kept under its data directory (`CollectionConfig::with_storage`).
    DurableMap,
}

impl Mode {
    /// The scenario's name (also what the command-line filter matches).
    pub fn name(self) -> &'static str {
        match self {
            Self::Dynamic => "restart::dynamic",
            Self::Strict => "restart::strict",
            Self::DurableStrict => "durability::strict",
            Self::DurableMap => "durability::map",
        }
    }

    /// Whether members run with `with_min_quorum(2)`.
    pub fn strict(self) -> bool {
        matches!(self, Self::Strict | Self::DurableStrict | Self::DurableMap)
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
    /// The `DurableStore` directory, for durable members.
    data_dir: Option<PathBuf>,
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
}

impl Cluster {
    /// Starts `n` members, each on its own fixed loopback port, with
    /// in-memory storage.
    pub fn start(mode: Mode, n: usize) -> anyhow::Result<Self> {
        Self::start_in(mode, n, None)
    }

    /// Starts `n` durable members, member `i` with its store in
    /// `<root>/m<i>`.
    pub fn start_durable(mode: Mode, n: usize, root: &Path) -> anyhow::Result<Self> {
        Self::start_in(mode, n, Some(root))
    }

    fn start_in(mode: Mode, n: usize, root: Option<&Path>) -> anyhow::Result<Self> {
        let mut cluster = Self {
            mode,
            identities: free_ports(n)?
                .into_iter()
                .enumerate()
                .map(|(i, port)| Identity {
                    secret: SecretKey::generate(),
                    port,
                    data_dir: root.map(|root| root.join(format!("m{i}"))),
                })
                .collect(),
            processes: (0..n).map(|_| None).collect(),
            incarnations: vec![0; n],
            acks: Arc::default(),
            kills: 0,
        };
        for i in 0..n {
            cluster.spawn(i)?;
        }
        Ok(cluster)
    }

    /// How many members the cluster has.
    pub fn members(&self) -> usize {
        self.identities.len()
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

    /// Member `i`'s data directory (durable members only).
    pub fn data_dir(&self, i: usize) -> Option<&Path> {
        self.identities[i].data_dir.as_deref()
    }

    /// The command line of member `i`'s current incarnation.
    fn command(&self, i: usize) -> anyhow::Result<Command> {
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
        if self.mode.strict() {
            command.arg("--strict");
        }
        if let Some(dir) = &me.data_dir {
            command.arg("--data-dir").arg(dir);
        }
        if self.mode == Mode::DurableMap {
            command.arg("--map");
        }
        Ok(command)
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let mut child = self
            .command(i)?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning member {i}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        // unbounded: a member answers only the commands the test sends it,
        // one reply each.
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

    /// SIGKILLs every running member at once (all signals are sent before
    /// any is reaped), then reaps them and reads the rest of their stdout.
    pub async fn kill_all(&mut self) -> anyhow::Result<()> {
        let mut killed: Vec<Process> = self.processes.iter_mut().filter_map(Option::take).collect();
        for process in &mut killed {
            process.child.start_kill().context("SIGKILL")?;
        }
        for process in &mut killed {
            process.child.wait().await.context("reaping")?;
            (&mut process.reader).await.context("ack reader")?;
            self.kills += 1;
        }
        Ok(())
    }

    /// Starts member `i` (not running) as its next incarnation and expects
    /// it to exit on its own within `within`: its exit status and stderr.
    /// Fails if it is still running by then (it is killed).
    pub async fn start_expecting_exit(
        &mut self,
        i: usize,
        within: Duration,
    ) -> anyhow::Result<(ExitStatus, String)> {
        if self.processes[i].is_some() {
            bail!("member {i} is still running");
        }
        self.incarnations[i] += 1;
        let mut child = self
            .command(i)?
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning member {i}"))?;
        // Held open: a member whose store opens would exit on EOF.
        let stdin = child.stdin.take();
        let exited = tokio::time::timeout(within, child.wait_with_output()).await;
        drop(stdin);
        match exited {
            Ok(output) => {
                let output = output.context("member output")?;
                Ok((
                    output.status,
                    String::from_utf8_lossy(&output.stderr).into_owned(),
                ))
            }
            Err(_) => bail!("member {i} was still running after {within:?}"),
        }
    }

    /// Starts member `i` again: same key, port and data directory, next
    /// incarnation.
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
