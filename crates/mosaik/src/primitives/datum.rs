//! `Datum`: how user values become bytes on the wire.

use {
    bytes::Bytes,
    core::{
        fmt,
        marker::PhantomData,
        ops::{Deref, DerefMut},
    },
    serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned},
};

use super::{StreamId, byte_vec, encoding};

/// A value that can travel over mosaik protocols.
///
/// Every `Serialize + DeserializeOwned + Send + 'static` type is a `Datum`
/// encoded with postcard. Types that are not serde types can implement it by
/// hand to use a custom wire format.
pub trait Datum: Sized + Send + 'static {
    /// Error returned when encoding fails.
    type EncodeError: std::error::Error + Send + Sync + 'static;
    /// Error returned when decoding fails.
    type DecodeError: std::error::Error + Send + Sync + 'static;

    /// Encodes the value.
    fn encode(&self) -> Result<Bytes, Self::EncodeError>;

    /// Appends the bytes [`Datum::encode`] makes to `buf`. On an error
    /// `buf` may hold part of an encoding after its old end.
    ///
    /// The default calls `encode`; serde types write straight into `buf`,
    /// so an encoding nested in another (an [`Encoded`] field, a snapshot
    /// item) costs no allocation of its own.
    fn encode_into(&self, buf: &mut Vec<u8>) -> Result<(), Self::EncodeError> {
        buf.extend_from_slice(&self.encode()?);
        Ok(())
    }

    /// Decodes a value from bytes produced by [`Datum::encode`].
    fn decode(bytes: &[u8]) -> Result<Self, Self::DecodeError>;

    /// The stream id derived from the type's name.
    fn derived_stream_id() -> StreamId {
        StreamId::from(core::any::type_name::<Self>())
    }
}

impl<T> Datum for T
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    type DecodeError = encoding::DecodeError;
    type EncodeError = encoding::EncodeError;

    fn encode(&self) -> Result<Bytes, Self::EncodeError> {
        if let Some(bytes) = byte_vec::as_byte_vec(self) {
            return encoding::with_scratch(|buf| {
                byte_vec::encode_into(bytes, buf)?;
                Ok(encoding::scratch_into_bytes(buf))
            });
        }
        encoding::try_serialize(self)
    }

    fn encode_into(&self, buf: &mut Vec<u8>) -> Result<(), Self::EncodeError> {
        // `Vec<u8>` in one piece (same bytes), not one serde call per byte.
        if let Some(bytes) = byte_vec::as_byte_vec(self) {
            return byte_vec::encode_into(bytes, buf);
        }
        encoding::try_serialize_into(self, buf)
    }

    fn decode(bytes: &[u8]) -> Result<Self, Self::DecodeError> {
        if let Some(decoded) = byte_vec::decode(bytes) {
            return decoded;
        }
        encoding::deserialize(bytes)
    }
}

/// Carries a [`Datum`] inside a serde message as an opaque byte string made
/// by [`Datum::encode`], so user types may use custom encodings.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Encoded<T: Datum>(pub T);

impl<T: Datum> Encoded<T> {
    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: Datum + fmt::Debug> fmt::Debug for Encoded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Datum> Deref for Encoded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Datum> DerefMut for Encoded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Datum> From<T> for Encoded<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: Datum> Serialize for Encoded<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Encoded into a pooled buffer, not a `Bytes` of its own: this runs
        // for every value inside every collection command and snapshot item.
        encoding::with_scratch(|buf| {
            self.0.encode_into(buf).map_err(serde::ser::Error::custom)?;
            serializer.serialize_bytes(buf)
        })
    }
}

impl<'de, T: Datum> Deserialize<'de> for Encoded<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(EncodedVisitor::<T>(PhantomData))
    }
}

struct EncodedVisitor<T>(PhantomData<T>);

impl<T: Datum> EncodedVisitor<T> {
    fn decode<E: serde::de::Error>(bytes: &[u8]) -> Result<Encoded<T>, E> {
        T::decode(bytes).map(Encoded).map_err(E::custom)
    }
}

impl<'de, T: Datum> serde::de::Visitor<'de> for EncodedVisitor<T> {
    type Value = Encoded<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an encoded datum (byte string)")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Self::decode(v)
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
        Self::decode(&v)
    }

    // Human-readable formats (JSON) write bytes as a sequence of numbers.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut buf = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(byte) = seq.next_element::<u8>()? {
            buf.push(byte);
        }
        Self::decode(&buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type with a hand-written wire format: one byte per letter count.
    #[derive(Debug, PartialEq)]
    struct Letters(usize);

    #[derive(Debug, thiserror::Error)]
    #[error("bad letters")]
    struct BadLetters;

    impl Datum for Letters {
        type DecodeError = BadLetters;
        type EncodeError = BadLetters;

        fn encode(&self) -> Result<Bytes, BadLetters> {
            Ok(Bytes::from(vec![b'x'; self.0]))
        }

        fn decode(bytes: &[u8]) -> Result<Self, BadLetters> {
            if bytes.iter().all(|b| *b == b'x') {
                Ok(Self(bytes.len()))
            } else {
                Err(BadLetters)
            }
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Message {
        id: u32,
        body: Encoded<Letters>,
        text: Encoded<String>,
    }

    #[test]
    fn blanket_impl_uses_postcard() {
        let value = (7u32, String::from("hi"));
        let bytes = value.encode().unwrap();
        assert_eq!(bytes.as_ref(), postcard::to_allocvec(&value).unwrap());
        assert_eq!(<(u32, String)>::decode(&bytes).unwrap(), value);
        assert!(u64::decode(&[0xff]).is_err());
    }

    #[test]
    fn encoded_carries_custom_encodings() {
        let msg = Message {
            id: 1,
            body: Encoded(Letters(3)),
            text: Encoded("t".into()),
        };
        let bin = postcard::to_allocvec(&msg).unwrap();
        assert_eq!(postcard::from_bytes::<Message>(&bin).unwrap(), msg);
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), msg);
    }

    #[test]
    fn encoded_rejects_undecodable_payloads() {
        // id = 1, body = 2 bytes "xy" (not all x), text = "".
        let bin = [1u8, 2, b'x', b'y', 1, 0];
        assert!(postcard::from_bytes::<Message>(&bin).is_err());
    }

    #[test]
    fn derived_stream_id_is_the_type_name() {
        assert_eq!(u32::derived_stream_id(), StreamId::from("u32"));
    }
}
