//! The test double (feature `tdx-test-double`) without a network: its
//! synthetic quotes parse like real ones, only a validator holding the
//! double accepts them, it accepts nothing else, and every rule after
//! verification still refuses what it must.

use {
    crate::util::{COLLATERAL, MRTD, QUOTE, RTMR0, RTMR1, RTMR2, RTMR3, entry, network, peer},
    chrono::{Duration, Utc},
    mosaik::{
        PeerId,
        tdx::{
            Collateral, Measurement, Measurements, TdxRejection, TdxTestDouble, TdxTicket,
            TdxTicketError,
        },
        tickets::{Expiration, Ticket, TicketValidator},
    },
};

/// The sample quote's measurements, so the double stands for that TD.
pub fn sample_measurements() -> Measurements {
    Measurements::new(
        Measurement::hex(MRTD),
        [RTMR0, RTMR1, RTMR2, RTMR3].map(Measurement::hex),
    )
}

/// Other measurements: another TD image (MRTD and RTMR3 differ).
pub fn other_measurements() -> Measurements {
    let m = sample_measurements();
    Measurements::new(
        Measurement::new([0xAB; 48]),
        [m.rtmr0(), m.rtmr1(), m.rtmr2(), Measurement::new([1; 48])],
    )
}

/// A ticket from `double` bound to `peer` in the test network.
pub fn bound_ticket(double: &TdxTestDouble, peer: PeerId, expiration: Expiration) -> TdxTicket {
    let quoted_at = Utc::now() - Duration::seconds(1);
    let started_at = quoted_at - Duration::minutes(5);
    let report_data =
        TdxTicket::report_data_for(&peer, &network(), started_at, quoted_at, expiration);
    TdxTicket::new(
        double.quote(report_data),
        peer,
        network(),
        started_at,
        quoted_at,
        expiration,
    )
    .unwrap()
}

fn bytes(ticket: &TdxTicket) -> Vec<u8> {
    ticket.to_bytes().unwrap()
}

#[test]
fn a_synthetic_quote_parses_like_a_real_one_and_binds_its_claims() {
    let double = TdxTestDouble::new(sample_measurements());
    let me = peer();
    let ticket = bound_ticket(&double, me, Expiration::in_1h());
    assert_eq!(*ticket.measurements(), sample_measurements());
    assert_eq!(
        Measurements::from_quote(QUOTE).unwrap(),
        sample_measurements()
    );
    // Decoding checks the report-data binding, as for a real quote.
    let decoded = TdxTicket::try_from(bytes(&ticket).as_slice()).unwrap();
    assert_eq!(decoded, ticket);
    assert_eq!(decoded.peer_id(), &me);
}

#[test]
fn the_double_accepts_a_bound_synthetic_ticket() {
    let double = TdxTestDouble::new(sample_measurements());
    let tdx = double.validator().require_mrtd(MRTD).require_rtmr3(RTMR3);
    let me = peer();
    let ticket = Ticket::try_from(bound_ticket(&double, me, Expiration::in_1h())).unwrap();
    let exp = tdx.check(ticket.data(), &entry(me, [])).unwrap();
    assert!(matches!(exp, Expiration::At(_)));
    assert!(tdx.validate(ticket.data(), &entry(me, [])).is_ok());
}

#[test]
fn real_dcap_refuses_synthetic_quotes_and_the_double_refuses_real_ones() {
    let double = TdxTestDouble::new(sample_measurements());
    let synthetic = double.quote([0; 64]);
    // The production verifier, even with genuine collateral.
    let real = mosaik::tdx::Tdx::new().with_collateral(Collateral::from_json(COLLATERAL).unwrap());
    assert!(matches!(
        real.verify_quote(&synthetic),
        Err(TdxTicketError::QuoteVerificationFailed(_))
    ));
    // The double accepts only its own synthetic quotes, not Intel's.
    match double.validator().verify_quote(QUOTE) {
        Err(TdxTicketError::QuoteVerificationFailed(r)) => {
            assert!(r.contains("not a synthetic quote"), "{r}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nor a synthetic quote with one signature byte changed.
    let mut tampered = synthetic.clone();
    tampered[48 + 584 + 4] ^= 1;
    assert!(double.validator().verify_quote(&tampered).is_err());
    assert!(double.validator().verify_quote(&synthetic).is_ok());
    // A double validator never shares a signature with a real one.
    assert_ne!(
        double.validator().signature(),
        mosaik::tdx::Tdx::new().signature()
    );
}

#[test]
fn the_double_still_enforces_binding_measurements_peer_and_expiry() {
    let double = TdxTestDouble::new(sample_measurements());
    let tdx = double.validator().require_mrtd(MRTD);
    let me = peer();

    // Bound to another peer, presented by `me`.
    let theirs = bound_ticket(&double, peer(), Expiration::in_1h());
    assert_eq!(
        tdx.check(&bytes(&theirs), &entry(me, [])),
        Err(TdxRejection::WrongPeer)
    );

    // Claims changed after quoting: the report data no longer binds them.
    let other = peer();
    let rebound = TdxTicket::new(
        theirs.quote_bytes().to_vec(),
        other,
        network(),
        theirs.started_at(),
        theirs.quoted_at(),
        theirs.expiration(),
    )
    .unwrap();
    assert_eq!(
        tdx.check(&bytes(&rebound), &entry(other, [])),
        Err(TdxRejection::Ticket(TdxTicketError::InvalidReportData))
    );

    // Another TD image: the baseline refuses it, a variant list too.
    let impostor = TdxTestDouble::new(other_measurements());
    let wrong_image = bound_ticket(&impostor, me, Expiration::in_1h());
    assert_eq!(
        tdx.check(&bytes(&wrong_image), &entry(me, [])),
        Err(TdxRejection::BaselineMismatch)
    );
    let variants = double
        .validator()
        .allow_variant(mosaik::tdx::MeasurementsCriteria::new().require_rtmr3(RTMR3));
    assert_eq!(
        variants.check(&bytes(&wrong_image), &entry(me, [])),
        Err(TdxRejection::NoVariantMatches)
    );

    // Expired.
    let past = Expiration::At(Utc::now() - Duration::seconds(1));
    let expired = bound_ticket(&double, me, past);
    assert_eq!(
        tdx.check(&bytes(&expired), &entry(me, [])),
        Err(TdxRejection::Ticket(TdxTicketError::TicketExpired))
    );
}

#[test]
fn an_accepted_ticket_is_capped_at_the_doubles_collateral_expiry() {
    let double = TdxTestDouble::new(sample_measurements())
        .collateral_valid_for(core::time::Duration::from_mins(1));
    let me = peer();
    let ticket = bound_ticket(&double, me, Expiration::Never);
    let exp = double
        .validator()
        .check(&bytes(&ticket), &entry(me, []))
        .unwrap();
    match exp {
        Expiration::At(at) => assert!(at <= Utc::now() + Duration::seconds(61), "{at}"),
        Expiration::Never => panic!("a never-expiring ticket is capped by collateral"),
    }
}
