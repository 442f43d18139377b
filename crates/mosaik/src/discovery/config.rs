//! `discovery::Config` and its builder.

use {
    crate::{PeerId, primitives::IntoIterOrSingle},
    core::time::Duration,
    iroh::EndpointAddr,
};

/// Discovery settings (SPEC §1.3 defaults).
#[derive(Debug, Clone)]
pub struct Config {
    /// Capacity of the broadcast channel behind `events()`.
    pub events_backlog: usize,
    /// Peers dialed at startup.
    pub bootstrap_peers: Vec<EndpointAddr>,
    /// Tags put in the local entry at startup.
    pub tags: Vec<crate::Tag>,
    /// Entries not updated for this long are invisible and purged.
    pub purge_after: Duration,
    /// Gossiped entries whose timestamp is further than this from our clock
    /// are ignored.
    pub max_time_drift: Duration,
    /// Periodic re-announce interval.
    pub announce_interval: Duration,
    /// Re-announce jitter as a fraction of the interval (0..=1).
    pub announce_jitter: f64,
    /// Disables the DHT bootstrap.
    pub no_dht_bootstrap: bool,
    /// Mainline bootstrap nodes for the DHT (`None`: the public DHT).
    pub dht_bootstrap_nodes: Option<Vec<String>>,
    /// DHT poll interval while the node has no gossip neighbors (60 s
    /// once it has some).
    pub dht_poll_interval: Duration,
    /// Timeout of one DHT request.
    pub dht_request_timeout: Duration,
    /// Interval of RTT probes.
    pub rtt_probe_interval: Duration,
    /// Peers whose smoothed RTT exceeds this are hidden from `peers()`.
    pub max_rtt: Option<Duration>,
    /// Largest number of entries accepted in one catalog snapshot.
    pub max_snapshot_entries: usize,
    /// Time a sync or ping exchange may take before it is abandoned.
    pub exchange_timeout: Duration,
    /// Most signed peer entries the catalog holds; when full, only entries
    /// proven reachable or sharing our tags, streams or groups get in
    /// (evicting strangers; peers sharing a group are never evicted).
    /// Keep it below peers' `max_snapshot_entries`, so they take our
    /// snapshots.
    pub max_catalog_entries: usize,
    /// Most entries one catalog snapshot may add that the catalog did not
    /// know (a per-source limit: one peer cannot flood the catalog).
    pub max_new_entries_per_sync: usize,
    /// Capacity of each of the two queues of outgoing discovery work,
    /// first-contact catalog syncs and RTT probes, each worked off by a
    /// fixed pool of tasks of its own (16 syncs and 8 probes at once, not
    /// a task per peer). A full queue drops the job, counted in
    /// `mosaik.discovery.jobs.dropped`: a dropped sync is retried on the
    /// peer's next contact, a dropped probe in the next round.
    pub max_pending_syncs: usize,
    /// A gossip connection whose peer is still not in the catalog this
    /// long after connecting is closed with `UnknownPeer`.
    pub gossip_admission_timeout: Duration,
}

/// Default cap on signed catalog entries.
pub const DEFAULT_MAX_CATALOG_ENTRIES: usize = 8192;

/// Default cap on entries new to us that one snapshot may add.
pub const DEFAULT_MAX_NEW_ENTRIES_PER_SYNC: usize = 256;

/// Default capacity of the pending sync queue and of the probe queue.
pub const DEFAULT_MAX_PENDING_SYNCS: usize = 256;

/// How long a departing node waits for its direct departure notices before
/// shutdown goes on (plus a 2 s grace on a loaded machine); it goes on
/// sooner, 30 ms after the first notice is confirmed (that peer relays the
/// departure over gossip), or once every notice is confirmed or failed.
pub const GRACEFUL_DEPARTURE_WINDOW: Duration = Duration::from_millis(500);

impl Default for Config {
    fn default() -> Self {
        Self {
            events_backlog: 100,
            bootstrap_peers: Vec::new(),
            tags: Vec::new(),
            purge_after: Duration::from_mins(5),
            max_time_drift: Duration::from_secs(50),
            announce_interval: Duration::from_secs(45),
            announce_jitter: 0.5,
            no_dht_bootstrap: false,
            dht_bootstrap_nodes: None,
            dht_poll_interval: Duration::from_secs(5),
            dht_request_timeout: Duration::from_secs(5),
            rtt_probe_interval: Duration::from_secs(30),
            max_rtt: None,
            max_snapshot_entries: 10_000,
            exchange_timeout: Duration::from_secs(5),
            max_catalog_entries: DEFAULT_MAX_CATALOG_ENTRIES,
            max_new_entries_per_sync: DEFAULT_MAX_NEW_ENTRIES_PER_SYNC,
            max_pending_syncs: DEFAULT_MAX_PENDING_SYNCS,
            gossip_admission_timeout: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// A builder with the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }
}

/// Builder for [`Config`]; setters are `with_*`.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ConfigBuilder(Config);

/// An invalid discovery setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid discovery config: {0}")]
pub struct ConfigError(pub String);

impl ConfigBuilder {
    /// Capacity of the events channel.
    pub fn with_events_backlog(mut self, n: usize) -> Self {
        self.0.events_backlog = n;
        self
    }

    /// Appends bootstrap peers: one address or bare peer id, or any
    /// iterator of them.
    pub fn with_bootstrap<V>(mut self, peers: impl IntoIterOrSingle<EndpointAddr, V>) -> Self {
        self.0.bootstrap_peers.extend(peers.into_items());
        self
    }

    /// Appends one bootstrap peer id (resolved through the address book).
    pub fn with_bootstrap_peer(self, peer: PeerId) -> Self {
        self.with_bootstrap([EndpointAddr::new(peer)])
    }

    /// Appends tags: one tag (or `&str`) or any iterator of them.
    pub fn with_tags<V>(mut self, tags: impl IntoIterOrSingle<crate::Tag, V>) -> Self {
        self.0.tags.extend(tags.into_items());
        self
    }

    /// Staleness horizon.
    pub fn with_purge_after(mut self, d: Duration) -> Self {
        self.0.purge_after = d;
        self
    }

    /// Maximum accepted clock drift of gossiped entries.
    pub fn with_max_time_drift(mut self, d: Duration) -> Self {
        self.0.max_time_drift = d;
        self
    }

    /// Periodic re-announce interval.
    pub fn with_announce_interval(mut self, d: Duration) -> Self {
        self.0.announce_interval = d;
        self
    }

    /// Re-announce jitter fraction.
    pub fn with_announce_jitter(mut self, jitter: f64) -> Self {
        self.0.announce_jitter = jitter;
        self
    }

    /// Disables the DHT bootstrap.
    pub fn no_dht_bootstrap(mut self) -> Self {
        self.0.no_dht_bootstrap = true;
        self
    }

    /// Uses these Mainline nodes (`host:port`) to bootstrap the DHT instead
    /// of the public ones (for private or test DHTs).
    pub fn with_dht_bootstrap_nodes(mut self, nodes: impl IntoIterator<Item = String>) -> Self {
        self.0.dht_bootstrap_nodes = Some(nodes.into_iter().collect());
        self
    }

    /// DHT poll interval while there are no gossip neighbors.
    pub fn with_dht_poll_interval(mut self, d: Duration) -> Self {
        self.0.dht_poll_interval = d;
        self
    }

    /// Timeout of one DHT request.
    pub fn with_dht_request_timeout(mut self, d: Duration) -> Self {
        self.0.dht_request_timeout = d;
        self
    }

    /// RTT probe interval.
    pub fn with_rtt_probe_interval(mut self, d: Duration) -> Self {
        self.0.rtt_probe_interval = d;
        self
    }

    /// Hide peers slower than `d`.
    pub fn with_max_rtt(mut self, d: Duration) -> Self {
        self.0.max_rtt = Some(d);
        self
    }

    /// Largest catalog snapshot accepted, in entries.
    pub fn with_max_snapshot_entries(mut self, n: usize) -> Self {
        self.0.max_snapshot_entries = n;
        self
    }

    /// Time limit of one sync or ping exchange.
    pub fn with_exchange_timeout(mut self, d: Duration) -> Self {
        self.0.exchange_timeout = d;
        self
    }

    /// Most signed entries the catalog holds (default 8192).
    pub fn with_max_catalog_entries(mut self, n: usize) -> Self {
        self.0.max_catalog_entries = n;
        self
    }

    /// Most entries new to us one catalog snapshot may add (default 256).
    pub fn with_max_new_entries_per_sync(mut self, n: usize) -> Self {
        self.0.max_new_entries_per_sync = n;
        self
    }

    /// Capacity of the pending sync queue and of the probe queue, each
    /// (default 256).
    pub fn with_max_pending_syncs(mut self, n: usize) -> Self {
        self.0.max_pending_syncs = n;
        self
    }

    /// Time an unknown peer's gossip connection gets to become known
    /// (default 5 s).
    pub fn with_gossip_admission_timeout(mut self, d: Duration) -> Self {
        self.0.gossip_admission_timeout = d;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.0;
        if !(0.0..=1.0).contains(&c.announce_jitter) {
            return Err(ConfigError(format!(
                "announce_jitter {} not in 0..=1",
                c.announce_jitter
            )));
        }
        if c.announce_interval.is_zero() || c.rtt_probe_interval.is_zero() {
            return Err(ConfigError("intervals must be positive".into()));
        }
        if c.max_pending_syncs == 0 {
            return Err(ConfigError("max_pending_syncs must be positive".into()));
        }
        if c.events_backlog == 0 {
            return Err(ConfigError("events_backlog must be positive".into()));
        }
        Ok(c)
    }
}
