//! Pushes the monitor's numbers to InfluxDB (the monitoring document's optional external
//! data source), in its line protocol over HTTP: `/api/v2/write` with an org, bucket and
//! token (InfluxDB 2.x and 3.x), or `/write?db=` (1.x). Every interval it writes the
//! memory/CPU samples taken since the last push and one point per endpoint with the
//! window's request counts and latencies. A failed push is logged and dropped; the
//! server's own numbers never depend on it.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::monitor::{Monitor, Snapshot};

/// `"influxdb": {…}` in the monitoring config.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    /// InfluxDB 2.x/3.x: the organisation and bucket to write to.
    #[serde(default)]
    pub org: Option<String>,
    #[serde(default)]
    pub bucket: Option<String>,
    /// InfluxDB 1.x: the database (used when no bucket is set).
    #[serde(default)]
    pub database: Option<String>,
    /// API token, sent as `Authorization: Token …`.
    #[serde(default)]
    pub token: Option<String>,
    /// Seconds between pushes.
    #[serde(default = "default_interval")]
    pub interval_s: f64,
    /// Tag `host` on every point (default: this machine's host name).
    #[serde(default)]
    pub host: Option<String>,
}

fn default_interval() -> f64 {
    10.0
}

impl InfluxConfig {
    /// The write URL, or why the config cannot be used.
    pub fn write_url(&self) -> Result<reqwest::Url, String> {
        let base = reqwest::Url::parse(&self.url).map_err(|e| format!("influxdb.url `{}`: {e}", self.url))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("influxdb.url `{}` is not an http(s) URL", self.url));
        }
        let mut url = base.clone();
        match (&self.bucket, &self.database) {
            (Some(bucket), _) => {
                url.set_path(&format!("{}/api/v2/write", base.path().trim_end_matches('/')));
                url.query_pairs_mut()
                    .append_pair("org", self.org.as_deref().unwrap_or_default())
                    .append_pair("bucket", bucket)
                    .append_pair("precision", "ms");
            }
            (None, Some(db)) => {
                url.set_path(&format!("{}/write", base.path().trim_end_matches('/')));
                url.query_pairs_mut().append_pair("db", db).append_pair("precision", "ms");
            }
            (None, None) => return Err("influxdb needs a `bucket` (2.x) or a `database` (1.x)".into()),
        }
        Ok(url)
    }
}

/// Escapes a tag key or value (commas, equals signs and spaces).
fn tag(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, ',' | '=' | ' ' | '\\') {
            out.push('\\');
        }
        // Line breaks cannot be escaped in line protocol.
        out.push(if c == '\n' || c == '\r' { ' ' } else { c });
    }
    out
}

/// The snapshot's points: system samples newer than `since_ms`, and one point per endpoint.
pub fn lines(snapshot: &Snapshot, host: &str, since_ms: u64) -> String {
    let host = tag(host);
    let mut out = String::new();
    for s in snapshot.system.iter().filter(|s| s.at_ms > since_ms) {
        let _ = writeln!(
            out,
            "reelflow_system,host={host} memory_bytes={}i,cpu_percent={} {}",
            s.memory_bytes, s.cpu_percent, s.at_ms
        );
    }
    for (endpoint, stats) in &snapshot.endpoints {
        let (r, l) = (&stats.requests, &stats.latency);
        let _ = writeln!(
            out,
            "reelflow_requests,host={host},endpoint={} total={}i,success={}i,error={}i,success_rate={},\
             latency_avg_ms={},latency_min_ms={},latency_max_ms={},latency_p95_ms={} {}",
            tag(endpoint),
            r.total,
            r.success,
            r.error,
            r.success_rate,
            l.avg,
            l.min,
            l.max,
            l.p95,
            snapshot.timestamp_ms
        );
    }
    out
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "reelflow".into())
}

/// Writes `body` to InfluxDB.
pub async fn push(client: &reqwest::Client, config: &InfluxConfig, body: String) -> Result<(), String> {
    let url = config.write_url()?;
    let mut request = client.post(url).header("content-type", "text/plain; charset=utf-8").body(body);
    if let Some(token) = &config.token {
        request = request.header("authorization", format!("Token {token}"));
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            Err(format!("HTTP {status}: {}", text.chars().take(200).collect::<String>()))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Pushes every `interval_s` until `stop` fires (and once more on the way out).
pub async fn export(monitor: Arc<Monitor>, config: InfluxConfig, stop: CancellationToken) {
    if let Err(e) = config.write_url() {
        tracing::error!(error = %e, "monitoring: InfluxDB export is off");
        return;
    }
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "monitoring: no HTTP client; InfluxDB export is off");
            return;
        }
    };
    let interval = Duration::from_secs_f64(config.interval_s.clamp(1.0, 3600.0));
    let host = config.host.clone().unwrap_or_else(host_name);
    let mut since_ms = crate::monitor::now_ms();
    let mut failing = false;
    loop {
        let stopping = tokio::select! {
            () = stop.cancelled() => true,
            () = tokio::time::sleep(interval) => false,
        };
        let snapshot = monitor.snapshot(Some(interval));
        let body = lines(&snapshot, &host, since_ms);
        since_ms = snapshot.timestamp_ms;
        // Log the first failure and the recovery, not every interval of an outage.
        match push(&client, &config, body).await {
            Ok(()) if failing => {
                tracing::info!("monitoring: InfluxDB writes work again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                tracing::warn!(error = %e, "monitoring: writing to InfluxDB failed; points are dropped until it works");
                failing = true;
            }
            Err(_) => {}
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::MonitoringConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn config(url: String) -> InfluxConfig {
        InfluxConfig {
            url,
            org: Some("media".into()),
            bucket: Some("reelflow".into()),
            database: None,
            token: Some("s3cret".into()),
            interval_s: 1.0,
            host: Some("edge 1".into()),
        }
    }

    #[test]
    fn write_urls_and_escaping_follow_the_protocol() {
        let v2 = config("http://db:8086/".into()).write_url().unwrap();
        assert_eq!(v2.as_str(), "http://db:8086/api/v2/write?org=media&bucket=reelflow&precision=ms");
        let v1 = InfluxConfig { bucket: None, database: Some("metrics".into()), ..config("http://db:8086".into()) };
        assert_eq!(v1.write_url().unwrap().as_str(), "http://db:8086/write?db=metrics&precision=ms");
        assert!(InfluxConfig { bucket: None, ..config("http://db".into()) }.write_url().is_err());
        assert!(config("ftp://db".into()).write_url().is_err());
        assert_eq!(tag("GET:/api/v1/status, x=1"), "GET:/api/v1/status\\,\\ x\\=1");
    }

    /// A real HTTP write to a stand-in InfluxDB on loopback: path, query, token and the
    /// line-protocol body with measured points.
    #[tokio::test]
    async fn pushes_measured_points_in_line_protocol() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if request.len() >= head_end + 4 + length {
                        break;
                    }
                }
            }
            socket.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await.unwrap();
            String::from_utf8(request).unwrap()
        });
        let dir = tempfile::tempdir().unwrap();
        let monitor = Monitor::new(MonitoringConfig::default(), dir.path());
        let models = "/api/v1/models";
        monitor.record_request("GET", models, models, 200, Duration::from_micros(12_500), None);
        monitor.record_request("GET", models, models, 500, Duration::from_millis(30), None);
        let snapshot = monitor.snapshot(None);
        let body = lines(&snapshot, "edge 1", 0);
        push(&reqwest::Client::new(), &config(url), body).await.expect("the write is accepted");
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /api/v2/write?org=media&bucket=reelflow&precision=ms HTTP/1.1"), "{request}");
        assert!(request.to_ascii_lowercase().contains("authorization: token s3cret"), "{request}");
        let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
        let requests = body.lines().find(|l| l.starts_with("reelflow_requests,")).expect("an endpoint point");
        assert!(
            requests.starts_with(
                "reelflow_requests,host=edge\\ 1,endpoint=GET:/api/v1/models total=2i,success=1i,error=1i,"
            ),
            "{requests}"
        );
        assert!(requests.contains("latency_max_ms=30,"), "{requests}");
        let system = body.lines().find(|l| l.starts_with("reelflow_system,")).expect("a system point");
        let memory: u64 = system.split("memory_bytes=").nth(1).unwrap().split('i').next().unwrap().parse().unwrap();
        assert!(memory > 1 << 20, "measured resident memory: {system}");
    }
}
