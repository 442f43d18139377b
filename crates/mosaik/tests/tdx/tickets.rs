//! Ticket format: binding, compression cap, conversions.

use {
    crate::util::{QUOTE, entry, network, peer, ticket, validator},
    chrono::{Duration, Utc},
    mosaik::{
        tdx::{MAX_DECOMPRESSED_LEN, Tdx, TdxRejection, TdxTicket, TdxTicketError},
        tickets::{Expiration, Jwt, Ticket, TicketValidator},
    },
};

#[test]
fn genuine_quote_not_binding_the_peer_is_refused_with_invalid_report_data() {
    let (tdx, at) = validator();
    let holder = peer();
    let forged = ticket(holder, at, Expiration::Never);
    // The quote is genuine (it verifies) but its report data was made for
    // something else, so it cannot commit to this peer's claims.
    tdx.verify_quote(forged.quote_bytes())
        .expect("genuine quote");
    assert_eq!(
        forged.check_binding(),
        Err(TdxTicketError::InvalidReportData)
    );
    let data = forged.to_bytes().unwrap();
    assert_eq!(
        TdxTicket::try_from(data.as_slice()),
        Err(TdxTicketError::InvalidReportData)
    );
    let presented = entry(holder, [Ticket::try_from(forged).unwrap()]);
    assert_eq!(
        tdx.check(&data, &presented),
        Err(TdxRejection::Ticket(TdxTicketError::InvalidReportData))
    );
    assert!(tdx.validate(&data, &presented).is_err());
    assert!(presented.validate_ticket(&tdx).is_err());
}

#[test]
fn report_data_is_the_derive_chain_of_the_claims() {
    let (p, n, t) = (peer(), network(), Utc::now());
    let base = TdxTicket::report_data_for(&p, &n, t, t, Expiration::Never);
    assert_eq!(base[32..], [0u8; 32]);
    // Every claim changes the digest.
    let later = t + Duration::seconds(1);
    for other in [
        TdxTicket::report_data_for(&peer(), &n, t, t, Expiration::Never),
        TdxTicket::report_data_for(&p, &"other".into(), t, t, Expiration::Never),
        TdxTicket::report_data_for(&p, &n, later, t, Expiration::Never),
        TdxTicket::report_data_for(&p, &n, t, later, Expiration::Never),
        TdxTicket::report_data_for(&p, &n, t, t, Expiration::At(later)),
    ] {
        assert_ne!(other, base);
    }
}

#[test]
fn encoding_round_trips_and_accessors_return_the_claims() {
    let (holder, at) = (peer(), Utc::now());
    let exp = Expiration::At(at + Duration::hours(1));
    let t = ticket(holder, at, exp);
    assert_eq!(t.peer_id(), &holder);
    assert_eq!(t.network_id(), &network());
    assert_eq!(t.quoted_at(), at);
    assert_eq!(t.started_at(), at - Duration::minutes(5));
    assert_eq!(t.uptime(), std::time::Duration::from_mins(5));
    assert_eq!(t.expiration(), exp);
    assert_eq!(t.quote_bytes(), QUOTE);
    assert_eq!(t.quote().header.version, 4);
    let data = t.to_bytes().unwrap();
    assert!(data.len() < QUOTE.len(), "compressed");
    // Decoding reaches the binding check (which this quote fails), so the
    // encoding itself was accepted.
    assert_eq!(
        TdxTicket::try_from(data.as_slice()),
        Err(TdxTicketError::InvalidReportData)
    );
}

#[test]
fn decompression_is_capped_at_64_kib() {
    let bomb = zstd::bulk::compress(&vec![0u8; MAX_DECOMPRESSED_LEN + 1], 3).unwrap();
    assert!(bomb.len() < 1024);
    match TdxTicket::try_from(bomb.as_slice()) {
        Err(TdxTicketError::InvalidFormat(reason)) => assert!(reason.contains("exceeds")),
        other => panic!("expected the cap, got {other:?}"),
    }
    // At the cap the size is fine; the zeros then fail to decode as a ticket.
    let at_cap = zstd::bulk::compress(&vec![0u8; MAX_DECOMPRESSED_LEN], 3).unwrap();
    match TdxTicket::try_from(at_cap.as_slice()) {
        Err(TdxTicketError::InvalidFormat(reason)) => assert!(!reason.contains("exceeds")),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn garbage_and_foreign_tickets_are_refused() {
    for data in [&b""[..], b"not zstd", &[0x28, 0xb5, 0x2f, 0xfd, 0, 0]] {
        assert!(matches!(
            TdxTicket::try_from(data),
            Err(TdxTicketError::InvalidFormat(_))
        ));
    }
    let jwt = Ticket::new(Jwt::CLASS, mosaik::Bytes::from_static(b"a.b.c"));
    assert_eq!(
        TdxTicket::try_from(jwt),
        Err(TdxTicketError::InvalidTicketType)
    );
    // A quote that is not a quote.
    assert!(matches!(
        TdxTicket::new(
            vec![0; 100],
            peer(),
            network(),
            Utc::now(),
            Utc::now(),
            Expiration::Never
        ),
        Err(TdxTicketError::InvalidFormat(_))
    ));
}

#[test]
fn ticket_conversion_uses_the_tdx_class() {
    let t = Ticket::try_from(ticket(peer(), Utc::now(), Expiration::Never)).unwrap();
    assert_eq!(t.class(), Tdx::CLASS);
    assert_eq!(Tdx::CLASS, mosaik::unique_id!("mosaik.tee.tdx.ticket.v1"));
}
