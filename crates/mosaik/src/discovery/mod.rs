//! Discovery: signed peer entries, the catalog, gossip announcements,
//! catalog sync, RTT probing, departures and the DHT bootstrap.

pub(crate) mod dht;
