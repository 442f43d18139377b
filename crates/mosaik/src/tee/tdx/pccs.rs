//! [`Pccs`]: collateral fetched from a PCCS or Intel's PCS and cached until
//! it goes stale (feature `tdx-pccs`).
//!
//! Fetching happens only when the operator asks ([`Pccs::collateral_for_quote`],
//! [`Pccs::fetch`], [`Pccs::refresh_due`]) or in the background task of
//! [`Pccs::spawn_refresh`] — never while a ticket is validated: a [`Tdx`]
//! holding the fetcher ([`Tdx::with_collateral_source`](super::Tdx::with_collateral_source)) only reads what is
//! cached. Nothing fetched is trusted by itself: DCAP verifies every
//! signature in it up to Intel's root, so plain `http` to a local PCCS can
//! at worst withhold collateral, never forge it.

use {
    super::{Collateral, TdxTicketError, http},
    chrono::{DateTime, Utc},
    core::time::Duration,
    dcap_qvl::{QuoteCollateralV3, quote::Quote},
    serde::Deserialize,
    serde_json::value::RawValue,
    std::{
        collections::HashMap,
        sync::{Arc, Mutex},
    },
};

/// Intel's Provisioning Certification Service.
pub const INTEL_PCS_URL: &str = "https://api.trustedservices.intel.com";

/// Where Intel publishes the SGX root CA's CRL (the PCS has no
/// `rootcacrl` endpoint; a PCCS does).
pub const INTEL_ROOT_CA_CRL_URL: &str =
    "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

/// Largest accepted response body: PCK CRLs are tens of KiB, TCB info a
/// few KiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Deadline for one request (connect, TLS, headers and body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Collateral is refetched at the latest this long after it was fetched,
/// even before its `nextUpdate` (Intel may publish new TCB levels earlier).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_hours(24);

/// One platform family: FMSPC (upper-case hex) and PCK CA (`processor` or
/// `platform`).
type Platform = (String, &'static str);

struct Entry {
    collateral: Collateral,
    refresh_at: i64,
}

/// A collateral source that fetches from a PCCS (API v4) or Intel's PCS
/// and caches per platform family until the TCB info's or QE identity's
/// `nextUpdate`, or the refresh interval, whichever comes first. Clones
/// share the cache.
///
/// A failed fetch leaves the cached collateral in place and returns the
/// error; DCAP still refuses quotes once that collateral has expired.
#[derive(Clone)]
pub struct Pccs {
    base: String,
    root_ca_crl_url: String,
    timeout: Duration,
    max_body: usize,
    refresh_interval: Duration,
    at_time: Option<DateTime<Utc>>,
    entries: Arc<Mutex<HashMap<Platform, Entry>>>,
}

impl core::fmt::Debug for Pccs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pccs")
            .field("base", &self.base)
            .field("cached", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Pccs {
    /// A fetcher for the PCCS or PCS at `base_url` (`http` or `https`;
    /// a trailing `/sgx|tdx/certification/v4` is ignored). The root CA
    /// CRL comes from the server's `rootcacrl` endpoint, or from Intel's
    /// distribution point when `base_url` is [`INTEL_PCS_URL`].
    pub fn new(base_url: &str) -> Result<Self, TdxTicketError> {
        let base = base_url
            .trim_end_matches('/')
            .trim_end_matches("/sgx/certification/v4")
            .trim_end_matches("/tdx/certification/v4")
            .to_owned();
        http::check_url(&base).map_err(TdxTicketError::InvalidFormat)?;
        let root_ca_crl_url = if base.starts_with(INTEL_PCS_URL) {
            INTEL_ROOT_CA_CRL_URL.to_owned()
        } else {
            format!("{base}/sgx/certification/v4/rootcacrl")
        };
        Ok(Self {
            base,
            root_ca_crl_url,
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_RESPONSE_BYTES,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            at_time: None,
            entries: Arc::default(),
        })
    }

    /// A fetcher for Intel's PCS.
    pub fn intel() -> Self {
        Self::new(INTEL_PCS_URL).expect("the PCS URL is valid")
    }

    /// Deadline for each request ([`DEFAULT_TIMEOUT`]).
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest accepted response body ([`DEFAULT_MAX_RESPONSE_BYTES`]).
    #[must_use]
    pub const fn with_max_response_bytes(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// Refetch at the latest this long after a fetch
    /// ([`DEFAULT_REFRESH_INTERVAL`]).
    #[must_use]
    pub const fn with_refresh_interval(mut self, every: Duration) -> Self {
        self.refresh_interval = every;
        self
    }

    /// Fetch the root CA CRL from `url` instead.
    #[must_use]
    pub fn with_root_ca_crl_url(mut self, url: impl Into<String>) -> Self {
        self.root_ca_crl_url = url.into();
        self
    }

    /// Judge staleness at `at` instead of the current time (for recorded
    /// collateral in tests and audits).
    #[must_use]
    pub const fn at_time(mut self, at: DateTime<Utc>) -> Self {
        self.at_time = Some(at);
        self
    }

    /// The server this fetcher asks.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Everything cached, one per platform family: what a [`Tdx`](super::Tdx) holding
    /// this source verifies against.
    pub fn current(&self) -> Vec<Collateral> {
        self.lock().values().map(|e| e.collateral.clone()).collect()
    }

    /// The collateral for `quote`'s platform family: the cached one unless
    /// it is due for refresh, else freshly fetched (and cached).
    pub async fn collateral_for_quote(&self, quote: &[u8]) -> Result<Collateral, TdxTicketError> {
        let platform = platform_of(quote)?;
        let now = self.now();
        if let Some(e) = self.lock().get(&platform)
            && e.refresh_at > now
        {
            return Ok(e.collateral.clone());
        }
        self.fetch(&platform.0, platform.1).await
    }

    /// Fetches the collateral of one platform family now (`fmspc` as hex,
    /// `ca` `"processor"` or `"platform"`) and caches it. On failure the
    /// cached collateral, if any, stays.
    pub async fn fetch(&self, fmspc: &str, ca: &str) -> Result<Collateral, TdxTicketError> {
        let ca = match ca {
            "processor" => "processor",
            "platform" => "platform",
            other => {
                return Err(TdxTicketError::InvalidFormat(format!(
                    "PCK CA {other:?} is neither processor nor platform"
                )));
            }
        };
        let fmspc = fmspc.to_ascii_uppercase();
        let fetched = self.fetch_v3(&fmspc, ca).await.map_err(|e| {
            TdxTicketError::InvalidFormat(format!("collateral from {}: {e}", self.base))
        })?;
        let json = serde_json::to_vec(&fetched)
            .map_err(|e| TdxTicketError::InvalidFormat(format!("collateral: {e}")))?;
        let collateral = Collateral::from_json(json)?;
        let refresh_at = self.refresh_at(&collateral);
        self.lock().insert(
            (fmspc, ca),
            Entry {
                collateral: collateral.clone(),
                refresh_at,
            },
        );
        Ok(collateral)
    }

    /// Refetches every cached platform family that is due; returns how
    /// many were refreshed and the errors of those that were not (their
    /// old collateral stays).
    pub async fn refresh_due(&self) -> (usize, Vec<TdxTicketError>) {
        let now = self.now();
        let due: Vec<Platform> = self
            .lock()
            .iter()
            .filter(|(_, e)| e.refresh_at <= now)
            .map(|(p, _)| p.clone())
            .collect();
        let (mut done, mut errors) = (0, Vec::new());
        for (fmspc, ca) in due {
            match self.fetch(&fmspc, ca).await {
                Ok(_) => done += 1,
                Err(e) => errors.push(e),
            }
        }
        (done, errors)
    }

    /// Runs [`refresh_due`](Self::refresh_due) every `every` in a tokio
    /// task until the handle is aborted; failures are logged.
    pub fn spawn_refresh(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                for e in this.refresh_due().await.1 {
                    tracing::warn!(error = %e, "tdx collateral refresh failed");
                }
            }
        })
    }

    fn now(&self) -> i64 {
        self.at_time.unwrap_or_else(Utc::now).timestamp()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Platform, Entry>> {
        self.entries.lock().expect("pccs cache poisoned")
    }

    /// The earliest of TCB info `nextUpdate`, QE identity `nextUpdate` and
    /// now + refresh interval.
    fn refresh_at(&self, collateral: &Collateral) -> i64 {
        let interval = i64::try_from(self.refresh_interval.as_secs()).unwrap_or(i64::MAX);
        let mut at = self.now().saturating_add(interval);
        for next in [
            collateral.tcb_info_window().map(|w| w.1),
            collateral.qe_identity_next_update(),
        ]
        .into_iter()
        .flatten()
        {
            at = at.min(next);
        }
        at
    }

    async fn get(&self, url: &str) -> Result<http::Response, String> {
        let response = http::get(url, self.timeout, self.max_body).await?;
        if !(200..300).contains(&response.status) {
            return Err(format!("GET {url}: HTTP {}", response.status));
        }
        Ok(response)
    }

    /// The PCCS API v4 requests, converted to `dcap-qvl`'s collateral.
    async fn fetch_v3(&self, fmspc: &str, ca: &str) -> Result<QuoteCollateralV3, String> {
        let base = &self.base;
        let missing = |what: &str| format!("response has no {what} header");

        let crl = self
            .get(&format!(
                "{base}/sgx/certification/v4/pckcrl?ca={ca}&encoding=der"
            ))
            .await?;
        let pck_crl_issuer_chain = crl
            .header_decoded("SGX-PCK-CRL-Issuer-Chain")
            .ok_or_else(|| missing("SGX-PCK-CRL-Issuer-Chain"))?;

        let tcb = self
            .get(&format!("{base}/tdx/certification/v4/tcb?fmspc={fmspc}"))
            .await?;
        let tcb_info_issuer_chain = tcb
            .header_decoded("TCB-Info-Issuer-Chain")
            .or_else(|| tcb.header_decoded("SGX-TCB-Info-Issuer-Chain"))
            .ok_or_else(|| missing("TCB-Info-Issuer-Chain"))?;
        let tcb_body: TcbInfoResponse<'_> =
            serde_json::from_slice(&tcb.body).map_err(|e| format!("TCB info: {e}"))?;

        let qe = self
            .get(&format!("{base}/tdx/certification/v4/qe/identity"))
            .await?;
        let qe_identity_issuer_chain = qe
            .header_decoded("SGX-Enclave-Identity-Issuer-Chain")
            .ok_or_else(|| missing("SGX-Enclave-Identity-Issuer-Chain"))?;
        let qe_body: QeIdentityResponse<'_> =
            serde_json::from_slice(&qe.body).map_err(|e| format!("QE identity: {e}"))?;

        let root = self.get(&self.root_ca_crl_url).await?;
        Ok(QuoteCollateralV3 {
            pck_crl_issuer_chain,
            root_ca_crl: der_or_hex(&root.body).map_err(|e| format!("root CA CRL: {e}"))?,
            pck_crl: der_or_hex(&crl.body).map_err(|e| format!("PCK CRL: {e}"))?,
            tcb_info_issuer_chain,
            // The signed bytes exactly as served: re-encoding the JSON
            // could change them and break the signature.
            tcb_info: tcb_body.tcb_info.get().to_owned(),
            tcb_info_signature: hex::decode(tcb_body.signature)
                .map_err(|e| format!("TCB info signature: {e}"))?,
            qe_identity_issuer_chain,
            qe_identity: qe_body.enclave_identity.get().to_owned(),
            qe_identity_signature: hex::decode(qe_body.signature)
                .map_err(|e| format!("QE identity signature: {e}"))?,
            pck_certificate_chain: None,
        })
    }
}

#[derive(Deserialize)]
struct TcbInfoResponse<'a> {
    #[serde(rename = "tcbInfo", borrow)]
    tcb_info: &'a RawValue,
    signature: &'a str,
}

#[derive(Deserialize)]
struct QeIdentityResponse<'a> {
    #[serde(rename = "enclaveIdentity", borrow)]
    enclave_identity: &'a RawValue,
    signature: &'a str,
}

/// A CRL as DER: PCCS serves the root CA CRL hex-encoded, the PCS and the
/// distribution point as DER (which starts with a SEQUENCE tag).
fn der_or_hex(body: &[u8]) -> Result<Vec<u8>, String> {
    if body.first() == Some(&0x30) {
        return Ok(body.to_vec());
    }
    let text = std::str::from_utf8(body).map_err(|_| "neither DER nor hex")?;
    hex::decode(text.trim()).map_err(|e| format!("neither DER nor hex: {e}"))
}

/// The FMSPC and PCK CA of a quote's PCK certificate.
fn platform_of(quote: &[u8]) -> Result<Platform, TdxTicketError> {
    fn bad(e: impl core::fmt::Display) -> TdxTicketError {
        TdxTicketError::InvalidFormat(format!("quote: {e:#}"))
    }
    let parsed = Quote::parse(quote).map_err(bad)?;
    let fmspc = dcap_qvl::intel::quote_fmspc(&parsed).map_err(bad)?;
    let ca = dcap_qvl::intel::quote_ca(&parsed).map_err(bad)?;
    Ok((hex::encode_upper(fmspc), ca.as_id_str()))
}
