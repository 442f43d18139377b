//! One bounded HTTP GET for the PCCS fetcher (feature `tdx-pccs`): HTTP/1
//! over hyper, TLS with rustls and the webpki roots for `https` URLs, a
//! deadline on the whole exchange and a cap on the body.
//!
//! A connection per request: collateral is fetched a handful of times a
//! day, so pooling would only keep sockets open for nothing.

use {
    bytes::Bytes,
    core::time::Duration,
    http_body_util::{BodyExt, Empty, Limited},
    hyper::{Request, Uri, header},
    hyper_util::rt::TokioIo,
    std::sync::{Arc, OnceLock},
    tokio::{
        io::{AsyncRead, AsyncWrite},
        net::TcpStream,
    },
};

/// A buffered response.
pub(super) struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// A header's value, URL-decoded (PCCS sends PEM chains URL-encoded).
    pub fn header_decoded(&self, name: &str) -> Option<String> {
        let raw = self.headers.get(name)?.to_str().ok()?;
        Some(percent_decode(raw))
    }
}

/// Whether `url` is an absolute `http` or `https` URL with a host.
pub(super) fn check_url(url: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(()),
        _ => Err(format!("{url}: not an http(s) URL")),
    }
}

/// GETs `url`, failing if the exchange takes longer than `timeout` or the
/// body exceeds `max_body` bytes.
pub(super) async fn get(url: &str, timeout: Duration, max_body: usize) -> Result<Response, String> {
    tokio::time::timeout(timeout, get_once(url, max_body))
        .await
        .map_err(|_| format!("GET {url}: no answer within {timeout:?}"))?
        .map_err(|e| format!("GET {url}: {e}"))
}

async fn get_once(url: &str, max_body: usize) -> Result<Response, String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let host = uri.host().ok_or("URL has no host")?.to_owned();
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("not an http(s) URL".into()),
    };
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    let authority = uri
        .authority()
        .map_or_else(|| host.clone(), ToString::to_string);
    if tls {
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|e| format!("TLS server name: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        exchange(stream, &authority, &path, max_body).await
    } else {
        exchange(tcp, &authority, &path, max_body).await
    }
}

async fn exchange(
    io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    authority: &str,
    path: &str,
    max_body: usize,
) -> Result<Response, String> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    // The connection future drives the socket; it ends with the exchange.
    let driver = tokio::spawn(conn);
    let result = async {
        let request = Request::get(path)
            .header(header::HOST, authority)
            .header(header::USER_AGENT, "mosaik-tdx-pccs")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        // Refuse early when the server announces too much.
        let announced = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if announced.is_some_and(|n| n > max_body as u64) {
            return Err(format!("response body exceeds {max_body} bytes"));
        }
        let body = Limited::new(body, max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    format!("response body exceeds {max_body} bytes")
                } else {
                    format!("body: {e}")
                }
            })?
            .to_bytes();
        Ok(Response {
            status,
            headers: parts.headers,
            body,
        })
    }
    .await;
    driver.abort();
    result
}

/// The TLS client configuration: webpki roots, ring, built once.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// Decodes `%XX` escapes (and nothing else: PCCS headers use no `+`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        if let Some(b) = escaped {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_of_pem_headers() {
        assert_eq!(
            percent_decode("-----BEGIN%20CERTIFICATE-----%0AMII%2B%2f"),
            "-----BEGIN CERTIFICATE-----\nMII+/"
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn only_http_urls_with_a_host() {
        assert!(check_url("http://127.0.0.1:8081").is_ok());
        assert!(check_url("https://api.trustedservices.intel.com").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("/relative").is_err());
    }
}
