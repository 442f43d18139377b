//! The receive rate of links whose peer is not admitted yet.
//!
//! The byte budget (`frame.rs`) bounds what unadmitted links make the node
//! *hold*; it does not bound what they make it *do*. A flood of
//! almost-complete large frames on the catalog-sync protocol (whose frames
//! may legitimately be megabytes) kept the node busy decrypting and copying
//! the attacker's bytes (a profile: `memmove`, AES-GCM and QUIC packet
//! processing), and the stream and group of honest peers lost two thirds of
//! their throughput. So unadmitted links together read at most
//! `max_unauthenticated_rate` bytes per second: a [`Throttled`] stream
//! that is out of tokens stops reading, QUIC flow control then stops the
//! sender at its window, and the flood costs the node a bounded share of
//! its CPU. Admission (`Link::admit`) lifts the limit for that link.

use {
    core::{
        pin::Pin,
        task::{Context, Poll, ready},
        time::Duration,
    },
    std::sync::{Arc, Mutex, PoisonError},
    tokio::{
        io::{AsyncRead, ReadBuf},
        time::{Instant, Sleep},
    },
};

/// A token bucket of bytes, shared by every unadmitted link of a node.
#[derive(Debug)]
pub(crate) struct IngressRate {
    /// Bytes per second; 0 disables the limit.
    rate: u64,
    /// Tokens the bucket holds at most (one second of rate, so a honest
    /// handshake or catalog snapshot is read without a pause).
    burst: u64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: u64,
    at: Instant,
}

impl IngressRate {
    /// `rate` bytes per second (0: unlimited).
    pub(crate) fn new(rate: u64) -> Self {
        Self {
            rate,
            burst: rate,
            state: Mutex::new(Bucket {
                tokens: rate,
                at: Instant::now(),
            }),
        }
    }

    /// Up to `want` bytes granted now, or how long until one is.
    fn grant(&self, want: usize) -> Result<usize, Duration> {
        if self.rate == 0 {
            return Ok(want);
        }
        let mut bucket = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.at);
        let refill =
            u64::try_from(elapsed.as_micros().saturating_mul(u128::from(self.rate)) / 1_000_000)
                .unwrap_or(u64::MAX);
        if refill > 0 {
            bucket.tokens = bucket.tokens.saturating_add(refill).min(self.burst);
            bucket.at = now;
        }
        if bucket.tokens == 0 {
            // Time until one read's worth (at least 1 ms, at most 100 ms).
            let wait = Duration::from_micros(16_384 * 1_000_000 / self.rate.max(1));
            return Err(wait.clamp(Duration::from_millis(1), Duration::from_millis(100)));
        }
        let granted = usize::try_from(bucket.tokens)
            .unwrap_or(usize::MAX)
            .min(want);
        bucket.tokens -= granted as u64;
        Ok(granted)
    }

    /// Returns tokens granted but not read.
    fn refund(&self, bytes: usize) {
        if self.rate == 0 || bytes == 0 {
            return;
        }
        let mut bucket = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        bucket.tokens = bucket.tokens.saturating_add(bytes as u64).min(self.burst);
    }
}

/// A receive stream read under the node's [`IngressRate`] until its peer
/// is admitted.
pub(crate) struct Throttled<R> {
    inner: R,
    rate: Option<Arc<IngressRate>>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<R> Throttled<R> {
    pub(crate) fn new(inner: R, rate: Option<Arc<IngressRate>>) -> Self {
        Self {
            inner,
            rate,
            sleep: None,
        }
    }

    /// The peer is admitted: read at full speed from now on.
    pub(crate) fn admit(&mut self) {
        self.rate = None;
        self.sleep = None;
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Throttled<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let Some(rate) = this.rate.clone() else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                this.sleep = None;
            }
            match rate.grant(buf.remaining()) {
                Ok(granted) => {
                    // Read into at most `granted` initialized bytes of the
                    // unfilled part, then mark what was read as filled.
                    let window = buf.initialize_unfilled_to(granted);
                    let mut limited = ReadBuf::new(window);
                    let poll = Pin::new(&mut this.inner).poll_read(cx, &mut limited);
                    let read = limited.filled().len();
                    rate.refund(granted - read);
                    buf.advance(read);
                    return poll;
                }
                Err(wait) => {
                    this.sleep = Some(Box::pin(tokio::time::sleep(wait)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use {
        super::{IngressRate, Throttled},
        core::time::Duration,
        std::sync::Arc,
        tokio::{
            io::{AsyncReadExt, AsyncWriteExt},
            time::Instant,
        },
    };

    const RATE: u64 = 256 * 1024;

    /// A peer that sends `len` bytes at once (in memory).
    async fn sender(len: usize) -> tokio::io::DuplexStream {
        let (mut tx, rx) = tokio::io::duplex(len + 1);
        tx.write_all(&vec![7u8; len]).await.expect("in memory");
        drop(tx);
        rx
    }

    #[tokio::test(start_paused = true)]
    async fn unadmitted_links_share_the_rate_and_admission_lifts_it() {
        let rate = Arc::new(IngressRate::new(RATE));
        // Two links share the bucket: 1 MiB in all, of which one second's
        // worth (the burst) is read at once and the rest at the rate.
        let half = 512 * 1024;
        let mut a = Throttled::new(sender(half).await, Some(rate.clone()));
        let mut b = Throttled::new(sender(half).await, Some(rate.clone()));
        let started = Instant::now();
        let (ra, rb) = tokio::join!(
            async {
                let mut v = Vec::new();
                a.read_to_end(&mut v).await.map(|_| v.len())
            },
            async {
                let mut v = Vec::new();
                b.read_to_end(&mut v).await.map(|_| v.len())
            }
        );
        assert_eq!((ra.ok(), rb.ok()), (Some(half), Some(half)));
        let took = started.elapsed();
        // (1 MiB − 256 KiB burst) at 256 KiB/s = 3 s.
        assert!(took >= Duration::from_millis(2_900), "{took:?}");
        assert!(took <= Duration::from_millis(3_300), "{took:?}");

        // The bucket is empty now; an admitted link does not wait for it.
        let mut c = Throttled::new(sender(half).await, Some(rate));
        c.admit();
        let started = Instant::now();
        let mut v = Vec::new();
        assert_eq!(c.read_to_end(&mut v).await.ok(), Some(half));
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_rate_is_unlimited() {
        let mut link = Throttled::new(sender(4 << 20).await, Some(Arc::new(IngressRate::new(0))));
        let started = Instant::now();
        let mut v = Vec::new();
        assert_eq!(link.read_to_end(&mut v).await.ok(), Some(4 << 20));
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
