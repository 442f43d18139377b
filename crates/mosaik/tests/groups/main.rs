//! Groups over real loopback networking (`cargo test -p mosaik --test groups`).

mod basics;
mod durable;
mod early_append;
mod faults;
mod lifecycle;
mod log_fetch;
mod restart;
mod sync;
mod util;
