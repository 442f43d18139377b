//! `Vec<u8>` as a `Datum`: postcard's encoding, without serde's per-byte
//! calls.
//!
//! serde hands a `Vec<u8>` to postcard as a sequence of `u8`s: one call
//! per byte on each side, with a bounds check and a push or a read each.
//! `Vec<u8>` is the natural type of an opaque command or payload, and in
//! B1 (1,280-byte `Vec<u8>` commands) decoding them one byte at a time was
//! 5 % of all CPU at 8 clients, encoding them 1.8 % (issue 18). The
//! encoding is the same either way: the length as a varint, then the
//! bytes. So the blanket `Datum` impl writes through [`as_byte_vec`] and
//! reads through [`decode`], which answer only for `Vec<u8>` and handle it
//! in one piece; the bytes are equal to postcard's, and so is every error.

use {
    super::encoding::{self, DecodeError, EncodeError},
    core::any::Any,
};

/// `value` as a `Vec<u8>`, if that is its type.
pub(super) fn as_byte_vec<T: Any>(value: &T) -> Option<&Vec<u8>> {
    (value as &dyn Any).downcast_ref()
}

/// True if `T` is `Vec<u8>`.
fn is_byte_vec<T: Any>() -> bool {
    core::any::TypeId::of::<T>() == core::any::TypeId::of::<Vec<u8>>()
}

/// Appends postcard's encoding of `bytes` (a `Vec<u8>`) to `buf`.
pub(super) fn encode_into(bytes: &[u8], buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    encoding::try_serialize_into(&bytes.len(), buf)?;
    buf.extend_from_slice(bytes);
    Ok(())
}

/// If `T` is `Vec<u8>`: one decoded from all of `bytes` as
/// `encoding::deserialize` does. `None` for every other type.
pub(super) fn decode<T: Any>(bytes: &[u8]) -> Option<Result<T, DecodeError>> {
    if !is_byte_vec::<T>() {
        return None;
    }
    let (len, rest) = match postcard::take_from_bytes::<usize>(bytes) {
        Ok(taken) => taken,
        Err(err) => return Some(Err(err)),
    };
    let vec = match rest.len().cmp(&len) {
        core::cmp::Ordering::Less => return Some(Err(postcard::Error::DeserializeUnexpectedEnd)),
        core::cmp::Ordering::Greater => return Some(Err(postcard::Error::DeserializeBadEncoding)),
        core::cmp::Ordering::Equal => rest.to_vec(),
    };
    let boxed: Box<dyn Any> = Box::new(vec);
    boxed.downcast::<T>().ok().map(|value| Ok(*value))
}

#[cfg(test)]
mod tests {
    use {super::*, crate::primitives::Datum};

    /// The one-piece path writes postcard's bytes and reads them back, and
    /// refuses what postcard refuses, with the same error.
    #[test]
    fn same_bytes_and_errors_as_postcard() {
        for len in [0usize, 1, 127, 128, 1280, 16_383, 16_384, 70_000] {
            let value: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let ours = value.encode().unwrap();
            let theirs = postcard::to_allocvec(&value).unwrap();
            assert_eq!(ours.as_ref(), theirs.as_slice(), "length {len}");
            assert_eq!(Vec::<u8>::decode(&ours).unwrap(), value);
            let generic = |bytes: &[u8]| encoding::deserialize::<Vec<u8>>(bytes);
            let mut longer = theirs.clone();
            longer.push(0);
            for bad in [
                &theirs[..theirs.len() - 1],
                &longer[..],
                &[][..],
                &[0xff; 11][..],
            ] {
                if len == 0 && bad.len() == theirs.len() - 1 {
                    continue;
                }
                assert_eq!(
                    Vec::<u8>::decode(bad).unwrap_err(),
                    generic(bad).unwrap_err(),
                    "length {len}, input of {} bytes",
                    bad.len()
                );
            }
        }
    }

    /// Other types keep serde's path; the test only checks `is_byte_vec`.
    #[test]
    fn only_vec_u8_is_a_byte_vec() {
        assert!(is_byte_vec::<Vec<u8>>());
        assert!(!is_byte_vec::<Vec<i8>>());
        assert!(!is_byte_vec::<bytes::Bytes>());
        assert!(as_byte_vec(&vec![1u8]).is_some());
        assert!(as_byte_vec(&vec![1u16]).is_none());
        assert!(decode::<Vec<u16>>(&[1, 5]).is_none());
    }
}
