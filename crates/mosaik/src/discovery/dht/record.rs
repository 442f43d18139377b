//! The DNS record a node writes into a bootstrap slot.
//!
//! A record is a pkarr `SignedPacket` signed with the slot's keypair and
//! holding TXT records: `_id` (base58 of the peer id bytes), one `_ip` per
//! socket address and one `_r` per relay URL. Because anyone can write a
//! slot, a record proves nothing about the peer: it is only a hint that is
//! checked by probing the peer before use.

use {
    crate::PeerId,
    core::{net::SocketAddr, time::Duration},
    iroh::{EndpointAddr, RelayUrl, TransportAddr},
    pkarr::{
        Keypair, SignedPacket, Timestamp,
        dns::{
            Name,
            rdata::{RData, TXT},
        },
        errors::SignedPacketBuildError,
    },
    std::collections::BTreeSet,
};

/// TXT name carrying the base58 peer id.
const ID_NAME: &str = "_id";
/// TXT name carrying one socket address.
const IP_NAME: &str = "_ip";
/// TXT name carrying one relay URL.
const RELAY_NAME: &str = "_r";

/// One peer's bootstrap record as stored in a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRecord {
    /// The peer that (claims to have) published the record.
    pub peer: PeerId,
    /// The packet timestamp (microseconds since the Unix epoch); also the
    /// DHT sequence number, which compare-and-swap publishes refer to.
    pub timestamp: u64,
    /// Direct addresses of the peer.
    pub ips: Vec<SocketAddr>,
    /// Relay URLs the peer is reachable through.
    pub relays: Vec<String>,
}

/// Why a slot's content was not accepted as a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedRecord {
    /// No `_id`, or more than one.
    #[error("record must hold exactly one _id")]
    MissingId,
    /// `_id` is not base58 of a valid 32-byte public key.
    #[error("invalid _id")]
    InvalidId,
    /// An `_ip` entry is not a socket address.
    #[error("invalid _ip entry")]
    InvalidIp,
    /// An `_r` entry is not a relay URL.
    #[error("invalid _r entry")]
    InvalidRelay,
    /// A TXT value is not UTF-8.
    #[error("TXT value is not UTF-8")]
    NotUtf8,
    /// The DHT item is not a valid signed packet.
    #[error("not a valid signed packet")]
    InvalidPacket,
}

impl SlotRecord {
    /// The record describing `addr`, stamped with `timestamp`.
    pub fn from_endpoint_addr(addr: &EndpointAddr, timestamp: u64) -> Self {
        Self {
            peer: addr.id,
            timestamp,
            ips: addr.ip_addrs().copied().collect(),
            relays: addr.relay_urls().map(ToString::to_string).collect(),
        }
    }

    /// The address to dial the recorded peer at. Relay URLs that do not
    /// parse are skipped (decode already rejects them, so this only matters
    /// for hand-built records).
    pub fn to_endpoint_addr(&self) -> EndpointAddr {
        let ips = self.ips.iter().copied().map(TransportAddr::Ip);
        let relays = self
            .relays
            .iter()
            .filter_map(|url| url.parse::<RelayUrl>().ok())
            .map(TransportAddr::Relay);
        EndpointAddr::from_parts(self.peer, ips.chain(relays))
    }

    /// Whether the record lists exactly the addresses of `addr` (order and
    /// duplicates ignored): if not, the record is stale and is rewritten.
    pub fn matches(&self, addr: &EndpointAddr) -> bool {
        let ours: BTreeSet<TransportAddr> = addr
            .addrs
            .iter()
            .filter(|a| a.is_ip() || a.is_relay())
            .cloned()
            .collect();
        self.peer == addr.id && self.to_endpoint_addr().addrs == ours
    }

    /// Signs the record into a packet for the slot owning `keypair`.
    ///
    /// A DHT value holds at most 1000 bytes, so when the addresses do not
    /// fit, the last IPs (then relays) are dropped until it does: a partial
    /// record still lets peers reach us.
    pub fn encode(&self, keypair: &Keypair, ttl: Duration) -> Result<SignedPacket, EncodeError> {
        let ttl = u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX);
        let mut ips = self.ips.len();
        let mut relays = self.relays.len();
        loop {
            match self.build(keypair, ttl, ips, relays) {
                Err(EncodeError::TooLarge) if ips > 0 => ips -= 1,
                Err(EncodeError::TooLarge) if relays > 0 => relays -= 1,
                result => return result,
            }
        }
    }

    /// Builds the packet from the first `ips` addresses and `relays` URLs.
    fn build(
        &self,
        keypair: &Keypair,
        ttl: u32,
        ips: usize,
        relays: usize,
    ) -> Result<SignedPacket, EncodeError> {
        let id = bs58::encode(self.peer.as_bytes()).into_string();
        let ip_texts: Vec<String> = self.ips[..ips].iter().map(ToString::to_string).collect();
        let mut builder = SignedPacket::builder()
            .timestamp(Timestamp::from(self.timestamp))
            .txt(name(ID_NAME), txt(&id)?, ttl);
        for text in &ip_texts {
            builder = builder.txt(name(IP_NAME), txt(text)?, ttl);
        }
        for text in &self.relays[..relays] {
            builder = builder.txt(name(RELAY_NAME), txt(text)?, ttl);
        }
        builder.sign(keypair).map_err(|error| match error {
            SignedPacketBuildError::PacketTooLarge(_) => EncodeError::TooLarge,
            other @ SignedPacketBuildError::FailedToWrite(_) => EncodeError::Dns(other.to_string()),
        })
    }

    /// Reads a record out of a verified packet; anything unexpected is
    /// rejected (the caller treats the slot as free), unknown names are
    /// ignored for forward compatibility.
    pub fn decode(packet: &SignedPacket) -> Result<Self, MalformedRecord> {
        let ids = texts(packet, ID_NAME)?;
        let [id] = ids.as_slice() else {
            return Err(MalformedRecord::MissingId);
        };
        let bytes: [u8; 32] = bs58::decode(id)
            .into_vec()
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(MalformedRecord::InvalidId)?;
        let peer = PeerId::from_bytes(&bytes).map_err(|_| MalformedRecord::InvalidId)?;
        let ips = texts(packet, IP_NAME)?
            .iter()
            .map(|text| text.parse::<SocketAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| MalformedRecord::InvalidIp)?;
        let relays = texts(packet, RELAY_NAME)?;
        if relays.iter().any(|url| url.parse::<RelayUrl>().is_err()) {
            return Err(MalformedRecord::InvalidRelay);
        }
        Ok(Self {
            peer,
            timestamp: packet.timestamp().as_u64(),
            ips,
            relays,
        })
    }
}

/// Why a record could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Even the bare `_id` does not fit into a DHT value.
    #[error("record does not fit into a DHT value")]
    TooLarge,
    /// DNS encoding failed (e.g. a text longer than a TXT string allows).
    #[error("DNS encoding failed: {0}")]
    Dns(String),
}

/// A record name relative to the slot's origin.
fn name(text: &'static str) -> Name<'static> {
    Name::new_unchecked(text)
}

/// A TXT value; long texts are split into several character strings.
fn txt(text: &str) -> Result<TXT<'_>, EncodeError> {
    TXT::try_from(text).map_err(|error| EncodeError::Dns(error.to_string()))
}

/// All TXT values under `record_name`, in packet order.
fn texts(packet: &SignedPacket, record_name: &str) -> Result<Vec<String>, MalformedRecord> {
    packet
        .resource_records(record_name)
        .filter_map(|record| match &record.rdata {
            RData::TXT(text) => Some(String::try_from(text.clone())),
            _ => None,
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| MalformedRecord::NotUtf8)
}

#[cfg(test)]
mod tests {
    use {super::*, crate::discovery::dht::slots::slot_keypair, iroh::SecretKey};

    const TTL: Duration = Duration::from_mins(10);

    fn keypair() -> Keypair {
        slot_keypair(crate::NetworkId::from("record-test"))
    }

    fn sample() -> SlotRecord {
        let addr = EndpointAddr::new(SecretKey::generate().public())
            .with_ip_addr("192.0.2.7:4433".parse().unwrap())
            .with_ip_addr("[2001:db8::1]:4433".parse().unwrap())
            .with_relay_url("https://relay.example.org./".parse().unwrap());
        SlotRecord::from_endpoint_addr(&addr, 1_700_000_000_000_000)
    }

    /// A packet with arbitrary TXT records, signed by the slot key.
    fn raw(records: &[(&'static str, &str)]) -> SignedPacket {
        records
            .iter()
            .fold(SignedPacket::builder(), |builder, (key, value)| {
                builder.txt(name(key), txt(value).unwrap(), 600)
            })
            .sign(&keypair())
            .unwrap()
    }

    #[test]
    fn encode_decode_round_trip() {
        let record = sample();
        let packet = record.encode(&keypair(), TTL).unwrap();
        assert_eq!(packet.public_key(), keypair().public_key());
        assert_eq!(packet.timestamp().as_u64(), record.timestamp);
        assert!(packet.all_resource_records().all(|rr| rr.ttl == 600));
        let decoded = SlotRecord::decode(&packet).unwrap();
        assert_eq!(decoded, record);
        let addr = decoded.to_endpoint_addr();
        assert!(decoded.matches(&addr));
        assert_eq!(addr.ip_addrs().count(), 2);
        assert_eq!(addr.relay_urls().count(), 1);
    }

    #[test]
    fn stale_addresses_do_not_match() {
        let record = sample();
        let moved = record
            .to_endpoint_addr()
            .with_ip_addr("198.51.100.1:1".parse().unwrap());
        assert!(!record.matches(&moved));
        let other = EndpointAddr::from_parts(
            SecretKey::generate().public(),
            record.to_endpoint_addr().addrs,
        );
        assert!(!record.matches(&other));
    }

    #[test]
    fn oversized_records_are_truncated_to_fit() {
        let mut record = sample();
        record.ips = (0..200u16)
            .map(|port| SocketAddr::from(([203, 0, 113, 9], 1000 + port)))
            .collect();
        let packet = record.encode(&keypair(), TTL).unwrap();
        let decoded = SlotRecord::decode(&packet).unwrap();
        assert!(!decoded.ips.is_empty() && decoded.ips.len() < 200);
        assert_eq!(decoded.ips, record.ips[..decoded.ips.len()]);
        assert_eq!(decoded.peer, record.peer);
    }

    #[test]
    fn malformed_records_are_rejected() {
        let id = bs58::encode(SecretKey::generate().public().as_bytes()).into_string();
        let cases: [(&[(&'static str, &str)], MalformedRecord); 7] = [
            (&[], MalformedRecord::MissingId),
            (&[(IP_NAME, "192.0.2.1:1")], MalformedRecord::MissingId),
            (
                &[(ID_NAME, &id), (ID_NAME, &id)],
                MalformedRecord::MissingId,
            ),
            (&[(ID_NAME, "not-base58-0OIl")], MalformedRecord::InvalidId),
            (&[(ID_NAME, "3yZe7d")], MalformedRecord::InvalidId),
            (
                &[(ID_NAME, &id), (IP_NAME, "localhost")],
                MalformedRecord::InvalidIp,
            ),
            (
                &[(ID_NAME, &id), (RELAY_NAME, "not a url")],
                MalformedRecord::InvalidRelay,
            ),
        ];
        for (records, expected) in cases {
            assert_eq!(
                SlotRecord::decode(&raw(records)),
                Err(expected),
                "{records:?}"
            );
        }
    }

    #[test]
    fn unknown_names_and_other_record_types_are_ignored() {
        let id = bs58::encode(SecretKey::generate().public().as_bytes()).into_string();
        let packet = SignedPacket::builder()
            .txt(name(ID_NAME), txt(&id).unwrap(), 600)
            .txt(name("_future"), txt("whatever").unwrap(), 600)
            .a(name(IP_NAME), [192, 0, 2, 1].into(), 600)
            .sign(&keypair())
            .unwrap();
        let record = SlotRecord::decode(&packet).unwrap();
        assert!(record.ips.is_empty() && record.relays.is_empty());
    }
}
