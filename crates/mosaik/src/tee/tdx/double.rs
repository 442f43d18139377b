//! [`TdxTestDouble`]: a synthetic quote source and a stand-in for DCAP
//! verification, for tests only.
//!
//! Exists only with the cargo feature `tdx-test-double`, which production
//! builds never enable (mosaik's own tests turn it on through a
//! dev-dependency on the crate itself). Without that feature there is no
//! way to make a [`Tdx`] validator verify quotes other than through the
//! DCAP chain to Intel's root.
//!
//! Why it exists: a positive end-to-end test over the network needs a
//! quote whose report data binds a *live* node's peer id, and no machine
//! here can produce a genuine one. The double produces quotes in the real
//! TDX v4 layout (so [`TdxTicket`](super::TdxTicket) parses them and reads
//! their measurements and report data exactly as in production) whose
//! signature field carries [`TEST_DOUBLE_SIGNATURE`] instead of an ECDSA
//! signature; its verifier accepts exactly those. Every rule after
//! verification — report-data binding, measurements, peer, network, times,
//! expiry — runs unchanged.

use {
    super::{Collateral, Measurements, Tdx, VerifiedQuote, verifier::QuoteCheck},
    core::time::Duration,
    dcap_qvl::{TcbStatus, quote::Quote},
};

/// The 64 bytes a synthetic quote carries where a real one has its ECDSA
/// quote signature. The real verifier refuses such a quote (the signature
/// does not verify); the double accepts only quotes that carry it.
pub const TEST_DOUBLE_SIGNATURE: [u8; 64] =
    *b"mosaik tdx test double: a synthetic quote, not signed by Intel.!";

/// Quote header: version 4, ECDSA-256 attestation key, TEE type TDX.
const QUOTE_VERSION: u16 = 4;
const ATTESTATION_KEY_ECDSA_P256: u16 = 2;
const TEE_TYPE_TDX: u32 = 0x81;
/// Certification data types: QE report data (6) wrapping a PCK chain (5).
const CERT_TYPE_QE_REPORT: u16 = 6;
const CERT_TYPE_PCK_CHAIN: u16 = 5;
/// Sizes of the quote's fixed parts (Intel TDX DCAP quote format).
const HEADER_LEN: usize = 48;
const TD_REPORT_LEN: usize = 584;
const QE_REPORT_LEN: usize = 384;
/// Offsets inside the TD report: MRTD, RTMR0..3 and the report data.
const MRTD_AT: usize = 136;
const RTMR0_AT: usize = 328;
const REPORT_DATA_AT: usize = 520;

/// A test-only TDX "platform": makes synthetic quotes for one set of
/// measurements, and verifies them in place of DCAP when installed in a
/// validator ([`Tdx::with_test_double`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TdxTestDouble {
    measurements: Measurements,
    valid_for: Duration,
}

impl TdxTestDouble {
    /// A double whose quotes report `measurements`; its verdicts say the
    /// (absent) collateral stays current for a day after each check.
    pub const fn new(measurements: Measurements) -> Self {
        Self {
            measurements,
            valid_for: Duration::from_hours(24),
        }
    }

    /// Verdicts say the collateral stays current for `valid_for` after
    /// each check: the validator caps accepted tickets at that expiry,
    /// as it would with real collateral.
    #[must_use]
    pub const fn collateral_valid_for(mut self, valid_for: Duration) -> Self {
        self.valid_for = valid_for;
        self
    }

    /// The measurements its quotes report.
    pub const fn measurements(&self) -> Measurements {
        self.measurements
    }

    /// A validator that verifies quotes with this double instead of DCAP
    /// (same as `Tdx::new().with_test_double(self)`).
    pub fn validator(&self) -> Tdx {
        Tdx::new().with_test_double(*self)
    }

    /// A synthetic TDX v4 quote over `report_data`: real layout, this
    /// double's measurements, [`TEST_DOUBLE_SIGNATURE`] as its signature,
    /// zero attestation key, QE report and certificate chain.
    pub fn quote(&self, report_data: [u8; 64]) -> Vec<u8> {
        let mut report = vec![0u8; TD_REPORT_LEN];
        let m = &self.measurements;
        report[MRTD_AT..MRTD_AT + 48].copy_from_slice(m.mrtd().as_bytes());
        for (i, rtmr) in [m.rtmr0(), m.rtmr1(), m.rtmr2(), m.rtmr3()]
            .iter()
            .enumerate()
        {
            let at = RTMR0_AT + 48 * i;
            report[at..at + 48].copy_from_slice(rtmr.as_bytes());
        }
        report[REPORT_DATA_AT..].copy_from_slice(&report_data);

        // QE report certification data: QE report, its signature, empty
        // QE auth data, then an empty PCK chain (type 5).
        let mut qe = vec![0u8; QE_REPORT_LEN + 64];
        qe.extend_from_slice(&0u16.to_le_bytes());
        qe.extend_from_slice(&CERT_TYPE_PCK_CHAIN.to_le_bytes());
        qe.extend_from_slice(&0u32.to_le_bytes());

        let mut auth = TEST_DOUBLE_SIGNATURE.to_vec();
        auth.extend_from_slice(&[0u8; 64]); // attestation key
        auth.extend_from_slice(&CERT_TYPE_QE_REPORT.to_le_bytes());
        auth.extend_from_slice(&len_u32(&qe).to_le_bytes());
        auth.extend_from_slice(&qe);

        let mut quote = Vec::with_capacity(HEADER_LEN + TD_REPORT_LEN + 4 + auth.len());
        quote.extend_from_slice(&QUOTE_VERSION.to_le_bytes());
        quote.extend_from_slice(&ATTESTATION_KEY_ECDSA_P256.to_le_bytes());
        quote.extend_from_slice(&TEE_TYPE_TDX.to_le_bytes());
        quote.resize(HEADER_LEN, 0); // SVNs, QE vendor id, user data
        quote.extend_from_slice(&report);
        quote.extend_from_slice(&len_u32(&auth).to_le_bytes());
        quote.extend_from_slice(&auth);
        quote
    }
}

fn len_u32(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).expect("synthetic quote parts are small")
}

impl QuoteCheck for TdxTestDouble {
    /// Accepts a TDX quote iff its signature field is
    /// [`TEST_DOUBLE_SIGNATURE`]; the collateral is ignored.
    fn check(
        &self,
        quote: &[u8],
        _collateral: &Collateral,
        _allow_debug: bool,
        now: u64,
    ) -> Result<VerifiedQuote, String> {
        let parsed = Quote::parse(quote).map_err(|e| format!("{e:#}"))?;
        if parsed.header.tee_type != TEE_TYPE_TDX {
            return Err("not a TDX quote".into());
        }
        let signature = quote
            .get(HEADER_LEN + TD_REPORT_LEN + 4..HEADER_LEN + TD_REPORT_LEN + 4 + 64)
            .ok_or("quote too short")?;
        if signature != TEST_DOUBLE_SIGNATURE {
            return Err("test double: not a synthetic quote".into());
        }
        Ok(VerifiedQuote {
            tcb_status: TcbStatus::UpToDate,
            collateral_expires_at: now.saturating_add(self.valid_for.as_secs()),
            cached: false,
        })
    }

    fn name(&self) -> &'static str {
        "test-double"
    }
}
