//! `GET /api/v1/report?format=html|json|md&type=performance|quality|all` and
//! `GET /reports/{file}`.
//!
//! A report is written to `<data_dir>/reports/<type>_<UTC stamp>.<format>` and served at
//! `/reports/<file>`; files older than the monitoring config's `report_retention_days` are
//! deleted when a new one is written. Everything in it is measured:
//!
//! - performance: per-endpoint requests, success rate and latency (from the monitor), this
//!   process's memory and CPU over time, and the clip pipeline's per-stage wall time (each
//!   node's duration in the last runs; `plan` is the LLM's inference);
//! - quality, per finished clip: output vs input duration, segment count and lengths, fit to
//!   `max_duration`, focus-keyword coverage (share of keywords heard in the kept cues), cuts
//!   that land in silence, cuts inside a cue's speech, whether every preserved range is in.
//!
//! HTML reports draw their charts as inline SVG (no scripts, no network).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path as AxumPath, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use reelflow_store::{RunFilter, RunRecord, RunState};
use serde::Deserialize;

use super::{ClipError, GENERATE_WORKFLOW, task_id};
use crate::monitor::{Snapshot, compact_stamp, now_ms, rfc3339_s};
use crate::state::AppState;

/// How many recent runs the quality and stage sections look at.
const RECENT_RUNS: u32 = 100;
/// The pipeline's stages in order (node ids of `clipsmaster/generate`).
const STAGES: [&str; 8] = ["probe", "subs", "silences", "prompt", "plan", "assemble", "cut", "project"];

#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    format: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// One finished clip's quality row.
struct ClipQuality {
    task_id: String,
    status: &'static str,
    input_duration: f64,
    output_duration: f64,
    quality: serde_json::Value,
}

/// Everything a report shows.
struct ReportData {
    generated_ms: u64,
    kind: String,
    snapshot: Snapshot,
    stages: Vec<(String, f64, usize)>,
    clips: Vec<ClipQuality>,
    summary: serde_json::Value,
}

/// `GET /api/v1/report`.
pub async fn report(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> Result<Response, ClipError> {
    let format = q.format.unwrap_or_else(|| "html".into());
    if !matches!(format.as_str(), "html" | "json" | "md") {
        return Err(ClipError::new(1001, format!("format `{format}` is not one of html, json, md")));
    }
    let kind = q.kind.unwrap_or_else(|| "all".into());
    if !matches!(kind.as_str(), "performance" | "quality" | "all") {
        return Err(ClipError::new(1001, format!("type `{kind}` is not one of performance, quality, all")));
    }
    let data = gather(&state, &kind).await?;
    let text = match format.as_str() {
        "html" => render_html(&data),
        "md" => render_markdown(&data),
        _ => serde_json::to_string_pretty(&render_json(&data)).unwrap_or_default(),
    };
    let dir = state.runtime().config().reports_dir();
    let written = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let name = format!("{kind}_{}.{format}", compact_stamp(data.generated_ms));
        let retention = state.inner.monitor.config().report_retention_days;
        move || write_report(&dir, &name, &text, retention)
    })
    .await
    .map_err(|e| ClipError::new(2001, format!("writing the report: {e}")))?
    .map_err(|e| ClipError::new(2001, format!("writing the report in {}: {e}", dir.display())))?;
    let name = written.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    Ok(Json(serde_json::json!({
        "report_url": format!("/reports/{name}"),
        "report_path": written.display().to_string(),
        "generated_time": rfc3339_s(data.generated_ms),
        "format": format,
        "type": kind,
        "summary": data.summary,
    }))
    .into_response())
}

/// Writes `name` (or `name` with a counter when a report of the same second exists) and
/// deletes reports older than the retention.
fn write_report(dir: &std::path::Path, name: &str, text: &str, retention_days: f64) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let cutoff = std::time::SystemTime::now().checked_sub(Duration::from_secs_f64(retention_days.max(0.0) * 86_400.0));
    if let Some(cutoff) = cutoff {
        for entry in std::fs::read_dir(dir)?.flatten() {
            let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
            if old && entry.path().is_file() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "txt"));
    let mut path = dir.join(name);
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{stem}_{n}.{ext}"));
        n += 1;
    }
    let partial = path.with_extension(format!("{ext}.partial"));
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

async fn gather(state: &AppState, kind: &str) -> Result<ReportData, ClipError> {
    let monitor = &state.inner.monitor;
    let snapshot = monitor.snapshot(None);
    let page = state.store().list_runs(RunFilter { status: None, limit: RECENT_RUNS, after: None }).await?;
    let runs: Vec<RunRecord> = page.runs.into_iter().filter(|r| r.workflow == GENERATE_WORKFLOW).collect();

    let mut stage_ms: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.status.is_finished()) {
        for (node, record) in state.store().node_runs(&run.id).await? {
            if let Some(stage) = STAGES.iter().find(|s| **s == node) {
                let slot = stage_ms.entry(stage).or_default();
                slot.0 += record.duration_ms as f64;
                slot.1 += 1;
            }
        }
    }
    let stages = STAGES
        .iter()
        .filter_map(|s| stage_ms.get(s).map(|(sum, n)| (s.to_string(), (sum / *n as f64).round(), *n)))
        .collect();
    let clips = runs
        .iter()
        .filter(|r| r.status.is_finished())
        .map(|r| {
            let outputs = r.outputs.clone().unwrap_or_default();
            ClipQuality {
                task_id: task_id(&r.id),
                status: if r.status == RunState::Succeeded { "success" } else { "failed" },
                input_duration: outputs.get("input_duration").and_then(|v| v.as_f64()).unwrap_or(0.0),
                output_duration: outputs.get("output_duration").and_then(|v| v.as_f64()).unwrap_or(0.0),
                quality: outputs.get("quality").cloned().unwrap_or(serde_json::Value::Null),
            }
        })
        .collect();

    let (_, success_rate, avg_ms, p95) = snapshot.overall();
    let memory = snapshot.memory();
    let cpu = snapshot.cpu();
    let config = monitor.config();
    let memory_mb = memory.current / (1024.0 * 1024.0);
    let error_rate = 1.0 - success_rate;
    let limit_gb = config.thresholds.memory_mb.critical / 1024.0;
    let summary = serde_json::json!({
        "overall_status": config.grade(memory_mb, cpu.current, error_rate, p95),
        "avg_response_time": avg_ms,
        "success_rate": success_rate,
        "memory_usage": format!("{:.1}GB/{:.1}GB", memory_mb / 1024.0, limit_gb),
    });
    Ok(ReportData { generated_ms: now_ms(), kind: kind.to_owned(), snapshot, stages, clips, summary })
}

fn shows_performance(data: &ReportData) -> bool {
    data.kind != "quality"
}

fn shows_quality(data: &ReportData) -> bool {
    data.kind != "performance"
}

fn q_f64(q: &serde_json::Value, key: &str) -> Option<f64> {
    q.get(key).and_then(|v| v.as_f64())
}

fn render_json(data: &ReportData) -> serde_json::Value {
    let mut out = serde_json::json!({
        "generated_time": rfc3339_s(data.generated_ms),
        "type": data.kind,
        "summary": data.summary,
    });
    if shows_performance(data) {
        out["performance"] = serde_json::json!({
            "uptime": data.snapshot.uptime_s,
            "endpoints": data.snapshot.endpoints,
            "system": {"memory": data.snapshot.memory(), "cpu": data.snapshot.cpu()},
            "samples": data.snapshot.system,
            "stages_ms": data.stages.iter().map(|(s, ms, n)| serde_json::json!({"stage": s, "mean_ms": ms, "runs": n})).collect::<Vec<_>>(),
        });
    }
    if shows_quality(data) {
        out["quality"] = serde_json::json!(
            data.clips
                .iter()
                .map(|c| serde_json::json!({
                    "task_id": c.task_id,
                    "status": c.status,
                    "input_duration": c.input_duration,
                    "output_duration": c.output_duration,
                    "metrics": c.quality,
                }))
                .collect::<Vec<_>>()
        );
    }
    out
}

fn fmt_opt(v: Option<f64>, scale: f64, unit: &str) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{:.1}{unit}", v * scale))
}

/// The per-clip quality row, as table cells.
fn quality_cells(c: &ClipQuality) -> [String; 9] {
    let q = &c.quality;
    [
        c.task_id.clone(),
        c.status.into(),
        format!("{:.1} s / {:.1} s", c.output_duration, c.input_duration),
        q_f64(q, "segments").map_or("–".into(), |v| format!("{v}")),
        match (q_f64(q, "shortest_segment"), q_f64(q, "mean_segment"), q_f64(q, "longest_segment")) {
            (Some(a), Some(b), Some(c)) => format!("{a:.1} / {b:.1} / {c:.1} s"),
            _ => "–".into(),
        },
        fmt_opt(q_f64(q, "target_fit"), 100.0, " %"),
        fmt_opt(q_f64(q, "focus_coverage"), 100.0, " %"),
        fmt_opt(q_f64(q, "cuts_in_silence"), 100.0, " %"),
        fmt_opt(q_f64(q, "cuts_mid_cue"), 100.0, " %"),
    ]
}

const QUALITY_HEADERS: [&str; 9] = [
    "task",
    "status",
    "output / input",
    "segments",
    "shortest / mean / longest",
    "fit to max_duration",
    "focus coverage",
    "cuts in silence",
    "cuts mid-cue",
];

fn render_markdown(data: &ReportData) -> String {
    let mut md = String::new();
    let s = &data.summary;
    let _ = writeln!(md, "# Reelflow report ({})\n\nGenerated {} UTC.\n", data.kind, rfc3339_s(data.generated_ms));
    let _ = writeln!(
        md,
        "| overall status | avg response time | success rate | memory |\n|---|---|---|---|\n| {} | {} ms | {} | {} |\n",
        s["overall_status"].as_str().unwrap_or(""),
        s["avg_response_time"],
        s["success_rate"],
        s["memory_usage"].as_str().unwrap_or("")
    );
    if shows_performance(data) {
        md.push_str("## Endpoints\n\n| endpoint | requests | success rate | avg ms | min ms | max ms | p95 ms |\n|---|---|---|---|---|---|---|\n");
        for (name, e) in &data.snapshot.endpoints {
            let _ = writeln!(
                md,
                "| `{name}` | {} | {} | {} | {} | {} | {} |",
                e.requests.total, e.requests.success_rate, e.latency.avg, e.latency.min, e.latency.max, e.latency.p95
            );
        }
        let (m, c) = (data.snapshot.memory(), data.snapshot.cpu());
        let mb = |v: f64| (v / (1024.0 * 1024.0)).round();
        let _ = writeln!(
            md,
            "\n## System (this process)\n\n| | current | peak | average |\n|---|---|---|---|\n| memory MB | {} | {} | {} |\n| CPU % | {} | {} | {} |\n",
            mb(m.current),
            mb(m.peak),
            mb(m.average),
            c.current,
            c.peak,
            c.average
        );
        md.push_str("## Pipeline stages (mean wall time)\n\n| stage | mean ms | runs |\n|---|---|---|\n");
        for (stage, ms, n) in &data.stages {
            let _ = writeln!(md, "| {stage} | {ms} | {n} |");
        }
        md.push('\n');
    }
    if shows_quality(data) {
        md.push_str("## Clip quality\n\n| ");
        md.push_str(&QUALITY_HEADERS.join(" | "));
        md.push_str(" |\n|");
        md.push_str(&"---|".repeat(QUALITY_HEADERS.len()));
        md.push('\n');
        for c in &data.clips {
            let _ = writeln!(md, "| {} |", quality_cells(c).join(" | "));
        }
        if data.clips.is_empty() {
            md.push_str("\nNo finished clips yet.\n");
        }
    }
    md
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A horizontal bar chart: one bar per label, scaled to the largest value.
fn bar_chart(title: &str, bars: &[(String, f64)], unit: &str) -> String {
    let (width, row, label_w) = (640.0, 22.0, 230.0);
    let height = 30.0 + row * bars.len().max(1) as f64;
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let mut svg = format!(
        r#"<figure><figcaption>{}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">"#,
        esc(title)
    );
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let w = (width - label_w - 90.0) * value / max;
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end" font-size="12">{}</text><rect x="{label_w}" y="{y}" width="{w:.1}" height="{}" fill="#4e79a7"/><text x="{}" y="{}" font-size="12">{value:.1} {}</text>"##,
            label_w - 6.0,
            y + 14.0,
            esc(label),
            row - 6.0,
            label_w + w + 4.0,
            y + 14.0,
            esc(unit)
        );
    }
    if bars.is_empty() {
        svg.push_str(r#"<text x="10" y="24" font-size="12">no data yet</text>"#);
    }
    svg.push_str("</svg></figure>");
    svg
}

/// A line chart of (t seconds, value) points.
fn line_chart(title: &str, points: &[(f64, f64)], unit: &str) -> String {
    let (width, height, pad) = (640.0, 180.0, 40.0);
    let mut svg = format!(
        r#"<figure><figcaption>{}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">"#,
        esc(title)
    );
    let (t0, t1) = (points.first().map_or(0.0, |p| p.0), points.last().map_or(1.0, |p| p.0));
    let span = (t1 - t0).max(1e-9);
    let vmax = points.iter().map(|p| p.1).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let xy = |(t, v): (f64, f64)| {
        (pad + (width - 2.0 * pad) * (t - t0) / span, height - pad + 10.0 - (height - pad - 10.0) * v / vmax)
    };
    let path: Vec<String> = points
        .iter()
        .map(|p| {
            let (x, y) = xy(*p);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = write!(
        svg,
        r##"<line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" stroke="#999"/><text x="4" y="18" font-size="11">{vmax:.1} {u}</text><text x="{pad}" y="{t}" font-size="11">0 s</text><text x="{r}" y="{t}" text-anchor="end" font-size="11">{span:.0} s</text><polyline fill="none" stroke="#e15759" stroke-width="2" points="{}"/>"##,
        path.join(" "),
        b = height - pad + 10.0,
        r = width - pad,
        t = height - 8.0,
        u = esc(unit)
    );
    svg.push_str("</svg></figure>");
    svg
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut html = String::from("<table><tr>");
    for h in headers {
        let _ = write!(html, "<th>{}</th>", esc(h));
    }
    html.push_str("</tr>");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let _ = write!(html, "<td>{}</td>", esc(cell));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

fn render_html(data: &ReportData) -> String {
    let s = &data.summary;
    let mut body =
        format!("<h1>Reelflow report ({})</h1><p>Generated {} UTC.</p>", esc(&data.kind), rfc3339_s(data.generated_ms));
    let status = s["overall_status"].as_str().unwrap_or("");
    body.push_str(&table(
        &["overall status", "avg response time", "success rate", "memory"],
        &[vec![
            status.to_owned(),
            format!("{} ms", s["avg_response_time"]),
            format!("{:.1} %", s["success_rate"].as_f64().unwrap_or(0.0) * 100.0),
            s["memory_usage"].as_str().unwrap_or("").to_owned(),
        ]],
    ));
    if shows_performance(data) {
        let snap = &data.snapshot;
        body.push_str("<h2>Endpoints</h2>");
        let rows: Vec<Vec<String>> = snap
            .endpoints
            .iter()
            .map(|(n, e)| {
                vec![
                    n.clone(),
                    e.requests.total.to_string(),
                    format!("{:.1} %", e.requests.success_rate * 100.0),
                    e.latency.avg.to_string(),
                    e.latency.min.to_string(),
                    e.latency.max.to_string(),
                    e.latency.p95.to_string(),
                ]
            })
            .collect();
        body.push_str(&table(&["endpoint", "requests", "success", "avg ms", "min ms", "max ms", "p95 ms"], &rows));
        let p95: Vec<(String, f64)> = snap.endpoints.iter().map(|(n, e)| (n.clone(), e.latency.p95)).collect();
        body.push_str(&bar_chart("Latency p95 by endpoint", &p95, "ms"));
        let t0 = snap.system.first().map_or(0, |s| s.at_ms);
        let at = |ms: u64| (ms.saturating_sub(t0)) as f64 / 1000.0;
        let memory: Vec<(f64, f64)> =
            snap.system.iter().map(|s| (at(s.at_ms), s.memory_bytes as f64 / (1024.0 * 1024.0))).collect();
        let cpu: Vec<(f64, f64)> = snap.system.iter().map(|s| (at(s.at_ms), s.cpu_percent)).collect();
        body.push_str("<h2>System (this process)</h2>");
        body.push_str(&line_chart("Memory (RSS)", &memory, "MB"));
        body.push_str(&line_chart("CPU (share of the machine)", &cpu, "%"));
        body.push_str("<h2>Pipeline stages</h2>");
        let stages: Vec<(String, f64)> = data.stages.iter().map(|(s, ms, _)| (s.clone(), *ms)).collect();
        body.push_str(&bar_chart("Mean wall time per stage (plan = LLM inference)", &stages, "ms"));
    }
    if shows_quality(data) {
        body.push_str("<h2>Clip quality</h2>");
        let rows: Vec<Vec<String>> = data.clips.iter().map(|c| quality_cells(c).to_vec()).collect();
        body.push_str(&table(&QUALITY_HEADERS, &rows));
        // One bar per clip that has the measure, as a percentage.
        let percent_chart = |title: &str, key: &str| {
            let bars: Vec<(String, f64)> = data
                .clips
                .iter()
                .filter_map(|c| q_f64(&c.quality, key).map(|v| (c.task_id.clone(), v * 100.0)))
                .collect();
            bar_chart(title, &bars, "%")
        };
        body.push_str(&percent_chart("Focus-keyword coverage", "focus_coverage"));
        body.push_str(&percent_chart("Cuts that land in silence", "cuts_in_silence"));
        let ratio: Vec<(String, f64)> = data
            .clips
            .iter()
            .filter(|c| c.input_duration > 0.0)
            .map(|c| (c.task_id.clone(), c.output_duration / c.input_duration * 100.0))
            .collect();
        body.push_str(&bar_chart("Output length as a share of the episode", &ratio, "%"));
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Reelflow report</title><style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}figure{{margin:1em 0}}figcaption{{font-weight:bold}}</style></head><body>{body}</body></html>"
    )
}

/// `GET /reports/{file}`: a report written by `GET /api/v1/report`.
pub async fn serve_report(State(state): State<AppState>, AxumPath(name): AxumPath<String>) -> Response {
    let valid =
        !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("json") => "application/json",
        _ => "",
    };
    if !valid || content_type.is_empty() {
        return ClipError::new(1001, format!("`{name}` is not a report name")).into_response();
    }
    let path = state.runtime().config().reports_dir().join(&name);
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(_) => ClipError::new(1002, format!("no report `{name}` (reports are kept for the configured retention)"))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_scale_and_escape() {
        let svg = bar_chart("a<b", &[("x".into(), 10.0), ("y&z".into(), 5.0)], "ms");
        assert!(svg.contains("a&lt;b") && svg.contains("y&amp;z"));
        assert_eq!(svg.matches("<rect").count(), 2);
        let line = line_chart("m", &[(0.0, 1.0), (5.0, 3.0)], "MB");
        assert!(line.contains("<polyline") && line.contains("3.0 MB"));
    }

    #[test]
    fn reports_get_fresh_names_and_old_ones_expire() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_report(dir.path(), "all_20261123_213000.md", "a", 30.0).unwrap();
        let b = write_report(dir.path(), "all_20261123_213000.md", "b", 30.0).unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "b");
        let c = write_report(dir.path(), "all_20261123_213001.md", "c", 0.0).unwrap();
        assert!(!a.exists() && !b.exists() && c.exists(), "a retention of 0 days keeps only the new report");
    }
}
