//! The JWS compact form: `base64url(header).base64url(payload).base64url(sig)`.
//!
//! Only the framing lives here: size bound, UTF-8, three parts, strict
//! base64url and a JSON header whose `alg` is a string. Signatures are
//! checked by [`VerifyingKey`](super::VerifyingKey).

use {
    super::JwtRejection,
    base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD},
    serde::de::{Deserialize, Deserializer, MapAccess, Visitor},
    serde_json::{Map, Value},
};

/// A token split into its parts, header decoded, nothing verified yet.
pub(crate) struct Compact<'a> {
    /// The header's `alg`.
    pub alg: String,
    /// `header.payload` exactly as sent: what the signature covers.
    pub signing_input: &'a str,
    /// The base64url payload part.
    pub payload: &'a str,
    /// The base64url signature part.
    pub signature: &'a str,
}

impl<'a> Compact<'a> {
    /// Splits and frames `token`, refusing anything over `max_len` bytes
    /// before looking inside it.
    pub fn parse(token: &'a [u8], max_len: usize) -> Result<Self, JwtRejection> {
        if token.len() > max_len {
            return Err(JwtRejection::TooLarge(token.len()));
        }
        let text = core::str::from_utf8(token).map_err(|_| JwtRejection::NotUtf8)?;
        let mut parts = text.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtRejection::Malformed);
        };
        let signing_input = &text[..header.len() + 1 + payload.len()];

        let header = decode_part(header).map_err(JwtRejection::BadHeader)?;
        let header = parse_object(&header).map_err(JwtRejection::BadHeader)?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => alg.clone(),
            _ => {
                return Err(JwtRejection::BadHeader(
                    "alg missing or not a string".into(),
                ));
            }
        };
        if alg.eq_ignore_ascii_case("none") {
            return Err(JwtRejection::Unsigned);
        }
        match header.get("typ") {
            None => {}
            Some(Value::String(typ)) if typ.eq_ignore_ascii_case("jwt") => {}
            Some(_) => return Err(JwtRejection::BadHeader("typ is not jwt".into())),
        }
        // RFC 7515 §4.1.11: a recipient that does not understand a critical
        // extension must reject the token; we understand none.
        if header.contains_key("crit") {
            return Err(JwtRejection::BadHeader(
                "critical extensions not supported".into(),
            ));
        }
        Ok(Self {
            alg,
            signing_input,
            payload,
            signature,
        })
    }
}

/// Decodes one base64url part: no padding, no trailing bits, no other
/// alphabet, so every token has exactly one spelling.
pub(crate) fn decode_part(part: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| format!("not base64url: {e}"))
}

/// Encodes one part for the builder.
pub(crate) fn encode_part(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Parses a JSON object, refusing duplicate top-level names: with
/// duplicates, two JWT libraries may read two different claim sets.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    serde_json::from_slice::<StrictObject>(bytes)
        .map(|o| o.0)
        .map_err(|e| format!("not a json object: {e}"))
}

struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictObject;
            fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
                f.write_str("a json object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictObject, A::Error> {
                let mut out = Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("duplicate name {key}")));
                    }
                    out.insert(key, value);
                }
                Ok(StrictObject(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}
