//! A per-source limit on new incoming connections, checked before the
//! TLS handshake (so refusing costs one stateless packet).
//!
//! Admission needs the TLS peer id, which costs a handshake on both sides;
//! an attacker whose connections are refused at once reconnects at once,
//! and a few hundred such loops burned the CPU the group needed to
//! heartbeat (commits fell from ~1,000/s to ~20/s with a leader change).
//! Every endpoint sends from one UDP address, so the source address of an
//! `Incoming` (or the peer id a relay names) identifies the sender well
//! enough to rate-limit it.

use {
    iroh::endpoint::IncomingAddr,
    std::{collections::HashMap, net::SocketAddr, sync::Mutex, time::Instant},
};

/// Most sources tracked; idle (full) buckets are dropped beyond this.
const MAX_TRACKED: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Source {
    Ip(SocketAddr),
    Relayed(iroh::EndpointId),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets of new connections per source address.
#[derive(Debug)]
pub(crate) struct ConnectionRate {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<Source, Bucket>>,
}

impl ConnectionRate {
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for a new connection from `addr`; false when the
    /// source is over its rate.
    pub(crate) fn allow(&self, addr: &IncomingAddr) -> bool {
        let source = match addr {
            IncomingAddr::Ip(ip) => Source::Ip(*ip),
            IncomingAddr::Relay { endpoint_id, .. } => Source::Relayed(*endpoint_id),
            // Custom transports are not ours to police.
            _ => return true,
        };
        self.take(source, Instant::now())
    }

    fn take(&self, source: Source, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().expect("rate lock");
        if buckets.len() >= MAX_TRACKED {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.tokens + rate * now.duration_since(b.at).as_secs_f64() < burst);
        }
        let bucket = buckets.entry(source).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = self.per_second * now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use {super::*, core::time::Duration};

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let rate = ConnectionRate::new(10, 5);
        let a = Source::Ip("127.0.0.1:1".parse().unwrap());
        let b = Source::Ip("127.0.0.1:2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(rate.take(a.clone(), t0));
        }
        assert!(!rate.take(a.clone(), t0), "over the burst");
        assert!(rate.take(b, t0), "other sources are unaffected");
        // 10 per second: one more token after 100 ms.
        assert!(rate.take(a.clone(), t0 + Duration::from_millis(100)));
        assert!(!rate.take(a, t0 + Duration::from_millis(100)));
    }
}
