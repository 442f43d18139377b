//! The crash scenario: three members write continuously; a follower is
//! killed (SIGKILL) and restarted, then the leader; then the writers stop
//! and the replicas are compared with what was acknowledged.
//!
//! Every wait is on a condition with a bounded deadline (`wait.rs`); the only fixed
//! pause is the 2 s between a kill and the restart (a crashed server does
//! not come back instantly, and the survivors must notice it is gone).

use {
    crate::{
        check::{self, Outcome},
        cluster::{Cluster, Mode},
        wait::{
            agreed_leader, committed_at_least, committed_by_others, same_committed,
            writes_acknowledged,
        },
    },
    core::time::Duration,
    std::time::Instant,
};

/// Members in the group.
const MEMBERS: usize = 3;

/// Between a kill and the restart of the same member.
const RESTART_DELAY: Duration = Duration::from_secs(2);

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

/// SIGKILLs member `i`, restarts it [`RESTART_DELAY`] later with the same
/// key and port, and waits until it caught up: its new incarnation's
/// writes are acknowledged and its committed index reached what the
/// survivors had committed when it came back.
async fn crash_and_restart(cluster: &mut Cluster, i: usize) -> anyhow::Result<()> {
    cluster.kill(i).await?;
    tokio::time::sleep(RESTART_DELAY).await;
    let target = committed_by_others(cluster, i).await?;
    cluster.restart(i)?;
    writes_acknowledged(cluster, i).await?;
    committed_at_least(cluster, i, target).await
}
