//! Attacks of issue 17 against live loopback nodes: an attacker with
//! nothing but an endpoint and no credentials. Each test asserts bounded
//! growth (catalog size, held connections, buffered bytes), continued
//! service and recovery after the attack.
//!
//! `cargo test -p mosaik --test hostile -- --nocapture` prints the figures.

mod attacks;
mod bonds;
mod catalog;
mod gossip;
mod handshakes;
mod memory;
mod service;
mod timeouts;
mod util;
