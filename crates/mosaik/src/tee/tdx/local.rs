//! Quote generation through Linux configfs-tsm, and [`NetworkTdxExt`].

use {
    super::{Measurement, Measurements, TdxTicket, TdxTicketError},
    crate::{
        Network,
        tickets::{Expiration, Ticket},
    },
    chrono::Utc,
    std::{fs, path::Path},
};

/// Where the kernel exposes TSM attestation reports (configfs).
const TSM_REPORT_DIR: &str = "/sys/kernel/config/tsm/report";

/// Whether this host can produce TDX quotes: the configfs-tsm report
/// directory exists. Never panics.
pub fn quote_source_available() -> bool {
    Path::new(TSM_REPORT_DIR).is_dir()
}

/// Produces a TDX quote over `report_data` through configfs-tsm: creates a
/// report entry, writes `inblob`, reads `outblob`, removes the entry.
pub(super) fn generate_quote(report_data: [u8; 64]) -> Result<Vec<u8>, TdxTicketError> {
    let unavailable = |what: &str, e: std::io::Error| {
        TdxTicketError::InvalidFormat(format!("no TDX quote source ({what}: {e})"))
    };
    if !quote_source_available() {
        return Err(TdxTicketError::InvalidFormat(format!(
            "no TDX quote source: {TSM_REPORT_DIR} does not exist (not in a TD)"
        )));
    }
    let entry = Path::new(TSM_REPORT_DIR).join(format!(
        "mosaik-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    fs::create_dir(&entry).map_err(|e| unavailable("create report", e))?;
    let result = (|| {
        let provider = fs::read_to_string(entry.join("provider"))
            .map_err(|e| unavailable("read provider", e))?;
        if provider.trim() != "tdx_guest" {
            return Err(TdxTicketError::InvalidFormat(format!(
                "TSM provider is {:?}, not tdx_guest",
                provider.trim()
            )));
        }
        fs::write(entry.join("inblob"), report_data).map_err(|e| unavailable("write inblob", e))?;
        fs::read(entry.join("outblob")).map_err(|e| unavailable("read outblob", e))
    })();
    let _ = fs::remove_dir(&entry);
    result
}

/// TDX operations of a [`Network`]: `network.tdx()`.
pub trait NetworkTdxExt {
    /// The TDX view of this network.
    fn tdx(&self) -> NetworkTdx<'_>;
}

impl NetworkTdxExt for Network {
    fn tdx(&self) -> NetworkTdx<'_> {
        NetworkTdx(self)
    }
}

/// TDX tickets and measurements of the local node. Every call that needs
/// a quote produces a fresh one; outside a TD they return
/// [`TdxTicketError::InvalidFormat`] naming the missing quote source.
#[derive(Clone, Copy)]
pub struct NetworkTdx<'a>(&'a Network);

impl NetworkTdx<'_> {
    /// Whether this host can produce TDX quotes.
    pub fn available(&self) -> bool {
        quote_source_available()
    }

    /// A ticket for this node that never expires.
    pub fn ticket(&self) -> Result<TdxTicket, TdxTicketError> {
        self.ticket_with_expiration(Expiration::Never)
    }

    /// A ticket for this node expiring at `expiration` (an error if that
    /// already passed).
    pub fn ticket_with_expiration(
        &self,
        expiration: Expiration,
    ) -> Result<TdxTicket, TdxTicketError> {
        self.ticket_from(expiration, generate_quote)
    }

    /// A ticket for this node whose quote `source` produces over the
    /// report data binding this node's claims.
    fn ticket_from(
        self,
        expiration: Expiration,
        source: impl FnOnce([u8; 64]) -> Result<Vec<u8>, TdxTicketError>,
    ) -> Result<TdxTicket, TdxTicketError> {
        if expiration.is_expired() {
            return Err(TdxTicketError::TicketExpired);
        }
        let me = self.0.discovery().me();
        let (peer, network) = (*me.id(), me.network_id());
        let started_at = me.started_at();
        let quoted_at = Utc::now();
        let report_data =
            TdxTicket::report_data_for(&peer, &network, started_at, quoted_at, expiration);
        let quote = source(report_data)?;
        TdxTicket::new(quote, peer, network, started_at, quoted_at, expiration)
    }

    /// A ticket for this node whose quote comes from `double` instead of
    /// configfs-tsm: bound to this node exactly like a real one, accepted
    /// only by validators holding a double. Feature `tdx-test-double`
    /// (tests only).
    #[cfg(feature = "tdx-test-double")]
    pub fn test_double_ticket(
        &self,
        double: &super::TdxTestDouble,
        expiration: Expiration,
    ) -> Result<TdxTicket, TdxTicketError> {
        self.ticket_from(expiration, |report_data| Ok(double.quote(report_data)))
    }

    /// [`test_double_ticket`](Self::test_double_ticket), published in the
    /// local entry in place of earlier TDX tickets, as
    /// [`install_own_ticket`](Self::install_own_ticket) does. Feature
    /// `tdx-test-double` (tests only).
    #[cfg(feature = "tdx-test-double")]
    pub fn install_test_double_ticket(
        &self,
        double: &super::TdxTestDouble,
        expiration: Expiration,
    ) -> Result<TdxTicket, TdxTicketError> {
        let ticket = self.test_double_ticket(double, expiration)?;
        self.install(&ticket)?;
        Ok(ticket)
    }

    fn install(self, ticket: &TdxTicket) -> Result<(), TdxTicketError> {
        self.0
            .discovery()
            .replace_ticket(Ticket::try_from(ticket.clone())?);
        Ok(())
    }

    /// Produces a never-expiring ticket and publishes it in the local
    /// entry, replacing earlier TDX tickets.
    pub fn install_own_ticket(&self) -> Result<TdxTicket, TdxTicketError> {
        let ticket = self.ticket()?;
        self.install(&ticket)?;
        Ok(ticket)
    }

    /// This TD's measurements.
    pub fn measurements(&self) -> Result<Measurements, TdxTicketError> {
        Measurements::local()
    }

    /// This TD's MRTD.
    pub fn mrtd(&self) -> Result<Measurement, TdxTicketError> {
        Ok(self.measurements()?.mrtd())
    }

    /// This TD's RTMR0.
    pub fn rtmr0(&self) -> Result<Measurement, TdxTicketError> {
        Ok(self.measurements()?.rtmr0())
    }

    /// This TD's RTMR1.
    pub fn rtmr1(&self) -> Result<Measurement, TdxTicketError> {
        Ok(self.measurements()?.rtmr1())
    }

    /// This TD's RTMR2.
    pub fn rtmr2(&self) -> Result<Measurement, TdxTicketError> {
        Ok(self.measurements()?.rtmr2())
    }

    /// This TD's RTMR3.
    pub fn rtmr3(&self) -> Result<Measurement, TdxTicketError> {
        Ok(self.measurements()?.rtmr3())
    }
}
