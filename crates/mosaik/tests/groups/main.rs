//! Groups over real loopback networking (`cargo test -p mosaik --test groups`).

mod basics;
mod bounds;
mod disk_full;
mod durable;
mod faults;
mod flushes;
mod lifecycle;
mod log_fetch;
mod meet;
mod no_clone;
mod restart;
mod sync;
#[path = "../common/tmpfs.rs"]
mod tmpfs;
mod util;
