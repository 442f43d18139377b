//! What the test and its member processes exchange over stdin/stdout:
//! the JSON replies and the layout of the written values.

use serde::{Deserialize, Serialize};

/// Reply to `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// The committed index applied locally.
    pub committed: u64,
    /// Whether this member leads right now.
    pub is_leader: bool,
    /// The leader this member knows of (peer id as displayed).
    pub leader: Option<String>,
}

/// Reply to `dump`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dump {
    /// The committed index the state was read at.
    pub committed: u64,
    /// Every applied value, in apply order.
    pub applied: Vec<u64>,
}

const INDEX_SHIFT: u32 = 56;
const INCARNATION_SHIFT: u32 = 40;
const SEQ_MASK: u64 = (1 << INCARNATION_SHIFT) - 1;
const INCARNATION_MASK: u64 = (1 << (INDEX_SHIFT - INCARNATION_SHIFT)) - 1;

/// A value no other writer (other member, other incarnation of the same
/// member, other write of this incarnation) ever writes: member index in
/// the top byte, incarnation in the next 16 bits, sequence (from 1) below.
pub fn encode_value(index: u64, incarnation: u64, seq: u64) -> u64 {
    assert!(index < 256 && incarnation <= INCARNATION_MASK && seq <= SEQ_MASK);
    (index << INDEX_SHIFT) | (incarnation << INCARNATION_SHIFT) | seq
}

/// `(member index, incarnation, sequence)` of a written value.
pub fn decode_value(value: u64) -> (u64, u64, u64) {
    (
        value >> INDEX_SHIFT,
        (value >> INCARNATION_SHIFT) & INCARNATION_MASK,
        value & SEQ_MASK,
    )
}

/// A value as `m<index>.<incarnation>#<seq>`, for failure messages.
pub fn show_value(value: u64) -> String {
    let (index, incarnation, seq) = decode_value(value);
    format!("m{index}.{incarnation}#{seq}")
}
