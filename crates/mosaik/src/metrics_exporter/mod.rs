//! The Prometheus exporter behind `NetworkBuilder::with_prometheus_addr`.
//!
//! The `metrics` facade has one global recorder per process, so the
//! registry is process-wide: the first network asking for an exporter
//! installs it (and fails with `NetworkError::Prometheus` if some other
//! recorder was installed first). Every network that asks gets its own HTTP
//! endpoint; an endpoint shows the series labelled with its network plus
//! the process-wide ones (such as `mosaik.network.*`), to which it adds
//! the global label `network=<short id>`. Series recorded before the
//! registry was installed are not seen. Links, bonds and streams register
//! their per-message series once, when they start (a lookup per message
//! would take the registry's lock each time), so the ones that started
//! before the registry was installed stay uncounted.

mod http;
mod registry;

use {
    crate::{NetworkId, network::NetworkError, primitives::ShortFmtExt as _},
    registry::{Handle, Registry},
    std::{
        net::SocketAddr,
        sync::{Arc, Mutex, PoisonError},
    },
    tokio_util::sync::CancellationToken,
};

/// The registry installed as the global recorder, once.
static INSTALLED: Mutex<Option<Arc<Registry>>> = Mutex::new(None);

/// Installs the registry as the global recorder (once per process).
pub(crate) fn install() -> Result<Arc<Registry>, NetworkError> {
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(registry) = installed.as_ref() {
        return Ok(registry.clone());
    }
    let registry = Arc::new(Registry::default());
    metrics::set_global_recorder(Handle(registry.clone())).map_err(|_| {
        NetworkError::Prometheus("another global metrics recorder is already installed".into())
    })?;
    *installed = Some(registry.clone());
    Ok(registry)
}

/// Installs the registry (once per process) and serves the exposition of
/// `network` on `addr` until `cancel` fires; returns the bound address.
pub(crate) async fn serve(
    addr: SocketAddr,
    network: NetworkId,
    cancel: CancellationToken,
) -> Result<SocketAddr, NetworkError> {
    let registry = install()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| NetworkError::Prometheus(format!("binding {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| NetworkError::Prometheus(e.to_string()))?;
    tokio::spawn(http::run(
        listener,
        registry,
        network.short().to_string(),
        cancel,
    ));
    Ok(bound)
}
