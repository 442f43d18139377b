//! Real-network integration tests over loopback (relays off, no internet).

mod lifecycle;
mod links;
mod util;
