//! Optional mDNS on the local network (`with_mdns_discovery(true)`).
//!
//! iroh's mDNS address lookup (service name `"mosaik"`) answers "where is
//! peer X" for peers on the same LAN. We also watch its discovery events and
//! hand every newly seen peer to discovery, so nodes on one LAN find each
//! other with no bootstrap peer at all. Peers of other mosaik networks show
//! up too; discovery's network check drops their entries, so the cost is
//! one catalog sync per foreign peer.

use {
    super::NetworkError,
    crate::discovery::Discovery,
    futures::StreamExt,
    iroh::EndpointId,
    iroh_mdns_address_lookup::{DiscoveryEvent, MdnsAddressLookup},
    tokio_util::sync::CancellationToken,
};

/// The mDNS service name every mosaik node announces.
pub const MDNS_SERVICE_NAME: &str = "mosaik";

/// Starts the mDNS responder and browser for `id`.
pub(super) fn lookup(id: EndpointId) -> Result<MdnsAddressLookup, NetworkError> {
    MdnsAddressLookup::builder()
        .service_name(MDNS_SERVICE_NAME)
        .build(id)
        .map_err(|e| NetworkError::Mdns(e.to_string()))
}

/// Dials every peer mDNS reports until `cancel` fires.
pub(super) fn spawn_dialer(
    lookup: &MdnsAddressLookup,
    discovery: Discovery,
    me: EndpointId,
    cancel: CancellationToken,
) {
    let lookup = lookup.clone();
    tokio::spawn(async move {
        let mut events = lookup.subscribe().await;
        loop {
            let event = tokio::select! {
                () = cancel.cancelled() => return,
                event = events.next() => event,
            };
            match event {
                Some(DiscoveryEvent::Discovered { endpoint_info, .. }) => {
                    let addr = endpoint_info.into_endpoint_addr();
                    let known = discovery.catalog().get(&addr.id).is_some();
                    if addr.id != me && !known {
                        tracing::debug!(peer = %addr.id.fmt_short(), "mdns: found a peer");
                        // Queued for the discovery worker, never awaited here
                        // nor in a task per announcement (every announcement
                        // with a fresh id made one, each waiting on a full
                        // queue): a full queue drops it, and the peer's next
                        // announcement offers it again.
                        let _ = discovery.try_dial(addr);
                    }
                }
                Some(_) => {}
                None => return,
            }
        }
    });
}
