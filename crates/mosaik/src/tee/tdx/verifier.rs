//! DCAP verification of TDX quotes through `dcap-qvl`, with a bounded
//! cache of verified quotes.
//!
//! The signature-checking step sits behind [`QuoteCheck`] so tests can put
//! a double there (feature `tdx-test-double`); production builds have one
//! implementation, [`Dcap`], and no way to install another.

use {
    super::{Collateral, TdxTicketError},
    crate::primitives::UniqueId,
    dcap_qvl::{QuotePolicy, TcbStatus, verify::QuoteVerifier},
    std::{
        borrow::Cow,
        collections::HashMap,
        sync::{Arc, Mutex},
    },
};

/// At most this many verified (quote, collateral) pairs are remembered per
/// validator (shared by its clones); when full, expired ones are dropped
/// and, if none were, the whole cache is cleared.
pub const MAX_CACHED_VERIFICATIONS: usize = 1024;

/// A cached verification is re-done at the latest after this many seconds
/// (or when the collateral it used expires, whichever is first).
pub const CACHE_TTL_SECS: i64 = 600;

/// Whether the quote's TD attributes have the DEBUG bit (TUD bit 0) set.
/// Checked before verification so a debug TD is refused by name; dcap-qvl
/// refuses it again during verification.
fn is_debug_td(quote: &[u8]) -> bool {
    dcap_qvl::quote::Quote::parse(quote)
        .ok()
        .and_then(|q| q.report.as_td10().map(|td| td.td_attributes[0] & 0x01 != 0))
        .unwrap_or(false)
}

/// What a successful DCAP verification established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedQuote {
    /// The converged TCB status of platform, QE and TDX module.
    pub tcb_status: TcbStatus,
    /// The earliest expiry (Unix seconds) over the collateral used.
    pub collateral_expires_at: u64,
    /// Whether this answer came from the cache (no signature was checked).
    pub cached: bool,
}

#[derive(Clone, Copy)]
struct Cached {
    verified: VerifiedQuote,
    valid_until: i64,
}

type Key = ([u8; 32], UniqueId);

/// The step that checks one quote's signatures against one collateral and
/// finds its TCB status. Everything around it — collateral selection,
/// caching, the debug and TCB-status policy, and every rule of the
/// validator after verification — is the same whatever implements it.
pub(super) trait QuoteCheck: Send + Sync {
    /// Verifies `quote` with `collateral` at `now` (Unix seconds).
    fn check(
        &self,
        quote: &[u8],
        collateral: &Collateral,
        allow_debug: bool,
        now: u64,
    ) -> Result<VerifiedQuote, String>;

    /// Names the implementation in the validator signature, so a
    /// validator with a double never shares a signature with a real one.
    fn name(&self) -> &'static str;
}

/// The production [`QuoteCheck`]: quote signature by the attestation key →
/// attestation key bound by the QE report → QE report signed by the PCK →
/// PCK certificate chain to Intel's SGX root CA (compiled into
/// `dcap-qvl`), with the root CA and PCK CRLs → TCB info and QE identity
/// signed by Intel's TCB signing chain → TCB status of platform, QE and
/// TDX module.
pub(super) struct Dcap;

impl QuoteCheck for Dcap {
    fn check(
        &self,
        quote: &[u8],
        collateral: &Collateral,
        allow_debug: bool,
        now: u64,
    ) -> Result<VerifiedQuote, String> {
        let verifier = QuoteVerifier::new_prod().allow_debug(allow_debug);
        // The policy is ours (TCB statuses in `Verifier::verify`);
        // dcap-qvl's built-in one would also judge platform flags we do
        // not configure.
        let claims = verifier
            .verify_with_policy(
                quote,
                collateral.inner().clone(),
                now,
                &QuotePolicy::claims_only(now),
            )
            .map_err(|e| format!("{e:#}"))?;
        if claims.tee_type != 0x81 {
            return Err("not a TDX quote".into());
        }
        Ok(VerifiedQuote {
            tcb_status: claims.tcb.status,
            collateral_expires_at: claims.earliest_expiration_date,
            cached: false,
        })
    }

    fn name(&self) -> &'static str {
        "dcap"
    }
}

/// Verifies quotes against operator-supplied [`Collateral`] with a
/// [`QuoteCheck`] ([`Dcap`] unless a test installed a double). Debug TDs
/// are refused unless allowed; the TCB status must be one of the accepted
/// ones.
#[derive(Clone)]
pub(super) struct Verifier {
    collaterals: Vec<Collateral>,
    statuses: Vec<TcbStatus>,
    allow_debug: bool,
    check: Arc<dyn QuoteCheck>,
    /// Fetched collateral, read (never fetched) on each verification.
    #[cfg(feature = "tdx-pccs")]
    source: Option<super::Pccs>,
    cache: Arc<Mutex<HashMap<Key, Cached>>>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            collaterals: Vec::new(),
            statuses: vec![TcbStatus::UpToDate],
            allow_debug: false,
            check: Arc::new(Dcap),
            #[cfg(feature = "tdx-pccs")]
            source: None,
            cache: Arc::default(),
        }
    }
}

impl core::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Verifier")
            .field("check", &self.check.name())
            .field("collaterals", &self.collaterals.len())
            .field("statuses", &self.statuses)
            .field("allow_debug", &self.allow_debug)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Configuration changed: verdicts of the old configuration must not
    /// be shared with it.
    fn fresh(mut self) -> Self {
        self.cache = Arc::default();
        self
    }

    pub(super) fn add_collateral(mut self, c: Collateral) -> Self {
        if !self.collaterals.iter().any(|x| x.version() == c.version()) {
            self.collaterals.push(c);
        }
        self.fresh()
    }

    pub(super) fn allow_status(mut self, status: TcbStatus) -> Self {
        if !self.statuses.contains(&status) {
            self.statuses.push(status);
        }
        self.fresh()
    }

    pub(super) fn set_statuses(mut self, statuses: Vec<TcbStatus>) -> Self {
        self.statuses = statuses;
        self.fresh()
    }

    pub(super) fn allow_debug(mut self) -> Self {
        self.allow_debug = true;
        self.fresh()
    }

    /// Also verifies against what `source` has cached.
    #[cfg(feature = "tdx-pccs")]
    pub(super) fn with_source(mut self, source: super::Pccs) -> Self {
        self.source = Some(source);
        self.fresh()
    }

    /// The configured collateral, then the source's current collateral
    /// (borrowed when there is no source: the common, hot case).
    fn collaterals(&self) -> Cow<'_, [Collateral]> {
        #[cfg(feature = "tdx-pccs")]
        if let Some(source) = &self.source {
            let mut all = self.collaterals.clone();
            all.extend(source.current());
            return Cow::Owned(all);
        }
        Cow::Borrowed(&self.collaterals)
    }

    /// Replaces the signature-checking step (the test double only).
    #[cfg(feature = "tdx-test-double")]
    pub(super) fn with_check(mut self, check: Arc<dyn QuoteCheck>) -> Self {
        self.check = check;
        self.fresh()
    }

    /// Feeds the validator signature.
    pub(super) fn fingerprint(&self, hasher: &mut blake3::Hasher) {
        hasher.update(self.check.name().as_bytes()).update(&[0]);
        let mut versions: Vec<_> = self.collaterals.iter().map(Collateral::version).collect();
        versions.sort();
        for v in versions {
            hasher.update(v.as_bytes());
        }
        let mut statuses: Vec<String> = self.statuses.iter().map(ToString::to_string).collect();
        statuses.sort();
        for s in statuses {
            hasher.update(s.as_bytes()).update(&[0]);
        }
        hasher.update(&[u8::from(self.allow_debug)]);
        // The source's collateral changes over time; its server does not.
        #[cfg(feature = "tdx-pccs")]
        if let Some(source) = &self.source {
            hasher.update(source.base_url().as_bytes());
        }
    }

    /// Verifies `quote` at `now` (Unix seconds) with the first collateral
    /// that verifies it, then applies the TCB status policy.
    pub(super) fn verify(&self, quote: &[u8], now: i64) -> Result<VerifiedQuote, TdxTicketError> {
        let collaterals = self.collaterals();
        if collaterals.is_empty() {
            return Err(TdxTicketError::QuoteVerificationFailed(
                "no collateral configured".into(),
            ));
        }
        if !self.allow_debug && is_debug_td(quote) {
            return Err(TdxTicketError::QuoteVerificationFailed(
                "debug TD refused".into(),
            ));
        }
        let hash = *blake3::hash(quote).as_bytes();
        let mut last_error = String::new();
        for collateral in collaterals.iter() {
            let key = (hash, collateral.version());
            let cached = self.cached(&key, now);
            let verified = match cached {
                Some(v) => v,
                None => match self.verify_uncached(quote, collateral, now) {
                    Ok(v) => {
                        self.remember(key, v, now);
                        v
                    }
                    Err(e) => {
                        last_error = e;
                        continue;
                    }
                },
            };
            return if self.statuses.contains(&verified.tcb_status) {
                Ok(verified)
            } else {
                Err(TdxTicketError::QuoteVerificationFailed(format!(
                    "TCB status {} is not accepted",
                    verified.tcb_status
                )))
            };
        }
        Err(TdxTicketError::QuoteVerificationFailed(last_error))
    }

    fn verify_uncached(
        &self,
        quote: &[u8],
        collateral: &Collateral,
        now: i64,
    ) -> Result<VerifiedQuote, String> {
        let now = u64::try_from(now).map_err(|_| "time before 1970".to_owned())?;
        self.check.check(quote, collateral, self.allow_debug, now)
    }

    fn cached(&self, key: &Key, now: i64) -> Option<VerifiedQuote> {
        let cache = self.cache.lock().expect("tdx cache poisoned");
        cache
            .get(key)
            .filter(|c| c.valid_until > now)
            .map(|c| VerifiedQuote {
                cached: true,
                ..c.verified
            })
    }

    fn remember(&self, key: Key, verified: VerifiedQuote, now: i64) {
        let expires = i64::try_from(verified.collateral_expires_at).unwrap_or(i64::MAX);
        let valid_until = expires.min(now.saturating_add(CACHE_TTL_SECS));
        let mut cache = self.cache.lock().expect("tdx cache poisoned");
        if cache.len() >= MAX_CACHED_VERIFICATIONS {
            cache.retain(|_, c| c.valid_until > now);
            if cache.len() >= MAX_CACHED_VERIFICATIONS {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Cached {
                verified,
                valid_until,
            },
        );
    }

    /// How many verifications are cached (for tests and metrics).
    pub(super) fn cached_len(&self) -> usize {
        self.cache.lock().expect("tdx cache poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded_and_drops_expired_entries_first() {
        let v = Verifier::default();
        let verified = VerifiedQuote {
            tcb_status: TcbStatus::UpToDate,
            collateral_expires_at: 10_000,
            cached: false,
        };
        let key = |i: usize| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            (h, UniqueId::from("c"))
        };
        // Half the entries expire at 100 (now 0 + TTL would be 600).
        let short = VerifiedQuote {
            collateral_expires_at: 100,
            ..verified
        };
        for i in 0..MAX_CACHED_VERIFICATIONS {
            v.remember(key(i), if i % 2 == 0 { short } else { verified }, 0);
        }
        assert_eq!(v.cached_len(), MAX_CACHED_VERIFICATIONS);
        assert!(v.cached(&key(0), 99).is_some_and(|c| c.cached));
        assert!(
            v.cached(&key(0), 100).is_none(),
            "expired with its collateral"
        );
        assert!(v.cached(&key(1), 599).is_some());
        assert!(v.cached(&key(1), 600).is_none(), "expired after the TTL");
        // Full at time 200: the expired half goes, the rest stays.
        v.remember(key(MAX_CACHED_VERIFICATIONS), verified, 200);
        assert_eq!(v.cached_len(), MAX_CACHED_VERIFICATIONS / 2 + 1);
        // Full with nothing expired: cleared, then the new entry.
        for i in 0..MAX_CACHED_VERIFICATIONS {
            v.remember(key(10_000 + i), verified, 200);
        }
        assert!(v.cached_len() <= MAX_CACHED_VERIFICATIONS);
        assert!(
            v.cached(&key(10_000 + MAX_CACHED_VERIFICATIONS - 1), 200)
                .is_some()
        );
    }
}
