//! TDX ticket tests. No TDX hardware is needed: the quotes are real,
//! Intel-signed TDX quotes with their collateral (copied from `dcap-qvl`'s
//! samples into `tests/data/tdx/`), verified at a time inside their
//! collateral's validity window.

mod local;
mod net;
mod quotes;
mod rules;
mod tickets;
mod util;
