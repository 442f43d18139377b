//! TDX ticket tests. No TDX hardware is needed: the quotes are real,
//! Intel-signed TDX quotes with their collateral (copied from `dcap-qvl`'s
//! samples into `tests/data/tdx/`), verified at a time inside their
//! collateral's validity window.
//!
//! The positive path over the network (`e2e`) needs quotes binding live
//! peer ids, which no machine here can produce: it uses the test double
//! (feature `tdx-test-double`, enabled for this crate's tests only), a
//! synthetic quote source whose verifier stands in for DCAP. Everything
//! that verifies real quotes (`quotes`, `rules`, `tickets`) uses the real
//! verifier.

mod double;
mod e2e;
mod local;
mod net;
mod pccs;
mod quotes;
mod recorder;
mod rules;
mod tickets;
mod util;
