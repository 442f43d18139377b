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

/// Encodes `value` with postcard.
pub fn try_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, EncodeError> {
    postcard::to_allocvec(value).map(Bytes::from)
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
}
