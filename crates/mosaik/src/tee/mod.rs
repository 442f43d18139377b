//! Trusted execution environments (feature `tee`; Intel TDX with `tdx`).

#[cfg(feature = "tdx")]
pub mod tdx;
