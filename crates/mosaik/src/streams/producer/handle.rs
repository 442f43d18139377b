//! `Producer<D>`: the cloneable sending handle.

use {
    super::{ProducerConfig, fanout::Fanout},
    crate::{
        Datum, StreamId,
        streams::{ChannelInfo, Shared, When, when::Status},
    },
    core::{
        pin::Pin,
        task::{Context, Poll},
    },
    std::sync::Arc,
    tokio_util::sync::{CancellationToken, DropGuard},
};

/// Sending to a producer failed; the datum is handed back where possible.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<D> {
    /// The producer stopped.
    #[error("producer closed")]
    Closed(Option<D>),
    /// The producer could not take the datum now. Kept for the SPEC's
    /// error shape: sends push straight into the subscriber queues, where
    /// a full queue is handled per subscriber (`disconnect_lagging`), so
    /// the current fan-out never returns it.
    #[error("producer input channel is full")]
    Full(D),
    /// The producer's online condition is not met.
    #[error("producer is offline")]
    Offline(D),
    /// The datum could not be encoded.
    #[error("encoding failed: {1}")]
    Encoding(D, Box<dyn std::error::Error + Send + Sync>),
}

/// Equal when the variant and the datum are; two encoding errors compare
/// by their messages.
impl<D: PartialEq> PartialEq for Error<D> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Closed(a), Self::Closed(b)) => a == b,
            (Self::Full(a), Self::Full(b)) | (Self::Offline(a), Self::Offline(b)) => a == b,
            (Self::Encoding(a, ea), Self::Encoding(b, eb)) => {
                a == b && ea.to_string() == eb.to_string()
            }
            _ => false,
        }
    }
}

/// State shared by every clone of one producer. Dropping the last clone
/// stops the fan-out worker (the guard cancels its token), removes the
/// stream from the registry and from the local peer entry.
pub(crate) struct Inner<D> {
    pub(crate) fanout: Arc<Fanout<D>>,
    pub(crate) _stop: DropGuard,
    pub(crate) when: When,
    pub(crate) status: Arc<Status>,
    pub(crate) config: Arc<ProducerConfig>,
    /// `None` for a detached (closed) producer.
    pub(crate) shared: Option<(Arc<Shared>, u64)>,
}

impl<D> Drop for Inner<D> {
    fn drop(&mut self) {
        let Some((shared, serial)) = self.shared.take() else {
            return;
        };
        let id = self.config.stream_id;
        let removed = shared.registry.with(|entries| {
            if entries.get(&id).is_some_and(|e| e.serial == serial) {
                entries.remove(&id);
                shared.discovery.0.update_local(|e| e.remove_streams([id]));
                true
            } else {
                false
            }
        });
        if removed {
            use super::ShortString;
            let net = shared.local.network_id().short_string();
            metrics::gauge!("mosaik.streams.producers.active", "network" => net).decrement(1);
        }
    }
}

/// A handle to a stream's fan-out. Clones share one worker.
///
/// Implements [`futures::Sink`]: `poll_ready` waits until the producer is
/// online; sends never wait on a consumer (see `disconnect_lagging`).
pub struct Producer<D: Datum> {
    inner: Arc<Inner<D>>,
    /// `poll_ready` yielded once for a full subscriber queue.
    yielded: bool,
    online: Option<Pin<Box<dyn Future<Output = ()> + Send + Sync>>>,
}

impl<D: Datum> core::fmt::Debug for Producer<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("stream_id", &self.inner.config.stream_id)
            .field("online", &self.is_online())
            .finish_non_exhaustive()
    }
}

impl<D: Datum> Clone for Producer<D> {
    fn clone(&self) -> Self {
        Self::from_inner(self.inner.clone())
    }
}

impl<D: Datum> Producer<D> {
    pub(crate) fn from_inner(inner: Arc<Inner<D>>) -> Self {
        Self {
            inner,
            yielded: false,
            online: None,
        }
    }

    /// A producer that is already closed (used when the stream id is taken
    /// by another datum type).
    pub(crate) fn closed(stream_id: StreamId) -> Self {
        let status = Arc::new(Status::new());
        let config = super::Builder::<D>::config_for(stream_id);
        Self::from_inner(Arc::new(Inner {
            fanout: Arc::new(Fanout::closed(stream_id)),
            _stop: CancellationToken::new().drop_guard(),
            when: status.when(),
            status,
            config: Arc::new(config),
            shared: None,
        }))
    }

    /// Encodes `datum` once and queues it for every subscriber, without
    /// waiting.
    pub fn try_send(&self, datum: D) -> Result<(), Error<D>> {
        if !self.is_online() {
            if self.inner.fanout.is_closed() {
                return Err(Error::Closed(Some(datum)));
            }
            return Err(Error::Offline(datum));
        }
        self.inner.fanout.push(datum)
    }

    /// Waits until online, then queues `datum` like
    /// [`try_send`](Self::try_send).
    pub async fn send(&self, datum: D) -> Result<(), Error<D>> {
        if !self.is_online() {
            if self.inner.fanout.is_closed() {
                return Err(Error::Closed(Some(datum)));
            }
            self.inner.when.online().await;
        }
        // A send loop must not starve the runtime (the input channel used
        // to give it this, through tokio's cooperative budget).
        tokio::task::coop::consume_budget().await;
        let fanout = &self.inner.fanout;
        let Some(held) = fanout.push_unless_full(datum)? else {
            return Ok(());
        };
        tokio::task::yield_now().await;
        fanout.push(held)
    }

    /// Whether the online condition holds.
    pub fn is_online(&self) -> bool {
        self.inner.when.is_online()
    }

    /// Status and conditions.
    pub fn when(&self) -> &When {
        &self.inner.when
    }

    /// The configuration in use.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// The stream.
    pub fn stream_id(&self) -> &StreamId {
        &self.inner.config.stream_id
    }

    /// The current subscriptions.
    pub fn consumers(&self) -> impl Iterator<Item = ChannelInfo> + use<D> {
        self.inner.status.channels().into_iter()
    }
}

impl<D: Datum> futures::Sink<D> for Producer<D> {
    type Error = Error<D>;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error<D>>> {
        if !self.is_online() {
            let when = self.inner.when.clone();
            let fut = self
                .online
                .get_or_insert_with(|| Box::pin(async move { when.online().await }));
            if fut.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        self.online = None;
        if self.inner.fanout.is_closed() {
            return Poll::Ready(Err(Error::Closed(None)));
        }
        // Like `send`: give a full subscriber's task one turn to drain.
        if !self.yielded && self.inner.fanout.is_any_queue_full() {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: D) -> Result<(), Error<D>> {
        // `poll_ready` waited for the online condition; a flap since then
        // does not turn an accepted item into an error.
        self.inner.fanout.push(item)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error<D>>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error<D>>> {
        // Clones share the fan-out: closing one handle's sink must not
        // stop the others (the last drop stops the worker).
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn errors_compare_by_variant_and_datum() {
        assert_eq!(Error::Offline(1u8), Error::Offline(1));
        assert_ne!(Error::Offline(1u8), Error::Full(1));
        assert_eq!(Error::<u8>::Closed(None), Error::Closed(None));
        assert_ne!(Error::Closed(Some(1u8)), Error::Closed(Some(2)));
        let encoding = |msg: &str| Error::Encoding(1u8, msg.into());
        assert_eq!(encoding("bad"), encoding("bad"));
        assert_ne!(encoding("bad"), encoding("worse"));
    }
}
