//! Sample quotes, their collateral and helpers.

use {
    chrono::{DateTime, Duration, Utc},
    mosaik::{
        NetworkId, PeerId, SecretKey,
        discovery::PeerEntry,
        iroh::EndpointAddr,
        tdx::{Collateral, Tdx, TdxTicket},
        tickets::{Expiration, Ticket},
    },
};

/// The real up-to-date TDX quote.
pub const QUOTE: &[u8] = include_bytes!("../data/tdx/tdx_quote");
/// Its collateral.
pub const COLLATERAL: &[u8] = include_bytes!("../data/tdx/tdx_quote_collateral.json");
/// A real TDX quote whose TCB is out of date under its collateral.
pub const OUTDATED: &[u8] = include_bytes!("../data/tdx/tdx_quote_outdated");
/// That collateral.
pub const OUTDATED_COLLATERAL: &[u8] =
    include_bytes!("../data/tdx/tdx_quote_outdated_collateral.json");

/// The sample's real MRTD and RTMR0..3.
pub const MRTD: &str = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";
pub const RTMR0: &str = "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0";
pub const RTMR1: &str = "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378";
pub const RTMR2: &str = "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132";
pub const RTMR3: &str = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

/// The test network.
pub fn network() -> NetworkId {
    NetworkId::from("tdx-test")
}

/// A fresh peer id.
pub fn peer() -> PeerId {
    SecretKey::generate().public()
}

/// A time inside `collateral`'s validity window: its TCB info's issue
/// date plus one hour.
pub fn collateral_time(collateral: &Collateral) -> DateTime<Utc> {
    let (issued, _) = collateral
        .tcb_info_window()
        .expect("collateral has a window");
    DateTime::from_timestamp(issued, 0).unwrap() + Duration::hours(1)
}

/// A validator holding the up-to-date sample's collateral, at its time.
pub fn validator() -> (Tdx, DateTime<Utc>) {
    let collateral = Collateral::from_json(COLLATERAL).unwrap();
    let at = collateral_time(&collateral);
    (Tdx::new().with_collateral(collateral).at_time(at), at)
}

/// A ticket around the sample quote claiming `peer` (the quote cannot bind
/// it: built without the binding check).
pub fn ticket(peer: PeerId, quoted_at: DateTime<Utc>, expiration: Expiration) -> TdxTicket {
    TdxTicket::new(
        QUOTE.to_vec(),
        peer,
        network(),
        quoted_at - Duration::minutes(5),
        quoted_at,
        expiration,
    )
    .unwrap()
}

/// An unsigned entry of `id` in the test network carrying `tickets`.
pub fn entry(id: PeerId, tickets: impl IntoIterator<Item = Ticket>) -> PeerEntry {
    tickets.into_iter().fold(
        PeerEntry::new(network(), EndpointAddr::new(id)),
        PeerEntry::add_ticket,
    )
}

/// `quote` with byte `at` flipped.
pub fn flipped(quote: &[u8], at: usize) -> Vec<u8> {
    let mut q = quote.to_vec();
    q[at] ^= 0x01;
    q
}

/// Offset of the first PEM certificate in the quote's certification data.
pub fn pem_offset(quote: &[u8]) -> usize {
    let marker = b"-----BEGIN CERTIFICATE-----";
    quote
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("quote carries a PEM chain")
}
