//! The [`Tdx`] ticket validator.

use {
    super::{
        Collateral, IntoMeasurement, Measurements, MeasurementsCriteria, TICKET_CLASS,
        TdxRejection, TdxTicket, TdxTicketError,
        verifier::{VerifiedQuote, Verifier},
    },
    crate::{
        NetworkId, PeerId,
        discovery::PeerEntry,
        primitives::{TicketClass, UniqueId},
        tickets::{Expiration, InvalidTicket, TicketValidator},
    },
    chrono::{DateTime, TimeDelta, Utc},
    core::time::Duration,
    dcap_qvl::TcbStatus,
};

/// Validates TDX attestation tickets.
///
/// A ticket is accepted only if, in this order: it decompresses (at most
/// 64 KiB) and decodes, and its quote's report data binds its claims
/// ([`TdxTicketError::InvalidReportData`]) → the quote verifies through
/// the whole DCAP chain up to Intel's SGX root CA against one of the
/// configured [`Collateral`]s, is not from a debug TD (unless
/// [`allow_debug`](Self::allow_debug)) and its TCB status is accepted
/// (only `UpToDate` by default; see [`allow_tcb_status`](Self::allow_tcb_status))
/// ([`TdxTicketError::QuoteVerificationFailed`]) → the baseline criteria
/// match → one variant matches, if any are configured → the ticket names
/// the presenting peer and its network → `max_age`, `not_before`,
/// `max_lifetime` → not expired. The answer is the ticket's expiration,
/// capped at the collateral's earliest expiry so the connection is
/// re-checked when the collateral goes stale.
///
/// **Without collateral every ticket is refused**: configure it with
/// [`with_collateral`](Self::with_collateral). Verified quotes are cached
/// per (quote hash, collateral version), bounded and shared by clones; on
/// a cache hit the rules after verification still run.
#[derive(Clone, Debug, Default)]
pub struct Tdx {
    baseline: MeasurementsCriteria,
    variants: Vec<MeasurementsCriteria>,
    max_age: Option<Duration>,
    not_before: Option<DateTime<Utc>>,
    max_lifetime: Option<Duration>,
    at_time: Option<DateTime<Utc>>,
    verifier: Verifier,
}

impl Tdx {
    /// The ticket class of TDX tickets.
    pub const CLASS: TicketClass = TICKET_CLASS;

    /// A validator with no measurement requirements and no collateral.
    pub fn new() -> Self {
        Self::default()
    }

    /// Same as [`Tdx::new`].
    pub fn empty() -> Self {
        Self::default()
    }

    /// Verifies quotes against `collateral` (repeatable: one per platform
    /// family; the first that verifies a quote is used).
    #[must_use]
    pub fn with_collateral(mut self, collateral: Collateral) -> Self {
        self.verifier = self.verifier.add_collateral(collateral);
        self
    }

    /// Verifies quotes with `double` instead of the DCAP chain: accepts
    /// its synthetic quotes and nothing else. Only with the feature
    /// `tdx-test-double`, which production builds never enable; every
    /// rule after verification still runs.
    #[cfg(feature = "tdx-test-double")]
    #[must_use]
    pub fn with_test_double(mut self, double: super::TdxTestDouble) -> Self {
        self.verifier = self
            .verifier
            .with_check(std::sync::Arc::new(double))
            .add_collateral(Collateral::test_double());
        self
    }

    /// Also verifies against whatever `pccs` has cached (read on every
    /// validation, never fetched by it): fill it with
    /// [`Pccs::collateral_for_quote`](super::Pccs::collateral_for_quote)
    /// or [`Pccs::fetch`](super::Pccs::fetch) and keep it current with
    /// [`Pccs::spawn_refresh`](super::Pccs::spawn_refresh). Feature
    /// `tdx-pccs`.
    #[cfg(feature = "tdx-pccs")]
    #[must_use]
    pub fn with_collateral_source(mut self, pccs: &super::Pccs) -> Self {
        self.verifier = self.verifier.with_source(pccs.clone());
        self
    }

    /// Also accepts quotes whose TCB status is `status` (e.g.
    /// `SWHardeningNeeded`). Only `UpToDate` is accepted by default.
    #[must_use]
    pub fn allow_tcb_status(mut self, status: TcbStatus) -> Self {
        self.verifier = self.verifier.allow_status(status);
        self
    }

    /// Accepts exactly these TCB statuses (replacing the default
    /// `UpToDate`); an empty set refuses every quote.
    #[must_use]
    pub fn accept_tcb_statuses(mut self, statuses: impl IntoIterator<Item = TcbStatus>) -> Self {
        let mut set = Vec::new();
        for s in statuses {
            if !set.contains(&s) {
                set.push(s);
            }
        }
        self.verifier = self.verifier.set_statuses(set);
        self
    }

    /// Accepts quotes of debug TDs (whose memory the host can read). Never
    /// in production.
    #[must_use]
    pub fn allow_debug(mut self) -> Self {
        self.verifier = self.verifier.allow_debug();
        self
    }

    /// Evaluates every time rule (collateral validity, expiry, age) at
    /// `at` instead of the current time: for audits of recorded tickets
    /// and for tests with recorded collateral.
    #[must_use]
    pub const fn at_time(mut self, at: DateTime<Utc>) -> Self {
        self.at_time = Some(at);
        self
    }

    /// Replaces the baseline criteria every ticket must match.
    #[must_use]
    pub fn baseline(mut self, criteria: MeasurementsCriteria) -> Self {
        self.baseline = criteria;
        self
    }

    /// Adds an MRTD requirement to the baseline.
    #[must_use]
    pub fn require_mrtd(mut self, m: impl IntoMeasurement) -> Self {
        self.baseline = self.baseline.require_mrtd(m);
        self
    }

    /// Adds an RTMR0 requirement to the baseline.
    #[must_use]
    pub fn require_rtmr0(mut self, m: impl IntoMeasurement) -> Self {
        self.baseline = self.baseline.require_rtmr0(m);
        self
    }

    /// Adds an RTMR1 requirement to the baseline.
    #[must_use]
    pub fn require_rtmr1(mut self, m: impl IntoMeasurement) -> Self {
        self.baseline = self.baseline.require_rtmr1(m);
        self
    }

    /// Adds an RTMR2 requirement to the baseline.
    #[must_use]
    pub fn require_rtmr2(mut self, m: impl IntoMeasurement) -> Self {
        self.baseline = self.baseline.require_rtmr2(m);
        self
    }

    /// Adds an RTMR3 requirement to the baseline.
    #[must_use]
    pub fn require_rtmr3(mut self, m: impl IntoMeasurement) -> Self {
        self.baseline = self.baseline.require_rtmr3(m);
        self
    }

    /// Requires this TD's own MRTD; an error outside a TD.
    pub fn require_own_mrtd(self) -> Result<Self, TdxTicketError> {
        Ok(self.require_mrtd(Measurements::local()?.mrtd()))
    }

    /// Requires this TD's own RTMR0; an error outside a TD.
    pub fn require_own_rtmr0(self) -> Result<Self, TdxTicketError> {
        Ok(self.require_rtmr0(Measurements::local()?.rtmr0()))
    }

    /// Requires this TD's own RTMR1; an error outside a TD.
    pub fn require_own_rtmr1(self) -> Result<Self, TdxTicketError> {
        Ok(self.require_rtmr1(Measurements::local()?.rtmr1()))
    }

    /// Requires this TD's own RTMR2; an error outside a TD.
    pub fn require_own_rtmr2(self) -> Result<Self, TdxTicketError> {
        Ok(self.require_rtmr2(Measurements::local()?.rtmr2()))
    }

    /// Requires this TD's own RTMR3; an error outside a TD.
    pub fn require_own_rtmr3(self) -> Result<Self, TdxTicketError> {
        Ok(self.require_rtmr3(Measurements::local()?.rtmr3()))
    }

    /// A validator requiring all five of this TD's own measurements; an
    /// error outside a TD.
    pub fn from_local() -> Result<Self, TdxTicketError> {
        Ok(Self::new().baseline(Measurements::local()?.into()))
    }

    /// Adds an allowed variant: when any are configured, a ticket must
    /// match at least one of them in addition to the baseline.
    #[must_use]
    pub fn allow_variant(mut self, criteria: MeasurementsCriteria) -> Self {
        self.variants.push(criteria);
        self
    }

    /// Refuses quotes produced more than `max` ago.
    #[must_use]
    pub const fn max_age(mut self, max: Duration) -> Self {
        self.max_age = Some(max);
        self
    }

    /// Refuses quotes produced before `at`.
    #[must_use]
    pub const fn not_before(mut self, at: DateTime<Utc>) -> Self {
        self.not_before = Some(at);
        self
    }

    /// Refuses tickets whose expiration lies more than `max` after their
    /// quote time, and tickets that never expire.
    #[must_use]
    pub const fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = Some(max);
        self
    }

    fn now(&self) -> DateTime<Utc> {
        self.at_time.unwrap_or_else(Utc::now)
    }

    /// Verifies a raw quote through the DCAP chain with this validator's
    /// collateral, debug and TCB-status policy (cached).
    pub fn verify_quote(&self, quote: &[u8]) -> Result<VerifiedQuote, TdxTicketError> {
        self.verifier.verify(quote, self.now().timestamp())
    }

    /// How many verified quotes are cached (shared by clones).
    pub fn cached_verifications(&self) -> usize {
        self.verifier.cached_len()
    }

    /// Validates ticket data presented by `peer` and names the refusing
    /// rule. [`TicketValidator::validate`] is this with the reason turned
    /// into an [`InvalidTicket`].
    pub fn check(&self, data: &[u8], peer: &PeerEntry) -> Result<Expiration, TdxRejection> {
        let ticket = TdxTicket::try_from(data)?;
        let verified = self.verify_quote(ticket.quote_bytes())?;
        let exp = self.check_claims(&ticket, peer.id(), &peer.network_id())?;
        Ok(accepted_expiration(exp, &verified))
    }

    /// The rules after quote verification: baseline, variants, peer,
    /// network, `max_age`/`not_before`/`max_lifetime`, expiry. Checks
    /// neither the quote's signature chain nor the report-data binding —
    /// [`Tdx::check`] does both first.
    pub fn check_claims(
        &self,
        ticket: &TdxTicket,
        peer: &PeerId,
        network: &NetworkId,
    ) -> Result<Expiration, TdxRejection> {
        let m = ticket.measurements();
        if !self.baseline.matches(m) {
            return Err(TdxRejection::BaselineMismatch);
        }
        if !self.variants.is_empty() && !self.variants.iter().any(|v| v.matches(m)) {
            return Err(TdxRejection::NoVariantMatches);
        }
        if ticket.peer_id() != peer {
            return Err(TdxRejection::WrongPeer);
        }
        if ticket.network_id() != network {
            return Err(TdxRejection::WrongNetwork);
        }
        let now = self.now();
        let quoted = ticket.quoted_at();
        if let Some(max) = self.max_age
            && now - quoted > TimeDelta::from_std(max).unwrap_or(TimeDelta::MAX)
        {
            return Err(TdxRejection::TooOld);
        }
        if self.not_before.is_some_and(|nb| quoted < nb) {
            return Err(TdxRejection::QuotedTooEarly);
        }
        if let Some(max) = self.max_lifetime {
            let max = TimeDelta::from_std(max).unwrap_or(TimeDelta::MAX);
            match ticket.expiration() {
                Expiration::At(at) if at - quoted <= max => {}
                _ => return Err(TdxRejection::LifetimeTooLong),
            }
        }
        match ticket.expiration() {
            Expiration::At(at) if at <= now => Err(TdxTicketError::TicketExpired.into()),
            exp => Ok(exp),
        }
    }
}

/// The expiry an accepted ticket is held to: its own, or the collateral's
/// if that comes first (the link is re-checked when the collateral goes
/// stale).
fn accepted_expiration(ticket: Expiration, verified: &VerifiedQuote) -> Expiration {
    let collateral = i64::try_from(verified.collateral_expires_at)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map_or(Expiration::Never, Expiration::At);
    ticket.min(collateral)
}

impl TicketValidator for Tdx {
    fn class(&self) -> TicketClass {
        Self::CLASS
    }

    fn signature(&self) -> UniqueId {
        let secs = |d: Option<Duration>| d.map_or(0, |d| d.as_secs());
        let mut hasher = blake3::Hasher::new();
        hasher.update(Self::CLASS.as_bytes());
        hasher.update(self.baseline.signature().as_bytes());
        for v in &self.variants {
            hasher.update(v.signature().as_bytes());
        }
        hasher.update(&secs(self.max_age).to_le_bytes());
        hasher.update(&self.not_before.map_or(0, |t| t.timestamp()).to_le_bytes());
        hasher.update(&secs(self.max_lifetime).to_le_bytes());
        hasher.update(&self.at_time.map_or(0, |t| t.timestamp()).to_le_bytes());
        self.verifier.fingerprint(&mut hasher);
        UniqueId::from_hasher(&hasher)
    }

    fn validate(&self, ticket: &[u8], peer: &PeerEntry) -> Result<Expiration, InvalidTicket> {
        self.check(ticket, peer).map_err(|e| {
            tracing::debug!(peer = %peer.id(), error = %e, "tdx ticket refused");
            InvalidTicket::new(e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_expiry_is_the_earlier_of_ticket_and_collateral() {
        let verified = VerifiedQuote {
            tcb_status: TcbStatus::UpToDate,
            collateral_expires_at: 2_000_000_000,
            cached: false,
        };
        let collateral = Expiration::At(DateTime::from_timestamp(2_000_000_000, 0).unwrap());
        let before = Expiration::At(DateTime::from_timestamp(1_999_999_999, 0).unwrap());
        let after = Expiration::At(DateTime::from_timestamp(2_000_000_001, 0).unwrap());
        assert_eq!(
            accepted_expiration(Expiration::Never, &verified),
            collateral
        );
        assert_eq!(accepted_expiration(after, &verified), collateral);
        assert_eq!(accepted_expiration(before, &verified), before);
    }
}
