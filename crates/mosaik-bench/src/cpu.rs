//! CPU time of a measured run, for B3's "CPU-seconds per million
//! messages": this process's own (our streams and raw iroh entirely, the
//! client side of the peers) plus, for NATS, the server process. The Zenoh
//! helper reports its own (`bench/zenoh`).
//!
//! A rate alone hides what it costs: two systems moving the same messages
//! on two cores can differ by a core. The CPU is sampled at the points the
//! rate is timed from and to.

use {anyhow::Context, std::time::Duration};

/// CPU time this process has used so far, over all its threads.
pub(crate) fn own() -> Duration {
    clock(rustix::time::ClockId::ProcessCPUTime)
}

/// A CPU clock's reading.
fn clock(id: rustix::time::ClockId) -> Duration {
    let t = rustix::time::clock_gettime(id);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// CPU time process `pid` has used so far: the sum over its threads of the
/// first field of `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on a CPU).
/// Threads that already exited are not counted; the servers measured keep
/// their threads for their whole life.
pub(crate) fn of_pid(pid: u32) -> anyhow::Result<Duration> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0u64;
    for task in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let path = task?.path().join("schedstat");
        // A thread may end between the listing and the read.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let on_cpu = text.split_whitespace().next().unwrap_or("0");
        total += on_cpu
            .parse::<u64>()
            .with_context(|| format!("{}: {text}", path.display()))?;
    }
    Ok(Duration::from_nanos(total))
}

/// A stopwatch of CPU time: this process's, and another process's if it
/// was given one.
pub(crate) struct CpuWatch {
    other: Option<(u32, Duration)>,
    own: Duration,
}

impl CpuWatch {
    /// Starts counting now (for `pid` too, if given).
    pub(crate) fn start(pid: Option<u32>) -> anyhow::Result<Self> {
        let other = pid.map(|p| of_pid(p).map(|used| (p, used))).transpose()?;
        Ok(Self { other, own: own() })
    }

    /// CPU time used since [`start`](Self::start), both processes together.
    pub(crate) fn used(&self) -> anyhow::Result<Duration> {
        let mut used = own().saturating_sub(self.own);
        if let Some((pid, at_start)) = self.other {
            used += of_pid(pid)?.saturating_sub(at_start);
        }
        Ok(used)
    }
}

/// A timed run: how long it took and the CPU time it used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    pub wall: Duration,
    pub cpu: Duration,
}

impl Measured {
    /// CPU-seconds per million of `messages`.
    pub(crate) fn cpu_per_million(&self, messages: usize) -> f64 {
        self.cpu.as_secs_f64() * 1_000_000.0 / messages.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use {super::*, std::time::Instant};

    /// 50 ms of CPU spent by this thread (its own clock, so other
    /// processes taking the core do not shorten it) shows in both clocks of
    /// this process; other threads may add to them, never take away.
    #[test]
    fn busy_work_is_counted_by_both_clocks() {
        let thread = || clock(rustix::time::ClockId::ThreadCPUTime);
        let pid = std::process::id();
        let watch = CpuWatch::start(Some(pid)).unwrap();
        let (own_before, proc_before) = (own(), of_pid(pid).unwrap());
        let (from, wall) = (thread(), Instant::now());
        let mut x = 0u64;
        while thread().saturating_sub(from) < Duration::from_millis(50) {
            assert!(
                wall.elapsed() < Duration::from_secs(30),
                "never got 50 ms of CPU"
            );
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(7));
        }
        std::hint::black_box(x);
        let own_used = own().saturating_sub(own_before);
        assert!(own_used >= Duration::from_millis(50), "{own_used:?}");
        // The kernel folds a running thread's time into `schedstat` at its
        // ticks, so that side may lag by a few milliseconds.
        let proc_used = of_pid(pid).unwrap().saturating_sub(proc_before);
        assert!(proc_used >= Duration::from_millis(40), "{proc_used:?}");
        let both = watch.used().unwrap();
        assert!(both >= Duration::from_millis(90), "{both:?}");
    }

    /// A process that only sleeps uses next to no CPU.
    #[test]
    fn a_sleeping_process_uses_next_to_none() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let before = of_pid(child.id()).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        let child_used = of_pid(child.id()).unwrap().saturating_sub(before);
        let _ = child.kill();
        let _ = child.wait();
        assert!(child_used < Duration::from_millis(20), "{child_used:?}");
    }
}
