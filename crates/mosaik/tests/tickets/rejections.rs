//! Every rule of the validation order refuses what it should, for the
//! reason it should.

use {
    crate::util::{assert_rejected, b64, entry, join, parts, peer, subject, unb64},
    chrono::{Duration, Utc},
    core::time::Duration as StdDuration,
    mosaik::tickets::{
        Expiration, TicketValidator,
        jwt::{
            EdDsaSigningKey, Es256SigningKey, Es384SigningKey, Hs256, Jwt, JwtRejection,
            JwtTicketBuilder,
        },
        validate_all,
    },
    serde_json::json,
};

/// A token with exactly this header and payload JSON text, HS256-signed
/// with `secret` by the `jsonwebtoken` crate.
fn hs256_raw(secret: &[u8], header: &str, payload: &str) -> Vec<u8> {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    format!("{input}.{sig}").into_bytes()
}

fn in_5_min() -> Expiration {
    Expiration::after(Duration::minutes(5))
}

#[test]
fn alg_none_is_refused() {
    let secret = Hs256::random();
    let jwt = Jwt::with_key(secret);
    let holder = peer();
    let payload = json!({"sub": subject(&holder), "exp": Utc::now().timestamp() + 300});
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "JWT"}).to_string();
        for sig in ["", "c2ln"] {
            let token = format!(
                "{}.{}.{sig}",
                b64(header.as_bytes()),
                b64(payload.to_string().as_bytes())
            );
            assert_rejected(
                jwt.check(token.as_bytes(), &holder),
                &JwtRejection::Unsigned,
            );
        }
    }
}

#[test]
fn algorithm_confusion_is_refused() {
    // The classic attack: an HS256 token keyed with the *public* key bytes
    // presented to a validator that holds that public key.
    let holder = peer();
    let claims = json!({"sub": subject(&holder), "exp": Utc::now().timestamp() + 300});
    let es = Es256SigningKey::random().verifying_key();
    let ed = EdDsaSigningKey::random().verifying_key();
    for (jwt, public) in [
        (Jwt::with_key(es), es.0.to_vec()),
        (Jwt::with_key(ed), ed.0.to_vec()),
    ] {
        let forged = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&public).unwrap(),
        )
        .unwrap();
        assert_rejected(
            jwt.check(forged.as_bytes(), &holder),
            &JwtRejection::UnknownAlgorithm("HS256".into()),
        );
        // With an HMAC key configured as well, the public bytes still are
        // not that secret.
        let both = jwt.add_key(Hs256::random());
        assert_rejected(
            both.check(forged.as_bytes(), &holder),
            &JwtRejection::BadSignature,
        );
    }

    // Relabelling an ES256 token as ES384 makes the ES384 key try it: fails.
    let es256 = Es256SigningKey::random();
    let es384 = Es384SigningKey::random();
    let jwt = Jwt::with_key(es256.verifying_key()).add_key(es384.verifying_key());
    let ticket = JwtTicketBuilder::new(es256)
        .expires_at(in_5_min())
        .build(&holder);
    let mut p = parts(ticket.data());
    p[0] = b64(br#"{"alg":"ES384","typ":"JWT"}"#);
    assert_rejected(jwt.check(&join(&p), &holder), &JwtRejection::BadSignature);
}

#[test]
fn tampering_breaks_the_signature() {
    let key = Es256SigningKey::random();
    let jwt = Jwt::with_key(key.verifying_key());
    let holder = peer();
    let ticket = JwtTicketBuilder::new(key)
        .issuer("idp")
        .expires_at(in_5_min())
        .build(&holder);
    assert!(jwt.check(ticket.data(), &holder).is_ok());
    let original = parts(ticket.data());

    // Header: same alg, different bytes.
    let mut p = original.clone();
    p[0] = b64(br#"{"alg":"ES256","typ":"jwt"}"#);
    assert_rejected(jwt.check(&join(&p), &holder), &JwtRejection::BadSignature);

    // Payload: a longer expiry.
    let mut claims: serde_json::Value = serde_json::from_slice(&unb64(&original[1])).unwrap();
    claims["exp"] = json!(Utc::now().timestamp() + 86_400 * 365);
    let mut p = original.clone();
    p[1] = b64(claims.to_string().as_bytes());
    assert_rejected(jwt.check(&join(&p), &holder), &JwtRejection::BadSignature);

    // Signature: one flipped bit, truncation, garbage, empty.
    let mut sig = unb64(&original[2]);
    sig[10] ^= 1;
    let mut p = original.clone();
    p[2] = b64(&sig);
    assert_rejected(jwt.check(&join(&p), &holder), &JwtRejection::BadSignature);
    sig.truncate(40);
    p[2] = b64(&sig);
    assert_rejected(jwt.check(&join(&p), &holder), &JwtRejection::BadSignature);
    p[2] = "!!".into();
    assert_rejected(jwt.check(&join(&p), &holder), &JwtRejection::BadSignature);
    p[2] = String::new();
    assert_rejected(jwt.check(&join(&p), &holder), &JwtRejection::BadSignature);
}

#[test]
fn malformed_tokens_are_refused_early() {
    let secret = Hs256::random();
    let jwt = Jwt::with_key(secret);
    let holder = peer();
    assert_rejected(
        jwt.check(&[0xff, 0xfe, b'.'], &holder),
        &JwtRejection::NotUtf8,
    );
    assert_rejected(jwt.check(b"a.b", &holder), &JwtRejection::Malformed);
    assert_rejected(jwt.check(b"a.b.c.d", &holder), &JwtRejection::Malformed);
    assert_rejected(jwt.check(b"", &holder), &JwtRejection::Malformed);

    let payload = json!({"sub": subject(&holder), "exp": Utc::now().timestamp() + 300}).to_string();
    let bad_header = |header: &str| {
        let token = hs256_raw(secret.as_bytes(), header, &payload);
        matches!(jwt.check(&token, &holder), Err(JwtRejection::BadHeader(_)))
    };
    assert!(bad_header("[1,2]"));
    assert!(bad_header(r#"{"typ":"JWT"}"#));
    assert!(bad_header(r#"{"alg":256}"#));
    assert!(bad_header(r#"{"alg":"HS256","typ":"JWE"}"#));
    assert!(bad_header(r#"{"alg":"HS256","crit":["exp"]}"#));
    assert!(bad_header(r#"{"alg":"HS256","alg":"HS256"}"#));
    assert!(!bad_header(r#"{"alg":"HS256"}"#), "typ is optional");

    // Padding is not base64url-without-padding.
    let token = hs256_raw(secret.as_bytes(), r#"{"alg":"HS256"}"#, &payload);
    let mut p = parts(&token);
    p[0].push_str("==");
    assert!(matches!(
        jwt.check(&join(&p), &holder),
        Err(JwtRejection::BadHeader(_))
    ));
}

#[test]
fn badly_typed_claims_are_refused() {
    let secret = Hs256::random();
    let jwt = Jwt::with_key(secret).allow_non_expiring();
    let holder = peer();
    let sub = subject(&holder);
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let check = |payload: &str| jwt.check(&hs256_raw(secret.as_bytes(), header, payload), &holder);
    assert!(check(&format!(r#"{{"sub":"{sub}"}}"#)).is_ok());
    for payload in [
        format!(r#"{{"sub":"{sub}","exp":18446744073709551615}}"#),
        format!(r#"{{"sub":"{sub}","exp":"tomorrow"}}"#),
        format!(r#"{{"sub":"{sub}","exp":1.5e9}}"#),
        format!(r#"{{"sub":"{sub}","exp":9223372036854775807}}"#),
        format!(r#"{{"sub":"{sub}","nbf":-9223372036854775808}}"#),
        format!(r#"{{"sub":"{sub}","sub":"{sub}"}}"#),
        r#"{"sub":7}"#.to_owned(),
        format!(r#"{{"sub":"{sub}","aud":[1]}}"#),
        format!(r#"{{"sub":"{sub}","iss":{{}}}}"#),
        "[]".to_owned(),
        "not json".to_owned(),
    ] {
        let got = check(&payload);
        assert!(
            matches!(got, Err(JwtRejection::BadClaims(_))),
            "{payload}: {got:?}"
        );
    }
}

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
    let short = Jwt::with_key(secret).max_lifetime(StdDuration::from_secs(3600));
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

    let fresh = Jwt::with_key(secret).max_age(StdDuration::from_secs(600));
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
fn oversized_tokens_are_refused_before_parsing() {
    let secret = Hs256::random();
    let jwt = Jwt::with_key(secret);
    let holder = peer();
    let big = JwtTicketBuilder::new(secret)
        .expires_at(in_5_min())
        .claim("padding", "x".repeat(Jwt::MAX_TOKEN_LEN))
        .build(&holder);
    assert_rejected(
        jwt.check(big.data(), &holder),
        &JwtRejection::TooLarge(big.data().len()),
    );
    // Not even UTF-8 is looked at.
    let junk = vec![0xff; Jwt::MAX_TOKEN_LEN + 1];
    assert_rejected(
        jwt.check(&junk, &holder),
        &JwtRejection::TooLarge(junk.len()),
    );
    // Just under the limit is fine.
    let fits = JwtTicketBuilder::new(secret)
        .expires_at(in_5_min())
        .claim("padding", "x".repeat(Jwt::MAX_TOKEN_LEN / 2))
        .build(&holder);
    assert!(fits.data().len() <= Jwt::MAX_TOKEN_LEN);
    assert!(jwt.check(fits.data(), &holder).is_ok());
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
