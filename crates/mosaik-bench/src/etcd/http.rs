//! A minimal keep-alive HTTP/1.1 client for etcd's JSON gateway: just
//! what the bench asks of a member (puts, transactions, status, member
//! add, its Prometheus metrics).

use {
    base64::{Engine as _, engine::general_purpose::STANDARD as B64},
    std::net::SocketAddr,
    tokio::{
        io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
        net::TcpStream,
    },
};

/// One HTTP/1.1 connection to an etcd member.
pub struct Http {
    stream: BufReader<TcpStream>,
    host: SocketAddr,
}

impl Http {
    /// Connects to `host`.
    pub async fn connect(host: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            host,
        })
    }

    /// POSTs a JSON body; returns the status and the response body.
    pub async fn post(&mut self, path: &str, body: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        self.request("POST", path, body).await
    }

    /// GETs `path`; returns the status and the response body.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        self.request("GET", path, "").await
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("bad status line {line:?}"))?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let header = line.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(v) = header.strip_prefix("content-length:") {
                length = v.trim().parse()?;
            }
            if header.starts_with("transfer-encoding:") && header.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16)?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok((status, body))
    }

    /// One put of `key` = `value` (committed by the cluster when it returns).
    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        let body = format!(
            "{{\"key\":\"{}\",\"value\":\"{}\"}}",
            B64.encode(key),
            B64.encode(value)
        );
        self.post_ok("/v3/kv/put", &body).await?;
        Ok(())
    }

    /// POSTs a JSON body and returns the response body; any status but 200
    /// is an error naming `path` and carrying etcd's reply.
    async fn post_ok(&mut self, path: &str, body: &str) -> anyhow::Result<Vec<u8>> {
        let (status, reply) = self.post(path, body).await?;
        anyhow::ensure!(
            status == 200,
            "{path} failed: {status} {}",
            String::from_utf8_lossy(&reply)
        );
        Ok(reply)
    }

    /// The member's status, as the gateway's JSON.
    async fn status_json(&mut self) -> anyhow::Result<serde_json::Value> {
        let body = self.post_ok("/v3/maintenance/status", "{}").await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// The member's own id and the leader's id, as etcd reports them.
    pub async fn status(&mut self) -> anyhow::Result<(String, String)> {
        let json = self.status_json().await?;
        let me = json["header"]["member_id"].as_str().unwrap_or_default();
        let leader = json["leader"].as_str().unwrap_or_default();
        Ok((me.to_string(), leader.to_string()))
    }

    /// The member's store revision (etcd counts one per write
    /// transaction), as its status reports it.
    pub async fn revision(&mut self) -> anyhow::Result<u64> {
        let json = self.status_json().await?;
        // The gateway writes 64-bit integers as JSON strings.
        json["header"]["revision"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no revision in {json}"))
    }

    /// The sum of a metric's values in the member's Prometheus metrics
    /// (every label set), 0 when it has none yet.
    pub async fn metric(&mut self, name: &str) -> anyhow::Result<f64> {
        let (status, body) = self.get("/metrics").await?;
        anyhow::ensure!(status == 200, "metrics failed: {status}");
        Ok(metric_sum(&String::from_utf8_lossy(&body), name))
    }

    /// Puts every pair in one transaction (etcd refuses more than
    /// `--max-txn-ops`, 128 by default, in one).
    pub async fn put_all(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> anyhow::Result<()> {
        let puts: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{{\"requestPut\":{{\"key\":\"{}\",\"value\":\"{}\"}}}}",
                    B64.encode(k),
                    B64.encode(v)
                )
            })
            .collect();
        let body = format!("{{\"success\":[{}]}}", puts.join(","));
        self.post_ok("/v3/kv/txn", &body).await?;
        Ok(())
    }
}

/// The sum of `name`'s samples in a Prometheus text exposition: every
/// label set of exactly that metric (not of longer names it is a prefix
/// of); comments and unparsable values are skipped.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with([' ', '{']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::metric_sum;

    #[test]
    fn a_metric_sums_its_label_sets_and_nothing_else() {
        let text = "\
# HELP etcd_network_snapshot_send_success Total number of successful snapshot sends
# TYPE etcd_network_snapshot_send_success counter
etcd_network_snapshot_send_success{To=\"a\"} 1
etcd_network_snapshot_send_success{To=\"b\"} 2
etcd_network_snapshot_send_success_total 40
etcd_debugging_mvcc_current_revision 123457
etcd_debugging_mvcc_current_revision_x nan
";
        let sum = |name| metric_sum(text, name);
        let same = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(same(sum("etcd_network_snapshot_send_success"), 3.0));
        assert!(same(sum("etcd_debugging_mvcc_current_revision"), 123_457.0));
        assert!(same(sum("etcd_server_has_leader"), 0.0));
    }
}
