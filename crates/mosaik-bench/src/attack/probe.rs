//! The service an attack must not disturb, and its counters: a stream from
//! the victim to an honest node at a fixed offered load, a group client on
//! an honest node with one command in flight, and the victim's leader
//! changes. Also the honest newcomer whose bond time is measured.

use {
    super::{NET, wait_for},
    crate::groups::{Sink, node},
    mosaik::{
        Network,
        groups::{Group, GroupKey},
    },
    std::{
        sync::{
            Arc,
            atomic::{AtomicU64, Ordering},
        },
        time::{Duration, Instant},
    },
    tokio::task::JoinHandle,
};

/// Rates over one window.
pub struct Rates {
    /// Datums the honest consumer received per second.
    pub stream: f64,
    /// Commands committed per second.
    pub commits: f64,
}

/// Counters of the running service.
pub struct Probe {
    received: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
    changes: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Probe {
    /// Starts the stream (victim `nets[0]` → `nets[1]`), the commit client
    /// (on `groups[1]`) and the leader watch (on the victim's group).
    pub async fn start(nets: &[Network], groups: &[Group<Sink>]) -> anyhow::Result<Self> {
        let producer = nets[0].streams().produce::<u64>();
        let mut consumer = nets[1].streams().consume::<u64>();
        tokio::time::timeout(Duration::from_secs(30), producer.when().online()).await?;
        let (received, commits, changes): (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicU64>) =
            Default::default();
        let mut tasks = Vec::new();
        let count = Arc::clone(&received);
        tasks.push(tokio::spawn(async move {
            while consumer.recv().await.is_some() {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
        // A fixed offered load (1 per ms), so idle and attacked compare;
        // a full subscriber queue drops, which is what the rate shows.
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            for i in 0u64.. {
                tick.tick().await;
                let _ = producer.send(i).await;
            }
        }));
        let (client, count) = (groups[1].clone(), Arc::clone(&commits));
        tasks.push(tokio::spawn(async move {
            loop {
                if client.execute(vec![0u8; 64]).await.is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                } else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
        let (watched, count) = (groups[0].clone(), Arc::clone(&changes));
        tasks.push(tokio::spawn(async move {
            loop {
                watched.when().leader_changed().await;
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
        Ok(Self {
            received,
            commits,
            changes,
            tasks,
        })
    }

    /// Stream and commit rates over the next `window`.
    pub async fn rates(&self, window: Duration) -> Rates {
        let (r0, c0) = (self.received(), self.commits());
        let started = Instant::now();
        tokio::time::sleep(window).await;
        let secs = started.elapsed().as_secs_f64();
        Rates {
            stream: (self.received() - r0) as f64 / secs,
            commits: (self.commits() - c0) as f64 / secs,
        }
    }

    /// Leader changes the victim saw so far.
    pub fn leader_changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// How long an honest new node (bootstrapping from the victim) takes
    /// from joining a group to its bond with the victim; a fresh group per
    /// round, so no earlier newcomer lingers in its membership.
    pub async fn newcomer_bond(&self, victim: &Network, round: usize) -> Option<Duration> {
        let key = GroupKey::from_secret(format!("{NET}-newcomer-{round}").as_str());
        let on_victim = victim
            .groups()
            .with_key(key)
            .with_state_machine(Sink::default())
            .join();
        let newcomer = node(NET, Some(victim.local().addr())).await.ok()?;
        let started = Instant::now();
        let joined = newcomer
            .groups()
            .with_key(key)
            .with_state_machine(Sink::default())
            .join();
        let took = wait_for(Duration::from_secs(30), || !on_victim.bonds().is_empty())
            .await
            .map(|()| started.elapsed());
        drop((joined, on_victim, newcomer));
        took
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
