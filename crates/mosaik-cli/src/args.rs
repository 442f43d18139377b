//! Parsing of the identifiers and addresses the commands take.

use {
    core::str::FromStr,
    mosaik::{
        Digest, NetworkId, PeerId, SecretKey,
        iroh::{EndpointAddr, TransportAddr},
    },
    std::net::SocketAddr,
};

/// A network id: 64 hex characters verbatim, any other text hashed.
pub fn network(text: &str) -> NetworkId {
    NetworkId::from(text)
}

/// A secret key from 64 hex characters, or derived from any other text
/// (a seed): the same seed always gives the same peer id.
pub fn secret(text: &str) -> SecretKey {
    Digest::from(text).into()
}

/// A peer to bootstrap from: `<peer id>@<ip:port>[,<ip:port>...]`, or a
/// bare `<peer id>` (then its addresses must be learned elsewhere).
#[derive(Debug, Clone)]
pub struct PeerAddr(pub EndpointAddr);

impl FromStr for PeerAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (id, addrs) = text.split_once('@').unwrap_or((text, ""));
        let id = PeerId::from_str(id.trim()).map_err(|e| format!("invalid peer id {id:?}: {e}"))?;
        let mut addr = EndpointAddr::new(id);
        for ip in addrs.split(',').filter(|s| !s.trim().is_empty()) {
            let ip = SocketAddr::from_str(ip.trim())
                .map_err(|e| format!("invalid socket address {ip:?}: {e}"))?;
            addr.addrs.insert(TransportAddr::Ip(ip));
        }
        Ok(Self(addr))
    }
}

/// The `<peer id>@<ip:port>,...` form of `addr`, as [`PeerAddr`] parses it.
pub fn display_addr(addr: &EndpointAddr) -> String {
    let ips: Vec<String> = addr.ip_addrs().map(ToString::to_string).collect();
    if ips.is_empty() {
        addr.id.to_string()
    } else {
        format!("{}@{}", addr.id, ips.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_addresses_round_trip() {
        let id = SecretKey::generate().public();
        let text = format!("{id}@127.0.0.1:4000,[::1]:4001");
        let parsed: PeerAddr = text.parse().unwrap();
        assert_eq!(parsed.0.id, id);
        assert_eq!(parsed.0.ip_addrs().count(), 2);
        let again: PeerAddr = display_addr(&parsed.0).parse().unwrap();
        assert_eq!(again.0, parsed.0);
        assert!("nonsense@1.2.3.4:5".parse::<PeerAddr>().is_err());
        assert!(format!("{id}@nowhere").parse::<PeerAddr>().is_err());
    }

    #[test]
    fn seeds_give_stable_identities() {
        assert_eq!(secret("seed").public(), secret("seed").public());
        assert_ne!(secret("seed").public(), secret("other").public());
    }
}
