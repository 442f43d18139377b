//! Framing and signature: what must fail before any claim is read.

use {
    crate::util::{assert_rejected, b64, hs256_raw, in_5_min, join, parts, peer, subject, unb64},
    chrono::Utc,
    mosaik::tickets::jwt::{
        EdDsaSigningKey, Es256SigningKey, Es384SigningKey, Hs256, Jwt, JwtRejection,
        JwtTicketBuilder,
    },
    serde_json::json,
};

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
