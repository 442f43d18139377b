//! TD measurements: MRTD and the four runtime measurement registers.

use {
    super::TdxTicketError,
    crate::{primitives::UniqueId, unique_id},
    core::{fmt, str::FromStr},
    dcap_qvl::quote::Quote,
};

/// One 48-byte (SHA-384) TD measurement register value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Measurement([u8; 48]);

impl Measurement {
    /// A measurement from its raw bytes.
    pub const fn new(bytes: [u8; 48]) -> Self {
        Self(bytes)
    }

    /// A measurement from 96 hex characters, usable in `const` items.
    ///
    /// # Panics
    /// If `hex` is not exactly 96 hex digits (at compile time in a `const`).
    pub const fn hex(hex: &str) -> Self {
        const fn nibble(c: u8) -> u8 {
            match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => panic!("measurement: not a hex digit"),
            }
        }
        let src = hex.as_bytes();
        assert!(src.len() == 96, "measurement: expected 96 hex characters");
        let mut out = [0u8; 48];
        let mut i = 0;
        while i < 48 {
            out[i] = (nibble(src[2 * i]) << 4) | nibble(src[2 * i + 1]);
            i += 1;
        }
        Self(out)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 48] {
        &self.0
    }
}

impl fmt::Debug for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Measurement({self})")
    }
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for Measurement {
    type Err = TdxTicketError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 48];
        hex::decode_to_slice(s.trim(), &mut out)
            .map_err(|e| TdxTicketError::InvalidFormat(format!("measurement: {e}")))?;
        Ok(Self(out))
    }
}

/// Anything that names a measurement: raw bytes, a hex string or a
/// [`Measurement`]. A hex string that does not parse yields `None`, and a
/// validator built from it refuses every ticket.
pub trait IntoMeasurement {
    /// The measurement, or `None` if the input is malformed.
    fn into_measurement(self) -> Option<Measurement>;
}

impl IntoMeasurement for [u8; 48] {
    fn into_measurement(self) -> Option<Measurement> {
        Some(Measurement(self))
    }
}

impl IntoMeasurement for &str {
    fn into_measurement(self) -> Option<Measurement> {
        self.parse().ok()
    }
}

impl IntoMeasurement for Measurement {
    fn into_measurement(self) -> Option<Measurement> {
        Some(self)
    }
}

/// The MRTD and RTMR0..3 of one TD, as reported in a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Measurements {
    mrtd: Measurement,
    rtmr: [Measurement; 4],
}

impl Measurements {
    /// Measurements from their values: MRTD, then RTMR0..3.
    pub const fn new(mrtd: Measurement, rtmr: [Measurement; 4]) -> Self {
        Self { mrtd, rtmr }
    }

    /// The measurements of the TD this process runs in (produces a fresh
    /// quote through configfs-tsm); an error outside a TD.
    pub fn local() -> Result<Self, TdxTicketError> {
        Self::from_quote(&super::local::generate_quote([0u8; 64])?)
    }

    /// Reads the measurements of a raw TDX quote (parsing only, no
    /// signature check).
    pub fn from_quote(quote: &[u8]) -> Result<Self, TdxTicketError> {
        let parsed = Quote::parse(quote)
            .map_err(|e| TdxTicketError::InvalidFormat(format!("quote: {e:#}")))?;
        Self::from_parsed(&parsed)
    }

    pub(super) fn from_parsed(quote: &Quote) -> Result<Self, TdxTicketError> {
        let td = quote
            .report
            .as_td10()
            .ok_or_else(|| TdxTicketError::InvalidFormat("not a TDX quote".into()))?;
        Ok(Self {
            mrtd: Measurement(td.mr_td),
            rtmr: [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3].map(Measurement),
        })
    }

    /// The build-time measurement of the TD (firmware and initial memory).
    pub const fn mrtd(&self) -> Measurement {
        self.mrtd
    }

    /// Runtime measurement register `index` (0..=3); `None` past 3.
    pub fn rtmr(&self, index: usize) -> Option<Measurement> {
        self.rtmr.get(index).copied()
    }

    /// RTMR0 (firmware configuration).
    pub const fn rtmr0(&self) -> Measurement {
        self.rtmr[0]
    }

    /// RTMR1 (OS loader / kernel).
    pub const fn rtmr1(&self) -> Measurement {
        self.rtmr[1]
    }

    /// RTMR2 (kernel command line / initrd).
    pub const fn rtmr2(&self) -> Measurement {
        self.rtmr[2]
    }

    /// RTMR3 (free for the application).
    pub const fn rtmr3(&self) -> Measurement {
        self.rtmr[3]
    }
}

/// Expected values for some of MRTD and RTMR0..3. A register left unset
/// matches anything; a register set from a malformed input matches
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MeasurementsCriteria {
    mrtd: Require,
    rtmr: [Require; 4],
}

/// What one register must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
enum Require {
    /// Not checked.
    #[default]
    Any,
    /// Exactly this value.
    Exactly(Measurement),
    /// Configured from malformed input: nothing matches.
    Nothing,
}

impl Require {
    fn from(m: Option<Measurement>) -> Self {
        m.map_or(Self::Nothing, Self::Exactly)
    }

    fn matches(self, have: Measurement) -> bool {
        match self {
            Self::Any => true,
            Self::Exactly(want) => want == have,
            Self::Nothing => false,
        }
    }
}

impl MeasurementsCriteria {
    /// Criteria that match every TD.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires this MRTD.
    #[must_use]
    pub fn require_mrtd(mut self, m: impl IntoMeasurement) -> Self {
        self.mrtd = Require::from(m.into_measurement());
        self
    }

    /// Requires RTMR `index` (0..=3) to be `m`; indexes past 3 are ignored.
    #[must_use]
    pub fn require_rtmr(mut self, index: usize, m: impl IntoMeasurement) -> Self {
        if let Some(slot) = self.rtmr.get_mut(index) {
            *slot = Require::from(m.into_measurement());
        }
        self
    }

    /// Requires this RTMR0.
    #[must_use]
    pub fn require_rtmr0(self, m: impl IntoMeasurement) -> Self {
        self.require_rtmr(0, m)
    }

    /// Requires this RTMR1.
    #[must_use]
    pub fn require_rtmr1(self, m: impl IntoMeasurement) -> Self {
        self.require_rtmr(1, m)
    }

    /// Requires this RTMR2.
    #[must_use]
    pub fn require_rtmr2(self, m: impl IntoMeasurement) -> Self {
        self.require_rtmr(2, m)
    }

    /// Requires this RTMR3.
    #[must_use]
    pub fn require_rtmr3(self, m: impl IntoMeasurement) -> Self {
        self.require_rtmr(3, m)
    }

    /// Merges `other` into `self`: `other`'s requirements win where both
    /// set a register.
    #[must_use]
    pub fn merge(mut self, other: &Self) -> Self {
        if other.mrtd != Require::Any {
            self.mrtd = other.mrtd;
        }
        for (mine, theirs) in self.rtmr.iter_mut().zip(other.rtmr) {
            if theirs != Require::Any {
                *mine = theirs;
            }
        }
        self
    }

    /// Whether every required register equals the TD's value.
    pub fn matches(&self, m: &Measurements) -> bool {
        self.mrtd.matches(m.mrtd) && self.rtmr.iter().zip(m.rtmr).all(|(w, h)| w.matches(h))
    }

    /// A fingerprint of the requirements (part of the validator signature).
    pub fn signature(&self) -> UniqueId {
        let mut hasher = blake3::Hasher::new();
        hasher.update(unique_id!("mosaik.tee.tdx.criteria").as_bytes());
        for slot in std::iter::once(&self.mrtd).chain(&self.rtmr) {
            match slot {
                Require::Any => hasher.update(&[0]),
                Require::Nothing => hasher.update(&[1]),
                Require::Exactly(m) => hasher.update(&[2]).update(m.as_bytes()),
            };
        }
        UniqueId::from_hasher(&hasher)
    }
}

impl From<Measurements> for MeasurementsCriteria {
    fn from(m: Measurements) -> Self {
        Self {
            mrtd: Require::Exactly(m.mrtd),
            rtmr: m.rtmr.map(Require::Exactly),
        }
    }
}
