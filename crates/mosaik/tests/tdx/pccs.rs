//! The collateral fetcher (feature `tdx-pccs`) against a loopback PCCS
//! that serves the sample collateral in PCCS API v4 form: the fetched
//! collateral verifies the real sample quote; validations and repeated
//! look-ups do not fetch again; stale collateral is refetched, on request
//! or by the background task; a server
//! error, an oversized body or a silent server is a clear error and the
//! old collateral stays.

use {
    crate::util::{COLLATERAL, QUOTE, collateral_time},
    chrono::Duration as TimeDelta,
    core::time::Duration,
    mosaik::tdx::{Collateral, Pccs, TcbStatus, Tdx, TdxTicketError},
    std::sync::{
        Arc, Mutex,
        atomic::{AtomicU8, AtomicUsize, Ordering},
    },
    tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
    },
};

/// How the loopback PCCS answers.
const SERVE: u8 = 0;
const FAIL: u8 = 1;
const OVERSIZED: u8 = 2;
const SILENT: u8 = 3;

/// A loopback PCCS serving the sample collateral.
struct FakePccs {
    url: String,
    mode: Arc<AtomicU8>,
    requests: Arc<AtomicUsize>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl FakePccs {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (mode, requests, paths) = (Arc::default(), Arc::default(), Arc::default());
        let shared = (Arc::clone(&mode), Arc::clone(&requests), Arc::clone(&paths));
        tokio::spawn(async move {
            // Bounded by the test: the task ends with the runtime.
            while let Ok((socket, _)) = listener.accept().await {
                let (mode, requests, paths) = shared.clone();
                tokio::spawn(serve(socket, mode, requests, paths));
            }
        });
        Self {
            url,
            mode,
            requests,
            paths,
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut socket: TcpStream,
    mode: Arc<AtomicU8>,
    requests: Arc<AtomicUsize>,
    paths: Arc<Mutex<Vec<String>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    requests.fetch_add(1, Ordering::SeqCst);
    paths.lock().unwrap().push(path.clone());
    let reply = match mode.load(Ordering::SeqCst) {
        FAIL => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_vec(),
        // No Content-Length: the body runs to the end of the connection,
        // so only the client's running count can stop it.
        OVERSIZED => {
            let mut r = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
            r.extend(std::iter::repeat_n(b'0', 256 * 1024));
            r
        }
        SILENT => {
            tokio::time::sleep(Duration::from_mins(1)).await;
            return;
        }
        _ => answer(&path),
    };
    let _ = socket.write_all(&reply).await;
    let _ = socket.shutdown().await;
}

/// A PCCS v4 answer for `path` from the sample collateral.
fn answer(path: &str) -> Vec<u8> {
    let c: serde_json::Value = serde_json::from_slice(COLLATERAL).unwrap();
    let field = |name: &str| c[name].as_str().unwrap().to_owned();
    let (header, chain, body) = if path.starts_with("/sgx/certification/v4/pckcrl?ca=") {
        let der = hex::decode(field("pck_crl")).unwrap();
        (
            "SGX-PCK-CRL-Issuer-Chain",
            field("pck_crl_issuer_chain"),
            der,
        )
    } else if path.starts_with("/tdx/certification/v4/tcb?fmspc=") {
        let body = format!(
            r#"{{"tcbInfo":{},"signature":"{}"}}"#,
            field("tcb_info"),
            field("tcb_info_signature")
        );
        let chain = field("tcb_info_issuer_chain");
        ("TCB-Info-Issuer-Chain", chain, body.into_bytes())
    } else if path == "/tdx/certification/v4/qe/identity" {
        let body = format!(
            r#"{{"enclaveIdentity":{},"signature":"{}"}}"#,
            field("qe_identity"),
            field("qe_identity_signature")
        );
        let chain = field("qe_identity_issuer_chain");
        (
            "SGX-Enclave-Identity-Issuer-Chain",
            chain,
            body.into_bytes(),
        )
    } else if path == "/sgx/certification/v4/rootcacrl" {
        // PCCS serves the root CA CRL hex-encoded.
        ("X-None", String::new(), field("root_ca_crl").into_bytes())
    } else {
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec();
    };
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{header}: {}\r\n\r\n",
        body.len(),
        url_encode(&chain)
    )
    .into_bytes();
    reply.extend_from_slice(&body);
    reply
}

/// Percent-encodes everything but unreserved characters, as PCCS does.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A fetcher for `pccs` judging staleness at the sample's time, and a
/// validator reading it at the same time.
fn fetcher(pccs: &FakePccs) -> (Pccs, Tdx, chrono::DateTime<chrono::Utc>) {
    let at = collateral_time(&Collateral::from_json(COLLATERAL).unwrap());
    let fetcher = Pccs::new(&pccs.url).unwrap().at_time(at);
    let tdx = Tdx::new().with_collateral_source(&fetcher).at_time(at);
    (fetcher, tdx, at)
}

#[tokio::test]
async fn fetched_collateral_verifies_the_sample_quote_without_refetching() {
    let server = FakePccs::start().await;
    let (pccs, tdx, _) = fetcher(&server);

    // Nothing cached: the validator refuses, and fetches nothing.
    assert!(tdx.verify_quote(QUOTE).is_err());
    assert_eq!(server.requests(), 0);

    let fetched = pccs.collateral_for_quote(QUOTE).await.unwrap();
    assert_eq!(
        server.requests(),
        4,
        "PCK CRL, TCB info, QE identity, root CRL"
    );
    let paths = server.paths.lock().unwrap().clone();
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("/tdx/certification/v4/tcb?fmspc=") && p.len() == 44),
        "{paths:?}"
    );
    // The same Intel-signed content as the sample file.
    assert_eq!(
        fetched.tcb_info_window(),
        Collateral::from_json(COLLATERAL).unwrap().tcb_info_window()
    );
    let saved = Collateral::from_json(fetched.to_json()).unwrap();
    assert_eq!(saved.version(), fetched.version());

    let verified = tdx
        .verify_quote(QUOTE)
        .expect("fetched collateral verifies");
    assert_eq!(verified.tcb_status, TcbStatus::UpToDate);
    // Validations and look-ups within the window do not fetch again.
    for _ in 0..3 {
        tdx.clone().verify_quote(QUOTE).unwrap();
        pccs.collateral_for_quote(QUOTE).await.unwrap();
    }
    assert_eq!(pccs.refresh_due().await.0, 0, "nothing is due yet");
    assert_eq!(server.requests(), 4);
    assert_eq!(pccs.current().len(), 1);
}

#[tokio::test]
async fn due_collateral_is_refetched_at_the_refresh_interval() {
    let server = FakePccs::start().await;
    let (pccs, _, at) = fetcher(&server);
    let pccs = pccs.with_refresh_interval(Duration::from_hours(1));
    pccs.collateral_for_quote(QUOTE).await.unwrap();
    assert_eq!(server.requests(), 4);
    // Within the hour nothing is due; past it, one platform is refetched.
    let soon = pccs.clone().at_time(at + TimeDelta::minutes(59));
    assert_eq!(soon.refresh_due().await.0, 0);
    let later = pccs.clone().at_time(at + TimeDelta::minutes(61));
    let (refreshed, errors) = later.refresh_due().await;
    assert_eq!((refreshed, errors), (1, vec![]));
    assert_eq!(server.requests(), 8);
    // The clone shares the cache: the original sees it refreshed.
    assert_eq!(pccs.current().len(), 1);
}

#[tokio::test]
async fn the_refresh_task_refetches_in_the_background() {
    let server = FakePccs::start().await;
    let (pccs, tdx, _) = fetcher(&server);
    // Due as soon as fetched: every tick of the task refetches.
    let pccs = pccs.with_refresh_interval(Duration::ZERO);
    pccs.collateral_for_quote(QUOTE).await.unwrap();
    assert_eq!(server.requests(), 4);
    let task = pccs.spawn_refresh(Duration::from_millis(20));
    tokio::time::timeout(Duration::from_secs(20), async {
        while server.requests() < 8 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the task refetched");
    task.abort();
    assert!(tdx.verify_quote(QUOTE).is_ok());
}

#[tokio::test]
async fn a_failed_refresh_is_a_clear_error_and_keeps_the_old_collateral() {
    let server = FakePccs::start().await;
    let (pccs, tdx, at) = fetcher(&server);
    let pccs = pccs
        .with_max_response_bytes(64 * 1024)
        .with_timeout(Duration::from_millis(500));
    let old = pccs.collateral_for_quote(QUOTE).await.unwrap();
    let due = pccs.clone().at_time(at + TimeDelta::days(2));

    let expect_error = |r: Result<Collateral, TdxTicketError>, what: &str| match r {
        Err(TdxTicketError::InvalidFormat(reason)) => {
            assert!(reason.contains(what), "{reason}");
        }
        other => panic!("expected an error naming {what:?}, got {other:?}"),
    };
    server.set(FAIL);
    expect_error(due.collateral_for_quote(QUOTE).await, "HTTP 500");
    server.set(OVERSIZED);
    expect_error(due.collateral_for_quote(QUOTE).await, "exceeds 65536 bytes");
    server.set(SILENT);
    expect_error(due.collateral_for_quote(QUOTE).await, "no answer within");
    let (refreshed, errors) = due.refresh_due().await;
    assert_eq!((refreshed, errors.len()), (0, 1));

    // The old collateral is still there and still verifies.
    let current = pccs.current();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].version(), old.version());
    assert!(tdx.verify_quote(QUOTE).is_ok());

    // The server recovers: the next refresh replaces nothing it should not.
    server.set(SERVE);
    assert_eq!(due.refresh_due().await.0, 1);
    assert_eq!(pccs.current().len(), 1);
}

#[test]
fn only_http_urls_are_accepted() {
    assert!(Pccs::new("http://127.0.0.1:8081/sgx/certification/v4/").is_ok());
    assert_eq!(
        Pccs::new("https://pccs.example/tdx/certification/v4")
            .unwrap()
            .base_url(),
        "https://pccs.example"
    );
    assert!(Pccs::new("file:///etc/collateral.json").is_err());
    assert!(Pccs::new("not a url").is_err());
}
