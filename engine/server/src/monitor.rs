//! What the server measures about itself for `/api/v1/monitoring/metrics` and reports:
//! every request (endpoint, latency, outcome) and, on a timer, this process's memory and
//! CPU. Samples are kept in memory for the configured retention; every request is also
//! appended to `<data_dir>/logs/access.log` (JSON Lines) for `reelflow tools log-analyzer`.
//!
//! Settings come from `configs/monitoring.json` (`server.monitoring_config`), defaults from
//! [`MonitoringConfig::default`]:
//!
//! ```json
//! {"sampling_interval_s": 5, "retention_minutes": 1440, "auto_adjust": true,
//!  "thresholds": {"memory_mb": {"warning": 6144, "critical": 7680},
//!                 "cpu_percent": {"warning": 80, "critical": 95},
//!                 "error_rate": {"warning": 0.05, "critical": 0.2},
//!                 "latency_p95_ms": {"warning": 5000, "critical": 30000}},
//!  "report_retention_days": 30}
//! ```
//!
//! `auto_adjust` is the document's "low-configuration devices" rule: on a machine with at
//! most 2 CPUs or 4 GiB of RAM, sampling is at most every 10 s and half as many request
//! samples are kept.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::sysinfo;

/// The most request samples kept, whatever the retention.
const MAX_REQUEST_SAMPLES: usize = 200_000;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// Seconds between memory/CPU samples.
    pub sampling_interval_s: f64,
    /// How long samples are kept in memory, minutes.
    pub retention_minutes: f64,
    /// Sample less on small machines (≤ 2 CPUs or ≤ 4 GiB).
    pub auto_adjust: bool,
    pub thresholds: Thresholds,
    /// Report files older than this are deleted when a new one is written.
    pub report_retention_days: f64,
    /// Push the numbers to InfluxDB as well (see [`crate::influx`]).
    pub influxdb: Option<crate::influx::InfluxConfig>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    pub memory_mb: Level,
    pub cpu_percent: Level,
    pub error_rate: Level,
    pub latency_p95_ms: Level,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub warning: f64,
    pub critical: f64,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            sampling_interval_s: 5.0,
            retention_minutes: 24.0 * 60.0,
            auto_adjust: true,
            thresholds: Thresholds::default(),
            report_retention_days: 30.0,
            influxdb: None,
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            memory_mb: Level { warning: 6144.0, critical: 7680.0 },
            cpu_percent: Level { warning: 80.0, critical: 95.0 },
            error_rate: Level { warning: 0.05, critical: 0.2 },
            latency_p95_ms: Level { warning: 5000.0, critical: 30000.0 },
        }
    }
}

impl MonitoringConfig {
    /// Reads `path`, or the defaults when it does not exist. A file that exists but does not
    /// parse is an error: the operator meant something by it.
    pub fn load(path: &Path) -> Result<MonitoringConfig, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MonitoringConfig::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let config: MonitoringConfig = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if !(config.sampling_interval_s > 0.0 && config.retention_minutes > 0.0) {
            return Err(format!("{}: sampling_interval_s and retention_minutes must be positive", path.display()));
        }
        Ok(config)
    }

    /// The interval and request-sample cap after the small-machine rule.
    fn effective(&self) -> (Duration, usize) {
        let small = self.auto_adjust && (sysinfo::cpu_count() <= 2 || sysinfo::total_memory_bytes() <= 4 << 30);
        let interval = if small { self.sampling_interval_s.max(10.0) } else { self.sampling_interval_s };
        let cap = if small { MAX_REQUEST_SAMPLES / 2 } else { MAX_REQUEST_SAMPLES };
        (Duration::from_secs_f64(interval), cap)
    }

    /// `healthy`, `warning` or `critical`: the worst of the measured values against the
    /// thresholds.
    pub fn grade(&self, memory_mb: f64, cpu_percent: f64, error_rate: f64, latency_p95_ms: f64) -> &'static str {
        let t = &self.thresholds;
        let levels = [
            (memory_mb, t.memory_mb),
            (cpu_percent, t.cpu_percent),
            (error_rate, t.error_rate),
            (latency_p95_ms, t.latency_p95_ms),
        ];
        if levels.iter().any(|(v, l)| *v >= l.critical) {
            "critical"
        } else if levels.iter().any(|(v, l)| *v >= l.warning) {
            "warning"
        } else {
            "healthy"
        }
    }
}

/// One answered request.
#[derive(Clone, Debug)]
struct RequestSample {
    at_ms: u64,
    endpoint: String,
    latency_ms: f64,
    ok: bool,
}

/// One memory/CPU reading of this process.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SystemSample {
    pub at_ms: u64,
    pub memory_bytes: u64,
    /// Share of the whole machine's CPU time this process used since the previous sample.
    pub cpu_percent: f64,
}

/// How an errored response explains itself, for the access log: handlers' error types put
/// it in the response's extensions.
#[derive(Clone, Debug)]
pub struct ErrorNote {
    pub code: Option<u32>,
    pub message: String,
}

/// The request and system samples, and the access log.
pub struct Monitor {
    config: MonitoringConfig,
    started: Instant,
    sample_cap: usize,
    requests: Mutex<VecDeque<RequestSample>>,
    system: Mutex<VecDeque<SystemSample>>,
    access_log: Mutex<Option<std::fs::File>>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One access-log line.
#[derive(Serialize)]
struct AccessLine<'a> {
    ts: String,
    method: &'a str,
    route: &'a str,
    path: &'a str,
    status: u16,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl Monitor {
    pub fn new(config: MonitoringConfig, logs_dir: &Path) -> Monitor {
        let (_, sample_cap) = config.effective();
        let access_log_path = logs_dir.join("access.log");
        let file = std::fs::create_dir_all(logs_dir)
            .and_then(|_| std::fs::OpenOptions::new().create(true).append(true).open(&access_log_path));
        let file = match file {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(path = %access_log_path.display(), error = %e, "monitoring: no access log");
                None
            }
        };
        Monitor {
            config,
            started: Instant::now(),
            sample_cap,
            requests: Mutex::new(VecDeque::new()),
            system: Mutex::new(VecDeque::new()),
            access_log: Mutex::new(file),
        }
    }

    pub fn config(&self) -> &MonitoringConfig {
        &self.config
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    fn retention_ms(&self) -> u64 {
        (self.config.retention_minutes * 60_000.0) as u64
    }

    /// Records an answered request and appends it to the access log.
    #[allow(clippy::too_many_arguments)]
    pub fn record_request(
        &self,
        method: &str,
        route: &str,
        path: &str,
        status: u16,
        latency: Duration,
        error: Option<&ErrorNote>,
    ) {
        let at_ms = now_ms();
        let latency_ms = latency.as_secs_f64() * 1000.0;
        let ok = status < 400;
        {
            let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
            requests.push_back(RequestSample { at_ms, endpoint: format!("{method}:{route}"), latency_ms, ok });
            let horizon = at_ms.saturating_sub(self.retention_ms());
            while requests.front().is_some_and(|r| r.at_ms < horizon) || requests.len() > self.sample_cap {
                requests.pop_front();
            }
        }
        let line = AccessLine {
            ts: rfc3339_ms(at_ms),
            method,
            route,
            path,
            status,
            latency_ms: (latency_ms * 1000.0).round() / 1000.0,
            code: error.and_then(|e| e.code),
            error: error.map(|e| e.message.as_str()),
        };
        if let Ok(mut text) = serde_json::to_string(&line) {
            text.push('\n');
            let mut file = self.access_log.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(f) = file.as_mut()
                && let Err(e) = f.write_all(text.as_bytes())
            {
                tracing::warn!(error = %e, "monitoring: writing the access log failed; it is off from now on");
                *file = None;
            }
        }
    }

    fn record_system(&self, sample: SystemSample) {
        let mut system = self.system.lock().unwrap_or_else(PoisonError::into_inner);
        system.push_back(sample);
        let horizon = sample.at_ms.saturating_sub(self.retention_ms());
        while system.front().is_some_and(|s| s.at_ms < horizon) {
            system.pop_front();
        }
    }

    /// Samples memory and CPU every interval until `stop` fires. The first sample is taken
    /// at once, so even a fresh server reports measured values.
    pub async fn sample_system(self: std::sync::Arc<Self>, stop: CancellationToken) {
        let (interval, _) = self.config.effective();
        let mut cpu = sysinfo::CpuMeter::new();
        loop {
            self.record_system(SystemSample {
                at_ms: now_ms(),
                memory_bytes: sysinfo::rss_bytes(),
                cpu_percent: cpu.percent(),
            });
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Statistics over the last `window` (all kept samples when `None`).
    pub fn snapshot(&self, window: Option<Duration>) -> Snapshot {
        let now = now_ms();
        let since = window.map_or(0, |w| now.saturating_sub(w.as_millis() as u64));
        let mut by_endpoint: BTreeMap<String, Vec<(f64, bool)>> = BTreeMap::new();
        for r in self.requests.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|r| r.at_ms >= since) {
            by_endpoint.entry(r.endpoint.clone()).or_default().push((r.latency_ms, r.ok));
        }
        let endpoints = by_endpoint.into_iter().map(|(k, samples)| (k, EndpointStats::of(&samples))).collect();
        let mut system: Vec<SystemSample> = self
            .system
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|s| s.at_ms >= since)
            .copied()
            .collect();
        // The current values are read now, not taken from the last (possibly old) sample.
        let current = SystemSample {
            at_ms: now,
            memory_bytes: sysinfo::rss_bytes(),
            cpu_percent: system.last().map_or(0.0, |s| s.cpu_percent),
        };
        system.push(current);
        Snapshot { timestamp_ms: now, uptime_s: self.uptime().as_secs_f64(), endpoints, system }
    }
}

/// Per-endpoint numbers.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointStats {
    pub requests: RequestCounts,
    pub latency: Latency,
}

#[derive(Clone, Debug, Serialize)]
pub struct RequestCounts {
    pub total: u64,
    pub success: u64,
    pub error: u64,
    pub success_rate: f64,
}

/// Milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub p95: f64,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl EndpointStats {
    fn of(samples: &[(f64, bool)]) -> EndpointStats {
        let total = samples.len() as u64;
        let success = samples.iter().filter(|(_, ok)| *ok).count() as u64;
        let mut latencies: Vec<f64> = samples.iter().map(|(l, _)| *l).collect();
        latencies.sort_by(f64::total_cmp);
        let sum: f64 = latencies.iter().sum();
        EndpointStats {
            requests: RequestCounts {
                total,
                success,
                error: total - success,
                success_rate: if total > 0 { round3(success as f64 / total as f64) } else { 1.0 },
            },
            latency: Latency {
                avg: round1(if total > 0 { sum / total as f64 } else { 0.0 }),
                min: round1(latencies.first().copied().unwrap_or(0.0)),
                max: round1(latencies.last().copied().unwrap_or(0.0)),
                p95: round1(percentile(&latencies, 95.0)),
            },
        }
    }
}

/// What `/api/v1/monitoring/metrics` and reports are made of.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub timestamp_ms: u64,
    pub uptime_s: f64,
    pub endpoints: BTreeMap<String, EndpointStats>,
    /// Oldest first; the last one is read at snapshot time.
    pub system: Vec<SystemSample>,
}

/// current / peak / average of one measure.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Gauge {
    pub current: f64,
    pub peak: f64,
    pub average: f64,
}

impl Snapshot {
    pub fn memory(&self) -> Gauge {
        self.gauge(|s| s.memory_bytes as f64)
    }

    pub fn cpu(&self) -> Gauge {
        let g = self.gauge(|s| s.cpu_percent);
        Gauge { current: round1(g.current), peak: round1(g.peak), average: round1(g.average) }
    }

    fn gauge(&self, read: impl Fn(&SystemSample) -> f64) -> Gauge {
        let values: Vec<f64> = self.system.iter().map(read).collect();
        let n = values.len().max(1) as f64;
        Gauge {
            current: values.last().copied().unwrap_or(0.0),
            peak: values.iter().copied().fold(0.0, f64::max),
            average: (values.iter().sum::<f64>() / n).round(),
        }
    }

    /// Requests of every endpoint together: (total, success rate, mean latency ms, p95 ms).
    /// The p95 over all endpoints is the largest endpoint p95 (a safe upper bound).
    pub fn overall(&self) -> (u64, f64, f64, f64) {
        let total: u64 = self.endpoints.values().map(|e| e.requests.total).sum();
        let success: u64 = self.endpoints.values().map(|e| e.requests.success).sum();
        let latency_sum: f64 = self.endpoints.values().map(|e| e.latency.avg * e.requests.total as f64).sum();
        let p95 = self.endpoints.values().map(|e| e.latency.p95).fold(0.0, f64::max);
        let rate = if total > 0 { round3(success as f64 / total as f64) } else { 1.0 };
        let avg = if total > 0 { round1(latency_sum / total as f64) } else { 0.0 };
        (total, rate, avg, p95)
    }
}

/// `2026-11-23T21:30:00.123Z`.
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms % 1000)
}

/// `2026-11-23T21:30:00` (the document's `timestamp` shape, UTC).
pub fn rfc3339_s(ms: u64) -> String {
    rfc3339_ms(ms)[..19].to_owned()
}

/// `20261123_213000`, for file names.
pub fn compact_stamp(ms: u64) -> String {
    let t = rfc3339_s(ms);
    format!("{}{}{}_{}{}{}", &t[0..4], &t[5..7], &t[8..10], &t[11..13], &t[14..16], &t[17..19])
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// algorithm), so no date crate is needed for log timestamps.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_469_400_123), "2026-11-23T21:30:00.123Z");
        assert_eq!(rfc3339_s(951_782_400_000), "2000-02-29T00:00:00");
        assert_eq!(compact_stamp(1_795_469_400_123), "20261123_213000");
    }

    #[test]
    fn endpoint_statistics_are_exact() {
        let samples: Vec<(f64, bool)> = (1..=100).map(|i| (f64::from(i), i % 10 != 0)).collect();
        let s = EndpointStats::of(&samples);
        assert_eq!((s.requests.total, s.requests.success, s.requests.error), (100, 90, 10));
        assert_eq!(s.requests.success_rate, 0.9);
        assert_eq!((s.latency.min, s.latency.max, s.latency.avg, s.latency.p95), (1.0, 100.0, 50.5, 95.0));
    }

    #[test]
    fn grades_follow_the_worst_measure() {
        let c = MonitoringConfig::default();
        assert_eq!(c.grade(100.0, 10.0, 0.0, 100.0), "healthy");
        assert_eq!(c.grade(100.0, 85.0, 0.0, 100.0), "warning");
        assert_eq!(c.grade(100.0, 10.0, 0.5, 100.0), "critical");
    }

    #[test]
    fn windows_and_retention_limit_what_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let monitor = Monitor::new(MonitoringConfig::default(), dir.path());
        monitor.record_request("GET", "/a", "/a", 200, Duration::from_millis(5), None);
        monitor.requests.lock().unwrap()[0].at_ms -= 10 * 60_000;
        let note = ErrorNote { code: Some(1002), message: "missing".into() };
        monitor.record_request("GET", "/a", "/a?x=1", 404, Duration::from_millis(7), Some(&note));
        assert_eq!(monitor.snapshot(None).endpoints["GET:/a"].requests.total, 2);
        let recent = monitor.snapshot(Some(Duration::from_secs(60)));
        assert_eq!(recent.endpoints["GET:/a"].requests.error, 1);
        assert_eq!(recent.endpoints["GET:/a"].requests.total, 1);
        let log = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
        let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
        assert_eq!(last["code"], 1002);
        assert_eq!(last["status"], 404);
        assert_eq!(last["path"], "/a?x=1");
        assert!(recent.memory().current > 0.0, "RSS is read at snapshot time");
    }
}
