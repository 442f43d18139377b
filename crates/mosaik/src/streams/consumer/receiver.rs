//! One receiver: the subscription to one producer, with reconnects.

use {
    super::{ConsumerConfig, delivery::Deliver, worker::Event},
    crate::{
        Datum,
        network::{
            DifferentNetwork, GracefulShutdown, Link, ProtocolViolation, RecvError, SendError,
            UnknownPeer,
        },
        primitives::gate::{Gate, Stop, next_change},
        streams::{
            ChannelInfo, ConsumerHandshake, NotAllowed, Shared, StartStream, State, Stats,
            StreamNotFound, StreamsProtocol,
        },
    },
    core::time::Duration,
    iroh::{EndpointAddr, endpoint::ConnectionError},
    std::{sync::Arc, time::Instant},
    tokio::sync::{mpsc, watch},
    tokio_util::sync::CancellationToken,
};

/// Time to connect and get the producer's `StartStream`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Terminal: do not reconnect.
    Stop,
    /// The producer does not know us: sync catalogs and retry.
    UnknownPeer,
    /// Retry after the backoff.
    Retry,
}

pub(super) struct Receiver<D> {
    pub(super) shared: Arc<Shared>,
    pub(super) config: Arc<ConsumerConfig>,
    pub(super) stats: Arc<Stats>,
    pub(super) tx: Deliver<D>,
    pub(super) info: ChannelInfo,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) cancel: CancellationToken,
    pub(super) addr: EndpointAddr,
}

/// What a received close means for the receiver (SPEC §1.4).
fn outcome_of(close: Option<&ConnectionError>) -> Outcome {
    let Some(ConnectionError::ApplicationClosed(close)) = close else {
        return Outcome::Retry;
    };
    if *close == UnknownPeer {
        Outcome::UnknownPeer
    } else if *close == NotAllowed
        || *close == GracefulShutdown
        || *close == StreamNotFound
        || *close == DifferentNetwork
    {
        Outcome::Stop
    } else {
        Outcome::Retry
    }
}

fn recv_outcome(err: &RecvError) -> Outcome {
    match err {
        RecvError::Io(close) => outcome_of(Some(close)),
        // Producers finish their stream only when shutting down gracefully
        // (refusals and disconnects close with a code, unfinished).
        RecvError::UnexpectedEnd | RecvError::Decode(_) | RecvError::Cancelled => Outcome::Stop,
        _ => Outcome::Retry,
    }
}

fn send_outcome(err: &SendError) -> Outcome {
    match err {
        SendError::Io(close) => outcome_of(Some(close)),
        SendError::Cancelled => Outcome::Stop,
        _ => Outcome::Retry,
    }
}

impl<D: Datum> Receiver<D> {
    pub(super) async fn run(self, mut deadline: watch::Receiver<Option<Instant>>) {
        let mut backoff = (self.config.backoff)();
        let mut synced = false;
        loop {
            let (outcome, received) = self.session(&mut deadline).await;
            if self.info.state() == State::Connected {
                self.info.set_state(State::Connecting);
                let _ = self.events.send(Event::StateChanged).await;
            }
            if received {
                backoff.reset();
                synced = false;
            }
            match outcome {
                Outcome::Stop => break,
                Outcome::UnknownPeer if !synced => {
                    synced = true;
                    let sync = self.shared.discovery.sync_with(self.current_addr());
                    tokio::select! {
                        () = self.cancel.cancelled() => break,
                        _ = sync => {}
                    }
                }
                Outcome::UnknownPeer | Outcome::Retry => {
                    let Some(delay) = backoff.next_backoff() else {
                        break;
                    };
                    tokio::select! {
                        () = self.cancel.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.info.set_state(State::Terminated);
        let _ = self
            .events
            .send(Event::Done(self.info.producer_id(), self.info.clone()))
            .await;
    }

    /// The producer's latest address from the catalog (it may have
    /// restarted elsewhere).
    fn current_addr(&self) -> EndpointAddr {
        self.shared
            .discovery
            .catalog()
            .get(&self.info.producer_id())
            .map_or_else(|| self.addr.clone(), |p| p.address().clone())
    }

    async fn open(&self) -> Result<Link<StreamsProtocol>, Outcome> {
        let addr = self.current_addr();
        let connect = self
            .shared
            .local
            .connect_with_cancel::<StreamsProtocol>(addr, self.cancel.child_token());
        let mut link = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await {
            Ok(Ok(link)) => link,
            Ok(Err(crate::network::OpenError::Cancelled)) => return Err(Outcome::Stop),
            _ => return Err(Outcome::Retry),
        };
        let handshake = ConsumerHandshake {
            network_id: self.shared.local.network_id(),
            stream_id: self.config.stream_id,
            criteria: self.config.criteria,
        };
        if let Err(err) = link.send(&handshake).await {
            return Err(send_outcome(&err));
        }
        let start = match tokio::time::timeout(HANDSHAKE_TIMEOUT, link.recv::<StartStream>()).await
        {
            Ok(Ok(start)) => start,
            Ok(Err(err)) => return Err(recv_outcome(&err)),
            Err(_) => {
                // Named, not the bare code 0 of a dropped connection.
                crate::streams::close_now(link.connection(), &crate::network::TimedOut);
                return Err(Outcome::Retry);
            }
        };
        if start.0 != self.shared.local.network_id() {
            let _ = link.close(DifferentNetwork).await;
            return Err(Outcome::Stop);
        }
        if start.1 != self.config.stream_id {
            let _ = link.close(StreamNotFound).await;
            return Err(Outcome::Stop);
        }
        Ok(link)
    }

    /// One connection: handshake, then datums until it ends. Also says
    /// whether any datum arrived (which resets the backoff).
    async fn session(&self, deadline: &mut watch::Receiver<Option<Instant>>) -> (Outcome, bool) {
        let link = match self.open().await {
            Ok(link) => link,
            Err(outcome) => return (outcome, false),
        };
        self.info.set_state(State::Connected);
        let _ = self.events.send(Event::StateChanged).await;
        let labels =
            crate::streams::producer::labels(self.shared.local.network_id(), self.config.stream_id);
        let items = metrics::counter!("mosaik.streams.consumer.items.received", labels.clone());
        let bytes = metrics::counter!("mosaik.streams.consumer.bytes.received", labels.clone());
        let active = metrics::gauge!("mosaik.streams.consumers.active", labels);
        active.increment(1);
        let outcome = self.receive(link, deadline, &items, &bytes).await;
        active.decrement(1);
        outcome
    }

    /// Receives datums until the session ends.
    ///
    /// Each wake-up takes one frame the slow way (under the cancel and
    /// deadline checks), then every frame the link already holds, up to a
    /// batch (decoded where they lie in its read buffer), and hands the
    /// batch over in one push.
    async fn receive(
        &self,
        mut link: Link<StreamsProtocol>,
        deadline: &mut watch::Receiver<Option<Instant>>,
        items: &metrics::Counter,
        bytes: &metrics::Counter,
    ) -> (Outcome, bool) {
        let mut received = false;
        // Gated (see `primitives::gate`): polled on every frame, they take
        // a lock per poll otherwise.
        let mut cancelled = Stop::new(&self.cancel);
        let mut changes = Gate::new(next_change(deadline.clone()));
        let limit = self.tx.batch_limit();
        loop {
            let due = *deadline.borrow_and_update();
            let frame = tokio::select! {
                biased;
                () = &mut cancelled => {
                    let _ = link.close(GracefulShutdown).await;
                    return (Outcome::Stop, received);
                }
                (watched, changed) = &mut changes => {
                    // Once the sender is gone the gate stays pending.
                    if changed {
                        changes.set(next_change(watched));
                    }
                    continue;
                }
                () = sleep_until(due), if due.is_some() => {
                    // The producer's ticket expired.
                    let _ = link.close(GracefulShutdown).await;
                    return (Outcome::Stop, received);
                }
                frame = link.recv_frame_raw() => frame,
            };
            let mut batch = Vec::with_capacity(limit);
            let mut size = 0;
            let mut next = Some(frame);
            let mut ended = None;
            let mut violated = false;
            while let Some(frame) = next.take() {
                match frame.map(|frame| (self.decode(&frame), frame.len())) {
                    Ok((Some(datum), len)) => {
                        batch.push(datum);
                        size += len;
                    }
                    Ok((None, _)) => violated = true,
                    // What came before the end is still delivered.
                    Err(err) => ended = Some(recv_outcome(&err)),
                }
                if ended.is_none() && !violated && batch.len() < limit {
                    // What the link already read, decoded in place; then
                    // whatever more it can read without waiting.
                    link.take_buffered(limit - batch.len(), |payload| {
                        let Some(datum) = self.decode(payload) else {
                            violated = true;
                            return false;
                        };
                        batch.push(datum);
                        size += payload.len();
                        true
                    });
                    if !violated && batch.len() < limit {
                        next = link.try_recv_frame_raw();
                    }
                }
            }
            if !batch.is_empty() {
                received = true;
                self.info.stats().record_many(batch.len(), size);
                self.stats.record_many(batch.len(), size);
                items.increment(batch.len() as u64);
                bytes.increment(size as u64);
                let delivered = tokio::select! {
                    biased;
                    () = &mut cancelled => false,
                    // Waits only when the channel is full: this is where
                    // backpressure starts. Fails once the consumer is gone.
                    sent = self.tx.send(batch) => sent.is_ok(),
                };
                if !delivered {
                    if self.cancel.is_cancelled() {
                        let _ = link.close(GracefulShutdown).await;
                    }
                    return (Outcome::Stop, received);
                }
            }
            if violated {
                let _ = link.close(ProtocolViolation).await;
                return (Outcome::Stop, received);
            }
            if let Some(outcome) = ended {
                return (outcome, received);
            }
        }
    }

    /// Decodes one datum; `None` (logged) if the producer sent garbage.
    fn decode(&self, frame: &[u8]) -> Option<D> {
        D::decode(frame)
            .inspect_err(|err| {
                tracing::warn!(stream = %self.config.stream_id, error = %err, "undecodable datum, leaving producer");
            })
            .ok()
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => core::future::pending().await,
    }
}
