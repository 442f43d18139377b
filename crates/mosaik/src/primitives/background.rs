//! Bulk work that must not take the cores from a group's write path:
//! snapshot digests, the encoding of snapshot ranges served to a
//! catching-up member, and the drop of snapshots a member no longer holds
//! (freeing what a persistent map no longer shares with the live state
//! took 2.4–6.6 ms per expired B6 snapshot, on the group's loop).
//!
//! Such a job encodes a whole state, or megabytes of it, and runs for
//! milliseconds to seconds. The scheduler shares busy cores evenly between
//! runnable threads, so a member serving a catch-up from several threads
//! left its consensus and network tasks (the runtime's threads) a small
//! share: in B6 (a late member catching up 100 MB while the leader keeps
//! writing, all members on two cores) the leader's write p99 rose from
//! about 0.2 ms to 3–5 ms. So each job runs on a thread of its own whose
//! nice value is raised by [`BACKGROUND_NICENESS`]: the runtime's threads
//! get the cores first, the bulk work what they leave (B6 measurements in
//! `docs/benchmarks.md`).
//!
//! The job runs on a fresh thread, which a task on tokio's blocking pool
//! starts and waits for. Not on the pool thread itself: a thread's nice
//! value outlives the job, and an unprivileged process may raise it but
//! never lower it back, so a pooled thread would later run unrelated
//! blocking work (storage writes and syncs) at the low priority too. But
//! through the pool: a runtime whose clock is paused (the simulator's)
//! does not jump ahead while a blocking task runs, so timeouts still
//! measure the work, as they did when the job ran on the pool. The jobs
//! are few and long (at most `MAX_SERVING` range encodes and one digest
//! per group at a time), so one more thread start (tens of microseconds)
//! is noise next to one.
//!
//! Only Linux has per-thread nice values; elsewhere the jobs run at the
//! normal priority (a process-wide `setpriority` would slow everything).

/// Added to the process's nice value for a background job's thread
/// (capped at 19, the lowest priority). 10 gives such a thread about a
/// tenth of the CPU time a normal thread gets when both want a core.
pub(crate) const BACKGROUND_NICENESS: i32 = 10;

/// The lowest priority a nice value can give.
#[cfg(target_os = "linux")]
const MAX_NICE: i32 = 19;

/// Runs `job` on a new thread named `mosaik-{name}`, at a priority lowered
/// by [`BACKGROUND_NICENESS`], from a task on tokio's blocking pool that
/// waits for it (see the module docs); must be called within a runtime.
/// Should the thread not start (the system is out of threads), the job
/// runs on the pool thread at the normal priority: callers count on it
/// running (it sends a reply, or clears a "running" flag). On the runtime
/// simulator's thread it runs inline (see [`runs_inline`]).
pub(crate) fn spawn_background(name: &str, job: impl FnOnce() + Send + 'static) {
    if runs_inline() {
        job();
        return;
    }
    let name = format!("mosaik-{name}");
    drop(tokio::task::spawn_blocking(move || {
        // The thread borrows the job, so a thread that cannot start leaves
        // it here. The scope waits for the thread (a panic in the job is
        // re-raised here, in the pool task, as it was on the pool before).
        let mut job = Some(job);
        let started = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(name)
                .spawn_scoped(scope, || {
                    lower_priority();
                    if let Some(job) = job.take() {
                        job();
                    }
                })
                .map(drop)
        });
        if let Err(err) = started {
            tracing::warn!(%err, "no thread for background work: running it at normal priority");
            if let Some(job) = job.take() {
                job();
            }
        }
    }));
}

/// Runs `job` on tokio's blocking pool at the normal priority (work that
/// must not wait behind the write path, such as a snapshot encode a
/// storage prune waits for); inline in the simulator (see
/// [`runs_inline`]). Must be called within a runtime.
pub(crate) fn spawn_blocking_job(job: impl FnOnce() + Send + 'static) {
    if runs_inline() {
        job();
        return;
    }
    drop(tokio::task::spawn_blocking(job));
}

#[cfg(feature = "runtime-sim")]
std::thread_local! {
    static INLINE: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Makes background and blocking jobs started from the calling thread run
/// inline, for good: the runtime simulator's thread. A job on another
/// thread finishes at a moment of real time the simulation does not
/// decide, so where its result lands among the simulated events (a served
/// range, a digest, a snapshot encode) differed between two runs of one
/// seed, and a failing seed could not always be replayed.
#[cfg(feature = "runtime-sim")]
pub(crate) fn run_inline_on_this_thread() {
    INLINE.set(true);
}

/// Whether jobs started on this thread run inline (the simulator's
/// thread); never in a build without the `runtime-sim` feature.
pub(crate) fn runs_inline() -> bool {
    #[cfg(feature = "runtime-sim")]
    {
        INLINE.get()
    }
    #[cfg(not(feature = "runtime-sim"))]
    {
        false
    }
}

/// Log entries, or commands since a snapshot, below which a drop stays on
/// the caller's thread: a background job starts a thread (tens of
/// microseconds), which would cost more than it saves for a few entries,
/// and with a compaction threshold of 1 it would start two per commit.
pub(crate) const BACKGROUND_DROP_MIN: u64 = 64;

/// Drops `value` as a background job (see [`spawn_background`]): for
/// values whose drop walks a large structure, such as a snapshot of a
/// persistent map whose nodes the live state no longer shares. Must be
/// called within a runtime.
pub(crate) fn drop_in_background<T: Send + 'static>(name: &str, value: T) {
    spawn_background(name, move || drop(value));
}

/// Drops a run of log entries (or their commands): [`BACKGROUND_DROP_MIN`]
/// or more as a background job, fewer on the caller's thread, as are any
/// outside a runtime (nothing to hand them to).
pub(crate) fn drop_entries<T: Send + 'static>(name: &str, entries: Vec<T>) {
    if entries.len() as u64 >= BACKGROUND_DROP_MIN && tokio::runtime::Handle::try_current().is_ok()
    {
        drop_in_background(name, entries);
    }
}

/// Raises the calling thread's nice value by [`BACKGROUND_NICENESS`]. A
/// failure (a sandbox refusing the call) leaves it as it was: the job is
/// still correct, only not deprioritised.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux `PRIO_PROCESS` with no pid is the calling thread only.
        let now = rustix::process::getpriority_process(None).unwrap_or(0);
        let target = (now + BACKGROUND_NICENESS).min(MAX_NICE);
        if let Err(err) = rustix::process::setpriority_process(None, target) {
            tracing::debug!(%err, "background thread keeps its priority");
        }
    }
}

/// The calling thread's nice value (tests).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn nice_value() -> i32 {
    rustix::process::getpriority_process(None).expect("getpriority")
}

/// A value that sends the name of the thread it is dropped on (tests of
/// where drops happen).
#[cfg(test)]
#[derive(Clone, Debug)]
pub(crate) struct DropTell(pub(crate) std::sync::mpsc::Sender<Option<String>>);

#[cfg(test)]
impl Drop for DropTell {
    fn drop(&mut self) {
        let name = std::thread::current().name().map(str::to_owned);
        let _ = self.0.send(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The job runs on its own named thread, at a nice value raised by
    /// `BACKGROUND_NICENESS` (Linux), and the caller's priority is left
    /// alone.
    #[tokio::test]
    async fn a_background_job_runs_on_its_own_lower_priority_thread() {
        #[cfg(target_os = "linux")]
        let before = nice_value();
        let (tx, rx) = std::sync::mpsc::channel();
        spawn_background("test-job", move || {
            let name = std::thread::current().name().map(str::to_owned);
            #[cfg(target_os = "linux")]
            let nice = Some(nice_value());
            #[cfg(not(target_os = "linux"))]
            let nice: Option<i32> = None;
            tx.send((name, nice)).expect("the test waits");
        });
        let (name, nice) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the job ran");
        assert_eq!(name.as_deref(), Some("mosaik-test-job"));
        #[cfg(target_os = "linux")]
        {
            assert_eq!(nice, Some((before + BACKGROUND_NICENESS).min(MAX_NICE)));
            assert_eq!(nice_value(), before, "the caller's priority is unchanged");
        }
        #[cfg(not(target_os = "linux"))]
        assert_eq!(nice, None);
    }

    /// The value is dropped on a background thread, not the caller's.
    #[tokio::test]
    async fn a_value_dropped_in_the_background_is_dropped_off_the_caller() {
        let (tx, rx) = std::sync::mpsc::channel();
        drop_in_background("test-drop", vec![DropTell(tx)]);
        let name = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("dropped");
        assert_eq!(name.as_deref(), Some("mosaik-test-drop"));
    }
}
