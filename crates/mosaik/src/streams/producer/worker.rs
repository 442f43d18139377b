//! The control worker of one producer.
//!
//! It admits subscribers, re-checks them on catalog changes and removes
//! them; datums do not pass through it. Sends push the encoded bytes
//! straight into each subscriber's bounded queue (see [`Fanout`]); one task
//! per subscriber writes its queue to its link.

use {
    super::{
        Inner, ProducerConfig,
        fanout::{Fanout, Slot},
        queue, subscriber,
    },
    crate::{
        Datum,
        discovery::Catalog,
        network::CloseReason,
        streams::{
            ChannelInfo, NoCapacity, NotAllowed, Shared, StartStream, StreamsProtocol,
            registry::Incoming, when::Status,
        },
    },
    std::{collections::HashMap, sync::Arc, time::Instant},
    tokio::sync::{mpsc, watch},
    tokio_util::sync::CancellationToken,
};

/// Consumers waiting for admission; the acceptor refuses beyond this.
const INTAKE_BACKLOG: usize = 64;
/// Subscriber task events waiting for the worker. Each task sends at most
/// two (connected, done) and waits when the channel is full.
const EVENT_BACKLOG: usize = 64;

#[derive(Clone, Copy)]
pub(super) enum Event {
    Connected,
    Done(u64),
}

struct Sub {
    deadline: watch::Sender<Option<Instant>>,
    info: ChannelInfo,
}

struct Worker<D> {
    shared: Arc<Shared>,
    config: Arc<ProducerConfig>,
    status: Arc<Status>,
    fanout: Arc<Fanout<D>>,
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
    let labels = super::labels(shared.local.network_id(), config.stream_id);
    // Datums go out after the consumer was admitted: the full limit.
    let (_, max_frame) =
        crate::network::frame_limits::<StreamsProtocol>(shared.local.max_frame_size());
    let fanout = Arc::new(Fanout::new(
        config.stream_id,
        config.disconnect_lagging,
        max_frame,
        undelivered,
        labels.clone(),
    ));
    // Cancelled when the last handle drops (or the network stops).
    let stop = shared.local.termination().child_token();
    let inner = Arc::new(Inner {
        fanout: fanout.clone(),
        _stop: stop.clone().drop_guard(),
        when: status.when(),
        status: status.clone(),
        config: config.clone(),
        shared: Some((shared.clone(), serial)),
    });
    let worker = Worker {
        labels,
        shared: shared.clone(),
        config,
        status,
        fanout,
        subs: HashMap::new(),
        next_id: 0,
        events,
    };
    tokio::spawn(worker.run(stop, intake, events_rx));
    (inner, intake_tx)
}

impl<D: Datum> Worker<D> {
    async fn run(
        mut self,
        stop: CancellationToken,
        mut intake: mpsc::Receiver<Incoming>,
        mut events: mpsc::Receiver<Event>,
    ) {
        let mut catalog = self.shared.discovery.catalog_watch();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                Some(incoming) = intake.recv() => self.admit(incoming),
                Some(event) = events.recv() => self.on_event(event),
                Ok(()) = catalog.changed() => {
                    let snapshot = catalog.borrow_and_update().clone();
                    self.reevaluate(&snapshot);
                }
            }
        }
        // Dropping the queues lets every subscriber task send what it holds
        // and close with `GracefulShutdown`. Closed before the status goes
        // offline, so a send that sees offline also sees closed.
        self.fanout.close();
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

    fn drop_sub(&mut self, id: u64, reason: &dyn CloseReason) {
        if let Some(sub) = self.subs.remove(&id) {
            tracing::debug!(
                stream = %self.config.stream_id,
                consumer = %sub.info.consumer_id().fmt_short(),
                reason = reason.name(),
                "disconnecting subscriber"
            );
            if let Some(conn) = self.fanout.remove(id) {
                close_now(&conn, reason);
            }
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
            *peer.id(),
            peer.into_entry(),
        );
        let (queue, queue_rx) = queue::queue(self.config.buffer_size);
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
        self.fanout.add(Slot {
            id,
            queue,
            criteria,
            conn,
        });
        self.subs.insert(
            id,
            Sub {
                deadline,
                info: info.clone(),
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
                // The task may have ended on its own (the peer left): its
                // slot must not linger in the fan-out.
                self.fanout.remove(id);
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
