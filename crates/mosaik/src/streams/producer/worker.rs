//! The fan-out worker of one producer.
//!
//! It owns the subscriber set. A datum is encoded once and the same bytes
//! are pushed to every subscriber's bounded queue with `try_send`, so the
//! worker never waits on a consumer; one task per subscriber writes its
//! queue to its link. A full queue disconnects the subscriber (`TooSlow`)
//! or drops the datum for it alone, per `disconnect_lagging`.

use {
    super::{Inner, ProducerConfig, subscriber},
    crate::{
        Datum,
        discovery::Catalog,
        network::CloseReason,
        streams::{
            ChannelInfo, Criteria, NoCapacity, NotAllowed, Shared, StartStream, TooSlow,
            registry::Incoming, when::Status,
        },
    },
    bytes::Bytes,
    iroh::endpoint::Connection,
    std::{collections::HashMap, sync::Arc, time::Instant},
    tokio::sync::{
        mpsc::{self, error::TrySendError},
        watch,
    },
};

/// Consumers waiting for admission; the acceptor refuses beyond this.
const INTAKE_BACKLOG: usize = 64;
/// Subscriber task events waiting for the worker. Each task sends at most
/// two (connected, done) and waits when the channel is full.
const EVENT_BACKLOG: usize = 64;
/// Datums taken from the input per wake-up before other events get a turn.
const FANOUT_BATCH: usize = 64;

#[derive(Clone, Copy)]
pub(super) enum Event {
    Connected,
    Done(u64),
}

struct Sub {
    queue: mpsc::Sender<Bytes>,
    conn: Connection,
    deadline: watch::Sender<Option<Instant>>,
    info: ChannelInfo,
    criteria: Criteria,
}

struct Worker<D> {
    shared: Arc<Shared>,
    config: Arc<ProducerConfig>,
    status: Arc<Status>,
    // unbounded: the sink is the caller's own channel (SPEC §1.4 `with_undelivered_sink` takes an
    // `UnboundedSender`); it holds only datums the caller chose to collect, and draining it is theirs.
    undelivered: Option<mpsc::UnboundedSender<D>>,
    subs: HashMap<u64, Sub>,
    next_id: u64,
    events: mpsc::Sender<Event>,
    labels: Vec<metrics::Label>,
}

pub(super) use crate::streams::close_now;

/// Starts the worker; returns the shared handle state and the intake for
/// the acceptor.
pub(super) fn spawn<D: Datum>(
    shared: &Arc<Shared>,
    config: ProducerConfig,
    // unbounded: the caller's sink, see `Builder::with_undelivered_sink`.
    undelivered: Option<mpsc::UnboundedSender<D>>,
    serial: u64,
) -> (Arc<Inner<D>>, mpsc::Sender<Incoming>) {
    let (tx, input) = mpsc::channel(config.buffer_size);
    let (intake_tx, intake) = mpsc::channel(INTAKE_BACKLOG);
    let (events, events_rx) = mpsc::channel(EVENT_BACKLOG);
    let mut status = Status::new();
    let base = status.conditions(1);
    let condition = match &config.online_when {
        Some(f) => f(base),
        None => base,
    };
    status.set_rule(condition.rule().clone());
    let status = Arc::new(status);
    let config = Arc::new(config);
    let inner = Arc::new(Inner {
        tx,
        when: status.when(),
        status: status.clone(),
        config: config.clone(),
        shared: Some((shared.clone(), serial)),
    });
    let worker = Worker {
        labels: super::labels(shared.local.network_id(), config.stream_id),
        shared: shared.clone(),
        config,
        status,
        undelivered,
        subs: HashMap::new(),
        next_id: 0,
        events,
    };
    tokio::spawn(worker.run(input, intake, events_rx));
    (inner, intake_tx)
}

impl<D: Datum> Worker<D> {
    async fn run(
        mut self,
        mut input: mpsc::Receiver<D>,
        mut intake: mpsc::Receiver<Incoming>,
        mut events: mpsc::Receiver<Event>,
    ) {
        let cancel = self.shared.local.termination().clone();
        let mut catalog = self.shared.discovery.catalog_watch();
        let mut batch = Vec::with_capacity(FANOUT_BATCH);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                n = input.recv_many(&mut batch, FANOUT_BATCH) => {
                    if n == 0 {
                        break;
                    }
                    for datum in batch.drain(..) {
                        self.fanout(datum);
                    }
                }
                Some(incoming) = intake.recv() => self.admit(incoming),
                Some(event) = events.recv() => self.on_event(event),
                Ok(()) = catalog.changed() => {
                    let snapshot = catalog.borrow_and_update().clone();
                    self.reevaluate(&snapshot);
                }
            }
        }
        // Dropping the queues lets every subscriber task send what it holds
        // and close with `GracefulShutdown`.
        self.status.stop();
        self.subs.clear();
        self.status.update(Vec::clear);
        intake.close();
        while let Ok(incoming) = intake.try_recv() {
            close_now(
                incoming.link.connection(),
                &crate::network::GracefulShutdown,
            );
        }
        tracing::debug!(stream = %self.config.stream_id, "producer stopped");
    }

    fn fanout(&mut self, datum: D) {
        if self.subs.is_empty() {
            self.undeliverable(datum);
            return;
        }
        let bytes = match datum.encode() {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::warn!(stream = %self.config.stream_id, error = %err, "dropping unencodable datum");
                return;
            }
        };
        let mut delivered = false;
        let mut lagging = Vec::new();
        for (id, sub) in &self.subs {
            if !sub.criteria.matches(&bytes) {
                continue;
            }
            match sub.queue.try_send(bytes.clone()) {
                Ok(()) => delivered = true,
                Err(TrySendError::Full(_)) if self.config.disconnect_lagging => lagging.push(*id),
                Err(TrySendError::Full(_)) => {
                    metrics::counter!("mosaik.streams.producer.items.dropped", self.labels.clone())
                        .increment(1);
                }
                Err(TrySendError::Closed(_)) => {}
            }
        }
        for id in lagging {
            self.drop_sub(id, &TooSlow);
        }
        if !delivered {
            self.undeliverable(datum);
        }
    }

    fn undeliverable(&self, datum: D) {
        metrics::counter!("mosaik.streams.producer.items.dropped", self.labels.clone())
            .increment(1);
        if let Some(sink) = &self.undelivered {
            let _ = sink.send(datum);
        }
    }

    fn drop_sub(&mut self, id: u64, reason: &dyn CloseReason) {
        if let Some(sub) = self.subs.remove(&id) {
            tracing::debug!(
                stream = %self.config.stream_id,
                consumer = %sub.info.consumer_id().fmt_short(),
                reason = reason.name(),
                "disconnecting subscriber"
            );
            close_now(&sub.conn, reason);
            self.status
                .update(|list| list.retain(|c| !c.same(&sub.info)));
            self.consumers_gauge();
        }
    }

    fn reject(&self, incoming: &Incoming, reason: &dyn CloseReason) {
        metrics::counter!(
            "mosaik.streams.producer.consumers.rejected",
            self.labels.clone()
        )
        .increment(1);
        close_now(incoming.link.connection(), reason);
    }

    fn admit(&mut self, incoming: Incoming) {
        if self.subs.len() >= self.config.max_consumers {
            return self.reject(&incoming, &NoCapacity);
        }
        let deadline = match self.config.requirements.check(&incoming.peer) {
            Ok(deadline) => deadline,
            Err(denied) => {
                tracing::debug!(stream = %self.config.stream_id, reason = %denied, "consumer not allowed");
                return self.reject(&incoming, &NotAllowed);
            }
        };
        let Incoming {
            link,
            peer,
            criteria,
        } = incoming;
        let id = self.next_id;
        self.next_id += 1;
        let local = self.shared.local.clone();
        let info = ChannelInfo::new(
            self.config.stream_id,
            criteria,
            local.id(),
            peer.id(),
            peer.into_entry(),
        );
        let (queue, queue_rx) = mpsc::channel(self.config.buffer_size);
        let (deadline, deadline_rx) = watch::channel(deadline);
        let conn = link.connection().clone();
        let task = subscriber::Task {
            id,
            start: StartStream(local.network_id(), self.config.stream_id),
            info: info.clone(),
            events: self.events.clone(),
            labels: self.labels.clone(),
        };
        tokio::spawn(task.run(link, queue_rx, deadline_rx));
        self.subs.insert(
            id,
            Sub {
                queue,
                conn,
                deadline,
                info: info.clone(),
                criteria,
            },
        );
        self.status.update(|list| list.push(info));
        metrics::counter!(
            "mosaik.streams.producer.consumers.accepted",
            self.labels.clone()
        )
        .increment(1);
        self.consumers_gauge();
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected => self.status.refresh(),
            Event::Done(id) => {
                if let Some(sub) = self.subs.remove(&id) {
                    self.status
                        .update(|list| list.retain(|c| !c.same(&sub.info)));
                    self.consumers_gauge();
                } else {
                    self.status.refresh();
                }
            }
        }
    }

    /// Re-checks every subscriber against the rules with its current entry.
    fn reevaluate(&mut self, catalog: &Catalog) {
        let mut denied = Vec::new();
        for (id, sub) in &self.subs {
            let Some(peer) = catalog.get(&sub.info.consumer_id()) else {
                continue;
            };
            match self.config.requirements.check(&peer) {
                Ok(deadline) => {
                    sub.deadline.send_if_modified(|d| {
                        let changed = *d != deadline;
                        *d = deadline;
                        changed
                    });
                }
                Err(_) => denied.push(*id),
            }
        }
        for id in denied {
            self.drop_sub(id, &NotAllowed);
        }
    }

    fn consumers_gauge(&self) {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("mosaik.streams.producer.consumers", self.labels.clone())
            .set(self.subs.len() as f64);
    }
}
