//! JWT ticket tests. The validation modules need no network: peer entries
//! are built locally, tokens are issued by
//! [`mosaik::tickets::JwtTicketBuilder`] or, for hostile and interop cases,
//! by hand and by the `jsonwebtoken` crate. The enforcement modules
//! (`streams_expiry`, `groups_expiry`) run real loopback nodes.

mod algorithms;
mod config;
mod groups_expiry;
mod net;
mod rejections;
mod rules;
mod streams_expiry;
mod util;
