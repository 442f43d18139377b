//! The one 32-byte identifier type used for every id in mosaik.

use {
    core::{fmt, str::FromStr},
    serde::{Deserialize, Deserializer, Serialize, Serializer, de},
};

/// Number of bytes in a [`Digest`].
pub const DIGEST_LEN: usize = 32;

/// A 32-byte identifier (a blake3 hash or raw bytes).
///
/// Every identifier in mosaik (networks, tags, streams, groups, stores,
/// ticket classes) is a `Digest`. Strings map to digests by *intent
/// addressing*: exactly 64 hex characters are taken verbatim, anything else is
/// hashed with blake3, so the same string names the same thing everywhere.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Digest([u8; DIGEST_LEN]);

/// A unique identifier; the same type as [`Digest`].
pub type UniqueId = Digest;
/// A tag advertised in a peer's discovery entry.
pub type Tag = Digest;
/// Identifies a network: nodes only see peers with the same id.
pub type NetworkId = Digest;
/// Identifies a typed stream.
pub type StreamId = Digest;
/// Identifies a consensus group.
pub type GroupId = Digest;
/// Identifies a replicated collection.
pub type StoreId = Digest;
/// Identifies a class of tickets (credentials).
pub type TicketClass = Digest;

impl Digest {
    /// The all-zero digest.
    pub const fn zero() -> Self {
        Self([0; DIGEST_LEN])
    }

    /// Wraps raw bytes without hashing.
    pub const fn from_bytes(bytes: [u8; DIGEST_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }

    /// Always 32.
    #[allow(clippy::len_without_is_empty)]
    pub const fn len(&self) -> usize {
        DIGEST_LEN
    }

    /// blake3 of `data`, with no hex shortcut.
    pub fn hash(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// blake3 of the concatenation of `parts`.
    pub fn from_parts<T: AsRef<[u8]>>(parts: &[T]) -> Self {
        let mut hasher = blake3::Hasher::new();
        for part in parts {
            hasher.update(part.as_ref());
        }
        Self::from_hasher(&hasher)
    }

    /// Finalizes a blake3 hasher into a digest.
    pub fn from_hasher(hasher: &blake3::Hasher) -> Self {
        Self(*hasher.finalize().as_bytes())
    }

    /// 32 random bytes.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// blake3 of `self ‖ info`: how every hierarchical id is derived.
    #[must_use]
    pub fn derive(&self, info: impl AsRef<[u8]>) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.0);
        hasher.update(info.as_ref());
        Self::from_hasher(&hasher)
    }

    /// blake3 of `self`.
    #[must_use]
    pub fn hashed(&self) -> Self {
        Self::hash(&self.0)
    }

    /// Intent addressing over bytes: 64 hex characters decode verbatim,
    /// anything else is hashed.
    pub fn intent(input: &[u8]) -> Self {
        if input.len() == DIGEST_LEN * 2 {
            let mut out = [0u8; DIGEST_LEN];
            if hex::decode_to_slice(input, &mut out).is_ok() {
                return Self(out);
            }
        }
        Self::hash(input)
    }

    /// Lowercase hex of all 32 bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

macro_rules! int_constructors {
    ($($name:ident: $ty:ty),* $(,)?) => {$(
        #[doc = concat!("Places a `", stringify!($ty), "` little-endian in the last bytes of a zero digest.")]
        pub const fn $name(value: $ty) -> Self {
            let src = value.to_le_bytes();
            let mut out = [0u8; DIGEST_LEN];
            let start = DIGEST_LEN - src.len();
            let mut i = 0;
            while i < src.len() {
                out[start + i] = src[i];
                i += 1;
            }
            Self(out)
        }
    )*};
}

impl Digest {
    int_constructors! {
        from_u8: u8, from_u16: u16, from_u32: u32, from_u64: u64, from_u128: u128,
        from_usize: usize, from_i8: i8, from_i16: i16, from_i32: i32, from_i64: i64,
        from_i128: i128, from_isize: isize,
    }
}

impl From<&str> for Digest {
    fn from(value: &str) -> Self {
        Self::intent(value.as_bytes())
    }
}

impl From<String> for Digest {
    fn from(value: String) -> Self {
        Self::intent(value.as_bytes())
    }
}

impl From<&String> for Digest {
    fn from(value: &String) -> Self {
        Self::intent(value.as_bytes())
    }
}

impl From<&[u8]> for Digest {
    fn from(value: &[u8]) -> Self {
        Self::intent(value)
    }
}

impl From<[u8; DIGEST_LEN]> for Digest {
    fn from(value: [u8; DIGEST_LEN]) -> Self {
        Self(value)
    }
}

impl From<&Digest> for Digest {
    fn from(value: &Digest) -> Self {
        *value
    }
}

impl From<blake3::Hash> for Digest {
    fn from(value: blake3::Hash) -> Self {
        Self(*value.as_bytes())
    }
}

impl From<Digest> for iroh::SecretKey {
    /// Uses the digest bytes as an ed25519 secret key.
    fn from(value: Digest) -> Self {
        iroh::SecretKey::from_bytes(&value.0)
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl FromStr for Digest {
    type Err = core::convert::Infallible;

    /// Intent addressing; never fails.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(s))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            // A fixed-size array is a tuple in serde: postcard writes the 32
            // bytes with no length prefix.
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            let mut out = [0u8; DIGEST_LEN];
            hex::decode_to_slice(text.as_bytes(), &mut out)
                .map_err(|e| de::Error::custom(format_args!("invalid digest hex: {e}")))?;
            Ok(Self(out))
        } else {
            <[u8; DIGEST_LEN]>::deserialize(deserializer).map(Self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn sixty_four_hex_chars_are_verbatim() {
        let d = Digest::from(HEX);
        assert_eq!(d.to_hex(), HEX);
        assert_eq!(d.to_string(), HEX);
        // Upper case hex is still hex.
        assert_eq!(Digest::from(HEX.to_uppercase().as_str()), d);
    }

    #[test]
    fn anything_else_is_hashed() {
        assert_eq!(Digest::from("hello"), Digest::hash(b"hello"));
        // 64 chars that are not hex are hashed.
        let not_hex = "z".repeat(64);
        assert_eq!(
            Digest::from(not_hex.as_str()),
            Digest::hash(not_hex.as_bytes())
        );
        // 62 hex chars are hashed.
        assert_eq!(
            Digest::from(&HEX[..62]),
            Digest::hash(&HEX.as_bytes()[..62])
        );
        let parsed: Digest = "hello".parse().unwrap();
        assert_eq!(parsed, Digest::from("hello"));
    }

    #[test]
    fn derive_and_hashed() {
        let root = Digest::from("root");
        let mut concat = root.as_bytes().to_vec();
        concat.extend_from_slice(b"child");
        assert_eq!(root.derive("child"), Digest::hash(&concat));
        assert_eq!(root.hashed(), Digest::hash(root.as_bytes()));
        assert_eq!(
            Digest::from_parts(&[&b"ab"[..], b"cd"]),
            Digest::hash(b"abcd")
        );
        assert_ne!(root.derive("a"), root.derive("b"));
    }

    #[test]
    fn integer_constructors_are_right_aligned_little_endian() {
        const C: Digest = Digest::from_u32(5);
        let d = Digest::from_u16(0x0102);
        assert_eq!(&d.as_bytes()[30..], &[0x02, 0x01]);
        assert!(d.as_bytes()[..30].iter().all(|b| *b == 0));
        assert_eq!(Digest::from_u64(7).as_bytes()[24], 7);
        assert_eq!(Digest::from_i8(-1).as_bytes()[31], 0xff);
        assert_eq!(Digest::zero(), Digest::from_u128(0));
        assert_eq!(C.as_bytes()[28], 5);
    }

    #[test]
    fn serde_hex_in_json_raw_in_postcard() {
        let d = Digest::from(HEX);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{HEX}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        let bin = postcard::to_allocvec(&d).unwrap();
        assert_eq!(bin.len(), 32);
        assert_eq!(&bin[..], d.as_bytes());
        assert_eq!(postcard::from_bytes::<Digest>(&bin).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"abc\"").is_err());
    }

    #[test]
    fn random_digests_differ_and_order_is_bytewise() {
        assert_ne!(Digest::random(), Digest::random());
        assert!(Digest::from_u8(1) < Digest::from_u8(2));
        // Little-endian placement: order is by bytes, not by numeric value.
        assert!(Digest::from_u16(0x0100) < Digest::from_u16(0x00ff));
    }

    #[test]
    fn secret_key_from_digest_is_stable() {
        let d = Digest::from("key");
        let a: iroh::SecretKey = d.into();
        let b: iroh::SecretKey = d.into();
        assert_eq!(a.public(), b.public());
    }
}
