//! The link between the sessions of one run: loopback TCP, or QUIC with
//! the TLS material Zenoh's QUIC link needs.

use {crate::z, anyhow::Context, zenoh::Session};

/// Which link the sessions of a run use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Loopback TCP, Zenoh's usual link.
    Tcp,
    /// Loopback QUIC (Zenoh's `quic/` link over quinn), the transport our
    /// streams run on, so the comparison pays for the same protocol.
    Quic,
}

impl Transport {
    pub(crate) fn parse(name: &str) -> anyhow::Result<Self> {
        match name {
            "tcp" => Ok(Self::Tcp),
            "quic" => Ok(Self::Quic),
            other => anyhow::bail!("unknown transport {other} (tcp or quic)"),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Quic => "quic",
        }
    }
}

/// The link of one run: a free loopback port, and for QUIC the TLS
/// material every session of the run shares (a throwaway authority and a
/// certificate it signed for `localhost` and `127.0.0.1`; Zenoh's QUIC
/// link always authenticates the listener).
pub(crate) struct Link {
    transport: Transport,
    port: u16,
    /// `(key, value)` config entries, as JSON5 strings.
    tls: Vec<(&'static str, String)>,
}

impl Link {
    pub(crate) fn new(transport: Transport) -> anyhow::Result<Self> {
        let (port, tls) = match transport {
            Transport::Tcp => (free_tcp_port()?, Vec::new()),
            Transport::Quic => (free_udp_port()?, quic_tls()?),
        };
        Ok(Self {
            transport,
            port,
            tls,
        })
    }

    /// A peer-mode session that listens on this link's port (`listen`) or
    /// connects to it, with every kind of scouting off.
    pub(crate) async fn session(&self, listen: bool) -> anyhow::Result<Session> {
        let endpoint = format!("[\"{}/127.0.0.1:{}\"]", self.transport.name(), self.port);
        let (listen, connect) = if listen {
            (endpoint, "[]".to_owned())
        } else {
            ("[]".to_owned(), endpoint)
        };
        let mut config = zenoh::Config::default();
        let entries = [
            ("mode", "\"peer\"".to_owned()),
            // Multicast scouting would probe the LAN; gossip would have the
            // subscribers dial each other, which 1 -> N does not need.
            ("scouting/multicast/enabled", "false".to_owned()),
            ("scouting/gossip/enabled", "false".to_owned()),
            ("listen/endpoints", listen),
            ("connect/endpoints", connect),
        ];
        for (key, value) in entries.into_iter().chain(self.tls.iter().cloned()) {
            z(config.insert_json5(key, &value)).with_context(|| format!("config {key}"))?;
        }
        z(zenoh::open(config).await)
    }
}

/// A loopback TCP port nothing listens on right now (the OS picks it; the
/// probe socket is closed before Zenoh binds it).
fn free_tcp_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A loopback UDP port nothing is bound to right now.
fn free_udp_port() -> anyhow::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// TLS settings for Zenoh's QUIC link: a fresh authority (trusted as the
/// root) and a listener certificate it signed, all passed inline as
/// base64 PEM.
fn quic_tls() -> anyhow::Result<Vec<(&'static str, String)>> {
    use {
        base64::Engine as _,
        rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose},
    };
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?
        .signed_by(&leaf_key, &issuer)?;
    let b64 = |pem: String| {
        format!(
            "\"{}\"",
            base64::engine::general_purpose::STANDARD.encode(pem)
        )
    };
    Ok(vec![
        (
            "transport/link/tls/root_ca_certificate_base64",
            b64(ca_cert.pem()),
        ),
        (
            "transport/link/tls/listen_certificate_base64",
            b64(leaf.pem()),
        ),
        (
            "transport/link/tls/listen_private_key_base64",
            b64(leaf_key.serialize_pem()),
        ),
    ])
}
