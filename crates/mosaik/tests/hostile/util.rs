//! Helpers: loopback nodes with small limits, raw attacker connections,
//! close-code checks and bounded waits.

use {
    core::time::Duration,
    mosaik::{
        Network, UniqueId,
        discovery::ConfigBuilder,
        groups::{ApplyContext, ConsensusConfig, LogReplaySync, StateMachine},
        iroh::{
            RelayMode,
            endpoint::{Connection, ConnectionError},
        },
    },
    std::time::Instant,
};

/// Upper bound of any single wait.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Discovery settings for tests: quick re-announce, no DHT.
pub fn fast() -> ConfigBuilder {
    mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1))
        .with_rtt_probe_interval(Duration::from_secs(1))
        .with_exchange_timeout(Duration::from_secs(2))
        .with_gossip_admission_timeout(Duration::from_secs(1))
}

/// A loopback node on `network`; `limits` adjusts the network builder.
pub async fn node_with(
    network: &str,
    config: ConfigBuilder,
    limits: impl FnOnce(mosaik::network::NetworkBuilder) -> mosaik::network::NetworkBuilder,
) -> Network {
    limits(
        Network::builder(network)
            .with_relay_mode(RelayMode::Disabled)
            .with_addresses(["127.0.0.1:0".parse().unwrap()])
            .with_discovery(config),
    )
    .build()
    .await
    .expect("network starts")
}

/// A loopback node with default limits.
pub async fn node(network: &str, config: ConfigBuilder) -> Network {
    node_with(network, config, |b| b).await
}

/// An attacker: a node of its own network nobody bootstraps from, so the
/// victim's catalog never knows it.
pub async fn attacker() -> Network {
    node("hostile-attacker", fast()).await
}

/// Opens a raw connection of `alpn` to `target`.
pub async fn raw(from: &Network, target: &Network, alpn: &[u8]) -> Option<Connection> {
    from.local()
        .endpoint()
        .connect(target.local().addr(), alpn)
        .await
        .ok()
}

/// The application close code `conn` ended with, waiting at most `wait`.
pub async fn close_code(conn: &Connection, wait: Duration) -> Option<u64> {
    match tokio::time::timeout(wait, conn.closed()).await {
        Ok(ConnectionError::ApplicationClosed(close)) => Some(close.error_code.into_inner()),
        _ => None,
    }
}

/// Awaits `fut` under [`TIMEOUT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Polls `pred` until it holds (every 20 ms, under [`TIMEOUT`]); returns
/// how long it took.
pub async fn until(what: &str, mut pred: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    within(what, async {
        while !pred() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    started.elapsed()
}

/// Short consensus timing so tests run in seconds.
pub fn timing() -> ConsensusConfig {
    ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_heartbeat_jitter(Duration::from_millis(30))
        .with_max_missed_heartbeats(10)
        .with_election_timeout(Duration::from_millis(600))
        .with_election_timeout_jitter(Duration::from_millis(300))
        .with_bootstrap_delay(Duration::from_millis(500))
        .build()
        .unwrap()
}

/// A replicated integer.
#[derive(Debug, Clone, Default)]
pub struct Counter(pub i64);

impl StateMachine for Counter {
    type Command = i64;
    type Query = ();
    type QueryResult = i64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("hostile-counter-v1")
    }

    fn apply(&mut self, command: i64, _: &dyn ApplyContext) {
        self.0 += command;
    }

    fn query(&self, (): ()) -> i64 {
        self.0
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}
