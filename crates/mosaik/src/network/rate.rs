//! A per-source limit on new incoming connections, checked before the
//! TLS handshake (so refusing costs one stateless packet).
//!
//! Admission needs the TLS peer id, which costs a handshake on both sides;
//! an attacker whose connections are refused at once reconnects at once,
//! and a few hundred such loops burned the CPU the group needed to
//! heartbeat (commits fell from ~1,000/s to ~20/s with a leader change).
//! Every endpoint sends from one UDP address, so the source address of an
//! `Incoming` (or the peer id a relay names) identifies an honest sender
//! well enough to rate-limit it.
//!
//! A sender that is not honest can use many addresses (ports, IPv6
//! prefixes, spoofed Initial packets), and each address is a bucket this
//! node holds. So the table of buckets is bounded ([`MAX_TRACKED`]): a
//! source whose bucket has refilled is forgotten (a new bucket starts full,
//! so forgetting it changes nothing), and when the table is full of sources
//! that are still spending, every source without a bucket shares one more
//! bucket of the same rate and burst. A flood of addresses therefore costs
//! this node a fixed amount of memory, at most one sweep of the table per
//! [`SWEEP_EVERY`], and lets through at most one source's allowance more;
//! the sources already tracked (the honest peers that connected before the
//! flood) keep their own.

use {
    core::time::Duration,
    iroh::endpoint::IncomingAddr,
    std::{collections::HashMap, net::SocketAddr, sync::Mutex, time::Instant},
};

/// Most sources tracked at once, each with its own bucket.
pub(crate) const MAX_TRACKED: usize = 4096;

/// A full table is swept of refilled buckets at most this often: a sweep
/// walks the whole table, and a flood of new sources must not make every
/// connection attempt pay for one.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_millis(100);

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

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            at: now,
        }
    }

    /// Refills for the time since it was last used, then takes one token if
    /// there is one.
    fn take(&mut self, per_second: f64, burst: f64, now: Instant) -> bool {
        let refill = per_second * now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + refill).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether it would be full again by `now` (then it is the same as no
    /// bucket at all).
    fn refilled(&self, per_second: f64, burst: f64, now: Instant) -> bool {
        self.tokens + per_second * now.saturating_duration_since(self.at).as_secs_f64() >= burst
    }
}

#[derive(Debug)]
struct Table {
    buckets: HashMap<Source, Bucket>,
    /// Shared by every source that finds the table full.
    overflow: Bucket,
    /// When the table was last swept.
    swept: Option<Instant>,
}

/// Token buckets of new connections per source address.
#[derive(Debug)]
pub(crate) struct ConnectionRate {
    per_second: f64,
    burst: f64,
    table: Mutex<Table>,
}

impl ConnectionRate {
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second: f64::from(per_second),
            burst,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                overflow: Bucket::full(burst, Instant::now()),
                swept: None,
            }),
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
        let (rate, burst) = (self.per_second, self.burst);
        let mut table = self.table.lock().expect("rate lock");
        let table = &mut *table;
        if let Some(bucket) = table.buckets.get_mut(&source) {
            return bucket.take(rate, burst, now);
        }
        let sweep_due = table
            .swept
            .is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_EVERY);
        if table.buckets.len() >= MAX_TRACKED && sweep_due {
            table.buckets.retain(|_, b| !b.refilled(rate, burst, now));
            table.swept = Some(now);
        }
        if table.buckets.len() < MAX_TRACKED {
            let mut bucket = Bucket::full(burst, now);
            let allowed = bucket.take(rate, burst, now);
            table.buckets.insert(source, bucket);
            return allowed;
        }
        metrics::counter!("mosaik.network.connections.rate_overflow").increment(1);
        table.overflow.take(rate, burst, now)
    }

    /// Sources with a bucket of their own.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table.lock().expect("rate lock").buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `n`th distinct source address.
    fn ip(n: u32) -> Source {
        let [high, mid, low, port] = n.to_be_bytes();
        Source::Ip(SocketAddr::from((
            [10, high, mid, low],
            u16::from(port) + 1,
        )))
    }

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

    #[test]
    fn a_flood_of_sources_is_held_to_the_table_and_one_shared_bucket() {
        let (per_second, burst) = (10, 4);
        let rate = ConnectionRate::new(per_second, burst);
        let t0 = Instant::now();
        let tracked = u32::try_from(MAX_TRACKED).unwrap();
        for n in 0..tracked {
            assert!(rate.take(ip(n), t0), "a new source gets its burst");
        }
        assert_eq!(rate.tracked(), MAX_TRACKED);
        // Every source is still spending: beyond the table, new sources
        // share one bucket, whose burst is one source's.
        let beyond: Vec<bool> = (tracked..tracked + 100)
            .map(|n| rate.take(ip(n), t0))
            .collect();
        let allowed = beyond.iter().filter(|ok| **ok).count();
        assert_eq!(allowed, 4, "{beyond:?}");
        assert_eq!(
            rate.tracked(),
            MAX_TRACKED,
            "the table never grows past its bound"
        );
        // A source that had a bucket keeps it.
        assert!(rate.take(ip(7), t0));
    }

    #[test]
    fn refilled_sources_are_forgotten_when_the_table_is_full() {
        let rate = ConnectionRate::new(10, 4);
        let t0 = Instant::now();
        let tracked = u32::try_from(MAX_TRACKED).unwrap();
        for n in 0..tracked {
            assert!(rate.take(ip(n), t0));
        }
        // One token each was spent: refilled after 100 ms at 10 per second.
        let later = t0 + Duration::from_millis(150);
        for n in tracked..tracked + 50 {
            assert!(rate.take(ip(n), later), "room again after the sweep");
            for _ in 1..4 {
                assert!(rate.take(ip(n), later), "with a burst of its own");
            }
        }
        assert_eq!(rate.tracked(), 50);
    }

    #[test]
    fn a_full_table_is_swept_at_most_once_per_interval() {
        // 100 per second: a spent token is back within 10 ms.
        let rate = ConnectionRate::new(100, 4);
        let t0 = Instant::now();
        let tracked = u32::try_from(MAX_TRACKED).unwrap();
        for n in 0..tracked {
            assert!(rate.take(ip(n), t0));
        }
        // A sweep at t0 finds nothing refilled: the shared bucket.
        assert!(rate.take(ip(tracked), t0));
        // Every bucket has refilled by 50 ms, but the next sweep is due only
        // `SWEEP_EVERY` after the last: until then new sources still share.
        let soon = t0 + Duration::from_millis(50);
        assert!(rate.take(ip(tracked + 1), soon));
        assert_eq!(rate.tracked(), MAX_TRACKED, "no sweep yet");
        let due = t0 + SWEEP_EVERY + Duration::from_millis(1);
        assert!(rate.take(ip(tracked + 2), due));
        assert_eq!(rate.tracked(), 1, "swept: only the newcomer is left");
    }
}
