//! One subscriber's sender task: writes its queue to its link.

use {
    super::{
        queue::Drainer,
        worker::{Event, close_now},
    },
    crate::{
        network::{GracefulShutdown, Link, ProtocolViolation},
        streams::{ChannelInfo, NotAllowed, StartStream, State, StreamsProtocol},
    },
    core::time::Duration,
    std::time::Instant,
    tokio::sync::{mpsc, watch},
};

/// Queued items (runs of small datums, or large ones) written per
/// wake-up before checking for close events.
const SEND_BATCH: usize = 64;

/// Time the consumer gets to take our `StartStream`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Task {
    pub(super) id: u64,
    pub(super) start: StartStream,
    pub(super) info: ChannelInfo,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) labels: Vec<metrics::Label>,
}

impl Task {
    pub(super) async fn run(
        self,
        link: Link<StreamsProtocol>,
        queue: Drainer,
        deadline: watch::Receiver<Option<Instant>>,
    ) {
        let conn = link.connection().clone();
        let (mut tx, rx) = link.split();
        let started = tokio::time::timeout(START_TIMEOUT, tx.send(&self.start)).await;
        if matches!(started, Ok(Ok(()))) {
            self.info.set_state(State::Connected);
            let _ = self.events.send(Event::Connected).await;
            self.pump(tx, rx, &conn, queue, deadline).await;
        } else if started.is_err() {
            close_now(&conn, &crate::network::TimedOut);
        } else {
            close_now(&conn, &crate::network::UnexpectedClose);
        }
        self.info.set_state(State::Terminated);
        let _ = self.events.send(Event::Done(self.id)).await;
    }

    async fn pump(
        &self,
        mut tx: crate::network::LinkSender<StreamsProtocol>,
        mut rx: crate::network::LinkReceiver<StreamsProtocol>,
        conn: &iroh::endpoint::Connection,
        mut queue: Drainer,
        mut deadline: watch::Receiver<Option<Instant>>,
    ) {
        let items = metrics::counter!("mosaik.streams.producer.items.sent", self.labels.clone());
        let bytes_sent =
            metrics::counter!("mosaik.streams.producer.bytes.sent", self.labels.clone());
        let datums_total = metrics::counter!("mosaik.streams.datums.total", self.labels.clone());
        let bytes_total = metrics::counter!("mosaik.streams.bytes.total", self.labels.clone());
        let mut watching = true;
        // The consumer sends nothing after its handshake: a frame or an end
        // on the receive side means it left or misbehaved. One future for
        // the whole subscription keeps the per-datum path short.
        let peer_gone = rx.recv_frame();
        tokio::pin!(peer_gone);
        let mut batch = Vec::with_capacity(SEND_BATCH);
        loop {
            let due = *deadline.borrow_and_update();
            tokio::select! {
                biased;
                frame = &mut peer_gone => {
                    if frame.is_ok() {
                        close_now(conn, &ProtocolViolation);
                    }
                    return;
                }
                changed = deadline.changed(), if watching => {
                    // The worker dropped us; the queue tells us when to stop.
                    watching = changed.is_ok();
                }
                () = sleep_until(due), if due.is_some() => {
                    close_now(conn, &NotAllowed);
                    return;
                }
                taken = queue.recv_many(&mut batch, SEND_BATCH) => {
                    if taken.datums == 0 {
                        let _ = tx.close(GracefulShutdown).await;
                        return;
                    }
                    // Write what we took (runs of small frames as they
                    // are, large datums framed by the link) and flush only
                    // once the queue is momentarily empty: throughput under
                    // load, no added latency when idle.
                    if tx.feed_all(&mut batch).await.is_err() {
                        return;
                    }
                    let (count, size) = (taken.datums, taken.bytes);
                    self.info.stats().record_many(count, size);
                    items.increment(count as u64);
                    bytes_sent.increment(size as u64);
                    datums_total.increment(count as u64);
                    bytes_total.increment(size as u64);
                    if queue.is_empty() && tx.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => core::future::pending().await,
    }
}
