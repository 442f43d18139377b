//! The claim rules of the validation order, and tickets in peer entries.

use {
    crate::util::{assert_rejected, entry, hs256_raw, in_5_min, peer, subject},
    chrono::{Duration, Utc},
    core::time::Duration as StdDuration,
    mosaik::tickets::{
        Expiration, TicketValidator,
        jwt::{EdDsaSigningKey, Es256SigningKey, Hs256, Jwt, JwtRejection, JwtTicketBuilder},
        validate_all,
    },
    serde_json::json,
};

#[test]
fn expiry_rules() {
    let secret = Hs256::random();
    let jwt = Jwt::with_key(secret);
    let holder = peer();
    let issue = |exp: Expiration| JwtTicketBuilder::new(secret).expires_at(exp).build(&holder);

    let expired = issue(Expiration::already_expired());
    assert_rejected(jwt.check(expired.data(), &holder), &JwtRejection::Expired);
    let just_now = issue(Expiration::At(Utc::now() - Duration::seconds(1)));
    assert_rejected(jwt.check(just_now.data(), &holder), &JwtRejection::Expired);

    let forever = issue(Expiration::Never);
    assert_rejected(jwt.check(forever.data(), &holder), &JwtRejection::NoExpiry);
    let lenient = jwt.clone().allow_non_expiring();
    assert_eq!(
        lenient.check(forever.data(), &holder),
        Ok(Expiration::Never)
    );

    let later = JwtTicketBuilder::new(secret)
        .expires_at(in_5_min())
        .not_before(Utc::now() + Duration::hours(1))
        .build(&holder);
    assert_rejected(jwt.check(later.data(), &holder), &JwtRejection::NotYetValid);
    let started = JwtTicketBuilder::new(secret)
        .expires_at(in_5_min())
        .not_before(Utc::now() - Duration::seconds(5))
        .build(&holder);
    assert!(jwt.check(started.data(), &holder).is_ok());
}

#[test]
fn lifetime_and_age_limits() {
    let secret = Hs256::random();
    let holder = peer();
    let short = Jwt::with_key(secret).max_lifetime(StdDuration::from_hours(1));
    let long = JwtTicketBuilder::new(secret)
        .expires_in(Duration::hours(2))
        .build(&holder);
    assert_rejected(
        short.check(long.data(), &holder),
        &JwtRejection::LifetimeTooLong,
    );
    let ok = JwtTicketBuilder::new(secret)
        .expires_in(Duration::minutes(30))
        .build(&holder);
    assert!(short.check(ok.data(), &holder).is_ok());
    // Non-expiring tokens have an unbounded lifetime.
    let forever = JwtTicketBuilder::new(secret).build(&holder);
    assert_rejected(
        short
            .clone()
            .allow_non_expiring()
            .check(forever.data(), &holder),
        &JwtRejection::LifetimeTooLong,
    );

    let fresh = Jwt::with_key(secret).max_age(StdDuration::from_mins(10));
    let old = JwtTicketBuilder::new(secret)
        .expires_in(Duration::hours(2))
        .issued_at(Utc::now() - Duration::hours(1))
        .build(&holder);
    assert_rejected(fresh.check(old.data(), &holder), &JwtRejection::TooOld);
    assert!(
        fresh.check(ok.data(), &holder).is_ok(),
        "iat defaults to now"
    );
    let no_iat = hs256_raw(
        secret.as_bytes(),
        r#"{"alg":"HS256"}"#,
        &json!({"sub": subject(&holder), "exp": Utc::now().timestamp() + 300}).to_string(),
    );
    assert_rejected(fresh.check(&no_iat, &holder), &JwtRejection::NoIssuedAt);
}

#[test]
fn issuer_audience_subject_and_claims() {
    let secret = Hs256::random();
    let holder = peer();
    let base = || JwtTicketBuilder::new(secret).expires_at(in_5_min());

    let jwt = Jwt::with_key(secret).allow_issuer("a").allow_issuer("b");
    assert!(
        jwt.check(base().issuer("b").build(&holder).data(), &holder)
            .is_ok()
    );
    assert_rejected(
        jwt.check(base().issuer("c").build(&holder).data(), &holder),
        &JwtRejection::Issuer,
    );
    assert_rejected(
        jwt.check(base().build(&holder).data(), &holder),
        &JwtRejection::Issuer,
    );
    // Without allowed issuers any (or no) issuer passes.
    assert!(
        Jwt::with_key(secret)
            .check(base().issuer("c").build(&holder).data(), &holder)
            .is_ok()
    );

    let jwt = Jwt::with_key(secret).allow_audience("streams");
    assert!(
        jwt.check(base().audience("streams").build(&holder).data(), &holder)
            .is_ok()
    );
    let listed = base()
        .claim("aud", json!(["groups", "streams"]))
        .build(&holder);
    assert!(
        jwt.check(listed.data(), &holder).is_ok(),
        "aud arrays are any-of"
    );
    assert_rejected(
        jwt.check(base().audience("groups").build(&holder).data(), &holder),
        &JwtRejection::Audience,
    );
    assert_rejected(
        jwt.check(base().build(&holder).data(), &holder),
        &JwtRejection::Audience,
    );

    let jwt = Jwt::with_key(secret).require_subject("service-x");
    assert!(
        jwt.check(base().subject("service-x").build(&holder).data(), &holder)
            .is_ok()
    );
    assert_rejected(
        jwt.check(base().build(&holder).data(), &holder),
        &JwtRejection::Subject,
    );
    // The default subject is the peer id, lower-case; other spellings fail.
    let upper = base()
        .subject(subject(&holder).to_uppercase())
        .build(&holder);
    assert_rejected(
        Jwt::with_key(secret).check(upper.data(), &holder),
        &JwtRejection::Subject,
    );

    let jwt = Jwt::with_key(secret)
        .require_claim("role", "admin")
        .require_claim("tier", 3);
    let full = base()
        .claim("role", "admin")
        .claim("tier", 3)
        .build(&holder);
    assert!(jwt.check(full.data(), &holder).is_ok());
    assert_rejected(
        jwt.check(base().claim("tier", 3).build(&holder).data(), &holder),
        &JwtRejection::Claim("role".into()),
    );
    assert_rejected(
        jwt.check(
            base()
                .claim("role", "admin")
                .claim("tier", "3")
                .build(&holder)
                .data(),
            &holder,
        ),
        &JwtRejection::Claim("tier".into()),
    );
}

#[test]
fn a_ticket_copied_into_another_peers_entry_is_refused() {
    let key = EdDsaSigningKey::random();
    let jwt = Jwt::with_key(key.verifying_key());
    let (alice, mallory) = (peer(), peer());
    let alices = JwtTicketBuilder::new(key)
        .expires_at(in_5_min())
        .build(&alice);

    assert!(
        jwt.validate(alices.data(), &entry(alice, [alices.clone()]))
            .is_ok()
    );
    let stolen = entry(mallory, [alices.clone()]);
    assert!(jwt.validate(alices.data(), &stolen).is_err());
    assert_rejected(jwt.check(alices.data(), &mallory), &JwtRejection::Subject);
    let validators: [&dyn TicketValidator; 1] = [&jwt];
    assert!(validate_all(validators, &stolen).is_err());
    assert!(stolen.validate_ticket(&jwt).is_err());
    assert!(stolen.validate_tickets(std::slice::from_ref(&jwt)).is_err());
    let own = entry(alice, [alices]);
    assert!(matches!(own.validate_ticket(&jwt), Ok(Expiration::At(_))));
    assert!(matches!(
        own.validate_tickets(&[jwt]),
        Ok(Some(Expiration::At(_)))
    ));
}

#[test]
fn tickets_ride_in_signed_entries() {
    // The path tickets take in production: issued to a peer, added to its
    // entry, signed, sent (postcard), decoded and verified, then validated.
    let key = Es256SigningKey::random();
    let jwt = Jwt::with_key(key.verifying_key()).allow_issuer("idp");
    let secret = mosaik::SecretKey::generate();
    let ticket = JwtTicketBuilder::new(key)
        .issuer("idp")
        .expires_at(in_5_min())
        .build(&secret.public());
    let signed = entry(secret.public(), [ticket]).sign(&secret).unwrap();
    let wire = mosaik::primitives::encoding::serialize(&signed);
    let received: mosaik::discovery::SignedPeerEntry =
        mosaik::primitives::encoding::deserialize(&wire).unwrap();
    assert!(matches!(
        received.validate_ticket(&jwt),
        Ok(Expiration::At(_))
    ));
}
