//! postcard helpers used by every protocol message.

use {
    bytes::Bytes,
    serde::{Serialize, de::DeserializeOwned},
};

/// Error produced when encoding fails.
pub type EncodeError = postcard::Error;
/// Error produced when decoding fails.
pub type DecodeError = postcard::Error;

/// Encodes `value` with postcard, panicking on failure.
///
/// Only for values whose encoding cannot fail (plain data without custom
/// `Serialize` impls that error); use [`try_serialize`] otherwise.
pub fn serialize<T: Serialize + ?Sized>(value: &T) -> Bytes {
    try_serialize(value).expect("value must be encodable")
}

/// Scratch buffers larger than this are not kept for the next encoding
/// (a thread that once encoded a large snapshot chunk does not hold it).
const SCRATCH_KEEP: usize = 256 * 1024;

std::thread_local! {
    /// Each thread's encoding buffer, reused across encodings.
    static SCRATCH: core::cell::Cell<Vec<u8>> = const { core::cell::Cell::new(Vec::new()) };
}

/// Encodes `value` with postcard.
///
/// The value is written into a per-thread scratch buffer that keeps its
/// capacity, then copied into an exactly sized `Bytes`: one allocation per
/// encoding. Encoding straight into a fresh `Vec` grew it by doubling from
/// 8 bytes, about ten reallocations for a 1 KiB message, and those were the
/// largest allocator cost in a profile of the group commit path. A nested
/// encoding (a `Serialize` impl that encodes a part on its own) finds the
/// buffer taken and uses a fresh one.
pub fn try_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, EncodeError> {
    let mut buf = SCRATCH.take();
    buf.clear();
    let buf = postcard::to_extend(value, buf)?;
    let bytes = Bytes::copy_from_slice(&buf);
    if buf.capacity() <= SCRATCH_KEEP {
        SCRATCH.set(buf);
    }
    Ok(bytes)
}

/// Encodes `value` into a writer, panicking on failure.
pub fn serialize_to_writer<T: Serialize + ?Sized, W: std::io::Write>(value: &T, writer: W) {
    try_serialize_to_writer(value, writer).expect("value must be encodable");
}

/// Encodes `value` into a writer.
pub fn try_serialize_to_writer<T: Serialize + ?Sized, W: std::io::Write>(
    value: &T,
    writer: W,
) -> Result<(), EncodeError> {
    postcard::to_io(value, writer).map(|_| ())
}

/// Decodes a value; trailing bytes are an error so a frame carries exactly
/// one message.
pub fn deserialize<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_trailing_bytes() {
        let bytes = serialize(&(1u8, "x"));
        assert_eq!(
            deserialize::<(u8, String)>(&bytes).unwrap(),
            (1, "x".into())
        );
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(deserialize::<(u8, String)>(&longer).is_err());
        let mut buf = Vec::new();
        serialize_to_writer(&5u16, &mut buf);
        assert_eq!(deserialize::<u16>(&buf).unwrap(), 5);
    }

    /// The scratch buffer is reused: consecutive encodings of different
    /// sizes, and an encoding nested inside another, each get exactly
    /// their own bytes.
    #[test]
    fn scratch_reuse_and_nesting() {
        struct Nested(Vec<u8>);
        impl Serialize for Nested {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // Encodes its part on its own while the outer encoding runs.
                let inner = try_serialize(&self.0).map_err(serde::ser::Error::custom)?;
                s.serialize_bytes(&inner)
            }
        }
        let long = serialize(&vec![9u8; 5000]);
        let short = serialize(&3u8);
        assert_eq!(short.as_ref(), &[3]);
        assert_eq!(deserialize::<Vec<u8>>(&long).unwrap(), vec![9u8; 5000]);
        let nested = serialize(&(7u8, Nested(vec![1, 2, 3])));
        let (tag, inner): (u8, Vec<u8>) = deserialize(&nested).unwrap();
        assert_eq!(tag, 7);
        assert_eq!(deserialize::<Vec<u8>>(&inner).unwrap(), vec![1, 2, 3]);
        let huge = serialize(&vec![0u8; 2 * SCRATCH_KEEP]);
        assert_eq!(huge.len(), 2 * SCRATCH_KEEP + 3);
        assert_eq!(serialize(&1u16).as_ref(), &[1]);
    }
}
