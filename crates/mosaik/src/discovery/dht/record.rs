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
            other => EncodeError::Dns(other.to_string()),
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
