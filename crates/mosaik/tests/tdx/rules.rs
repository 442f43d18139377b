//! Measurement criteria and the time rules, against the sample quote's
//! real measurements. `check_claims` runs the rules that follow quote
//! verification (the sample quote cannot bind a fresh peer id).

use {
    crate::util::{MRTD, QUOTE, RTMR0, RTMR1, RTMR2, RTMR3, network, peer, ticket, validator},
    chrono::Duration,
    mosaik::{
        tdx::{Measurement, Measurements, MeasurementsCriteria, Tdx, TdxRejection, TdxTicketError},
        tickets::{Expiration, TicketValidator},
    },
    std::time::Duration as Std,
};

const ZERO: Measurement = Measurement::new([0; 48]);

#[test]
fn measurements_are_read_from_the_quote() {
    let m = Measurements::from_quote(QUOTE).unwrap();
    assert_eq!(m.mrtd(), MRTD.parse().unwrap());
    assert_eq!(m.mrtd(), Measurement::hex(MRTD));
    for (i, want) in [RTMR0, RTMR1, RTMR2, RTMR3].into_iter().enumerate() {
        assert_eq!(m.rtmr(i), Some(want.parse().unwrap()));
    }
    assert_eq!(m.rtmr(4), None);
    assert_eq!(m.rtmr2().to_string(), RTMR2);
    assert!("zz".parse::<Measurement>().is_err());
}

#[test]
fn criteria_accept_the_real_measurements_and_refuse_others() {
    let m = Measurements::from_quote(QUOTE).unwrap();
    assert!(MeasurementsCriteria::new().matches(&m));
    assert!(MeasurementsCriteria::from(m).matches(&m));
    let all = MeasurementsCriteria::new()
        .require_mrtd(MRTD)
        .require_rtmr0(RTMR0)
        .require_rtmr1(RTMR1)
        .require_rtmr2(*Measurement::hex(RTMR2).as_bytes())
        .require_rtmr3(Measurement::hex(RTMR3));
    assert!(all.matches(&m));
    assert_eq!(all, MeasurementsCriteria::from(m));
    for wrong in [
        MeasurementsCriteria::new().require_mrtd(ZERO),
        MeasurementsCriteria::new().require_rtmr0(ZERO),
        MeasurementsCriteria::new().require_rtmr1(ZERO),
        MeasurementsCriteria::new().require_rtmr2(ZERO),
        MeasurementsCriteria::new().require_rtmr3(MRTD),
        // A malformed hex requirement matches nothing.
        MeasurementsCriteria::new().require_mrtd("not hex"),
    ] {
        assert!(!wrong.matches(&m), "{wrong:?}");
        assert_ne!(wrong.signature(), all.signature());
    }
}

#[test]
fn validator_baseline_and_variants() {
    let (tdx, at) = validator();
    let holder = peer();
    let t = ticket(holder, at, Expiration::Never);
    let check = |v: &Tdx| v.check_claims(&t, &holder, &network());
    assert_eq!(check(&tdx), Ok(Expiration::Never));
    assert_eq!(
        check(&tdx.clone().require_mrtd(MRTD).require_rtmr1(RTMR1)),
        Ok(Expiration::Never)
    );
    assert_eq!(
        check(&tdx.clone().require_rtmr2(ZERO)),
        Err(TdxRejection::BaselineMismatch)
    );
    let variant_a = MeasurementsCriteria::new().require_rtmr1(ZERO);
    let variant_b = MeasurementsCriteria::new().require_rtmr1(RTMR1);
    assert_eq!(
        check(&tdx.clone().allow_variant(variant_a.clone())),
        Err(TdxRejection::NoVariantMatches)
    );
    assert_eq!(
        check(
            &tdx.clone()
                .allow_variant(variant_a)
                .allow_variant(variant_b.clone())
        ),
        Ok(Expiration::Never)
    );
    // The baseline still applies when a variant matches.
    assert_eq!(
        check(&tdx.clone().require_mrtd(ZERO).allow_variant(variant_b)),
        Err(TdxRejection::BaselineMismatch)
    );
}

#[test]
fn ticket_must_name_the_presenting_peer_and_network() {
    let (tdx, at) = validator();
    let holder = peer();
    let t = ticket(holder, at, Expiration::Never);
    assert_eq!(
        tdx.check_claims(&t, &peer(), &network()),
        Err(TdxRejection::WrongPeer)
    );
    assert_eq!(
        tdx.check_claims(&t, &holder, &"elsewhere".into()),
        Err(TdxRejection::WrongNetwork)
    );
}

#[test]
fn expiry_max_age_not_before_and_max_lifetime() {
    let (tdx, now) = validator();
    let holder = peer();
    let check = |v: &Tdx, quoted: chrono::DateTime<chrono::Utc>, exp| {
        v.check_claims(&ticket(holder, quoted, exp), &holder, &network())
    };
    let soon = Expiration::At(now + Duration::minutes(10));
    // Expiry, against the validator's clock.
    assert_eq!(check(&tdx, now, soon), Ok(soon));
    assert_eq!(
        check(
            &tdx,
            now - Duration::hours(2),
            Expiration::At(now - Duration::seconds(1))
        ),
        Err(TdxRejection::Ticket(TdxTicketError::TicketExpired))
    );
    // max_age: now - quoted_at.
    let aged = tdx.clone().max_age(Std::from_hours(1));
    assert_eq!(check(&aged, now - Duration::minutes(59), soon), Ok(soon));
    assert_eq!(
        check(&aged, now - Duration::minutes(61), soon),
        Err(TdxRejection::TooOld)
    );
    // not_before: quoted_at.
    let nb = tdx.clone().not_before(now - Duration::minutes(30));
    assert_eq!(check(&nb, now - Duration::minutes(29), soon), Ok(soon));
    assert_eq!(
        check(&nb, now - Duration::minutes(31), soon),
        Err(TdxRejection::QuotedTooEarly)
    );
    // max_lifetime: expiration - quoted_at; Never is refused.
    let short = tdx.clone().max_lifetime(Std::from_mins(15));
    assert_eq!(check(&short, now, soon), Ok(soon));
    assert_eq!(
        check(&short, now, Expiration::At(now + Duration::minutes(16))),
        Err(TdxRejection::LifetimeTooLong)
    );
    assert_eq!(
        check(&short, now, Expiration::Never),
        Err(TdxRejection::LifetimeTooLong)
    );
}

#[test]
fn signature_covers_the_configuration() {
    let base = Tdx::new();
    let sigs = [
        base.signature(),
        base.clone().require_mrtd(MRTD).signature(),
        base.clone()
            .allow_variant(MeasurementsCriteria::new().require_rtmr3(RTMR3))
            .signature(),
        base.clone().max_age(Std::from_mins(1)).signature(),
        base.clone().max_lifetime(Std::from_mins(1)).signature(),
        base.clone().not_before(chrono::Utc::now()).signature(),
        base.clone().allow_debug().signature(),
        base.clone()
            .allow_tcb_status(mosaik::tdx::TcbStatus::OutOfDate)
            .signature(),
        validator().0.signature(),
    ];
    for (i, a) in sigs.iter().enumerate() {
        for b in &sigs[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert_eq!(Tdx::new().signature(), Tdx::default().signature());
    assert_eq!(Tdx::empty().signature(), Tdx::default().signature());
    assert_eq!(Tdx::new().class(), Tdx::CLASS);
}
