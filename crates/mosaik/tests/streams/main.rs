//! Streams over real loopback networking.

mod close;
mod conditions;
mod config;
mod lifecycle;
mod macros;
mod mismatch;
mod options;
mod probe;
mod pubsub;
mod regressions;
mod util;
