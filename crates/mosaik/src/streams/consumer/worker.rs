//! The consumer worker: watches the catalog and keeps one receiver per
//! eligible producer.

use {
    super::{
        Consumer, ConsumerConfig,
        delivery::{self, Deliver},
        receiver::Receiver,
    },
    crate::{
        Datum, PeerId,
        discovery::Catalog,
        streams::{ChannelInfo, Shared, Stats, when::Status},
    },
    core::time::Duration,
    std::{
        collections::{HashMap, HashSet},
        sync::Arc,
        time::Instant,
    },
    tokio::sync::{mpsc, watch},
    tokio_util::sync::CancellationToken,
};

/// Receiver events waiting for the worker. Each receiver waits when the
/// channel is full, so it cannot grow.
const EVENT_BACKLOG: usize = 64;

/// Longest wait for an RTT probe of a producer before deciding without it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) enum Event {
    /// A channel changed state (the online flag may change).
    StateChanged,
    /// A receiver ended for good.
    Done(PeerId, ChannelInfo),
    /// The RTT probe of a producer ended (with or without a sample).
    Probed(PeerId),
}

struct Active {
    cancel: CancellationToken,
    deadline: watch::Sender<Option<Instant>>,
    info: ChannelInfo,
}

struct Worker<D> {
    shared: Arc<Shared>,
    config: Arc<ConsumerConfig>,
    status: Arc<Status>,
    stats: Arc<Stats>,
    tx: Deliver<D>,
    cancel: CancellationToken,
    active: HashMap<PeerId, Active>,
    events: mpsc::Sender<Event>,
    /// Producers with a ping in flight (at most one each; bounded by the
    /// catalog's producers of this stream).
    probing: HashSet<PeerId>,
    /// Producers whose probe ended: decided on with whatever RTT is known
    /// (a failed ping must not hold a producer back forever). Pruned to the
    /// catalog's producers on every evaluation.
    probed: HashSet<PeerId>,
}

pub(super) fn spawn<D: Datum>(shared: &Arc<Shared>, config: ConsumerConfig) -> Consumer<D> {
    let (tx, rx) = delivery::channel(config.buffer_size);
    let (events, events_rx) = mpsc::channel(EVENT_BACKLOG);
    let mut status = Status::new();
    let base = status.conditions(0);
    let condition = match &config.online_when {
        Some(f) => f(base),
        None => base,
    };
    status.set_rule(condition.rule().clone());
    let status = Arc::new(status);
    let stats = Arc::new(Stats::default());
    shared.consumers.insert(
        config.stream_id,
        core::any::type_name::<D>(),
        Arc::downgrade(&status),
        Arc::downgrade(&stats),
    );
    let config = Arc::new(config);
    let cancel = shared.local.termination().child_token();
    let worker = Worker {
        shared: shared.clone(),
        config: config.clone(),
        status: status.clone(),
        stats: stats.clone(),
        tx,
        cancel: cancel.clone(),
        active: HashMap::new(),
        events,
        probing: HashSet::new(),
        probed: HashSet::new(),
    };
    tokio::spawn(worker.run(events_rx));
    Consumer {
        rx,
        when: status.when(),
        status,
        stats,
        config,
        _guard: cancel.drop_guard(),
    }
}

impl<D: Datum> Worker<D> {
    async fn run(mut self, mut events: mpsc::Receiver<Event>) {
        let mut catalog = self.shared.discovery.catalog_watch();
        let snapshot = catalog.borrow_and_update().clone();
        self.evaluate(&snapshot);
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => break,
                Ok(()) = catalog.changed() => {
                    let snapshot = catalog.borrow_and_update().clone();
                    self.evaluate(&snapshot);
                }
                Some(event) = events.recv() => self.on_event(event),
            }
        }
        self.status.stop();
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::StateChanged => {
                let any_up = self.active.values().any(|a| a.info.is_connected());
                if any_up {
                    self.stats.connected();
                } else {
                    self.stats.disconnected();
                }
                self.status.refresh();
            }
            Event::Done(peer, info) => {
                // A terminated receiver may be re-created on a later catalog
                // change, not now: that would spin against a refusing peer.
                if self.active.get(&peer).is_some_and(|a| a.info.same(&info)) {
                    self.active.remove(&peer);
                }
                self.status.update(|list| list.retain(|c| !c.same(&info)));
                self.gauge();
            }
            Event::Probed(peer) => {
                self.probing.remove(&peer);
                self.probed.insert(peer);
                // A sample may not wake catalog watchers (only visibility
                // changes do), so decide again on the current catalog.
                let snapshot = self.shared.discovery.catalog();
                self.evaluate(&snapshot);
            }
        }
    }

    /// Subscribes to new eligible producers, drops those that stopped
    /// matching the rules and refreshes ticket deadlines.
    fn evaluate(&mut self, catalog: &Catalog) {
        let stream = self.config.stream_id;
        let mut producers = HashSet::new();
        for peer in catalog.peers() {
            if !peer.streams().contains(&stream) {
                continue;
            }
            let id = *peer.id();
            producers.insert(id);
            // SPEC §1.4: a producer without an RTT sample is pinged first
            // and decided on once the probe ends.
            if peer.rtt().is_none() && !self.active.contains_key(&id) && !self.probed.contains(&id)
            {
                self.probe(&peer);
                continue;
            }
            match self.config.requirements.check(&peer) {
                Ok(deadline) => {
                    if let Some(active) = self.active.get(&id) {
                        active.deadline.send_if_modified(|d| {
                            let changed = *d != deadline;
                            *d = deadline;
                            changed
                        });
                    } else {
                        self.subscribe(&peer, deadline);
                    }
                }
                Err(denied) => {
                    if let Some(active) = self.active.remove(&id) {
                        tracing::debug!(%stream, producer = %id.fmt_short(), reason = %denied, "dropping producer");
                        active.cancel.cancel();
                        self.status
                            .update(|list| list.retain(|c| !c.same(&active.info)));
                        self.gauge();
                    }
                }
            }
        }
        self.probed.retain(|id| producers.contains(id));
    }

    /// Pings `peer` off the worker loop (bounded by [`PROBE_TIMEOUT`] and
    /// the consumer's lifetime); the sample lands in discovery and the
    /// worker re-evaluates when the probe reports back.
    fn probe(&mut self, peer: &crate::discovery::PeerInfo) {
        let id = *peer.id();
        if !self.probing.insert(id) {
            return;
        }
        let discovery = self.shared.discovery.clone();
        let addr = peer.address().clone();
        let events = self.events.clone();
        let cancel = self.cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => return,
                result = tokio::time::timeout(PROBE_TIMEOUT, discovery.ping(addr)) => {
                    if !matches!(result, Ok(Ok(_))) {
                        tracing::debug!(producer = %id.fmt_short(), "rtt probe failed, deciding without a sample");
                    }
                }
            }
            let _ = events.send(Event::Probed(id)).await;
        });
    }

    fn subscribe(&mut self, peer: &crate::discovery::PeerInfo, deadline: Option<Instant>) {
        let info = ChannelInfo::new(
            self.config.stream_id,
            self.config.criteria,
            *peer.id(),
            self.shared.local.id(),
            (**peer).clone(),
        );
        let cancel = self.cancel.child_token();
        let (deadline_tx, deadline_rx) = watch::channel(deadline);
        let receiver = Receiver {
            shared: self.shared.clone(),
            config: self.config.clone(),
            stats: self.stats.clone(),
            tx: self.tx.clone(),
            info: info.clone(),
            events: self.events.clone(),
            cancel: cancel.clone(),
            addr: peer.address().clone(),
        };
        tokio::spawn(receiver.run(deadline_rx));
        self.active.insert(
            *peer.id(),
            Active {
                cancel,
                deadline: deadline_tx,
                info: info.clone(),
            },
        );
        self.status.update(|list| list.push(info));
        self.gauge();
    }

    fn gauge(&self) {
        let labels =
            crate::streams::producer::labels(self.shared.local.network_id(), self.config.stream_id);
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("mosaik.streams.consumer.producers", labels).set(self.active.len() as f64);
    }
}
