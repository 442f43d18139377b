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
    /// The killed leader restarted from its data directory; `None` when
    /// it did not come back.
    pub restart: Option<Restart>,
}

/// What the restarted leader held at the end.
#[derive(Debug, Clone)]
pub struct Restart {
    /// From the restart until it followed the group's leader; `None` if
    /// it did not within the timeout.
    pub rejoined: Option<Duration>,
    /// Acknowledged writes (every member, every incarnation) looked up on
    /// it.
    pub checked: usize,
    /// Of those, missing or wrong on it.
    pub lost: usize,
}

impl Summary {
    /// True when the run showed what it should: no acknowledged write
    /// lost, the cluster failed over, and the old leader restarted from
    /// its directory rejoined holding every acknowledged write.
    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.failover.is_some()
            && self
                .restart
                .as_ref()
                .is_some_and(|r| r.rejoined.is_some() && r.lost == 0)
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
        match &self.restart {
            Some(r) => {
                let state = if r.rejoined.is_some() {
                    "rejoined"
                } else {
                    "did not rejoin"
                };
                write!(
                    f,
                    "  restarted member     {state}, {} acknowledged writes, {} lost",
                    r.checked, r.lost
                )?;
                match r.rejoined {
                    Some(d) => writeln!(f, " (from its data directory, {} ms)", ms(d))?,
                    None => writeln!(f)?,
                }
            }
            None => writeln!(f, "  restarted member     did not restart")?,
        }
        // One machine-readable line for scripts.
        write!(
            f,
            "summary: nodes={} convergence_ms={} stream_msgs_per_s={:.0} writes_acknowledged={} \
             writes_lost={} failover_ms={} restart_rejoin_ms={} restart_writes_checked={} \
             restart_writes_lost={}",
            self.nodes,
            ms(self.convergence),
            self.stream_rate,
            self.acknowledged,
            self.lost,
            self.failover
                .map_or_else(|| "none".to_owned(), |d| ms(d).to_string()),
            self.restart
                .as_ref()
                .and_then(|r| r.rejoined)
                .map_or_else(|| "none".to_owned(), |d| ms(d).to_string()),
            self.restart
                .as_ref()
                .map_or_else(|| "none".to_owned(), |r| r.checked.to_string()),
            self.restart
                .as_ref()
                .map_or_else(|| "none".to_owned(), |r| r.lost.to_string()),
        )
    }
}
