//! [`TdxTicket`]: a TDX quote plus the claims its report data commits to.

use {
    super::{Measurements, TICKET_CLASS, TdxTicketError},
    crate::{
        NetworkId, PeerId,
        primitives::UniqueId,
        tickets::{Expiration, Ticket},
        unique_id,
    },
    chrono::{DateTime, Utc},
    core::time::Duration,
    dcap_qvl::quote::Quote,
    serde::{Deserialize, Serialize},
    std::io::Read,
};

/// Decompressed tickets larger than this are refused before decoding.
pub const MAX_DECOMPRESSED_LEN: usize = 64 * 1024;

/// zstd level used for ticket data.
const ZSTD_LEVEL: i32 = 3;

/// The claims a ticket's quote commits to through its report data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Extra {
    peer_id: PeerId,
    network_id: NetworkId,
    started_at: DateTime<Utc>,
    quoted_at: DateTime<Utc>,
    expiration: Expiration,
}

/// The wire form: postcard of this, compressed with zstd.
#[derive(Serialize, Deserialize)]
struct Wire {
    quote_bytes: Vec<u8>,
    extra: Extra,
}

/// A TDX attestation ticket: a raw quote and the peer id, network id and
/// times whose digest is the quote's report data.
///
/// `report_data[0..32]` = `id!("mosaik.tdx.ticket.extra")` derived in turn
/// with the peer id, the network id, `started_at`, `quoted_at` and the
/// expiration (Unix seconds, little-endian `i64`; 8 zero bytes for
/// [`Expiration::Never`]); `report_data[32..64]` = 0. Decoding a ticket
/// ([`TryFrom<&[u8]>`](#impl-TryFrom%3C%26%5Bu8%5D%3E-for-TdxTicket)) checks
/// this binding; [`TdxTicket::new`] does not, so a ticket built from a
/// quote that does not bind its claims is refused by every receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxTicket {
    quote_bytes: Vec<u8>,
    extra: Extra,
    measurements: Measurements,
    report_data: [u8; 64],
}

impl TdxTicket {
    /// A ticket from a raw TDX quote and the claims it should bind. The
    /// quote must parse as a TDX quote; the binding is *not* checked here
    /// (see [`TdxTicket::check_binding`]).
    pub fn new(
        quote_bytes: Vec<u8>,
        peer_id: PeerId,
        network_id: NetworkId,
        started_at: DateTime<Utc>,
        quoted_at: DateTime<Utc>,
        expiration: Expiration,
    ) -> Result<Self, TdxTicketError> {
        let extra = Extra {
            peer_id,
            network_id,
            started_at,
            quoted_at,
            expiration,
        };
        Self::from_wire(Wire { quote_bytes, extra })
    }

    fn from_wire(wire: Wire) -> Result<Self, TdxTicketError> {
        let parsed = Quote::parse(&wire.quote_bytes)
            .map_err(|e| TdxTicketError::InvalidFormat(format!("quote: {e:#}")))?;
        let measurements = Measurements::from_parsed(&parsed)?;
        let report_data = parsed
            .report
            .as_td10()
            .map(|td| td.report_data)
            .ok_or_else(|| TdxTicketError::InvalidFormat("not a TDX quote".into()))?;
        Ok(Self {
            quote_bytes: wire.quote_bytes,
            extra: wire.extra,
            measurements,
            report_data,
        })
    }

    /// The report data a quote must carry to bind these claims.
    pub fn report_data_for(
        peer_id: &PeerId,
        network_id: &NetworkId,
        started_at: DateTime<Utc>,
        quoted_at: DateTime<Utc>,
        expiration: Expiration,
    ) -> [u8; 64] {
        let exp = match expiration {
            Expiration::At(at) => at.timestamp().to_le_bytes(),
            Expiration::Never => [0u8; 8],
        };
        let digest: UniqueId = unique_id!("mosaik.tdx.ticket.extra")
            .derive(peer_id.as_bytes())
            .derive(network_id.as_bytes())
            .derive(started_at.timestamp().to_le_bytes())
            .derive(quoted_at.timestamp().to_le_bytes())
            .derive(exp);
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(digest.as_bytes());
        out
    }

    /// Ok if the quote's report data commits to this ticket's claims.
    pub fn check_binding(&self) -> Result<(), TdxTicketError> {
        let e = &self.extra;
        let want = Self::report_data_for(
            &e.peer_id,
            &e.network_id,
            e.started_at,
            e.quoted_at,
            e.expiration,
        );
        if want == self.report_data {
            Ok(())
        } else {
            Err(TdxTicketError::InvalidReportData)
        }
    }

    /// Encodes the ticket: zstd (level 3) of its postcard form.
    pub fn to_bytes(&self) -> Result<Vec<u8>, TdxTicketError> {
        let wire = Wire {
            quote_bytes: self.quote_bytes.clone(),
            extra: self.extra.clone(),
        };
        let plain = postcard::to_stdvec(&wire)
            .map_err(|e| TdxTicketError::InvalidFormat(format!("encode: {e}")))?;
        zstd::bulk::compress(&plain, ZSTD_LEVEL)
            .map_err(|e| TdxTicketError::InvalidFormat(format!("compress: {e}")))
    }

    /// The parsed quote (parsing only: verification is the validator's).
    pub fn quote(&self) -> Quote {
        Quote::parse(&self.quote_bytes).expect("parsed when the ticket was built")
    }

    /// The raw quote.
    pub fn quote_bytes(&self) -> &[u8] {
        &self.quote_bytes
    }

    /// The quote's report data.
    pub const fn report_data(&self) -> &[u8; 64] {
        &self.report_data
    }

    /// The TD measurements the quote reports.
    pub const fn measurements(&self) -> &Measurements {
        &self.measurements
    }

    /// The peer the ticket was issued to.
    pub const fn peer_id(&self) -> &PeerId {
        &self.extra.peer_id
    }

    /// The network the ticket was issued for.
    pub const fn network_id(&self) -> &NetworkId {
        &self.extra.network_id
    }

    /// When the issuing process started.
    pub const fn started_at(&self) -> DateTime<Utc> {
        self.extra.started_at
    }

    /// When the quote was produced.
    pub const fn quoted_at(&self) -> DateTime<Utc> {
        self.extra.quoted_at
    }

    /// How long the issuing process had been running when it quoted.
    pub fn uptime(&self) -> Duration {
        (self.extra.quoted_at - self.extra.started_at)
            .to_std()
            .unwrap_or_default()
    }

    /// When the ticket expires.
    pub const fn expiration(&self) -> Expiration {
        self.extra.expiration
    }
}

/// Decompresses at most [`MAX_DECOMPRESSED_LEN`] bytes.
fn decompress(data: &[u8]) -> Result<Vec<u8>, TdxTicketError> {
    let decoder = zstd::stream::read::Decoder::new(data)
        .map_err(|e| TdxTicketError::InvalidFormat(format!("decompress: {e}")))?;
    let mut out = Vec::new();
    decoder
        .take(MAX_DECOMPRESSED_LEN as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| TdxTicketError::InvalidFormat(format!("decompress: {e}")))?;
    if out.len() > MAX_DECOMPRESSED_LEN {
        return Err(TdxTicketError::InvalidFormat(format!(
            "decompressed ticket exceeds {MAX_DECOMPRESSED_LEN} bytes"
        )));
    }
    Ok(out)
}

impl TryFrom<&[u8]> for TdxTicket {
    type Error = TdxTicketError;

    /// Decompresses (capped), decodes, parses the quote and checks that its
    /// report data binds the claims.
    fn try_from(data: &[u8]) -> Result<Self, Self::Error> {
        let plain = decompress(data)?;
        let wire: Wire = crate::primitives::encoding::deserialize(&plain)
            .map_err(|e| TdxTicketError::InvalidFormat(format!("decode: {e}")))?;
        let ticket = Self::from_wire(wire)?;
        ticket.check_binding()?;
        Ok(ticket)
    }
}

impl TryFrom<Ticket> for TdxTicket {
    type Error = TdxTicketError;

    fn try_from(ticket: Ticket) -> Result<Self, Self::Error> {
        Self::try_from(&ticket)
    }
}

impl TryFrom<&Ticket> for TdxTicket {
    type Error = TdxTicketError;

    fn try_from(ticket: &Ticket) -> Result<Self, Self::Error> {
        if ticket.class() != TICKET_CLASS {
            return Err(TdxTicketError::InvalidTicketType);
        }
        Self::try_from(ticket.data().as_ref())
    }
}

impl TryFrom<TdxTicket> for Ticket {
    type Error = TdxTicketError;

    fn try_from(ticket: TdxTicket) -> Result<Self, Self::Error> {
        Ok(Ticket::new(TICKET_CLASS, ticket.to_bytes()?.into()))
    }
}
