//! The demo's closing summary.

use {core::time::Duration, std::fmt};

/// What the demo measured.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Members started.
    pub nodes: usize,
    /// Time until every member had discovered every other one.
    pub convergence: Duration,
    /// Time until the store was online on every member.
    pub store_online: Duration,
    /// Stream items received, all consumers together.
    pub stream_items: u64,
    /// Average stream rate per consumer, items per second.
    pub stream_rate: f64,
    /// Writes acknowledged by the store.
    pub acknowledged: usize,
    /// Writes attempted but not acknowledged (e.g. during failover).
    pub unacknowledged: u64,
    /// Acknowledged writes missing (or wrong) on at least one survivor.
    pub lost: usize,
    /// Time from killing the leader until every survivor followed a new
    /// one; `None` when no failover completed.
    pub failover: Option<Duration>,
}

impl Summary {
    /// True when the run showed what it should: no acknowledged write
    /// lost, and the cluster failed over.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.failover.is_some()
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "summary")?;
        writeln!(f, "  nodes                {}", self.nodes)?;
        writeln!(f, "  convergence          {} ms", ms(self.convergence))?;
        writeln!(f, "  store online         {} ms", ms(self.store_online))?;
        writeln!(
            f,
            "  stream               {} items, {:.0} msgs/s per consumer",
            self.stream_items, self.stream_rate
        )?;
        writeln!(
            f,
            "  writes               {} acknowledged, {} lost, {} not acknowledged",
            self.acknowledged, self.lost, self.unacknowledged
        )?;
        match self.failover {
            Some(d) => writeln!(f, "  leader failover      {} ms", ms(d))?,
            None => writeln!(f, "  leader failover      did not complete")?,
        }
        // One machine-readable line for scripts.
        write!(
            f,
            "summary: nodes={} convergence_ms={} stream_msgs_per_s={:.0} writes_acknowledged={} \
             writes_lost={} failover_ms={}",
            self.nodes,
            ms(self.convergence),
            self.stream_rate,
            self.acknowledged,
            self.lost,
            self.failover
                .map_or_else(|| "none".to_owned(), |d| ms(d).to_string())
        )
    }
}
