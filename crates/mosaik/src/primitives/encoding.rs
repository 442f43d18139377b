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

/// Most scratch buffers a thread keeps: one per level of nesting (an
/// `Encoded` field encodes its value while the message around it is being
/// encoded); deeper nestings get fresh buffers.
const SCRATCH_DEPTH: usize = 4;

std::thread_local! {
    /// Each thread's encoding buffers, reused across encodings.
    static SCRATCH: core::cell::RefCell<Vec<Vec<u8>>> = const { core::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with an empty buffer from this thread's scratch pool and gives
/// the buffer back afterwards (unless it grew past [`SCRATCH_KEEP`]).
///
/// Encodings nest: a `Serialize` impl may encode a part on its own while
/// the outer encoding holds a buffer. With a single per-thread buffer the
/// inner encoding found it taken and grew a fresh `Vec` by doubling from 8
/// bytes (about ten reallocations for a 1 KiB value, for every value of a
/// collection's commands and snapshot items); the pool gives each level
/// its own reused buffer. The pool is borrowed only to take and return a
/// buffer, never while `f` runs, so `f` may nest freely.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut buf = SCRATCH.with_borrow_mut(Vec::pop).unwrap_or_default();
    buf.clear();
    let result = f(&mut buf);
    if buf.capacity() <= SCRATCH_KEEP {
        SCRATCH.with_borrow_mut(|pool| {
            if pool.len() < SCRATCH_DEPTH {
                pool.push(buf);
            }
        });
    }
    result
}

/// A postcard output that appends to a borrowed `Vec` with `push` and
/// `extend_from_slice` (postcard's `to_extend` goes through `Extend` one
/// byte or slice iterator at a time, and its own `Vec` output cannot reuse
/// a buffer).
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    // Inlinable across crates (user types are encoded in their own crate):
    // serde hands a `Vec<u8>` over one byte at a time, and a call
    // per byte was a third of a snapshot digest's time (B6 profile).
    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Appends the postcard encoding of `value` to `buf`. On an error `buf`
/// may hold part of the encoding after its old end.
pub fn try_serialize_into<T: Serialize + ?Sized>(
    value: &T,
    buf: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    postcard::serialize_with_flavor(value, AppendTo(buf))
}

/// Encodes `value` with postcard.
///
/// The value is written into a per-thread scratch buffer that keeps its
/// capacity (see `with_scratch`), then copied into an exactly sized
/// `Bytes`: one allocation per encoding. Encoding straight into a fresh
/// `Vec` grew it by doubling from 8 bytes, about ten reallocations for a
/// 1 KiB message, and those were the largest allocator cost in a profile
/// of the group commit path.
pub fn try_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, EncodeError> {
    with_scratch(|buf| {
        try_serialize_into(value, buf)?;
        Ok(scratch_into_bytes(buf))
    })
}

/// The encoding in a [`with_scratch`] buffer as `Bytes` of its own. A
/// buffer grown past [`SCRATCH_KEEP`] is not kept for the next encoding
/// anyway, so it becomes the result itself (trimmed to its length)
/// instead of being copied: a 1 MiB encoding costs one copy and one
/// allocation of 1 MiB less. A smaller one is copied and stays in `buf`
/// for the pool.
pub(crate) fn scratch_into_bytes(buf: &mut Vec<u8>) -> Bytes {
    if buf.capacity() > SCRATCH_KEEP {
        let mut out = core::mem::take(buf);
        out.shrink_to_fit();
        Bytes::from(out)
    } else {
        Bytes::copy_from_slice(buf)
    }
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

/// Appends the bytes an [`Encoded`](crate::primitives::Encoded) wrapper of
/// `value` adds to a postcard encoding (the value's own encoding as a byte
/// string), from a reference: a snapshot item encoded this way needs no
/// copy of the value it holds.
pub(crate) fn append_encoded<T: crate::primitives::Datum>(
    value: &T,
    buf: &mut Vec<u8>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// What `Encoded` hands serde: a byte string.
    struct ByteString<'a>(&'a [u8]);
    impl Serialize for ByteString<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(self.0)
        }
    }
    with_scratch(|inner| {
        value.encode_into(inner)?;
        try_serialize_into(&ByteString(inner), buf)?;
        Ok(())
    })
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

    /// A buffer the pool keeps is copied and left as it was; a larger one
    /// is taken (no copy), trimmed to its bytes, and left empty.
    #[test]
    fn only_buffers_the_pool_drops_are_taken() {
        let mut kept = Vec::with_capacity(SCRATCH_KEEP);
        kept.resize(5000, 7);
        let capacity = kept.capacity();
        let bytes = scratch_into_bytes(&mut kept);
        assert_eq!(bytes, vec![7; 5000]);
        assert_eq!((kept.len(), kept.capacity()), (5000, capacity));

        let mut grown = Vec::with_capacity(2 * SCRATCH_KEEP);
        grown.resize(300_000, 9);
        let bytes = scratch_into_bytes(&mut grown);
        assert_eq!(bytes, vec![9; 300_000]);
        assert_eq!(grown.capacity(), 0, "the buffer itself was taken");
    }

    #[test]
    fn an_encoding_past_the_kept_size_is_handed_out_and_the_pool_goes_on() {
        let large = Bytes::from(vec![7u8; SCRATCH_KEEP * 4]);
        let encoded = try_serialize(&large).unwrap();
        assert!(encoded.len() > SCRATCH_KEEP * 4);
        assert_eq!(deserialize::<Bytes>(&encoded).unwrap(), large);
        // The pool got an empty buffer back; small encodings still work
        // and do not see the large one's bytes.
        let small = try_serialize(&(3u8, 4u16)).unwrap();
        assert_eq!(deserialize::<(u8, u16)>(&small).unwrap(), (3, 4));
        assert_eq!(deserialize::<Bytes>(&encoded).unwrap(), large);
    }

    #[test]
    fn append_encoded_writes_what_encoded_serializes() {
        use crate::primitives::Encoded;
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let value = Bytes::from(vec![9u8; len]);
            let mut ours = Vec::new();
            append_encoded(&value, &mut ours).unwrap();
            append_encoded(&7u64, &mut ours).unwrap();
            let theirs = try_serialize(&(Encoded(value), Encoded(7u64))).unwrap();
            assert_eq!(ours, theirs.to_vec(), "length {len}");
        }
    }

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
        // Each level of nesting got a buffer of its own and gave it back.
        let pooled = SCRATCH.with_borrow(|pool| pool.iter().filter(|b| b.capacity() > 0).count());
        assert!(pooled >= 2, "outer and nested buffers are kept: {pooled}");
        with_scratch(|outer| {
            outer.push(1);
            with_scratch(|inner| {
                assert!(inner.is_empty(), "a nested encoding starts empty");
                inner.push(2);
            });
            assert_eq!(outer.as_slice(), &[1], "and leaves the outer one alone");
        });
        let huge = serialize(&vec![0u8; 2 * SCRATCH_KEEP]);
        assert_eq!(huge.len(), 2 * SCRATCH_KEEP + 3);
        assert_eq!(serialize(&1u16).as_ref(), &[1]);
    }
}
