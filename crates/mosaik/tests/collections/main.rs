//! Replicated collections over real loopback networking
//! (`cargo test -p mosaik --test collections`).

mod macros;
mod map;
mod pq;
mod roles;
mod storage;
mod sync;
#[path = "../common/tmpfs.rs"]
mod tmpfs;
mod util;
mod values;
mod vec;

/// The ticket validator of `roles`, for the macro tests.
pub fn roles_okay() -> roles::Okay {
    roles::Okay(mosaik::tickets::TicketClass::from("coll-macro-ticket"))
}
