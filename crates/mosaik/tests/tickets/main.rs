//! JWT ticket tests. No network: peer entries are built locally, tokens are
//! issued by [`mosaik::tickets::JwtTicketBuilder`] or, for hostile and
//! interop cases, by hand and by the `jsonwebtoken` crate.

mod algorithms;
mod config;
mod rejections;
mod rules;
mod util;
