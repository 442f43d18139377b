//! The exporter's HTTP endpoint: answers any `GET` with the text
//! exposition of one network's series.

use {
    super::registry::Registry,
    core::time::Duration,
    std::sync::Arc,
    tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
        sync::Semaphore,
    },
    tokio_util::sync::CancellationToken,
};

/// Time a scraper gets to send its request and read the answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest request head read; longer requests are answered from what fits.
const MAX_REQUEST: usize = 8 * 1024;

/// Scrapes served at once; further connections are closed right away.
const MAX_CONCURRENT: usize = 16;

/// Accepts scrapers until `cancel` fires. Each request runs in its own
/// task under [`REQUEST_TIMEOUT`], so a silent client stalls nothing.
pub(super) async fn run(
    listener: TcpListener,
    registry: Arc<Registry>,
    network: String,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT));
    let network: Arc<str> = network.into();
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // Transient accept errors (e.g. out of file descriptors): back
            // off briefly instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let (registry, network) = (registry.clone(), network.clone());
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &registry, &network)).await;
            drop(permit);
        });
    }
}

async fn answer(mut stream: TcpStream, registry: &Registry, network: &str) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0_u8; 1024];
    while head.len() < MAX_REQUEST && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let response = if head.starts_with(b"GET ") {
        let body = registry.render(network);
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 405 Method Not Allowed\r\nallow: GET\r\ncontent-length: 0\r\nconnection: \
         close\r\n\r\n"
            .to_owned()
    };
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
