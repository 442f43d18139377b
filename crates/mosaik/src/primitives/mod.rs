//! Identifiers, encoding and formatting helpers shared by every subsystem.

pub(crate) mod background;
mod byte_vec;
mod datum;
mod digest;
pub mod encoding;
mod fmt;
pub(crate) mod gate;
mod iter;

pub use {
    datum::{Datum, Encoded},
    digest::{
        DIGEST_LEN, Digest, GroupId, NetworkId, StoreId, StreamId, Tag, TicketClass, UniqueId,
    },
    fmt::{Abbreviated, FmtIter, Pretty, Redacted, Short, ShortFmtExt},
    iter::{IntoIterOrSingle, Many, Single},
};

/// Decodes a hex string at compile time, panicking on bad input.
///
/// Used for constants such as keys and measurements.
pub const fn const_hex<const N: usize>(input: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("invalid hex character"),
        }
    }
    let bytes = input.as_bytes();
    assert!(bytes.len() == N * 2, "hex string has the wrong length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nibble(bytes[2 * i]) << 4) | nibble(bytes[2 * i + 1]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Digest;

    const FROM_TEXT: Digest = crate::unique_id!("mosaik.test.id");
    const FROM_HEX: Digest =
        crate::id!("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    const TAG: crate::Tag = crate::tag!("validator");

    #[test]
    fn macros_match_runtime_intent_addressing() {
        assert_eq!(FROM_TEXT, Digest::from("mosaik.test.id"));
        assert_eq!(
            FROM_HEX,
            Digest::from("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
        );
        assert_eq!(FROM_HEX.as_bytes()[0], 0x00);
        assert_eq!(FROM_HEX.as_bytes()[31], 0xff);
        assert_eq!(TAG, Digest::from("validator"));
    }

    #[test]
    fn const_hex_decodes() {
        const K: [u8; 2] = super::const_hex::<2>("0aFf");
        assert_eq!(K, [0x0a, 0xff]);
    }
}
