//! Group metrics that need more than one line at their call site.
//!
//! The per-group series (`mosaik.groups.raft.*`, `mosaik.groups.bonds.*`)
//! are emitted where the worker already holds their `network`/`group`
//! labels; this file adds the Part C counter of rejected peers.

use crate::{network::LocalNode, primitives::ShortFmtExt as _};

/// Counts a bond refused because the peer failed admission (`reason`:
/// `not_allowed` for a failed ticket check, on either side: the acceptor
/// checking the dialer, or a dialer checking the peer before it connects;
/// `invalid_proof` for a peer without the group key).
pub(super) fn bond_rejected(local: &LocalNode, reason: &'static str) {
    let network = local.network_id().short().to_string();
    ::metrics::counter!("mosaik.groups.bonds.rejected", "network" => network, "reason" => reason)
        .increment(1);
}
