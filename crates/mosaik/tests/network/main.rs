//! Real-network integration tests over loopback (relays off, no internet).

mod datagrams;
mod lifecycle;
mod links;
mod util;
