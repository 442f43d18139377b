//! [`Collateral`]: the Intel-signed data a quote is verified against.

use {
    super::TdxTicketError,
    crate::primitives::UniqueId,
    dcap_qvl::QuoteCollateralV3,
    std::{path::Path, sync::Arc},
};

/// DCAP collateral for one platform family (FMSPC): TCB info and QE
/// identity (each signed by Intel's TCB signing key), their issuer chains,
/// and the root CA and PCK CRLs.
///
/// The operator supplies it — fetched beforehand from a PCCS or Intel's
/// PCS (`GET /tdx/certification/v4/tcb`, `/qe/identity`, `/pckcrl`,
/// `/rootcacrl`) and stored as JSON in the shape `dcap-qvl` uses
/// (`tcb_info`, `tcb_info_signature`, `qe_identity`, ... fields). The
/// validation path never fetches anything. Nothing in the collateral is
/// trusted by itself: every signature in it is verified up to Intel's SGX
/// root CA, which is compiled in.
///
/// The collateral's [`version`](Self::version) is the blake3 hash of its
/// JSON bytes; verification results are cached per quote and version.
#[derive(Clone, Debug)]
pub struct Collateral {
    inner: Arc<QuoteCollateralV3>,
    version: UniqueId,
}

impl Collateral {
    /// Collateral from its JSON encoding.
    pub fn from_json(json: impl AsRef<[u8]>) -> Result<Self, TdxTicketError> {
        let json = json.as_ref();
        let inner: QuoteCollateralV3 = serde_json::from_slice(json)
            .map_err(|e| TdxTicketError::InvalidFormat(format!("collateral: {e}")))?;
        Ok(Self {
            inner: Arc::new(inner),
            version: UniqueId::hash(json),
        })
    }

    /// Collateral read from a JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TdxTicketError> {
        let path = path.as_ref();
        let json = std::fs::read(path).map_err(|e| {
            TdxTicketError::InvalidFormat(format!("collateral {}: {e}", path.display()))
        })?;
        Self::from_json(json)
    }

    /// The hash of the collateral's bytes: a new fetch gives a new version.
    pub const fn version(&self) -> UniqueId {
        self.version
    }

    /// The TCB info's `issueDate` and `nextUpdate` as Unix seconds, when
    /// present: the window in which this collateral is current.
    pub fn tcb_info_window(&self) -> Option<(i64, i64)> {
        let value: serde_json::Value = serde_json::from_str(&self.inner.tcb_info).ok()?;
        let at = |name: &str| {
            chrono::DateTime::parse_from_rfc3339(value.get(name)?.as_str()?)
                .ok()
                .map(|t| t.timestamp())
        };
        Some((at("issueDate")?, at("nextUpdate")?))
    }

    /// The QE identity's `nextUpdate` as Unix seconds, when present.
    pub fn qe_identity_next_update(&self) -> Option<i64> {
        let value: serde_json::Value = serde_json::from_str(&self.inner.qe_identity).ok()?;
        chrono::DateTime::parse_from_rfc3339(value.get("nextUpdate")?.as_str()?)
            .ok()
            .map(|t| t.timestamp())
    }

    /// The collateral's JSON encoding, as [`from_json`](Self::from_json)
    /// reads it: to store fetched collateral in a file.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.inner).expect("collateral serializes")
    }

    /// The empty stand-in a validator with the test double holds, so the
    /// collateral loop and the cache run exactly as with real collateral.
    /// DCAP refuses it (nothing in it parses).
    #[cfg(feature = "tdx-test-double")]
    pub(super) fn test_double() -> Self {
        let empty = QuoteCollateralV3 {
            pck_crl_issuer_chain: String::new(),
            root_ca_crl: Vec::new(),
            pck_crl: Vec::new(),
            tcb_info_issuer_chain: String::new(),
            tcb_info: String::new(),
            tcb_info_signature: Vec::new(),
            qe_identity_issuer_chain: String::new(),
            qe_identity: String::new(),
            qe_identity_signature: Vec::new(),
            pck_certificate_chain: None,
        };
        Self {
            inner: Arc::new(empty),
            version: crate::unique_id!("mosaik.tee.tdx.test-double.collateral"),
        }
    }

    pub(super) fn inner(&self) -> &QuoteCollateralV3 {
        &self.inner
    }
}
