//! `reelflow bench api`: load on the HTTP API. Starts a server (SQLite store, embedded
//! worker) on a loopback port, fires `--runs` submissions of a small two-node workflow from
//! `--concurrency` clients at once while `--pollers` clients read run status in a loop, and
//! reports throughput, submit latency, submit-to-first-node-start latency (from each client's
//! send to the run's `node_started` event), status latency, errors and lost runs.
//!
//! Client and server share the machine (and this process), so the numbers include the
//! client's own cost: a conservative measure.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use reelflow_core::workflow::DurationSpec;
use reelflow_runtime::Config;
use serde_json::json;

#[derive(clap::Args)]
pub struct ApiBenchArgs {
    /// Runs to submit.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Clients submitting at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Clients polling run status throughout.
    #[arg(long, default_value_t = 16)]
    pollers: usize,
    /// Each poller's pause between status requests, in milliseconds.
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,
    /// Submissions per second, spread evenly (open loop); 0 sends them all at once.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Runs the embedded worker executes at once.
    #[arg(long, default_value_t = 32)]
    slots: usize,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

const WORKFLOW: &str = "reelflow: 1
inputs:
  n: {type: int}
nodes:
  numbers:
    op: list.range
    params: {start: 0, end: '${{ inputs.n % 10 + 1 }}'}
  label:
    op: text.template
    inputs: {items: numbers.items, n: inputs.n}
    params: {template: 'run {{n}}: {{items}}'}
outputs:
  label: label.text
";

#[derive(Debug, serde::Serialize)]
struct Report {
    runs: usize,
    concurrency: usize,
    pollers: usize,
    /// Offered load; 0: all at once.
    rate: f64,
    runs_per_s: f64,
    submit_ms: Percentiles,
    submit_to_start_ms: Percentiles,
    status_ms: Percentiles,
    status_requests: usize,
    errors: usize,
    lost_runs: usize,
    failed_runs: usize,
}

#[derive(Debug, Default, serde::Serialize)]
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

fn percentiles(mut v: Vec<f64>) -> Percentiles {
    if v.is_empty() {
        return Percentiles::default();
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Percentiles { p50: at(0.5), p99: at(0.99), max: v[v.len() - 1] }
}

fn wall_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

pub fn bench_api(args: &ApiBenchArgs) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("reelflow-bench-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = tokio::runtime::Runtime::new()?.block_on(run(args, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let offered =
            if report.rate > 0.0 { format!("{:.0} runs/s offered", report.rate) } else { "all at once".into() };
        println!(
            "{} runs ({offered}), {} concurrent submitters, {} status pollers",
            report.runs, report.concurrency, report.pollers
        );
        println!("  completed           {:.0} runs/s", report.runs_per_s);
        let show = |name: &str, p: &Percentiles| {
            println!("  {name:<19} p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms", p.p50, p.p99, p.max)
        };
        show("submit", &report.submit_ms);
        show("submit → start", &report.submit_to_start_ms);
        show("status", &report.status_ms);
        println!(
            "  errors {}   lost runs {}   failed runs {}   status requests {}",
            report.errors, report.lost_runs, report.failed_runs, report.status_requests
        );
    }
    Ok(if report.errors == 0 && report.lost_runs == 0 && report.failed_runs == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_FAILED)
    })
}

async fn run(args: &ApiBenchArgs, dir: &std::path::Path) -> anyhow::Result<Report> {
    let mut config = Config { data_dir: dir.join("data"), workflows_dir: dir.join("workflows"), ..Default::default() };
    config.server.bind = "127.0.0.1:0".parse()?;
    config.server.rate_limit = 0;
    config.worker.slots = args.slots;
    config.worker.poll = DurationSpec::Text("200ms".into());
    let server = reelflow_server::Server::start(config).await?;
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency + args.pollers).build()?;

    let submitted: Arc<std::sync::Mutex<Vec<(String, f64)>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let mut pollers = tokio::task::JoinSet::new();
    for _ in 0..args.pollers {
        let (client, base, submitted, done) = (client.clone(), base.clone(), submitted.clone(), done.clone());
        let pause = Duration::from_millis(args.poll_ms);
        pollers.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while !done.load(Ordering::Relaxed) {
                let id = {
                    let ids = submitted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if ids.is_empty() { None } else { Some(ids[rand::random_range(0..ids.len())].0.clone()) }
                };
                let Some(id) = id else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                };
                let t = Instant::now();
                match client.get(format!("{base}/api/v1/runs/{id}")).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => errors += 1,
                }
                tokio::time::sleep(pause).await;
            }
            (latencies, errors)
        });
    }

    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let mut submitters = tokio::task::JoinSet::new();
    for n in 0..args.runs {
        let (client, base, submitted, gate) = (client.clone(), base.clone(), submitted.clone(), gate.clone());
        let offset = if args.rate > 0.0 { Duration::from_secs_f64(n as f64 / args.rate) } else { Duration::ZERO };
        submitters.spawn(async move {
            tokio::time::sleep(offset).await;
            let _permit = gate.acquire_owned().await.ok()?;
            let sent_at = wall_ms();
            let t = Instant::now();
            let body = json!({"source": WORKFLOW, "name": "bench", "inputs": {"n": n}});
            let reply = client.post(format!("{base}/api/v1/runs")).json(&body).send().await.ok()?;
            if reply.status().as_u16() != 202 {
                return None;
            }
            let json: serde_json::Value = reply.json().await.ok()?;
            let latency = t.elapsed().as_secs_f64() * 1000.0;
            let id = json["id"].as_str()?.to_owned();
            submitted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((id, sent_at));
            Some(latency)
        });
    }
    let (mut submit_latencies, mut errors) = (Vec::new(), 0usize);
    while let Some(result) = submitters.join_next().await {
        match result {
            Ok(Some(latency)) => submit_latencies.push(latency),
            _ => errors += 1,
        }
    }

    // Wait for every accepted run to finish.
    let runs: Vec<(String, f64)> = submitted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let (mut failed, mut lost) = (0usize, 0usize);
    let mut finished = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while finished.len() < runs.len() && Instant::now() < deadline {
        for (id, _) in &runs {
            if finished.contains(id) {
                continue;
            }
            let run: serde_json::Value = client.get(format!("{base}/api/v1/runs/{id}")).send().await?.json().await?;
            match run["status"].as_str() {
                Some("succeeded") => {
                    finished.insert(id.clone());
                }
                Some("failed" | "cancelled") => {
                    failed += 1;
                    finished.insert(id.clone());
                }
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    lost += runs.len() - finished.len();
    let (mut status_latencies, mut status_errors) = (Vec::new(), 0);
    while let Some(result) = pollers.join_next().await {
        let (latencies, errs) = result.context("a poller panicked")?;
        status_latencies.extend(latencies);
        status_errors += errs;
    }

    // Submit → first node start, from each run's events.
    let mut start_latencies = Vec::new();
    for (id, sent_at) in &runs {
        let text = client.get(format!("{base}/api/v1/runs/{id}/events")).send().await?.text().await?;
        let first_start = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .find(|e| e["type"] == "node_started")
            .and_then(|e| e["at_ms"].as_f64());
        match first_start {
            Some(at) => start_latencies.push((at - sent_at).max(0.0)),
            None => lost += 1,
        }
    }
    let _ = stop.send(());
    let _ = served.await;
    Ok(Report {
        runs: args.runs,
        concurrency: args.concurrency,
        pollers: args.pollers,
        rate: args.rate,
        runs_per_s: runs.len() as f64 / elapsed.as_secs_f64(),
        submit_ms: percentiles(submit_latencies),
        submit_to_start_ms: percentiles(start_latencies),
        status_requests: status_latencies.len(),
        status_ms: percentiles(status_latencies),
        errors: errors + status_errors,
        lost_runs: lost,
        failed_runs: failed,
    })
}
