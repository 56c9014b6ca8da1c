//! `reelflow tools api-benchmark`: fires `--requests` requests at one endpoint of a running
//! server from `--concurrency` clients (each sends its next request as soon as the last one
//! is answered), then reports success rate, throughput and the latency distribution on
//! stdout and as `api_benchmark_<unix-ms>.json` and `.html` files.
//!
//! Latency runs from sending the request to having read the whole response body. A request
//! is a success when it gets a 2xx status; other statuses and transport failures
//! (connection refused, timeouts) are errors. Latency statistics cover the requests that
//! got a response: a timed-out request has no latency, only the timeout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::Serialize;

#[derive(clap::Args)]
pub struct ApiBenchmarkArgs {
    /// Path (and query) to call, e.g. `/api/v1/status?task_id=x`; a full `http://` URL
    /// ignores `--base-url`.
    #[arg(long)]
    endpoint: String,
    /// The HTTP method.
    #[arg(long, value_enum, default_value_t = Method::Get, ignore_case = true)]
    method: Method,
    /// A JSON file sent as the body of every request.
    #[arg(long, value_name = "FILE.json")]
    payload: Option<PathBuf>,
    /// Clients sending at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    concurrency: u64,
    /// Requests in all.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    requests: u64,
    /// The server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// Sent as `Authorization: Bearer <token>`.
    #[arg(long, env = "REELFLOW_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where the JSON and HTML reports go.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Per-request time limit, in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout_s: f64,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, Serialize)]
#[serde(rename_all = "UPPERCASE")]
enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    fn as_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

/// What happened to one request.
enum Outcome {
    Response {
        status: u16,
        latency_ms: f64,
    },
    /// No response: the message, and whether the server could not be connected to.
    Failed {
        kind: &'static str,
        message: String,
    },
}

/// Everything the JSON report holds.
#[derive(Debug, Serialize)]
struct Report {
    method: Method,
    url: String,
    concurrency: u64,
    /// When the benchmark started, in Unix milliseconds.
    started_at_ms: u64,
    duration_s: f64,
    summary: Summary,
    /// Response status → count.
    status_codes: BTreeMap<u16, u64>,
    /// Requests that got no response, by kind (`connect`, `timeout`, `other`).
    transport_errors: BTreeMap<&'static str, u64>,
    /// Up to five distinct transport error messages.
    error_samples: Vec<String>,
    /// Latency distribution of the requests that got a response, in equal-width buckets.
    histogram: Vec<Bucket>,
}

#[derive(Debug, Serialize)]
struct Summary {
    requests: u64,
    /// Requests answered with a 2xx status.
    success: u64,
    /// Everything else: other statuses and requests without a response.
    errors: u64,
    success_rate: f64,
    throughput_rps: f64,
    /// Over the requests that got a response; all zero when none did.
    latency_ms: Latency,
}

#[derive(Debug, Default, Serialize)]
struct Latency {
    min: f64,
    avg: f64,
    p50: f64,
    p90: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

#[derive(Debug, Serialize)]
struct Bucket {
    from_ms: f64,
    to_ms: f64,
    count: u64,
}

const HISTOGRAM_BUCKETS: usize = 20;

pub fn api_benchmark(args: &ApiBenchmarkArgs) -> anyhow::Result<ExitCode> {
    let url = if args.endpoint.starts_with("http://") || args.endpoint.starts_with("https://") {
        args.endpoint.clone()
    } else {
        let path = args.endpoint.trim_start_matches('/');
        format!("{}/{path}", args.base_url.trim_end_matches('/'))
    };
    let body = match &args.payload {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            // Checked here so a typo fails at once, not as a thousand 400s.
            serde_json::from_str::<serde_json::Value>(&text)
                .with_context(|| format!("{} is not valid JSON", file.display()))?;
            Some(text)
        }
        None => None,
    };
    anyhow::ensure!(
        args.timeout_s.is_finite() && args.timeout_s > 0.0,
        "--timeout-s must be a positive number of seconds"
    );
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;

    let started_at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let rt = tokio::runtime::Runtime::new()?;
    let (outcomes, elapsed) = rt.block_on(fire(args, &url, body))?;
    let report = summarise(args, url, started_at_ms, &outcomes, elapsed);

    print_table(&report);
    if report.status_codes.is_empty() {
        let why = report.error_samples.first().map(String::as_str).unwrap_or("no response");
        eprintln!("error: the server at {} could not be reached: {why}", report.url);
        return Ok(ExitCode::from(crate::EXIT_FAILED));
    }
    let stem = args.out.join(format!("api_benchmark_{started_at_ms}"));
    let json_path = stem.with_extension("json");
    let html_path = stem.with_extension("html");
    write(&json_path, &serde_json::to_string_pretty(&report)?)?;
    write(&html_path, &html(&report))?;
    println!("\nJSON report: {}", json_path.display());
    println!("HTML report: {}", html_path.display());
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Runs the clients; returns every request's outcome and the wall time.
async fn fire(args: &ApiBenchmarkArgs, url: &str, body: Option<String>) -> anyhow::Result<(Vec<Outcome>, Duration)> {
    let concurrency = args.concurrency.min(args.requests) as usize;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs_f64(args.timeout_s))
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let total = args.requests as usize;
    let method = args.method.as_reqwest();
    let (url, body, token) = (Arc::<str>::from(url), body.map(Arc::<str>::from), args.token.clone());

    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, next, answered, refused) = (client.clone(), next.clone(), answered.clone(), refused.clone());
        let (method, url, body, token) = (method.clone(), url.clone(), body.clone(), token.clone());
        clients.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                // A server that refused every client's first attempt is not there: stop
                // rather than knock a thousand times.
                if !answered.load(Ordering::Relaxed) && refused.load(Ordering::Relaxed) >= concurrency {
                    break;
                }
                if next.fetch_add(1, Ordering::Relaxed) >= total {
                    break;
                }
                let mut request = client.request(method.clone(), &*url);
                if let Some(body) = &body {
                    request = request.header("content-type", "application/json").body(body.to_string());
                }
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                let sent = Instant::now();
                let outcome = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        match response.bytes().await {
                            Ok(_) => {
                                answered.store(true, Ordering::Relaxed);
                                Outcome::Response { status, latency_ms: sent.elapsed().as_secs_f64() * 1000.0 }
                            }
                            Err(e) => failure(&e),
                        }
                    }
                    Err(e) => failure(&e),
                };
                if matches!(outcome, Outcome::Failed { kind: "connect", .. }) {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                outcomes.push(outcome);
            }
            outcomes
        });
    }
    let mut outcomes = Vec::with_capacity(total);
    while let Some(done) = clients.join_next().await {
        outcomes.extend(done.context("a benchmark client panicked")?);
    }
    Ok((outcomes, started.elapsed()))
}

fn failure(e: &reqwest::Error) -> Outcome {
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_timeout() {
        "timeout"
    } else {
        "other"
    };
    // reqwest's own message is "error sending request"; the cause says why.
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    Outcome::Failed { kind, message }
}

fn summarise(
    args: &ApiBenchmarkArgs,
    url: String,
    started_at_ms: u64,
    outcomes: &[Outcome],
    elapsed: Duration,
) -> Report {
    let mut latencies = Vec::new();
    let mut status_codes = BTreeMap::new();
    let mut transport_errors = BTreeMap::new();
    let mut error_samples: Vec<String> = Vec::new();
    let mut success = 0u64;
    for outcome in outcomes {
        match outcome {
            Outcome::Response { status, latency_ms } => {
                latencies.push(*latency_ms);
                *status_codes.entry(*status).or_insert(0u64) += 1;
                if (200..300).contains(status) {
                    success += 1;
                }
            }
            Outcome::Failed { kind, message } => {
                *transport_errors.entry(*kind).or_insert(0u64) += 1;
                if error_samples.len() < 5 && !error_samples.contains(message) {
                    error_samples.push(message.clone());
                }
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let requests = outcomes.len() as u64;
    let secs = elapsed.as_secs_f64();
    Report {
        method: args.method,
        url,
        concurrency: args.concurrency,
        started_at_ms,
        duration_s: secs,
        summary: Summary {
            requests,
            success,
            errors: requests - success,
            success_rate: if requests == 0 { 0.0 } else { success as f64 / requests as f64 },
            throughput_rps: if secs > 0.0 { requests as f64 / secs } else { 0.0 },
            latency_ms: latency(&latencies),
        },
        status_codes,
        transport_errors,
        error_samples,
        histogram: histogram(&latencies, HISTOGRAM_BUCKETS),
    }
}

/// Statistics of sorted latencies; percentiles by nearest rank.
fn latency(sorted: &[f64]) -> Latency {
    let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else { return Latency::default() };
    let rank = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    Latency {
        min,
        avg: sorted.iter().sum::<f64>() / sorted.len() as f64,
        p50: rank(0.50),
        p90: rank(0.90),
        p95: rank(0.95),
        p99: rank(0.99),
        max,
    }
}

/// `buckets` equal-width buckets from the fastest to the slowest (fewer when all
/// latencies are equal: one bucket).
fn histogram(sorted: &[f64], buckets: usize) -> Vec<Bucket> {
    let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else { return Vec::new() };
    if max <= min {
        return vec![Bucket { from_ms: min, to_ms: max, count: sorted.len() as u64 }];
    }
    let width = (max - min) / buckets as f64;
    let mut out: Vec<Bucket> = (0..buckets)
        .map(|i| Bucket {
            from_ms: min + width * i as f64,
            to_ms: if i + 1 == buckets { max } else { min + width * (i + 1) as f64 },
            count: 0,
        })
        .collect();
    for &v in sorted {
        let i = (((v - min) / width) as usize).min(buckets - 1);
        out[i].count += 1;
    }
    out
}

fn print_table(r: &Report) {
    let s = &r.summary;
    let l = &s.latency_ms;
    println!("{} {}  ({} requests, {} concurrent)", r.method.name(), r.url, s.requests, r.concurrency);
    let row = |name: &str, value: String| println!("  {name:<16} {value:>12}");
    row("requests", s.requests.to_string());
    row("success (2xx)", s.success.to_string());
    row("errors", s.errors.to_string());
    row("success rate", format!("{:.2} %", s.success_rate * 100.0));
    row("throughput", format!("{:.1} req/s", s.throughput_rps));
    for (name, value) in
        [("min", l.min), ("avg", l.avg), ("p50", l.p50), ("p90", l.p90), ("p95", l.p95), ("p99", l.p99), ("max", l.max)]
    {
        row(&format!("latency {name}"), format!("{value:.2} ms"));
    }
    let codes: Vec<String> = r.status_codes.iter().map(|(code, n)| format!("{code}: {n}")).collect();
    if !codes.is_empty() {
        println!("  status codes     {}", codes.join(", "));
    }
    let failures: Vec<String> = r.transport_errors.iter().map(|(kind, n)| format!("{kind}: {n}")).collect();
    if !failures.is_empty() {
        println!("  no response      {}", failures.join(", "));
        for sample in &r.error_samples {
            println!("    {sample}");
        }
    }
}

/// A self-contained page: the summary table, status codes and an SVG histogram.
fn html(r: &Report) -> String {
    let s = &r.summary;
    let l = &s.latency_ms;
    let mut rows = String::new();
    let mut row = |name: &str, value: String| {
        let _ = writeln!(rows, "<tr><th>{}</th><td>{}</td></tr>", escape(name), escape(&value));
    };
    row("Requests", s.requests.to_string());
    row("Success (2xx)", s.success.to_string());
    row("Errors", s.errors.to_string());
    row("Success rate", format!("{:.2} %", s.success_rate * 100.0));
    row("Throughput", format!("{:.1} req/s", s.throughput_rps));
    row("Duration", format!("{:.3} s", r.duration_s));
    for (name, value) in
        [("min", l.min), ("avg", l.avg), ("p50", l.p50), ("p90", l.p90), ("p95", l.p95), ("p99", l.p99), ("max", l.max)]
    {
        row(&format!("Latency {name}"), format!("{value:.2} ms"));
    }
    let mut codes = String::new();
    for (code, n) in &r.status_codes {
        let _ = writeln!(codes, "<tr><th>{code}</th><td>{n}</td></tr>");
    }
    for (kind, n) in &r.transport_errors {
        let _ = writeln!(codes, "<tr><th>no response ({})</th><td>{n}</td></tr>", escape(kind));
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>API benchmark: {method} {url}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
td {{ text-align: right; font-variant-numeric: tabular-nums; }}
svg text {{ font-size: 11px; fill: #333; }}
</style>
</head>
<body>
<h1>API benchmark</h1>
<p><code>{method} {url}</code> — {requests} requests from {concurrency} concurrent clients, started at {started} (Unix ms).</p>
<h2>Summary</h2>
<table>
{rows}</table>
<h2>Status codes</h2>
<table>
{codes}</table>
<h2>Latency distribution</h2>
{svg}
</body>
</html>
"#,
        method = r.method.name(),
        url = escape(&r.url),
        requests = s.requests,
        concurrency = r.concurrency,
        started = r.started_at_ms,
        svg = svg_histogram(&r.histogram),
    )
}

fn svg_histogram(buckets: &[Bucket]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 300.0;
    const LEFT: f64 = 50.0;
    const BOTTOM: f64 = 40.0;
    const TOP: f64 = 10.0;
    let plot_w = W - LEFT - 10.0;
    let plot_h = H - BOTTOM - TOP;
    let most = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"latency histogram\">\n"
    );
    let base = TOP + plot_h;
    let _ = writeln!(svg, "<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#333\"/>", LEFT + plot_w);
    let _ = writeln!(svg, "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base}\" stroke=\"#333\"/>");
    let _ = writeln!(svg, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{most}</text>", LEFT - 4.0, TOP + 10.0);
    let _ = writeln!(svg, "<text x=\"{}\" y=\"{base}\" text-anchor=\"end\">0</text>", LEFT - 4.0);
    if !buckets.is_empty() {
        let bar_w = plot_w / buckets.len() as f64;
        for (i, b) in buckets.iter().enumerate() {
            let h = b.count as f64 / most * plot_h;
            let x = LEFT + bar_w * i as f64;
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#4a7fd4\"><title>{:.2}–{:.2} ms: {}</title></rect>",
                base - h,
                (bar_w - 2.0).max(1.0),
                b.from_ms,
                b.to_ms,
                b.count
            );
        }
        let first = buckets.first().map_or(0.0, |b| b.from_ms);
        let last = buckets.last().map_or(0.0, |b| b.to_ms);
        let _ = writeln!(svg, "<text x=\"{LEFT}\" y=\"{}\">{first:.2} ms</text>", base + 15.0);
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{last:.2} ms</text>",
            LEFT + plot_w,
            base + 15.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">latency (ms) → requests per bucket</text>",
        LEFT + plot_w / 2.0,
        H - 5.0
    );
    svg.push_str("</svg>");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = latency(&v);
        assert_eq!((l.min, l.p50, l.p90, l.p95, l.p99, l.max), (1.0, 50.0, 90.0, 95.0, 99.0, 100.0));
        assert!((l.avg - 50.5).abs() < 1e-9);
        assert_eq!(latency(&[7.0]).p99, 7.0);
    }

    #[test]
    fn histogram_counts_every_latency_once() {
        let v: Vec<f64> = (0..1000).map(|i| f64::from(i) / 10.0).collect();
        let h = histogram(&v, 20);
        assert_eq!(h.len(), 20);
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 1000);
        assert_eq!(h[0].from_ms, 0.0);
        assert_eq!(h[19].to_ms, 99.9);
        assert_eq!(histogram(&[3.0, 3.0], 20).len(), 1);
        assert!(histogram(&[], 20).is_empty());
    }
}
