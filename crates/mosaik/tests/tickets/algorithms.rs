//! Every algorithm issues tokens that validate, and only with its own key.

use {
    crate::util::{entry, peer},
    mosaik::tickets::{
        Expiration, TicketValidator,
        jwt::{
            CustomSigner, CustomVerifier, EdDsa, EdDsaSigningKey, Es256, Es256SigningKey, Es256k,
            Es256kSigningKey, Es384SigningKey, Es512, Es512SigningKey, Hs256, Hs384, Hs512, Jwt,
            JwtRejection, JwtTicketBuilder, SigningKey, VerifyingKey,
        },
        validate_all,
    },
};

/// Every shipped algorithm, as (signing key, the matching verifying key).
fn all_keys() -> Vec<(SigningKey, VerifyingKey)> {
    let signers: Vec<SigningKey> = vec![
        Hs256::random().into(),
        Hs384::random().into(),
        Hs512::random().into(),
        Es256SigningKey::random().into(),
        Es384SigningKey::random().into(),
        Es512SigningKey::random().into(),
        Es256kSigningKey::random().into(),
        EdDsaSigningKey::random().into(),
    ];
    signers
        .into_iter()
        .map(|s| {
            let v = s
                .verifying_key()
                .expect("shipped keys have a verifying key");
            (s, v)
        })
        .collect()
}

#[test]
fn every_algorithm_round_trips() {
    let names: Vec<String> = all_keys()
        .iter()
        .map(|(s, _)| s.algorithm().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "HS256", "HS384", "HS512", "ES256", "ES384", "ES512", "ES256K", "EdDSA"
        ]
    );
    for (signer, verifier) in all_keys() {
        let alg = signer.algorithm().to_owned();
        let holder = peer();
        let expiry = Expiration::in_1h();
        let ticket = JwtTicketBuilder::new(signer)
            .issuer("issuer")
            .expires_at(expiry)
            .build(&holder);
        assert_eq!(ticket.class(), Jwt::CLASS);
        let jwt = Jwt::with_key(verifier.clone());
        let got = jwt.check(ticket.data(), &holder);
        // exp is whole seconds, so compare at that precision.
        let Ok(Expiration::At(at)) = got else {
            panic!("{alg}: not accepted: {got:?}");
        };
        let Expiration::At(want) = expiry else {
            unreachable!()
        };
        assert_eq!(at.timestamp(), want.timestamp(), "{alg}");

        // Through the generic trait and validate_all, on a peer entry.
        let peer_entry = entry(holder, [ticket.clone()]);
        assert!(jwt.validate(ticket.data(), &peer_entry).is_ok(), "{alg}");
        let validators: [&dyn TicketValidator; 1] = [&jwt];
        assert!(validate_all(validators, &peer_entry).is_ok(), "{alg}");
        assert!(verifier.check().is_ok(), "{alg}");
    }
}

#[test]
fn a_key_of_the_same_algorithm_but_other_bytes_fails() {
    for ((signer, _), (_, other)) in all_keys().into_iter().zip(all_keys()) {
        let alg = signer.algorithm().to_owned();
        let holder = peer();
        let ticket = JwtTicketBuilder::new(signer)
            .expires_in(chrono::Duration::minutes(5))
            .build(&holder);
        let got = Jwt::with_key(other).check(ticket.data(), &holder);
        assert_eq!(got, Err(JwtRejection::BadSignature), "{alg}");
    }
}

#[test]
fn rotation_accepts_any_configured_key() {
    let old = Es256SigningKey::random();
    let new = Es256SigningKey::random();
    let hmac = Hs256::random();
    let jwt = Jwt::with_key(old.verifying_key())
        .add_key(new.verifying_key())
        .add_key(hmac)
        .add_key(hmac);
    assert_eq!(jwt.keys().len(), 3, "a repeated key is kept once");
    let holder = peer();
    for signer in [SigningKey::from(old), new.into(), hmac.into()] {
        let ticket = JwtTicketBuilder::new(signer)
            .expires_in(chrono::Duration::minutes(5))
            .build(&holder);
        assert!(jwt.check(ticket.data(), &holder).is_ok());
    }
    let stranger = JwtTicketBuilder::new(Es256SigningKey::random())
        .expires_in(chrono::Duration::minutes(5))
        .build(&holder);
    assert_eq!(
        jwt.check(stranger.data(), &holder),
        Err(JwtRejection::BadSignature)
    );
}

#[test]
fn signing_keys_round_trip_through_bytes() {
    let es = Es256SigningKey::random();
    let again = Es256SigningKey::from_bytes(es.to_bytes()).unwrap();
    assert_eq!(es.verifying_key(), again.verifying_key());
    let p521 = Es512SigningKey::random();
    let again = Es512SigningKey::from_bytes(p521.to_bytes()).unwrap();
    assert_eq!(p521.verifying_key(), again.verifying_key());
    let ed = EdDsaSigningKey::from_bytes([7; 32]);
    assert_eq!(
        ed.verifying_key(),
        EdDsaSigningKey::from_bytes([7; 32]).verifying_key()
    );
    assert_eq!(ed.to_bytes(), [7; 32]);
}

#[test]
fn invalid_key_bytes_are_errors_not_panics() {
    // Zero and >= the curve order are not scalars.
    assert!(Es256SigningKey::from_bytes([0; 32]).is_err());
    assert!(Es256SigningKey::from_bytes([0xff; 32]).is_err());
    assert!(Es512SigningKey::from_bytes([0xff; 66]).is_err());
    assert!(Es384SigningKey::from_bytes([0; 48]).is_err());
    assert!(Es256kSigningKey::from_bytes([0; 32]).is_err());

    // An invalid SEC1 tag byte, an x coordinate beyond the field, and a
    // wrong length.
    let bad = Es256::new([0x07; 33]);
    let err = VerifyingKey::from(bad).check().unwrap_err();
    assert_eq!(err.algorithm, "ES256");
    assert_eq!(err.bytes, vec![0x07; 33], "the bytes are handed back");
    let mut beyond = [0xff; 33];
    beyond[0] = 0x02;
    assert!(Es256::new(beyond).check().is_err());
    let mut beyond = [0xff; 67];
    beyond[0] = 0x03;
    assert!(Es512::new(beyond).check().is_err());
    let mut beyond = [0xff; 33];
    beyond[0] = 0x02;
    assert!(Es256k::new(beyond).check().is_err());
    assert!(Es256::from_slice(&[2; 10]).is_err());
    assert!(Es256::from_slice(&Es256SigningKey::random().verifying_key().0).is_ok());
    // About half of all y coordinates have no point on Ed25519; none of
    // the candidates may panic, and some must be refused.
    let refused = (2u8..64)
        .filter(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = *y;
            EdDsa::new(bytes).check().is_err()
        })
        .count();
    assert!(refused > 0);

    // A validator holding only a bad key refuses tokens, without panicking.
    let holder = peer();
    let ticket = JwtTicketBuilder::new(Es256SigningKey::random())
        .expires_in(chrono::Duration::minutes(5))
        .build(&holder);
    assert_eq!(
        Jwt::with_key(bad).check(ticket.data(), &holder),
        Err(JwtRejection::BadSignature)
    );
}

#[test]
fn const_constructors_accept_hex() {
    const SECRET: Hs256 =
        Hs256::hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    const POINT: Es256 =
        Es256::hex("036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    assert_eq!(SECRET.as_bytes()[31], 0x1f);
    // The P-256 generator point, compressed.
    assert!(POINT.check().is_ok());
}

/// A toy algorithm: blake3 keyed hash. Stands in for any caller-supplied
/// scheme.
struct Blake3Mac([u8; 32]);

impl CustomSigner for Blake3Mac {
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        blake3::keyed_hash(&self.0, message).as_bytes().to_vec()
    }
}

impl CustomVerifier for Blake3Mac {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        blake3::keyed_hash(&self.0, message).as_bytes().as_slice() == signature
    }
}

#[test]
fn custom_algorithms_plug_in() {
    let secret = [9u8; 32];
    let signer = SigningKey::custom(Blake3Mac(secret), "X-BLAKE3");
    assert!(signer.verifying_key().is_none());
    let jwt = Jwt::with_key(VerifyingKey::custom(Blake3Mac(secret), secret, "X-BLAKE3"));
    let holder = peer();
    let ticket = JwtTicketBuilder::new(signer)
        .expires_in(chrono::Duration::minutes(5))
        .build(&holder);
    assert!(jwt.check(ticket.data(), &holder).is_ok());
    let other = Jwt::with_key(VerifyingKey::custom(
        Blake3Mac([1; 32]),
        [1; 32],
        "X-BLAKE3",
    ));
    assert_eq!(
        other.check(ticket.data(), &holder),
        Err(JwtRejection::BadSignature)
    );
}

#[test]
fn tokens_from_jsonwebtoken_validate() {
    // Interop: a token minted by a mainstream JWT library, not by us.
    let secret = Hs256::random();
    let holder = peer();
    let claims = serde_json::json!({
        "sub": crate::util::subject(&holder),
        "iss": "idp",
        "exp": chrono::Utc::now().timestamp() + 600,
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap();
    let jwt = Jwt::with_key(secret).allow_issuer("idp");
    assert!(matches!(
        jwt.check(token.as_bytes(), &holder),
        Ok(Expiration::At(_))
    ));
}

#[test]
fn rfc_8037_ed25519_vector() {
    // RFC 8037 appendix A: a known key and JWS. Its payload is text, not a
    // claims object, so getting as far as `BadClaims` proves the signature
    // verified against an independent vector.
    let seed = crate::util::unb64("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A");
    let public = crate::util::unb64("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    let key = EdDsaSigningKey::from_bytes(seed.try_into().unwrap());
    assert_eq!(key.verifying_key().0.to_vec(), public);
    let token = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
                 hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    let jwt = Jwt::with_key(key.verifying_key());
    let got = jwt.check(token.as_bytes(), &peer());
    assert!(matches!(got, Err(JwtRejection::BadClaims(_))), "{got:?}");
    let tampered = token.replace("hgyY", "hgyZ");
    assert_eq!(
        jwt.check(tampered.as_bytes(), &peer()),
        Err(JwtRejection::BadSignature)
    );
}

#[test]
fn rfc_7515_es256_vector() {
    // RFC 7515 appendix A.3: a P-256 key (given as x, y) and its JWS. The
    // payload has no `sub`, so reaching `Subject` proves the signature
    // verified against an independent vector.
    let x = crate::util::unb64("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU");
    let y = crate::util::unb64("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
    let mut point = [0u8; 33];
    point[0] = 0x02 | (y[31] & 1);
    point[1..].copy_from_slice(&x);
    let jwt = Jwt::with_key(Es256::from_slice(&point).unwrap());
    let token = "eyJhbGciOiJFUzI1NiJ9.\
                 eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
                 DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    assert_eq!(
        jwt.check(token.as_bytes(), &peer()),
        Err(JwtRejection::Subject)
    );
    let tampered = token.replace("DtEh", "DtEi");
    assert_eq!(
        jwt.check(tampered.as_bytes(), &peer()),
        Err(JwtRejection::BadSignature)
    );
}
