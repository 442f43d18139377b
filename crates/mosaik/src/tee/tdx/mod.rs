//! Intel TDX attestation tickets (feature `tdx`).
//!
//! A node running in a TD produces a [`TdxTicket`]: a TDX quote whose
//! report data commits to the node's peer id, network id and times, and
//! publishes it in its discovery entry
//! ([`NetworkTdxExt::tdx`]`().install_own_ticket()`). Other nodes require
//! it with the [`Tdx`] validator wherever tickets are checked (stream
//! producers and consumers, groups, collections), exactly like a JWT.
//!
//! The validator verifies the quote through the whole DCAP chain up to
//! Intel's SGX root CA with `dcap-qvl`, against [`Collateral`] the operator
//! supplies, then checks measurements ([`MeasurementsCriteria`]), the
//! binding to the presenting peer, and time rules. See `docs/tdx.md`.
//!
//! With the feature `tdx-pccs`, a `Pccs` fetches collateral from a PCCS
//! or Intel's PCS and keeps it cached until it goes stale.
//!
//! With the feature `tdx-test-double` (tests only, never production), a
//! `TdxTestDouble` makes synthetic quotes and stands in for DCAP
//! verification, for end-to-end tests without TDX hardware.

mod collateral;
#[cfg(feature = "tdx-test-double")]
mod double;
mod error;
#[cfg(feature = "tdx-pccs")]
mod http;
mod local;
mod measurement;
#[cfg(feature = "tdx-pccs")]
mod pccs;
mod ticket;
mod validator;
mod verifier;

pub use {
    collateral::Collateral,
    dcap_qvl::TcbStatus,
    error::{TdxRejection, TdxTicketError},
    local::{NetworkTdx, NetworkTdxExt, quote_source_available},
    measurement::{IntoMeasurement, Measurement, Measurements, MeasurementsCriteria},
    ticket::{MAX_DECOMPRESSED_LEN, TdxTicket},
    validator::Tdx,
    verifier::{CACHE_TTL_SECS, MAX_CACHED_VERIFICATIONS, VerifiedQuote},
};

#[cfg(feature = "tdx-pccs")]
pub use pccs::{
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REFRESH_INTERVAL, DEFAULT_TIMEOUT, INTEL_PCS_URL,
    INTEL_ROOT_CA_CRL_URL, Pccs,
};

#[cfg(feature = "tdx-test-double")]
pub use double::{TEST_DOUBLE_SIGNATURE, TdxTestDouble};

use crate::{primitives::TicketClass, unique_id};

/// The ticket class of TDX tickets (`id!("mosaik.tee.tdx.ticket.v1")`).
pub const TICKET_CLASS: TicketClass = unique_id!("mosaik.tee.tdx.ticket.v1");
