//! Discovery integration tests over real loopback (relays off, DHT off
//! unless a local testnet is used).

mod convergence;
mod dht;
mod hostile;
mod lifecycle;
mod mdns;
mod replay;
mod util;
