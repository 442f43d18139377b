//! Serf for B5: N `serf agent` processes (Debian's `serf` package) on
//! loopback, all joining the first, stopped by PID. Convergence is read
//! with `serf members -status=alive` against each agent's RPC port until
//! every agent lists all N; an agent already there is not asked again, so
//! the figure can be late by at most one polling round (one `serf members`
//! process per agent not converged yet, a few milliseconds each).

use {
    anyhow::Context,
    std::{
        collections::HashSet,
        process::{Child, Command, Stdio},
        time::{Duration, Instant},
    },
};

/// One running agent, killed when dropped.
struct Agent {
    child: Child,
    rpc: String,
    /// Where its output goes (read back if it exits early).
    log: std::path::PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A loopback port free for both TCP and UDP (serf binds both). The
/// kernel picks a port no TCP socket holds; a UDP socket may still hold
/// it (the QUIC endpoints of the B5 nodes that ran just before, still
/// draining), and an agent that cannot bind never joins, so that is
/// checked too. The kernel may hand a port out again once its probe socket
/// is closed, before the agent it was picked for has bound it: `taken`
/// holds the ports already picked in this run, which are skipped.
fn free_port(taken: &mut HashSet<u16>) -> anyhow::Result<u16> {
    for _ in 0..100 {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() && taken.insert(port) {
            return Ok(port);
        }
    }
    anyhow::bail!("no loopback port free for both TCP and UDP")
}

fn start(node: usize, taken: &mut HashSet<u16>, join: Option<u16>) -> anyhow::Result<(Agent, u16)> {
    let bind = free_port(taken)?;
    let rpc = format!("127.0.0.1:{}", free_port(taken)?);
    let mut cmd = Command::new("serf");
    cmd.args([
        "agent",
        &format!("-node=bench-{node}"),
        &format!("-bind=127.0.0.1:{bind}"),
        &format!("-rpc-addr={rpc}"),
        "-log-level=err",
    ]);
    if let Some(port) = join {
        cmd.arg(format!("-join=127.0.0.1:{port}"));
    }
    let log = std::env::temp_dir().join(format!(
        "mosaik-bench-serf-{}-{node}.log",
        std::process::id()
    ));
    let out = std::fs::File::create(&log)?;
    let child = cmd
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("starting serf (Debian package serf)")?;
    Ok((Agent { child, rpc, log }, bind))
}

/// Alive members `agent` lists, or `None` while its RPC is not up.
fn alive(agent: &Agent) -> Option<usize> {
    let out = Command::new("serf")
        .args([
            "members",
            &format!("-rpc-addr={}", agent.rpc),
            "-status=alive",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| {
        out.stdout
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    })
}

/// Starts `n` agents and returns the time until every one lists all `n`
/// as alive.
pub async fn convergence(n: usize) -> anyhow::Result<Duration> {
    tokio::task::spawn_blocking(move || {
        let mut taken = HashSet::new();
        let started = Instant::now();
        let (first, first_port) = start(0, &mut taken, None)?;
        let mut agents = vec![first];
        // The others join the first once it listens.
        while alive(&agents[0]).is_none() {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "serf did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let started = Instant::now();
        for node in 1..n {
            agents.push(start(node, &mut taken, Some(first_port))?.0);
        }
        let mut waiting: Vec<usize> = (0..agents.len()).collect();
        while !waiting.is_empty() {
            anyhow::ensure!(
                started.elapsed() < Duration::from_mins(1),
                "serf did not converge within 60 s"
            );
            for agent in &mut agents {
                if let Some(status) = agent.child.try_wait()? {
                    let said = std::fs::read_to_string(&agent.log).unwrap_or_default();
                    anyhow::bail!("a serf agent exited ({status}) before converging: {said}");
                }
            }
            waiting.retain(|&i| alive(&agents[i]) != Some(n));
        }
        Ok(started.elapsed())
    })
    .await?
}
