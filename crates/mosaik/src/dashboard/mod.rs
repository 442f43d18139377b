//! The live web view behind `NetworkBuilder::with_dashboard` (feature
//! `dashboard`): one self-contained page, `GET /api/snapshot` (this node's
//! view as JSON) and `GET /api/events` (server-sent events, a fresh
//! snapshot whenever the view changed, at most once per
//! [`DashboardConfig::with_interval`]).
//!
//! `sampler` builds the view from what the node already holds (catalog,
//! producers, consumers, joined groups); `rows` turns collection stores,
//! tags and gossip neighbors into their JSON rows; `http` serves it;
//! `view` is the JSON shape; `page.html` is the page, embedded with
//! `include_str!`.

mod http;
mod rows;
mod sampler;
mod view;

use {
    crate::{Tag, network::NetworkError},
    core::time::Duration,
    std::{
        collections::BTreeMap,
        net::{Ipv4Addr, SocketAddr},
    },
    tokio_util::sync::CancellationToken,
};

pub(crate) use sampler::Sources;

/// Default for [`DashboardConfig::with_max_clients`].
pub const DEFAULT_MAX_CLIENTS: usize = 8;

/// Default for [`DashboardConfig::with_interval`].
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);

/// Default for [`DashboardConfig::with_max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// Default for [`DashboardConfig::with_max_collections`].
pub const DEFAULT_MAX_COLLECTIONS: usize = 64;

/// Most tag names [`DashboardConfig::with_tag_names`] keeps; later ones
/// are ignored.
pub const MAX_TAG_NAMES: usize = 256;

/// Where and how the dashboard is served.
///
/// Every quantity a browser controls is bounded: live event streams
/// (`max_clients`, more are answered `503`), open connections
/// (`max_connections`, more are closed at once), a request head (16 KiB)
/// and the time to send it (5 s). Each event stream holds at most one
/// pending snapshot: a client that reads slowly skips intermediate ones.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct DashboardConfig {
    pub(crate) addr: SocketAddr,
    pub(crate) token: Option<String>,
    pub(crate) max_clients: usize,
    pub(crate) max_connections: usize,
    pub(crate) interval: Duration,
    pub(crate) max_collections: usize,
    /// Names of tags known here, by digest (the catalog holds digests).
    pub(crate) tag_names: BTreeMap<Tag, String>,
}

impl Default for DashboardConfig {
    /// Loopback, a random port, no token.
    fn default() -> Self {
        Self::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }
}

impl DashboardConfig {
    /// Serves on `addr` with the default limits and no token. Choose a
    /// loopback address unless the page must be reachable from elsewhere
    /// (then set a token).
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            token: None,
            max_clients: DEFAULT_MAX_CLIENTS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            interval: DEFAULT_INTERVAL,
            max_collections: DEFAULT_MAX_COLLECTIONS,
            tag_names: BTreeMap::new(),
        }
    }

    /// Requires `token` on every request, as `?token=<token>` or the
    /// header `Authorization: Bearer <token>`; others get `401`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Most event streams (`/api/events`) open at once (default
    /// [`DEFAULT_MAX_CLIENTS`]); one more is answered `503`.
    pub fn with_max_clients(mut self, max: usize) -> Self {
        self.max_clients = max;
        self
    }

    /// Most TCP connections open at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`]); more are closed unanswered.
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How often the view is sampled (default [`DEFAULT_INTERVAL`]): the
    /// shortest time between two pushed snapshots and the longest a change
    /// waits before it is pushed.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(10));
        self
    }
}

impl DashboardConfig {
    /// Most collection stores of this node listed in a snapshot (default
    /// [`DEFAULT_MAX_COLLECTIONS`]); the snapshot's `collections_total`
    /// says how many there are.
    pub fn with_max_collections(mut self, max: usize) -> Self {
        self.max_collections = max;
        self
    }

    /// Names for tags: the catalog carries a tag only as its digest, so
    /// the page shows a tag by name where it was given here (the names
    /// this node's tags were made from, say), else by short hex. At most
    /// [`MAX_TAG_NAMES`] are kept.
    pub fn with_tag_names<N: Into<String>>(mut self, names: impl IntoIterator<Item = N>) -> Self {
        for name in names {
            if self.tag_names.len() == MAX_TAG_NAMES {
                break;
            }
            let name = name.into();
            self.tag_names.insert(Tag::from(name.as_str()), name);
        }
        self
    }
}

impl From<SocketAddr> for DashboardConfig {
    fn from(addr: SocketAddr) -> Self {
        Self::new(addr)
    }
}

/// Binds `config.addr`, starts the sampler and the server; both stop when
/// `cancel` fires. Returns the bound address.
pub(crate) async fn serve(
    config: DashboardConfig,
    sources: Sources,
    cancel: CancellationToken,
) -> Result<SocketAddr, NetworkError> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| NetworkError::Dashboard(format!("binding {}: {e}", config.addr)))?;
    let bound = listener
        .local_addr()
        .map_err(|e| NetworkError::Dashboard(e.to_string()))?;
    let snapshots = sampler::spawn(sources, &config, cancel.clone());
    tokio::spawn(http::run(listener, config, snapshots, cancel));
    Ok(bound)
}
