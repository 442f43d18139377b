//! The crash scenario: three members write continuously; a follower is
//! killed (SIGKILL) and restarted, then the leader; then the writers stop
//! and the replicas are compared with what was acknowledged.
//!
//! Every wait is on a condition with a bounded deadline; the only fixed
//! pause is the 2 s between a kill and the restart (a crashed server does
//! not come back instantly, and the survivors must notice it is gone).

use {
    crate::{
        check::{self, Outcome},
        cluster::{Cluster, Mode},
    },
    anyhow::{Context as _, bail},
    core::time::Duration,
    std::time::Instant,
};

/// Members in the group.
const MEMBERS: usize = 3;

/// Acknowledged writes that show an incarnation of a member takes part.
const MIN_ACKS: usize = 20;

/// Between a kill and the restart of the same member.
const RESTART_DELAY: Duration = Duration::from_secs(2);

/// Upper bound of any single wait.
const WAIT: Duration = Duration::from_secs(15);

/// Between two looks at a condition.
const POLL: Duration = Duration::from_millis(50);

/// A bounded condition wait: call [`Deadline::tick`] each time the
/// condition does not hold yet.
struct Deadline {
    what: String,
    until: Instant,
}

impl Deadline {
    fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            until: Instant::now() + WAIT,
        }
    }

    /// Sleeps one poll interval, or fails once the deadline passed.
    async fn tick(&self) -> anyhow::Result<()> {
        if Instant::now() >= self.until {
            bail!("timed out after {WAIT:?} waiting for {}", self.what);
        }
        tokio::time::sleep(POLL).await;
        Ok(())
    }
}

/// Runs the scenario in `mode` and checks its outcome.
///
/// A crash step that does not complete (the restarted member never
/// catches up, no leader emerges) is recorded as a failure and the
/// scenario goes on to the final comparison, which says what was lost.
/// Only a broken harness (a member that stops answering) ends it early.
pub async fn run(mode: Mode) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let mut cluster = Cluster::start(mode, MEMBERS)?;
    let mut problems = Vec::new();

    for i in 0..MEMBERS {
        writes_acknowledged(&cluster, i).await?;
    }

    let leader = agreed_leader(&mut cluster).await?;
    let follower = (leader + 1) % MEMBERS;
    println!("{}: killing follower m{follower}", mode.name());
    if let Err(err) = crash_and_restart(&mut cluster, follower).await {
        problems.push(format!("after the follower crash: {err:#}"));
    }

    match agreed_leader(&mut cluster).await {
        Ok(leader) => {
            println!("{}: killing leader m{leader}", mode.name());
            if let Err(err) = crash_and_restart(&mut cluster, leader).await {
                problems.push(format!("after the leader crash: {err:#}"));
            }
        }
        Err(err) => problems.push(format!("leader crash skipped: {err:#}")),
    }

    for i in 0..MEMBERS {
        cluster.stop_writing(i).await?;
    }
    if let Err(err) = same_committed(&mut cluster).await {
        problems.push(format!("members did not converge: {err:#}"));
    }
    let mut dumps = Vec::with_capacity(MEMBERS);
    for i in 0..MEMBERS {
        dumps.push(cluster.dump(i).await?);
    }
    Ok(check::verify(
        mode,
        &cluster.acks(),
        &dumps,
        cluster.kills,
        problems,
        started.elapsed(),
    ))
}

/// Waits until the current incarnation of member `i` had [`MIN_ACKS`]
/// writes acknowledged.
async fn writes_acknowledged(cluster: &Cluster, i: usize) -> anyhow::Result<()> {
    let incarnation = cluster.incarnation(i);
    let deadline = Deadline::new(format!(
        "{MIN_ACKS} acknowledged writes of m{i}.{incarnation}"
    ));
    while cluster.acked_by(i, incarnation) < MIN_ACKS {
        deadline.tick().await?;
    }
    Ok(())
}

/// Waits until one member leads and every member names it; its index.
async fn agreed_leader(cluster: &mut Cluster) -> anyhow::Result<usize> {
    let deadline = Deadline::new("a leader all members agree on");
    loop {
        let mut views = Vec::with_capacity(MEMBERS);
        for i in 0..MEMBERS {
            views.push(cluster.status(i).await?);
        }
        let leader = (0..MEMBERS).find(|&i| {
            let id = cluster.id(i);
            views[i].is_leader && views.iter().all(|v| v.leader.as_ref() == Some(&id))
        });
        if let Some(leader) = leader {
            return Ok(leader);
        }
        deadline.tick().await?;
    }
}

/// SIGKILLs member `i`, restarts it [`RESTART_DELAY`] later with the same
/// key and port, and waits until it caught up: its new incarnation's
/// writes are acknowledged and its committed index reached what the
/// survivors had committed when it came back.
async fn crash_and_restart(cluster: &mut Cluster, i: usize) -> anyhow::Result<()> {
    cluster.kill(i).await?;
    tokio::time::sleep(RESTART_DELAY).await;
    let mut target = 0;
    for j in (0..MEMBERS).filter(|&j| j != i) {
        target = target.max(cluster.status(j).await?.committed);
    }
    cluster.restart(i)?;
    writes_acknowledged(cluster, i).await?;
    let deadline = Deadline::new(format!("restarted m{i} to reach committed index {target}"));
    loop {
        let status = cluster.status(i).await?;
        if status.committed >= target {
            return Ok(());
        }
        deadline
            .tick()
            .await
            .with_context(|| format!("m{i} reports {status:?}"))?;
    }
}

/// Waits until every member reports the same committed index (the writers
/// are stopped, so it stops moving).
async fn same_committed(cluster: &mut Cluster) -> anyhow::Result<u64> {
    let deadline = Deadline::new("all members at the same committed index");
    loop {
        let mut committed = Vec::with_capacity(MEMBERS);
        for i in 0..MEMBERS {
            committed.push(cluster.status(i).await?.committed);
        }
        if committed.iter().all(|&c| c == committed[0]) {
            return Ok(committed[0]);
        }
        deadline
            .tick()
            .await
            .with_context(|| format!("last committed indexes {committed:?}"))?;
    }
}
