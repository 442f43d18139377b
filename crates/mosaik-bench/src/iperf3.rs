//! B7's TCP reference: `iperf3` (Debian package `iperf3`) moving the same
//! number of bytes over one loopback TCP connection, with its default
//! write size, the kernel's ceiling next to QUIC's. A server on a free
//! port is started per run and killed by PID; the client reports JSON.

use {
    anyhow::Context,
    serde_json::Value,
    std::{
        process::{Child, Command, Stdio},
        time::{Duration, Instant},
    },
};

/// How long the server may take to listen before the run gives up.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one client run may take (gigabytes on loopback take about a
/// second).
const RUN_LIMIT: Duration = Duration::from_mins(2);

/// An `iperf3 -s` process, killed and reaped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the client says happened: MiB/s at the receiver.
fn received_mib_s(report: &Value) -> anyhow::Result<f64> {
    let sum = &report["end"]["sum_received"];
    let bits = sum["bits_per_second"]
        .as_f64()
        .with_context(|| format!("iperf3 report without end.sum_received: {report}"))?;
    Ok(bits / 8.0 / (1024.0 * 1024.0))
}

/// Moves `bytes` over loopback TCP with `iperf3`; the receiver's MiB/s.
pub async fn throughput(bytes: usize) -> anyhow::Result<f64> {
    let port = crate::etcd::free_port()?.to_string();
    let _server = Server(
        Command::new("iperf3")
            .args(["-s", "-B", "127.0.0.1", "-p", &port])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting iperf3 (Debian package iperf3)")?,
    );
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    // The client is the readiness probe: until the server listens it fails
    // to connect and exits at once. (A bare TCP probe would start a test.)
    loop {
        let out = tokio::time::timeout(
            RUN_LIMIT,
            tokio::process::Command::new("iperf3")
                .args([
                    "-c",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-n",
                    &bytes.to_string(),
                    "-J",
                ])
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .context("iperf3 client still running past its limit; killed")??;
        let report: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("iperf3 printed no JSON (status {})", out.status))?;
        if out.status.success() {
            return received_mib_s(&report);
        }
        let error = report["error"].as_str().unwrap_or("").to_owned();
        anyhow::ensure!(
            error.contains("connect") && Instant::now() < deadline,
            "iperf3 client failed: {error}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receivers_rate_is_read_in_mib_per_second() {
        let report = serde_json::json!({
            "end": { "sum_received": { "bits_per_second": 8.0 * 1024.0 * 1024.0 * 512.0 } }
        });
        assert!((received_mib_s(&report).unwrap() - 512.0).abs() < 1e-9);
    }

    #[test]
    fn a_report_without_a_receiver_sum_is_an_error() {
        let report = serde_json::json!({ "error": "unable to connect to server" });
        assert!(received_mib_s(&report).is_err());
    }
}
