//! The attacks of issue 17 as reusable pieces: what an attacker with only
//! an iroh endpoint and no credentials sends. Shared by this test suite and
//! `mosaik-bench attack` (which includes this file by path), so the
//! benchmark measures exactly the attacks the tests assert on.
//!
//! Each includer uses a subset, hence `dead_code` is allowed. Depends on mosaik's public API, iroh and postcard only.

#![allow(dead_code)]

use {
    core::time::Duration,
    mosaik::{
        Digest, GroupId, Network, NetworkId,
        discovery::{GracefulDeparture, PeerEntry, SyncProtocol},
        iroh::{EndpointAddr, SecretKey, Signature, endpoint::Connection},
    },
    std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

/// The bond protocol's ALPN (its protocol type is crate-private).
pub const GROUPS_ALPN: &[u8] = b"/mosaik/groups/1";

/// Catalog entries as they travel: each with its signature.
pub type RawEntries = Vec<(PeerEntry, Signature)>;

/// A catalog snapshot as it travels: entries and departure notices.
pub type RawSnapshot = (RawEntries, Vec<GracefulDeparture>);

/// `n` fresh, correctly signed entries of `network` (each a new identity:
/// the Sybils of a catalog flood).
pub fn sybils(network: &str, n: usize) -> RawSnapshot {
    let entries = (0..n)
        .map(|_| {
            let key = SecretKey::generate();
            let signed = PeerEntry::new(NetworkId::from(network), EndpointAddr::new(key.public()))
                .sign(&key)
                .unwrap();
            (signed.clone().into_unsigned(), *signed.signature())
        })
        .collect();
    (entries, Vec::new())
}

/// One catalog-sync push of `snapshot` to `target`, waiting for its reply
/// (if any). Returns whether the push was sent.
pub async fn push_snapshot(from: &Network, target: EndpointAddr, snapshot: &RawSnapshot) -> bool {
    let Ok(mut link) = from.local().connect::<SyncProtocol>(target).await else {
        return false;
    };
    if link.send(snapshot).await.is_err() {
        return false;
    }
    let _ = link.recv::<RawSnapshot>().await;
    true
}

/// On a new connection of `alpn`, announces a frame of `frame` bytes and
/// sends all but `short` bytes of it, then returns the connection open
/// (the victim waits for the rest).
pub async fn almost_complete_frame(
    from: &Network,
    target: EndpointAddr,
    alpn: &[u8],
    frame: usize,
    short: usize,
) -> Option<Connection> {
    let conn = from.local().endpoint().connect(target, alpn).await.ok()?;
    let Ok((mut send, _recv)) = conn.open_bi().await else {
        return Some(conn);
    };
    if send
        .write_all(&u32::try_from(frame).unwrap().to_be_bytes())
        .await
        .is_err()
    {
        return Some(conn);
    }
    let chunk = vec![7u8; 1024 * 1024];
    let mut left = frame.saturating_sub(short);
    while left > 0 {
        let n = left.min(chunk.len());
        if send.write_all(&chunk[..n]).await.is_err() {
            break;
        }
        left -= n;
    }
    Some(conn)
}

/// What a reopened connection sends first.
#[derive(Clone, Copy, Debug)]
pub enum OnOpen {
    /// Nothing: hold an accept slot.
    Silence,
    /// One of the gossip misuses of [`gossip_misuse`].
    Gossip(usize),
    /// A 16 MiB - 1 frame header and 4 KiB of its body.
    LargePrefix,
}

/// Keeps one connection of `alpn` to `target` open at a time, reopening it
/// as soon as the victim closes it, until `stop`.
pub async fn reopen_until(
    from: Arc<Network>,
    target: EndpointAddr,
    alpn: &'static [u8],
    stop: Arc<AtomicBool>,
    on_open: OnOpen,
) {
    while !stop.load(Ordering::Relaxed) {
        match from.local().endpoint().connect(target.clone(), alpn).await {
            Ok(conn) => {
                match on_open {
                    OnOpen::Silence => {}
                    OnOpen::Gossip(kind) => gossip_misuse(&conn, kind).await,
                    OnOpen::LargePrefix => {
                        if let Ok((mut send, _recv)) = conn.open_bi().await {
                            let mut bytes = (16u32 * 1024 * 1024 - 1).to_be_bytes().to_vec();
                            bytes.extend([0xA5; 4096]);
                            let _ = send.write_all(&bytes).await;
                        }
                    }
                }
                conn.closed().await;
            }
            // Refused at once (a cap): back off briefly, as a real attacker
            // would rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The gossip ALPN misuses, by `kind % 4`: silence, garbage, a 4 GiB
/// length prefix, or one slow byte every 100 ms.
pub async fn gossip_misuse(conn: &Connection, kind: usize) {
    match kind % 4 {
        0 => {}
        1 => {
            if let Ok(mut s) = conn.open_uni().await {
                let _ = s.write_all(&[0xA5; 512]).await;
            }
        }
        2 => {
            if let Ok(mut s) = conn.open_uni().await {
                let _ = s.write_all(&[0xFF; 8]).await;
            }
        }
        _ => {
            if let Ok(mut s) = conn.open_uni().await {
                tokio::spawn(async move {
                    for _ in 0..100 {
                        if s.write_all(&[1]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
            }
        }
    }
}

/// A framed `HandshakeStart` of the bond protocol whose bond list replays
/// `from`'s own valid entry `replays` times: pre-auth amplification if a
/// victim verified every signature before checking anything else.
pub fn amplified_handshake(from: &Network, network: &str, replays: usize) -> Vec<u8> {
    let me = from.discovery().me();
    let one = (me.clone().into_unsigned(), *me.signature());
    // `HandshakeStart` on the wire: network, group, proof, bonds, ...
    let start = (
        NetworkId::from(network),
        GroupId::from("any"),
        Digest::from("proof"),
        vec![one; replays],
    );
    let bytes = postcard::to_stdvec(&start).unwrap();
    let mut frame = u32::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    frame.extend(bytes);
    frame
}

/// This process's resident set size in bytes (Linux; 0 elsewhere).
pub fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}
