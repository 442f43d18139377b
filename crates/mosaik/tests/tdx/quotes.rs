//! DCAP verification of real quotes: the chain up to Intel's root.

use {
    crate::util::{
        COLLATERAL, OUTDATED, OUTDATED_COLLATERAL, QUOTE, collateral_time, flipped, pem_offset,
        validator,
    },
    chrono::Duration,
    mosaik::tdx::{Collateral, TcbStatus, Tdx, TdxTicketError},
};

#[track_caller]
fn assert_verification_failed<T: std::fmt::Debug>(r: Result<T, TdxTicketError>) {
    match r {
        Err(TdxTicketError::QuoteVerificationFailed(_)) => {}
        other => panic!("expected QuoteVerificationFailed, got {other:?}"),
    }
}

#[test]
fn genuine_quote_verifies_at_the_collaterals_time() {
    let (tdx, _) = validator();
    let verified = tdx.verify_quote(QUOTE).expect("sample quote verifies");
    assert_eq!(verified.tcb_status, TcbStatus::UpToDate);
    assert!(verified.collateral_expires_at > 0);
}

#[test]
fn without_collateral_nothing_verifies() {
    assert_verification_failed(Tdx::new().verify_quote(QUOTE));
}

#[test]
fn expired_collateral_is_refused() {
    let collateral = Collateral::from_json(COLLATERAL).unwrap();
    let (_, next_update) = collateral.tcb_info_window().unwrap();
    let late = chrono::DateTime::from_timestamp(next_update, 0).unwrap() + Duration::days(1);
    let tdx = Tdx::new().with_collateral(collateral).at_time(late);
    assert_verification_failed(tdx.verify_quote(QUOTE));
}

#[test]
fn a_flipped_byte_in_the_body_is_refused() {
    let (tdx, _) = validator();
    // 48-byte header, then the TD report: offset 200 lies inside MRTD,
    // offset 600 inside the report data.
    for at in [10, 48 + 200, 48 + 600] {
        assert_verification_failed(tdx.verify_quote(&flipped(QUOTE, at)));
    }
}

#[test]
fn a_flipped_byte_in_the_signature_is_refused() {
    let (tdx, _) = validator();
    // Header (48) + TD report (584) + auth-data length (4): the 64-byte
    // ECDSA signature, then the 64-byte attestation key.
    for at in [636, 636 + 63, 636 + 64 + 10] {
        assert_verification_failed(tdx.verify_quote(&flipped(QUOTE, at)));
    }
}

#[test]
fn a_changed_byte_in_the_certificate_chain_is_refused() {
    let (tdx, _) = validator();
    let start = pem_offset(QUOTE);
    // Replace base64 letters inside the PCK leaf certificate with another
    // valid base64 letter, so the PEM still decodes and only signatures
    // can catch the change.
    for at in [start + 200, start + 400, start + 700] {
        let mut q = QUOTE.to_vec();
        assert!(q[at].is_ascii_alphanumeric(), "offset {at} is base64 text");
        q[at] = if q[at] == b'A' { b'B' } else { b'A' };
        assert_verification_failed(tdx.verify_quote(&q));
    }
}

#[test]
fn another_platforms_collateral_does_not_verify_the_quote() {
    // The outdated sample's collateral is for another platform and time.
    let collateral = Collateral::from_json(OUTDATED_COLLATERAL).unwrap();
    let at = collateral_time(&collateral);
    let tdx = Tdx::new().with_collateral(collateral).at_time(at);
    assert_verification_failed(tdx.verify_quote(QUOTE));
}

#[test]
fn the_tcb_status_policy_gates_real_verdicts() {
    // The sample's real verdict is UpToDate: accepted by default, refused
    // by a policy that does not list it, accepted again when it does.
    let (tdx, _) = validator();
    assert_eq!(
        tdx.verify_quote(QUOTE).unwrap().tcb_status,
        TcbStatus::UpToDate
    );
    let only_outdated = tdx.clone().accept_tcb_statuses([TcbStatus::OutOfDate]);
    match only_outdated.verify_quote(QUOTE) {
        Err(TdxTicketError::QuoteVerificationFailed(reason)) => {
            assert!(
                reason.contains("UpToDate is not accepted"),
                "reason: {reason}"
            );
        }
        other => panic!("expected a TCB refusal, got {other:?}"),
    }
    let both = only_outdated.clone().allow_tcb_status(TcbStatus::UpToDate);
    assert_eq!(
        both.verify_quote(QUOTE).unwrap().tcb_status,
        TcbStatus::UpToDate
    );
    assert_verification_failed(tdx.accept_tcb_statuses([]).verify_quote(QUOTE));
}

#[test]
fn an_out_of_date_platform_is_refused_by_default_and_when_out_of_date_is_allowed() {
    // The outdated sample's platform TCB lies below every level of its TCB
    // info, so dcap-qvl finds no TCB level at all: refused whatever the
    // accepted statuses (no shipped sample yields an accepted OutOfDate).
    let collateral = Collateral::from_json(OUTDATED_COLLATERAL).unwrap();
    let at = collateral_time(&collateral);
    let strict = Tdx::new().with_collateral(collateral).at_time(at);
    assert_verification_failed(strict.verify_quote(OUTDATED));
    let lenient = strict
        .allow_tcb_status(TcbStatus::OutOfDate)
        .allow_tcb_status(TcbStatus::OutOfDateConfigurationNeeded);
    match lenient.verify_quote(OUTDATED) {
        Err(TdxTicketError::QuoteVerificationFailed(reason)) => {
            assert!(reason.contains("No matching TCB level"), "reason: {reason}");
        }
        other => panic!("expected no TCB level, got {other:?}"),
    }
}

#[test]
fn results_are_cached_shared_by_clones_and_reset_on_policy_change() {
    let (tdx, _) = validator();
    assert_eq!(tdx.cached_verifications(), 0);
    tdx.verify_quote(QUOTE).unwrap();
    assert_eq!(tdx.cached_verifications(), 1);
    // A clone shares the cache; a re-check does not add an entry.
    tdx.clone().verify_quote(QUOTE).unwrap();
    assert_eq!(tdx.cached_verifications(), 1);
    // Failures are not cached.
    let _ = tdx.verify_quote(&flipped(QUOTE, 48 + 200));
    assert_eq!(tdx.cached_verifications(), 1);
    // A configuration change starts a fresh cache.
    let changed = tdx.allow_tcb_status(TcbStatus::SWHardeningNeeded);
    assert_eq!(changed.cached_verifications(), 0);
}

#[test]
fn a_cached_verdict_ends_with_the_ttl_and_with_the_collateral() {
    let (tdx, at) = validator();
    assert!(!tdx.verify_quote(QUOTE).unwrap().cached);
    assert!(tdx.verify_quote(QUOTE).unwrap().cached);
    let later = |mins| tdx.clone().at_time(at + Duration::minutes(mins));
    assert!(later(9).verify_quote(QUOTE).unwrap().cached);
    assert!(
        !later(11).verify_quote(QUOTE).unwrap().cached,
        "TTL is 10 minutes"
    );
    // Past the collateral's expiry the cached verdict is not used: the
    // quote is verified again, and fails.
    let expires = tdx.verify_quote(QUOTE).unwrap().collateral_expires_at;
    let (_, next_update) = Collateral::from_json(COLLATERAL)
        .unwrap()
        .tcb_info_window()
        .unwrap();
    assert!(expires <= u64::try_from(next_update).unwrap());
    let stale = chrono::DateTime::from_timestamp(i64::try_from(expires).unwrap(), 0).unwrap();
    assert_verification_failed(tdx.clone().at_time(stale).verify_quote(QUOTE));
}

#[test]
fn a_debug_td_is_refused_unless_allowed() {
    let (tdx, _) = validator();
    // Set the DEBUG bit (TD attributes byte 0, bit 0) of the genuine quote.
    let td_attributes = 48 + 16 + 48 + 48 + 8;
    let debug = {
        let mut q = QUOTE.to_vec();
        q[td_attributes] |= 0x01;
        q
    };
    match tdx.verify_quote(&debug) {
        Err(TdxTicketError::QuoteVerificationFailed(r)) => assert!(r.contains("debug TD"), "{r}"),
        other => panic!("expected a debug refusal, got {other:?}"),
    }
    // Allowed, the debug check passes and the changed body then fails the
    // signature (the bit is signed: it cannot be set after quoting).
    match tdx.allow_debug().verify_quote(&debug) {
        Err(TdxTicketError::QuoteVerificationFailed(r)) => assert!(!r.contains("debug TD"), "{r}"),
        other => panic!("expected a signature failure, got {other:?}"),
    }
}

#[test]
fn cost_of_a_verification_and_of_a_cached_recheck() {
    let (tdx, _) = validator();
    let t = std::time::Instant::now();
    tdx.verify_quote(QUOTE).unwrap();
    let first = t.elapsed();
    let t = std::time::Instant::now();
    for _ in 0..100 {
        tdx.verify_quote(QUOTE).unwrap();
    }
    let cached = t.elapsed() / 100;
    println!("tdx verification: first {first:?}, cached re-check {cached:?}");
    assert!(
        cached < first,
        "a cached re-check is cheaper than a verification"
    );
}
