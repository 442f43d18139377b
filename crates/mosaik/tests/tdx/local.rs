//! This machine has no TDX: everything local fails cleanly, never panics.

use mosaik::{
    Network, NetworkTdxExt,
    tdx::{Measurements, Tdx, TdxTicketError, quote_source_available},
    tickets::Expiration,
};

fn no_source<T: std::fmt::Debug>(r: Result<T, TdxTicketError>) {
    match r {
        Err(TdxTicketError::InvalidFormat(reason)) => {
            assert!(reason.contains("no TDX quote source"), "reason: {reason}");
        }
        other => panic!("expected a missing quote source, got {other:?}"),
    }
}

#[tokio::test]
async fn without_tdx_every_local_operation_is_a_clear_error() {
    if quote_source_available() {
        return; // running inside a TD: nothing to check here
    }
    let net = Network::new("tdx-local-test").await.unwrap();
    let tdx = net.tdx();
    assert!(!tdx.available());
    no_source(tdx.ticket());
    no_source(tdx.ticket_with_expiration(Expiration::in_1h()));
    no_source(tdx.install_own_ticket());
    no_source(tdx.measurements());
    no_source(tdx.mrtd());
    no_source(tdx.rtmr0());
    no_source(tdx.rtmr1());
    no_source(tdx.rtmr2());
    no_source(tdx.rtmr3());
    no_source(Measurements::local());
    no_source(Tdx::from_local());
    no_source(Tdx::new().require_own_mrtd());
    no_source(Tdx::new().require_own_rtmr0());
    no_source(Tdx::new().require_own_rtmr1());
    no_source(Tdx::new().require_own_rtmr2());
    no_source(Tdx::new().require_own_rtmr3());
    // An expiry in the past is refused before any quote is attempted.
    assert_eq!(
        tdx.ticket_with_expiration(Expiration::already_expired())
            .unwrap_err(),
        TdxTicketError::TicketExpired
    );
    assert!(
        net.discovery().me().tickets().is_empty(),
        "nothing installed"
    );
}
