//! The validator's class and configuration fingerprint, and its cost.

use {
    crate::util::peer,
    core::time::Duration,
    mosaik::{
        UniqueId,
        tickets::{
            TicketValidator,
            jwt::{Es256SigningKey, Hs256, Jwt, JwtRejection, JwtTicketBuilder},
        },
    },
    std::time::Instant,
};

#[test]
fn class_is_the_documented_id() {
    assert_eq!(Jwt::CLASS, UniqueId::from("mosaik.tickets.jwt.v1"));
    assert_eq!(Jwt::with_key(Hs256::random()).class(), Jwt::CLASS);
}

#[test]
fn every_rule_changes_the_signature() {
    let key = Hs256::new([1; 32]);
    let base = || Jwt::with_key(key);
    let variants = [
        base(),
        Jwt::with_key(Hs256::new([2; 32])),
        base().add_key(Es256SigningKey::random().verifying_key()),
        base().allow_issuer("a"),
        base().allow_issuer("a,b"),
        base().allow_issuer("a").allow_issuer("b"),
        base().allow_audience("a"),
        base().require_subject("s"),
        base().require_subject(""),
        base().require_claim("role", "admin"),
        base().require_claim("role", "user"),
        base().allow_non_expiring(),
        base().max_lifetime(Duration::from_mins(1)),
        base().max_lifetime(Duration::from_secs(61)),
        base().max_age(Duration::from_mins(1)),
    ];
    let mut ids: Vec<UniqueId> = variants.iter().map(TicketValidator::signature).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        n,
        "two different configurations share a signature"
    );
}

#[test]
fn signature_is_deterministic_and_order_free() {
    let a = Hs256::new([1; 32]);
    let b = Es256SigningKey::from_bytes([3; 32])
        .unwrap()
        .verifying_key();
    let one = Jwt::with_key(a)
        .add_key(b)
        .allow_issuer("x")
        .allow_issuer("y")
        .require_claim("k", 1)
        .require_claim("j", 2);
    let two = Jwt::with_key(b)
        .add_key(a)
        .allow_issuer("y")
        .allow_issuer("x")
        .require_claim("j", 2)
        .require_claim("k", 1);
    assert_eq!(one.signature(), two.signature());
    assert_eq!(one.signature(), one.clone().signature());
}

#[test]
fn validation_is_cheap_to_repeat() {
    let key = Es256SigningKey::random();
    let jwt = Jwt::with_key(key.verifying_key());
    let holder = peer();
    let ticket = JwtTicketBuilder::new(key)
        .expires_in(chrono::Duration::hours(1))
        .build(&holder);
    let cold = Instant::now();
    assert!(jwt.check(ticket.data(), &holder).is_ok());
    println!("es256 ticket validation, first call: {:?}", cold.elapsed());
    let rounds = 200u32;
    let started = Instant::now();
    for _ in 0..rounds {
        assert!(jwt.check(ticket.data(), &holder).is_ok());
    }
    let each = started.elapsed() / rounds;
    println!("es256 ticket validation, repeated: {each:?} per call");
    // Generous even for an unoptimised build on a loaded machine: the point
    // is that re-checking on every entry update is affordable.
    assert!(each < Duration::from_millis(50), "{each:?} per validation");
}

#[test]
fn a_remembered_signature_does_not_outlive_expiry() {
    // exp has whole-second precision: expire within the next two seconds.
    let secret = Hs256::random();
    let jwt = Jwt::with_key(secret);
    let holder = peer();
    let exp = chrono::Utc::now() + chrono::Duration::seconds(2);
    let ticket = JwtTicketBuilder::new(secret)
        .expires_at(mosaik::tickets::Expiration::At(exp))
        .build(&holder);
    assert!(jwt.check(ticket.data(), &holder).is_ok());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match jwt.check(ticket.data(), &holder) {
            Err(JwtRejection::Expired) => break,
            Ok(_) => assert!(Instant::now() < deadline, "still valid after its exp"),
            Err(other) => panic!("unexpected rejection {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(chrono::Utc::now().timestamp() >= exp.timestamp());
}
