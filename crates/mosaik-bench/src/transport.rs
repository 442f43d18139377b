//! Start-up time and B7 (transport ceiling): our `Link` against a raw iroh
//! stream between two endpoints on loopback, and optionally against TCP
//! (`iperf3.rs`).

use {
    anyhow::Context,
    mosaik::{
        Network,
        iroh::{Endpoint, RelayMode, endpoint::presets},
        network::Protocol,
    },
    std::time::{Duration, Instant},
};

struct Bulk;

impl Protocol for Bulk {
    const ALPN: &'static [u8] = b"/mosaik/bench/bulk/1";
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Starts `runs` networks with default settings one after another.
pub async fn startup(runs: usize) -> anyhow::Result<()> {
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        let started = Instant::now();
        let network = Network::new(format!("bench-startup-{i}").as_str()).await?;
        samples.push(started.elapsed());
        drop(network);
    }
    let p50 = median(samples.clone());
    let max = samples.iter().max().copied().unwrap_or_default();
    println!("startup: Network::new median {p50:?}, max {max:?} over {runs} runs");
    println!(
        "{{\"scenario\":\"startup\",\"runs\":{runs},\"median_us\":{},\"max_us\":{}}}",
        p50.as_micros(),
        max.as_micros()
    );
    Ok(())
}

async fn loopback_network(name: &str) -> anyhow::Result<Network> {
    Ok(crate::loopback_node(name).build().await?)
}

/// Moves `megabytes` in `size`-byte frames over a Link, then over a raw
/// iroh stream, and reports both; with `iperf3`, the same bytes over
/// loopback TCP too.
pub async fn throughput(size: usize, megabytes: usize, iperf3: bool) -> anyhow::Result<()> {
    let frames = megabytes * 1024 * 1024 / size;
    let link = link_throughput(size, frames).await?;
    let raw = raw_throughput(size, frames).await?;
    let mib = |d: Duration| (frames * size) as f64 / (1024.0 * 1024.0) / d.as_secs_f64();
    let (ours, ceiling) = (mib(link), mib(raw));
    println!(
        "transport: {size} B frames x {frames}: link {ours:.1} MiB/s, raw iroh {ceiling:.1} MiB/s, ratio {:.2}",
        ours / ceiling
    );
    println!(
        "{{\"scenario\":\"B7\",\"frame_bytes\":{size},\"frames\":{frames},\"link_mib_s\":{ours:.1},\"raw_iroh_mib_s\":{ceiling:.1},\"ratio\":{:.3}}}",
        ours / ceiling
    );
    if iperf3 {
        let tcp = crate::iperf3::throughput(frames * size).await?;
        let vs = ours / tcp;
        println!(
            "transport: {} MiB over loopback TCP: iperf3 {tcp:.1} MiB/s, link/iperf3 {vs:.2}",
            frames * size / (1024 * 1024)
        );
        println!(
            "{{\"scenario\":\"B7\",\"system\":\"iperf3\",\"frame_bytes\":{size},\"bytes\":{},\"iperf3_mib_s\":{tcp:.1},\"link_over_iperf3\":{vs:.3}}}",
            frames * size
        );
    }
    Ok(())
}

async fn link_throughput(size: usize, frames: usize) -> anyhow::Result<Duration> {
    let a = loopback_network("bench-transport").await?;
    let b = loopback_network("bench-transport").await?;
    let mut listener = b.listen::<Bulk>()?;
    let receiver = tokio::spawn(async move {
        let mut link = listener.accept().await.context("listener closed")??;
        // As an application does once it knows the peer: an unadmitted
        // link reads at the node's rate for unauthenticated bytes
        // (`Limits::max_unauthenticated_rate`), which is what B7 measured
        // before this line (17 MiB/s).
        link.admit();
        let started = Instant::now();
        for _ in 0..frames {
            link.recv_frame_raw().await?;
        }
        anyhow::Ok((started.elapsed(), link))
    });
    let mut link = a.local().connect::<Bulk>(b.local().addr()).await?;
    let payload = mosaik::Bytes::from(vec![7u8; size]);
    for _ in 0..frames {
        link.send_raw(payload.clone()).await?;
    }
    let (elapsed, remote) = receiver.await??;
    drop(remote);
    drop(link);
    Ok(elapsed)
}

async fn raw_endpoint() -> anyhow::Result<Endpoint> {
    Ok(Endpoint::builder(presets::Minimal)
        .relay_mode(RelayMode::Disabled)
        .alpns(vec![Bulk::ALPN.to_vec()])
        .bind_addr("127.0.0.1:0")?
        .bind()
        .await?)
}

async fn raw_throughput(size: usize, frames: usize) -> anyhow::Result<Duration> {
    let a = raw_endpoint().await?;
    let b = raw_endpoint().await?;
    let total = size * frames;
    let b_clone = b.clone();
    let receiver = tokio::spawn(async move {
        let incoming = b_clone.accept().await.context("no connection")?;
        let conn = incoming.await?;
        let (_send, mut recv) = conn.accept_bi().await?;
        let started = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < total {
            match recv.read(&mut buf).await? {
                Some(n) => got += n,
                None => break,
            }
        }
        anyhow::Ok((started.elapsed(), conn))
    });
    let conn = a.connect(b.addr(), Bulk::ALPN).await?;
    let (mut send, _recv) = conn.open_bi().await?;
    let payload = vec![7u8; size];
    for _ in 0..frames {
        send.write_all(&payload).await?;
    }
    let (elapsed, _conn) = receiver.await??;
    a.close().await;
    b.close().await;
    Ok(elapsed)
}
