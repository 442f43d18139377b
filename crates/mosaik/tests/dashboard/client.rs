//! A minimal HTTP/1 client for the dashboard tests: one `GET` per
//! connection, and an event-stream reader. Raw TCP on loopback, so the
//! tests need no HTTP client crate.

use {
    core::time::Duration,
    serde_json::Value,
    std::net::SocketAddr,
    tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    },
};

/// Longest wait for any one answer or event.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A `GET` with extra header lines; the status code and the body.
pub async fn get(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut response = String::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_string(&mut response))
        .await
        .expect("answers in time")
        .expect("reads");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The current snapshot as JSON.
pub async fn snapshot(addr: SocketAddr) -> Value {
    let (status, body) = get(addr, "/api/snapshot", "").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("snapshot is JSON")
}

/// Polls the snapshot until `ok` holds on it (under [`TIMEOUT`]); the
/// last snapshot is in the panic message otherwise.
pub async fn snapshot_until(addr: SocketAddr, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let wait = async {
        loop {
            last = snapshot(addr).await;
            if ok(&last) {
                return last.clone();
            }
            // The sampler publishes at most every interval; asking more
            // often than that would only re-read the same snapshot.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    match tokio::time::timeout(TIMEOUT, wait).await {
        Ok(found) => found,
        Err(elapsed) => panic!("{what} never showed ({elapsed}); last snapshot: {last:#}"),
    }
}

/// One open `GET /api/events`.
pub struct Events {
    stream: TcpStream,
    buffer: String,
    /// The response's status code.
    pub status: u16,
}

impl Events {
    /// Opens the stream and reads the response head.
    pub async fn open(addr: SocketAddr, path: &str) -> Self {
        let mut stream = TcpStream::connect(addr).await.expect("connects");
        let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("sends");
        let mut events = Self {
            stream,
            buffer: String::new(),
            status: 0,
        };
        let head = events.read_until("\r\n\r\n").await;
        events.status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        events
    }

    /// The next snapshot event's data, parsed.
    pub async fn next(&mut self) -> Value {
        loop {
            let line = self.read_until("\n").await;
            if let Some(data) = line.strip_prefix("data: ") {
                return serde_json::from_str(data.trim_end()).expect("event data is JSON");
            }
        }
    }

    /// Reads events until `ok` holds on one (under [`TIMEOUT`]).
    pub async fn next_until(&mut self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let wait = async {
            loop {
                let event = self.next().await;
                if ok(&event) {
                    return event;
                }
            }
        };
        tokio::time::timeout(TIMEOUT, wait)
            .await
            .unwrap_or_else(|_| panic!("no event showed {what}"))
    }

    /// Everything up to and including the next `end`, taken from the buffer.
    async fn read_until(&mut self, end: &str) -> String {
        let mut chunk = [0_u8; 8192];
        loop {
            if let Some(at) = self.buffer.find(end) {
                let rest = self.buffer.split_off(at + end.len());
                return core::mem::replace(&mut self.buffer, rest);
            }
            let n = tokio::time::timeout(TIMEOUT, self.stream.read(&mut chunk))
                .await
                .expect("data in time")
                .expect("reads");
            assert!(n > 0, "the server closed the event stream");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    }
}
