//! Bounded condition waits on a [`Cluster`], shared by the scenarios.
//!
//! Every wait is on a condition with a deadline; none sleeps a fixed time.

use {
    crate::cluster::Cluster,
    anyhow::{Context as _, bail},
    core::time::Duration,
    std::time::Instant,
};

/// Acknowledged writes that show an incarnation of a member takes part.
pub const MIN_ACKS: usize = 20;

/// Upper bound of any single wait.
pub const WAIT: Duration = Duration::from_secs(15);

/// Between two looks at a condition.
const POLL: Duration = Duration::from_millis(50);

/// A bounded condition wait: call [`Deadline::tick`] each time the
/// condition does not hold yet.
pub struct Deadline {
    what: String,
    until: Instant,
}

impl Deadline {
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            until: Instant::now() + WAIT,
        }
    }

    /// Sleeps one poll interval, or fails once the deadline passed.
    pub async fn tick(&self) -> anyhow::Result<()> {
        if Instant::now() >= self.until {
            bail!("timed out after {WAIT:?} waiting for {}", self.what);
        }
        tokio::time::sleep(POLL).await;
        Ok(())
    }
}

/// Waits until the current incarnation of member `i` had [`MIN_ACKS`]
/// writes acknowledged.
pub async fn writes_acknowledged(cluster: &Cluster, i: usize) -> anyhow::Result<()> {
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
pub async fn agreed_leader(cluster: &mut Cluster) -> anyhow::Result<usize> {
    let members = cluster.members();
    let deadline = Deadline::new("a leader all members agree on");
    loop {
        let mut views = Vec::with_capacity(members);
        for i in 0..members {
            views.push(cluster.status(i).await?);
        }
        let leader = (0..members).find(|&i| {
            let id = cluster.id(i);
            views[i].is_leader && views.iter().all(|v| v.leader.as_ref() == Some(&id))
        });
        if let Some(leader) = leader {
            return Ok(leader);
        }
        deadline.tick().await?;
    }
}

/// The highest committed index the running members other than `i` report.
pub async fn committed_by_others(cluster: &mut Cluster, i: usize) -> anyhow::Result<u64> {
    let mut target = 0;
    for j in (0..cluster.members()).filter(|&j| j != i) {
        target = target.max(cluster.status(j).await?.committed);
    }
    Ok(target)
}

/// Waits until member `i` reports a committed index of at least `target`.
pub async fn committed_at_least(
    cluster: &mut Cluster,
    i: usize,
    target: u64,
) -> anyhow::Result<()> {
    let deadline = Deadline::new(format!("m{i} to reach committed index {target}"));
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
pub async fn same_committed(cluster: &mut Cluster) -> anyhow::Result<u64> {
    let members = cluster.members();
    // An acknowledgement can reach a writer before its member publishes the
    // commit index it answered with (the status follows the drain's last
    // flush), and followers learn a commit one heartbeat later: equal
    // indexes below the highest acknowledged one are not the end yet.
    let floor = cluster
        .acks()
        .iter()
        .map(|ack| ack.index)
        .max()
        .unwrap_or(0);
    let deadline = Deadline::new("all members at the same committed index");
    loop {
        let mut committed = Vec::with_capacity(members);
        for i in 0..members {
            committed.push(cluster.status(i).await?.committed);
        }
        if committed.iter().all(|&c| c == committed[0]) && committed[0] >= floor {
            return Ok(committed[0]);
        }
        deadline.tick().await.with_context(|| {
            format!("last committed indexes {committed:?}, highest ack {floor}")
        })?;
    }
}
