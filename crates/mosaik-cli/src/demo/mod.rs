//! `mosaik demo`: a self-organizing cluster on loopback, watched live.
//!
//! Starts `--nodes` members in this process (relays, DHT and mDNS off, so
//! no internet is needed), lets them discover each other, runs a stream
//! from one member to the others and a replicated key/value store written
//! by every member (each keeping its replica in a data directory under a
//! temporary directory the demo creates and removes), kills the store's
//! leader midway, restarts it from its directory with the same key once a
//! new leader took over (`restart.rs`), and checks at the end that every
//! acknowledged write is on every member, the restarted one included.

mod member;
mod restart;
mod store;
mod summary;
mod view;
mod web;

pub use summary::Summary;

use {
    core::time::Duration,
    member::{Ack, Member, produce, start_node},
    mosaik::{NetworkId, PeerId, SecretKey},
    restart::{DataDirs, Restarted},
    std::{
        collections::HashMap,
        sync::{Arc, Mutex, atomic::Ordering},
        time::Instant,
    },
    tokio::task::JoinHandle,
    view::{Frame, Row, View},
};

/// How often the view is redrawn (and conditions re-checked).
const TICK: Duration = Duration::from_millis(250);

/// Upper bound of every wait (convergence, election, failover, catch-up).
const PHASE_TIMEOUT: Duration = Duration::from_secs(30);

/// What `mosaik demo` was asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Members to start (at least 3, so the store survives its leader).
    pub nodes: usize,
    /// How long the stream and the writers run.
    pub duration: Duration,
    /// Line-oriented output instead of the live view.
    pub plain: bool,
    /// Serve the dashboard here from an extra, watching node.
    pub web: Option<std::net::SocketAddr>,
}

/// Runs the demo and returns its summary (already printed).
pub async fn run(options: Options) -> anyhow::Result<Summary> {
    anyhow::ensure!(options.nodes >= 3, "the demo needs at least 3 nodes");
    // Dropped after `demo` (declared first): removed once every member
    // is down.
    let dirs = DataDirs::create()?;
    let mut demo = Demo {
        network: NetworkId::random(),
        dirs: dirs.path().to_path_buf(),
        restarted: None,
        start: Instant::now(),
        view: View::new(options.plain),
        members: Vec::new(),
        producer: None,
        rates: HashMap::new(),
        phase: "starting",
        dead_acks: Vec::new(),
        dead_received: 0,
        rate_samples: Vec::new(),
        summary: Summary {
            nodes: options.nodes,
            ..Summary::default()
        },
        observer: None,
    };
    // Boxed: the demo future holds the whole cluster (over clippy's 16 KiB).
    let result = Box::pin(demo.run(options)).await;
    demo.view.finish();
    let summary = result?;
    println!("{summary}");
    for member in demo.members.drain(..) {
        member.kill().await;
    }
    if let Some(observer) = demo.observer.take() {
        observer.stop().await;
    }
    Ok(summary)
}

struct Demo {
    network: NetworkId,
    /// The base of the members' data directories.
    dirs: std::path::PathBuf,
    /// The killed leader after its restart.
    restarted: Option<Restarted>,
    start: Instant,
    view: View,
    members: Vec<Member>,
    producer: Option<(PeerId, JoinHandle<()>)>,
    /// Per member: items received at the last tick (for the rate column).
    rates: HashMap<PeerId, (u64, f64)>,
    phase: &'static str,
    /// Per-consumer stream rates seen while streaming (for the summary).
    rate_samples: Vec<f64>,
    /// Acknowledged writes of killed members (they count too).
    dead_acks: Vec<Arc<Mutex<Vec<Ack>>>>,
    /// Stream items the killed members had received.
    dead_received: u64,
    summary: Summary,
    /// The watching node behind `--web`.
    observer: Option<web::Observer>,
}

impl Demo {
    async fn run(&mut self, options: Options) -> anyhow::Result<Summary> {
        // A fresh network id per run: two demos on one machine never mix.
        let seed = format!("mosaik-demo-{}-{:?}", std::process::id(), Instant::now());
        self.network = NetworkId::from(seed.as_str());
        let network = self.network;
        let keys: Vec<SecretKey> = (0..options.nodes).map(|_| SecretKey::generate()).collect();
        let first = start_node(network, None, keys[0].clone(), None).await?;
        let mut nodes = vec![];
        for key in &keys[1..] {
            nodes.push(start_node(network, Some(&first), key.clone(), None).await?);
        }
        if let Some(addr) = options.web {
            let (observer, bound) = web::Observer::start(network, &first, addr).await?;
            self.observer = Some(observer);
            self.event(&format!("dashboard: http://{bound}/"));
        }
        nodes.insert(0, first);
        self.members = nodes
            .into_iter()
            .zip(keys)
            .enumerate()
            .map(|(i, (node, key))| Member::new(node, key, self.dirs.join(format!("m{i}"))))
            .collect();
        if let Some(err) = self.members.iter().find_map(|m| m.store.storage_error()) {
            anyhow::bail!("a member's store did not open: {err}");
        }
        self.event(&format!(
            "started {} members on 127.0.0.1 (relays, DHT and mDNS off), data in {}",
            options.nodes,
            self.dirs.display()
        ));

        self.phase = "discovering peers";
        let n = options.nodes;
        let t = self.wait(|m| m.iter().all(|m| m.peers() >= n - 1)).await;
        self.summary.convergence = t.ok_or_else(|| anyhow::anyhow!("peers did not converge"))?;
        self.event(&format!(
            "every member discovered its {} peers in {} ms",
            n - 1,
            self.summary.convergence.as_millis()
        ));

        self.phase = "electing a store leader";
        let t = self.wait(|m| agreed_leader(m).is_some()).await;
        self.summary.store_online = t.ok_or_else(|| anyhow::anyhow!("no store leader"))?;
        let leader = agreed_leader(&self.members).expect("agreed above");
        self.event(&format!(
            "store online, leader {} (after {} ms)",
            leader.fmt_short(),
            self.summary.store_online.as_millis()
        ));

        self.start_traffic(leader);
        let begun = Instant::now();
        self.phase = "streaming and writing";
        self.run_for(options.duration / 2).await;
        self.fail_over().await;
        self.phase = "streaming and writing after failover";
        self.run_for(options.duration.saturating_sub(begun.elapsed()))
            .await;
        self.finish().await
    }

    /// The producer goes to a member that does not lead the store (so the
    /// stream keeps flowing when the leader is killed); every other member
    /// consumes; every member writes.
    fn start_traffic(&mut self, leader: PeerId) {
        let host = self
            .members
            .iter()
            .position(|m| m.id() != leader)
            .unwrap_or(0);
        self.start_producer(host);
        for (i, member) in self.members.iter_mut().enumerate() {
            if i != host {
                member.consume();
            }
            member.write(format!("m{i}"));
        }
    }

    fn start_producer(&mut self, host: usize) {
        let member = &self.members[host];
        let id = member.id();
        self.producer = Some((id, produce(&member.network)));
        self.event(&format!(
            "stream producer on {}, consumers on the other members",
            id.fmt_short()
        ));
    }

    async fn fail_over(&mut self) {
        let Some(old) = agreed_leader(&self.members).or_else(|| self.members[0].store.leader())
        else {
            self.event("no leader to kill");
            return;
        };
        let Some(dead) = self.members.iter().position(|m| m.id() == old) else {
            self.event("the leader is not a member");
            return;
        };
        self.phase = "killing the leader";
        self.event(&format!("killing the leader's node {}", old.fmt_short()));
        let victim = self.members.remove(dead);
        self.dead_acks.push(victim.acked.clone());
        self.dead_received += victim.received.load(Ordering::Relaxed);
        let (key, dir) = (victim.key.clone(), victim.dir.clone());
        let killed = Instant::now();
        victim.kill().await;
        if self.producer.as_ref().is_some_and(|(id, _)| *id == old) {
            self.event("the producer died with the leader; restarting it");
            self.start_producer(0);
        }
        self.phase = "failing over";
        let elected = self
            .wait(|m| agreed_leader(m).is_some_and(|l| l != old))
            .await;
        if elected.is_some() {
            let failover = killed.elapsed();
            self.summary.failover = Some(failover);
            let leader = agreed_leader(&self.members).expect("agreed above");
            self.event(&format!(
                "new leader {} after {} ms",
                leader.fmt_short(),
                failover.as_millis()
            ));
        } else {
            self.event("no new leader within the timeout");
        }
        self.restart(key, dir).await;
    }

    /// Stops the writers and checks every acknowledged write on every
    /// survivor.
    async fn finish(&mut self) -> anyhow::Result<Summary> {
        self.phase = "verifying acknowledged writes";
        for member in &mut self.members {
            member.stop_writing().await;
        }
        if let Some((_, task)) = self.producer.take() {
            task.abort();
        }
        let mut acks: Vec<Ack> = self
            .dead_acks
            .iter()
            .flat_map(|a| a.lock().expect("ack list lock").clone())
            .collect();
        for member in &self.members {
            acks.extend(member.acked());
            self.summary.unacknowledged += member.failed.load(Ordering::Relaxed);
        }
        let last = acks.iter().map(|a| a.index).max().unwrap_or_default();
        let mut lost = 0;
        let mut behind = vec![];
        for member in &self.members {
            let caught_up = tokio::time::timeout(PHASE_TIMEOUT, member.store.when_applied(last));
            if caught_up.await.is_err() {
                behind.push(member.id().fmt_short().to_string());
            }
        }
        if !behind.is_empty() {
            self.event(&format!("did not catch up: {}", behind.join(", ")));
        }
        for ack in &acks {
            for member in &self.members {
                if member.store.get(&ack.key) != Some(ack.value) {
                    lost += 1;
                    break;
                }
            }
        }
        self.summary.acknowledged = acks.len();
        self.summary.lost = lost;
        self.summary.restart = self.check_restarted(&acks);
        self.summary.stream_items = self.dead_received
            + self
                .members
                .iter()
                .map(|m| m.received.load(Ordering::Relaxed))
                .sum::<u64>();
        #[allow(clippy::cast_precision_loss)]
        let samples = self.rate_samples.len().max(1) as f64;
        self.summary.stream_rate = self.rate_samples.iter().sum::<f64>() / samples;
        self.event(&format!(
            "checked {} acknowledged writes on {} survivors: {lost} lost",
            acks.len(),
            self.members.len()
        ));
        self.phase = "done";
        self.draw();
        Ok(self.summary.clone())
    }

    fn producer_id(&self) -> Option<PeerId> {
        self.producer.as_ref().map(|(id, _)| *id)
    }

    /// Redraws until `done` holds; the time it took, `None` on timeout.
    async fn wait(&mut self, done: impl Fn(&[Member]) -> bool) -> Option<Duration> {
        let since = Instant::now();
        let mut tick = tokio::time::interval(TICK / 5);
        while !done(&self.members) {
            if since.elapsed() > PHASE_TIMEOUT {
                return None;
            }
            tick.tick().await;
            self.draw();
        }
        Some(since.elapsed())
    }

    /// Redraws every tick for `span`.
    async fn run_for(&mut self, span: Duration) {
        let until = Instant::now() + span;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while Instant::now() < until {
            tick.tick().await;
            self.draw();
        }
    }

    fn draw(&mut self) {
        let producer = self.producer_id();
        let mut rows = Vec::with_capacity(self.members.len());
        for m in &self.members {
            let id = m.id();
            let received = m.received.load(Ordering::Relaxed);
            let now = self.start.elapsed().as_secs_f64();
            let (before, at) = self.rates.insert(id, (received, now)).unwrap_or((0, now));
            #[allow(clippy::cast_precision_loss)]
            let rate = if now > at {
                // Saturating: a restarted member counts from zero again.
                received.saturating_sub(before) as f64 / (now - at)
            } else {
                0.0
            };
            let mut role = match m.store.leader() {
                Some(l) if l == id => "leader".to_owned(),
                Some(_) => "follower".to_owned(),
                None => "no leader".to_owned(),
            };
            if producer == Some(id) {
                role.push_str(" + producer");
            } else if self.phase.starts_with("streaming") {
                self.rate_samples.push(rate);
            }
            rows.push(Row {
                id: id.fmt_short().to_string(),
                peers: m.peers(),
                rate,
                keys: m.store.len(),
                committed: m.store.committed().0,
                acked: m.acked.lock().map_or(0, |a| a.len()),
                role,
            });
        }
        let frame = Frame {
            elapsed: self.start.elapsed(),
            phase: self.phase,
            rows,
        };
        self.view.frame(&frame);
    }

    fn event(&mut self, message: &str) {
        self.view.event(self.start.elapsed(), message);
    }
}

/// The leader every member follows, if they agree on one.
fn agreed_leader(members: &[Member]) -> Option<PeerId> {
    let first = members.first()?.store.leader()?;
    members
        .iter()
        .all(|m| m.store.leader() == Some(first))
        .then_some(first)
}
