//! The registered claims of a verified payload, strictly typed.

use {
    super::{
        JwtRejection,
        compact::{decode_part, parse_object},
    },
    chrono::{DateTime, Utc},
    serde_json::{Map, Value},
};

/// The claims of a token whose signature has been verified.
pub(crate) struct Claims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    /// `aud` as a single string or an array of strings (RFC 7519 allows
    /// both); empty if absent.
    pub aud: Vec<String>,
    pub exp: Option<DateTime<Utc>>,
    pub nbf: Option<DateTime<Utc>>,
    pub iat: Option<DateTime<Utc>>,
    /// Every claim, registered or private, for `require_claim`.
    pub all: Map<String, Value>,
}

impl Claims {
    /// Decodes the base64url payload part.
    pub fn decode(payload: &str) -> Result<Self, JwtRejection> {
        let bytes = decode_part(payload).map_err(JwtRejection::BadClaims)?;
        let all = parse_object(&bytes).map_err(JwtRejection::BadClaims)?;
        Ok(Self {
            iss: string(&all, "iss")?,
            sub: string(&all, "sub")?,
            aud: audience(&all)?,
            exp: date(&all, "exp")?,
            nbf: date(&all, "nbf")?,
            iat: date(&all, "iat")?,
            all,
        })
    }
}

fn bad(name: &str, what: &str) -> JwtRejection {
    JwtRejection::BadClaims(format!("{name} {what}"))
}

fn string(all: &Map<String, Value>, name: &str) -> Result<Option<String>, JwtRejection> {
    match all.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(name, "is not a string")),
    }
}

fn audience(all: &Map<String, Value>) -> Result<Vec<String>, JwtRejection> {
    match all.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(bad("aud", "holds a non-string")),
            })
            .collect(),
        Some(_) => Err(bad("aud", "is not a string or array")),
    }
}

/// A `NumericDate`: whole seconds since the epoch. Values beyond `i64` or
/// beyond chrono's range are refused rather than clamped (clamping an `exp`
/// would turn a garbage date into "valid for a very long time").
/// Fractional seconds are refused too: every mainstream issuer writes
/// integers, and refusing keeps comparisons exact.
fn date(all: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, JwtRejection> {
    match all.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let secs = match n.as_i64() {
                Some(secs) => secs,
                None if n.as_u64().is_some() => return Err(bad(name, "is beyond i64")),
                None => return Err(bad(name, "is not a whole number of seconds")),
            };
            DateTime::from_timestamp(secs, 0)
                .map(Some)
                .ok_or_else(|| bad(name, "is out of range"))
        }
        Some(_) => Err(bad(name, "is not a number")),
    }
}
