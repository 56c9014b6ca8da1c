//! `reelflow tools log-analyzer`: reads the server's two logs and reports where time goes
//! and what goes wrong.
//!
//! - `access.log`: JSON Lines, one per HTTP request —
//!   `{"ts", "method", "route", "path", "status", "latency_ms"}` and, on errors, `"error"`
//!   and usually `"code"`. Reported: the time range, per-route counts, error rates and
//!   latencies, the routes whose p95 is over `--slow-ms`, the `--top` slowest requests,
//!   and the errors grouped into patterns.
//! - `reelflow.log`: tracing's text lines (`<ts> <LEVEL> [spans: ]<target>: <message>`).
//!   Reported: lines per level and the ERROR and WARN lines grouped into patterns.
//!
//! A pattern is a message with its variable parts replaced (numbers and ids by `<n>`,
//! quoted strings by `"<str>"`, absolute paths by `<path>`), so that "file /a.mp4 is 3 s
//! long" and "file /b.mp4 is 7 s long" count as one. Lines that cannot be read are counted
//! and skipped.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub const ACCESS_LOG: &str = "access.log";
pub const APP_LOG: &str = "reelflow.log";

#[derive(clap::Args)]
pub struct LogAnalyzerArgs {
    /// The logs directory (default: `logs/` in the data directory).
    #[arg(long, value_name = "DIR")]
    pub logs: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// A route is slow when its p95 latency is above this many milliseconds.
    #[arg(long, default_value_t = 1000.0)]
    slow_ms: f64,
    /// How many of the slowest requests to list.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    logs_dir: PathBuf,
    /// Log files that were not there.
    missing: Vec<PathBuf>,
    access_log: Option<AccessReport>,
    app_log: Option<AppLogReport>,
}

#[derive(Debug, Serialize)]
struct AccessReport {
    file: PathBuf,
    /// Non-empty lines read.
    lines: u64,
    /// Lines that were not a well-formed request record (skipped).
    malformed: u64,
    requests: u64,
    /// Requests with a status of 400 or more, or with an `error`.
    errors: u64,
    error_rate: f64,
    time_range: Option<TimeRange>,
    slow_ms: f64,
    /// By request count, most first.
    routes: Vec<RouteStats>,
    /// Routes whose p95 latency is above `slow_ms`, slowest first.
    slow_routes: Vec<RouteStats>,
    /// The slowest single requests, slowest first.
    slowest_requests: Vec<SlowRequest>,
    /// By count, most first.
    error_patterns: Vec<ErrorPattern>,
}

#[derive(Clone, Debug, Serialize)]
struct TimeRange {
    first: String,
    last: String,
    span_s: f64,
}

#[derive(Clone, Debug, Serialize)]
struct RouteStats {
    method: String,
    route: String,
    requests: u64,
    errors: u64,
    error_rate: f64,
    avg_ms: f64,
    p95_ms: f64,
    max_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
struct SlowRequest {
    ts: String,
    method: String,
    path: String,
    status: u16,
    latency_ms: f64,
}

#[derive(Debug, Serialize)]
struct ErrorPattern {
    method: String,
    route: String,
    status: u16,
    code: Option<i64>,
    /// The normalised error message.
    pattern: String,
    count: u64,
    first: String,
    last: String,
    /// The first request of the pattern.
    example: ErrorExample,
}

#[derive(Debug, Serialize)]
struct ErrorExample {
    ts: String,
    path: String,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct AppLogReport {
    file: PathBuf,
    /// Non-empty lines read.
    lines: u64,
    /// Lines that are not `<ts> <LEVEL> …` (continuations of multi-line messages, noise).
    malformed: u64,
    time_range: Option<TimeRange>,
    /// Lines per level.
    levels: BTreeMap<String, u64>,
    /// ERROR and WARN lines grouped by level, target and normalised message; most first.
    patterns: Vec<LogPattern>,
}

#[derive(Debug, Serialize)]
struct LogPattern {
    level: String,
    target: String,
    pattern: String,
    count: u64,
    first: String,
    last: String,
    /// The first line's message.
    example: String,
}

pub fn log_analyzer(logs: &Path, args: &LogAnalyzerArgs) -> anyhow::Result<ExitCode> {
    if !logs.is_dir() {
        eprintln!(
            "error: the logs directory {} does not exist (the server writes it; pass --logs DIR to read another)",
            logs.display()
        );
        return Ok(ExitCode::from(crate::EXIT_FAILED));
    }
    let access_path = logs.join(ACCESS_LOG);
    let app_path = logs.join(APP_LOG);
    let mut missing = Vec::new();
    let access_log = if access_path.is_file() {
        Some(analyze_access(&access_path, args.slow_ms, args.top)?)
    } else {
        missing.push(access_path);
        None
    };
    let app_log = if app_path.is_file() {
        Some(analyze_app_log(&app_path)?)
    } else {
        missing.push(app_path);
        None
    };
    for path in &missing {
        eprintln!("note: {} is missing; nothing to report from it", path.display());
    }
    let report = Report { logs_dir: logs.to_path_buf(), missing, access_log, app_log };
    if report.access_log.is_none() && report.app_log.is_none() {
        eprintln!("error: no log files in {} (expected {ACCESS_LOG} and {APP_LOG})", logs.display());
        return Ok(ExitCode::from(crate::EXIT_FAILED));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, args.top);
    }
    Ok(ExitCode::SUCCESS)
}

/// Calls `each` with every non-empty line; a line that is not UTF-8 is passed as `None`.
fn for_each_line(path: &Path, mut each: impl FnMut(Option<&str>)) -> anyhow::Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).with_context(|| format!("reading {}", path.display()))? == 0 {
            return Ok(());
        }
        match std::str::from_utf8(&buf) {
            Ok(line) if line.trim().is_empty() => {}
            Ok(line) => each(Some(line.trim_end_matches(['\n', '\r']))),
            Err(_) => each(None),
        }
    }
}

/// One line of `access.log`.
#[derive(Deserialize)]
struct AccessEntry {
    ts: String,
    method: String,
    route: String,
    #[serde(default)]
    path: String,
    status: u16,
    latency_ms: f64,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Default)]
struct RouteAcc {
    latencies: Vec<f64>,
    errors: u64,
}

struct PatternAcc {
    count: u64,
    first: String,
    last: String,
    example: ErrorExample,
}

/// The earliest and latest timestamps seen, by their parsed time.
#[derive(Default)]
struct Span {
    first: Option<(f64, String)>,
    last: Option<(f64, String)>,
}

impl Span {
    fn see(&mut self, at: f64, text: &str) {
        if self.first.as_ref().is_none_or(|(t, _)| at < *t) {
            self.first = Some((at, text.to_owned()));
        }
        if self.last.as_ref().is_none_or(|(t, _)| at > *t) {
            self.last = Some((at, text.to_owned()));
        }
    }

    fn range(self) -> Option<TimeRange> {
        let ((t0, first), (t1, last)) = (self.first?, self.last?);
        Some(TimeRange { first, last, span_s: t1 - t0 })
    }
}

fn analyze_access(path: &Path, slow_ms: f64, top: usize) -> anyhow::Result<AccessReport> {
    let (mut lines, mut malformed, mut errors) = (0u64, 0u64, 0u64);
    let mut span = Span::default();
    let mut routes: HashMap<(String, String), RouteAcc> = HashMap::new();
    let mut patterns: HashMap<(String, String, u16, Option<i64>, String), PatternAcc> = HashMap::new();
    let mut slowest: Vec<SlowRequest> = Vec::new();
    for_each_line(path, |line| {
        lines += 1;
        let Some(entry) = line.and_then(|l| serde_json::from_str::<AccessEntry>(l).ok()) else {
            malformed += 1;
            return;
        };
        let Some(at) = parse_timestamp(&entry.ts) else {
            malformed += 1;
            return;
        };
        if !entry.latency_ms.is_finite() || entry.latency_ms < 0.0 {
            malformed += 1;
            return;
        }
        span.see(at, &entry.ts);
        let failed = entry.status >= 400 || entry.error.is_some();
        let acc = routes.entry((entry.method.clone(), entry.route.clone())).or_default();
        acc.latencies.push(entry.latency_ms);
        if failed {
            acc.errors += 1;
            errors += 1;
            let pattern = entry.error.as_deref().map(normalise).unwrap_or_default();
            let key = (entry.method.clone(), entry.route.clone(), entry.status, entry.code, pattern);
            let acc = patterns.entry(key).or_insert_with(|| PatternAcc {
                count: 0,
                first: entry.ts.clone(),
                last: entry.ts.clone(),
                example: ErrorExample { ts: entry.ts.clone(), path: entry.path.clone(), error: entry.error.clone() },
            });
            acc.count += 1;
            acc.last = entry.ts.clone();
        }
        if top > 0 && (slowest.len() < top || slowest.last().is_some_and(|s| entry.latency_ms > s.latency_ms)) {
            slowest.push(SlowRequest {
                ts: entry.ts,
                method: entry.method,
                path: if entry.path.is_empty() { entry.route } else { entry.path },
                status: entry.status,
                latency_ms: entry.latency_ms,
            });
            slowest.sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms));
            slowest.truncate(top);
        }
    })?;

    let mut route_stats: Vec<RouteStats> = routes
        .into_iter()
        .map(|((method, route), mut acc)| {
            acc.latencies.sort_by(f64::total_cmp);
            let n = acc.latencies.len();
            RouteStats {
                method,
                route,
                requests: n as u64,
                errors: acc.errors,
                error_rate: acc.errors as f64 / n as f64,
                avg_ms: acc.latencies.iter().sum::<f64>() / n as f64,
                p95_ms: percentile(&acc.latencies, 0.95),
                max_ms: acc.latencies.last().copied().unwrap_or(0.0),
            }
        })
        .collect();
    route_stats
        .sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| (&a.route, &a.method).cmp(&(&b.route, &b.method))));
    let mut slow_routes: Vec<RouteStats> = route_stats.iter().filter(|r| r.p95_ms > slow_ms).cloned().collect();
    slow_routes.sort_by(|a, b| b.p95_ms.total_cmp(&a.p95_ms));
    let mut error_patterns: Vec<ErrorPattern> = patterns
        .into_iter()
        .map(|((method, route, status, code, pattern), acc)| ErrorPattern {
            method,
            route,
            status,
            code,
            pattern,
            count: acc.count,
            first: acc.first,
            last: acc.last,
            example: acc.example,
        })
        .collect();
    error_patterns.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.first.cmp(&b.first)));
    let requests = lines - malformed;
    Ok(AccessReport {
        file: path.to_path_buf(),
        lines,
        malformed,
        requests,
        errors,
        error_rate: if requests == 0 { 0.0 } else { errors as f64 / requests as f64 },
        time_range: span.range(),
        slow_ms,
        routes: route_stats,
        slow_routes,
        slowest_requests: slowest,
        error_patterns,
    })
}

/// Nearest rank of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

/// A parsed line of `reelflow.log`.
#[derive(Debug, PartialEq)]
struct AppLine<'a> {
    ts: &'a str,
    at: f64,
    level: &'a str,
    target: &'a str,
    message: &'a str,
}

/// `<ts> <LEVEL> [span{..}:span{..}: ]<target>: <message>`, as tracing-subscriber's `fmt`
/// writes it without colours.
fn parse_app_line(line: &str) -> Option<AppLine<'_>> {
    let (ts, rest) = line.split_once(' ')?;
    let at = parse_timestamp(ts)?;
    let (level, rest) = rest.trim_start().split_once(' ').unwrap_or((rest.trim(), ""));
    let level = LEVELS.into_iter().find(|l| *l == level)?;
    let rest = rest.trim_start();
    // Spans come first and carry `{fields}` or `:`-joined names; the target is a Rust path.
    let mut segments = Vec::new();
    let mut remaining = rest;
    while let Some((segment, after)) = remaining.split_once(": ") {
        if segments.len() == 3 {
            break;
        }
        segments.push((segment, after));
        remaining = after;
    }
    let is_path = |s: &str| {
        !s.is_empty() && s.split("::").all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
    };
    let mut chosen = segments.iter().position(|(s, _)| is_path(s));
    // A span without fields (`run: reelflow_core::executor: …`) looks like a crate-level
    // target; a `::` path right after it is the better guess.
    if let Some(i) = chosen
        && !segments[i].0.contains("::")
        && segments.get(i + 1).is_some_and(|(s, _)| is_path(s) && s.contains("::"))
    {
        chosen = Some(i + 1);
    }
    let chosen = chosen.map(|i| &segments[i]);
    let (target, message) = match chosen {
        Some((target, message)) => (*target, *message),
        None => ("", rest),
    };
    Some(AppLine { ts, at, level, target, message })
}

/// Removes ANSI colour sequences (a log written from a terminal's stderr has them).
fn strip_ansi(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('\u{1b}') {
        return line.into();
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

fn analyze_app_log(path: &Path) -> anyhow::Result<AppLogReport> {
    let (mut lines, mut malformed) = (0u64, 0u64);
    let mut span = Span::default();
    let mut levels: BTreeMap<String, u64> = BTreeMap::new();
    let mut patterns: HashMap<(String, String, String), LogPattern> = HashMap::new();
    for_each_line(path, |line| {
        lines += 1;
        let Some(line) = line.map(strip_ansi) else {
            malformed += 1;
            return;
        };
        let Some(parsed) = parse_app_line(&line) else {
            malformed += 1;
            return;
        };
        span.see(parsed.at, parsed.ts);
        *levels.entry(parsed.level.to_owned()).or_insert(0) += 1;
        if matches!(parsed.level, "ERROR" | "WARN") {
            let pattern = normalise(parsed.message);
            let key = (parsed.level.to_owned(), parsed.target.to_owned(), pattern.clone());
            let acc = patterns.entry(key).or_insert_with(|| LogPattern {
                level: parsed.level.to_owned(),
                target: parsed.target.to_owned(),
                pattern,
                count: 0,
                first: parsed.ts.to_owned(),
                last: parsed.ts.to_owned(),
                example: parsed.message.to_owned(),
            });
            acc.count += 1;
            acc.last = parsed.ts.to_owned();
        }
    })?;
    let mut patterns: Vec<LogPattern> = patterns.into_values().collect();
    // ERROR before WARN, then most frequent first.
    patterns.sort_by(|a, b| a.level.cmp(&b.level).then(b.count.cmp(&a.count)).then_with(|| a.first.cmp(&b.first)));
    Ok(AppLogReport { file: path.to_path_buf(), lines, malformed, time_range: span.range(), levels, patterns })
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp
/// (`2026-11-23T21:30:00.123Z`, `2026-11-23T22:30:00+01:00`).
fn parse_timestamp(ts: &str) -> Option<f64> {
    let b = ts.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = ts.get(range)?;
        if s.bytes().all(|c| c.is_ascii_digit()) { s.parse().ok() } else { None }
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &ts[19..];
    let mut fraction = 0.0;
    if let Some(after) = rest.strip_prefix('.') {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        fraction = format!("0.{}", &after[..digits]).parse().ok()?;
        rest = &after[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (h, m) = (rest[1..3].parse::<i64>().ok()?, rest[4..6].parse::<i64>().ok()?);
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset_s) as f64 + fraction)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A message with its variable parts replaced: quoted strings by `"<str>"`, absolute paths
/// by `<path>`, numbers (and hex ids, and the digits inside words such as `1500ms`) by `<n>`.
fn normalise(message: &str) -> String {
    let chars: Vec<char> = message.chars().collect();
    let mut out = String::with_capacity(message.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let at_word_start = prev.is_none_or(|p| !p.is_alphanumeric() && p != '_');
        if matches!(c, '"' | '\'' | '`')
            && at_word_start
            && let Some(end) = (i + 1..chars.len()).find(|&j| chars[j] == c && chars[j - 1] != '\\')
        {
            out.push(c);
            out.push_str("<str>");
            out.push(c);
            i = end + 1;
            continue;
        }
        let path_may_start = prev.is_none_or(|p| p.is_whitespace() || "([{=,".contains(p))
            || (prev == Some(':') && chars.get(i + 1) != Some(&'/'));
        if c == '/' && path_may_start && chars.get(i + 1).is_some_and(|n| !n.is_whitespace()) {
            let mut end = i + 1;
            while end < chars.len() && !chars[end].is_whitespace() && !"\"'`,;)]}".contains(chars[end]) {
                end += 1;
            }
            end = extend_over_spaces(&chars, i, end);
            // A sentence may end right after the path.
            while end > i + 1 && matches!(chars[end - 1], '.' | ':') {
                end -= 1;
            }
            out.push_str("<path>");
            i = end;
            continue;
        }
        if c.is_ascii_alphanumeric() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            normalise_word(&word, &mut out);
            continue;
        }
        out.push(c);
        i += 1;
    }
    // Decimals: `<n>.<n>` is one number.
    while out.contains("<n>.<n>") {
        out = out.replace("<n>.<n>", "<n>");
    }
    out
}

/// File names may hold spaces (`/clips/episode 7.mp4`): a path whose last part has no
/// extension takes in up to three more words when the last of them ends like a file name
/// (`.mp4`, `.srt`) and none of them starts another path or holds a quote.
fn extend_over_spaces(chars: &[char], start: usize, end: usize) -> usize {
    if has_extension(&chars[start..end]) {
        return end;
    }
    let mut word_end = end;
    for _ in 0..3 {
        if chars.get(word_end) != Some(&' ') {
            break;
        }
        let word_start = word_end + 1;
        word_end = word_start;
        while word_end < chars.len() && !chars[word_end].is_whitespace() {
            word_end += 1;
        }
        let word = &chars[word_start..word_end];
        if word.first().is_none_or(|c| *c == '/') || word.iter().any(|c| "\"'`,;()[]{}".contains(*c)) {
            break;
        }
        if has_extension(word) {
            return word_end;
        }
    }
    end
}

/// Whether the last part of `path` is `name.ext` with an extension of one to five letters
/// or digits, starting with a letter (a full stop or colon after it is punctuation).
fn has_extension(path: &[char]) -> bool {
    let mut name = path.rsplit(|c| *c == '/').next().unwrap_or_default();
    while let [rest @ .., '.' | ':'] = name {
        name = rest;
    }
    let Some(dot) = name.iter().rposition(|c| *c == '.') else { return false };
    let ext = &name[dot + 1..];
    dot > 0
        && (1..=5).contains(&ext.len())
        && ext[0].is_ascii_alphabetic()
        && ext.iter().all(char::is_ascii_alphanumeric)
}

fn normalise_word(word: &str, out: &mut String) {
    if !word.bytes().any(|b| b.is_ascii_digit()) {
        out.push_str(word);
    } else if word.bytes().all(|b| b.is_ascii_hexdigit()) {
        out.push_str("<n>");
    } else {
        let mut in_digits = false;
        for c in word.chars() {
            if c.is_ascii_digit() {
                if !in_digits {
                    out.push_str("<n>");
                }
                in_digits = true;
            } else {
                out.push(c);
                in_digits = false;
            }
        }
    }
}

fn print_report(report: &Report, top: usize) {
    println!("Logs: {}", report.logs_dir.display());
    if let Some(a) = &report.access_log {
        print_access(a, top);
    }
    if let Some(l) = &report.app_log {
        print_app_log(l);
    }
}

fn print_range(range: &Option<TimeRange>) {
    match range {
        Some(r) => println!("  time range: {} … {} ({:.1} s)", r.first, r.last, r.span_s),
        None => println!("  time range: none (no readable lines)"),
    }
}

fn print_access(a: &AccessReport, top: usize) {
    println!();
    println!("Access log {}: {} requests, {} malformed lines skipped", a.file.display(), a.requests, a.malformed);
    print_range(&a.time_range);
    println!("  errors: {} ({:.1} %)", a.errors, a.error_rate * 100.0);

    let width = a.routes.iter().map(|r| r.method.len() + 1 + r.route.len()).max().unwrap_or(5).max(5);
    let route_table = |routes: &[RouteStats]| {
        println!(
            "  {:<width$} {:>8} {:>7} {:>10} {:>10} {:>10}",
            "route", "requests", "err %", "avg ms", "p95 ms", "max ms"
        );
        for r in routes {
            println!(
                "  {:<width$} {:>8} {:>6.1}% {:>10.1} {:>10.1} {:>10.1}",
                format!("{} {}", r.method, r.route),
                r.requests,
                r.error_rate * 100.0,
                r.avg_ms,
                r.p95_ms,
                r.max_ms
            );
        }
    };
    println!();
    println!("Requests per route");
    route_table(&a.routes);

    println!();
    println!("Slow routes (p95 > {} ms)", a.slow_ms);
    if a.slow_routes.is_empty() {
        println!("  none");
    } else {
        route_table(&a.slow_routes);
    }

    println!();
    println!("Slowest requests (top {top})");
    for r in &a.slowest_requests {
        println!("  {:>10.1} ms  {}  {} {}  ({})", r.latency_ms, r.status, r.method, r.path, r.ts);
    }

    println!();
    println!("Error patterns");
    if a.error_patterns.is_empty() {
        println!("  none");
    }
    for p in &a.error_patterns {
        let code = p.code.map(|c| format!(" code {c}")).unwrap_or_default();
        let pattern = if p.pattern.is_empty() { "(no message)" } else { &p.pattern };
        println!("  {:>6}×  {} {}  {}{code}  {pattern}", p.count, p.method, p.route, p.status);
        if let Some(error) = &p.example.error {
            println!("           e.g. {error}  ({} at {})", p.example.path, p.example.ts);
        }
    }
}

fn print_app_log(l: &AppLogReport) {
    println!();
    let levels: Vec<String> = l.levels.iter().map(|(level, n)| format!("{level} {n}")).collect();
    println!("Application log {}: {} lines, {} unparsed", l.file.display(), l.lines - l.malformed, l.malformed);
    print_range(&l.time_range);
    println!("  levels: {}", if levels.is_empty() { "none".into() } else { levels.join(", ") });
    println!();
    println!("ERROR and WARN patterns");
    if l.patterns.is_empty() {
        println!("  none");
    }
    for p in &l.patterns {
        println!("  {:>6}×  {:<5} {}  {}", p.count, p.level, p.target, p.pattern);
        if p.count > 1 || p.example != p.pattern {
            println!("           e.g. {}  ({} … {})", p.example, p.first, p.last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_strings_and_paths_become_placeholders() {
        assert_eq!(normalise("video_path: /x.mp4 does not exist"), "video_path: <path> does not exist");
        assert_eq!(
            normalise("segment 3 ends at 12.5s after \"intro\" (limit 1500ms)"),
            "segment <n> ends at <n>s after \"<str>\" (limit <n>ms)"
        );
        assert_eq!(normalise("run run-1763940000000-0a1b2c3d failed"), "run run-<n>-<n> failed");
        assert_eq!(normalise("doesn't exist: 'a b'"), "doesn't exist: '<str>'");
        assert_eq!(normalise("see http://host/a and N/A"), "see http://host/a and N/A");
        assert_eq!(normalise("path=/tmp/a.srt."), "path=<path>.");
        assert_eq!(
            normalise("video_path: /srv/my clips/episode 7.mp4 does not exist"),
            "video_path: <path> does not exist"
        );
        assert_eq!(normalise("/tmp/out is 7.5 GB, /tmp/b.mp4 is not"), "<path> is <n> GB, <path> is not");
    }

    #[test]
    fn timestamps_parse_with_fractions_and_offsets() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_timestamp("2000-03-01T00:00:00Z"), Some(951_868_800.0));
        let a = parse_timestamp("2026-11-23T21:30:00.5Z").expect("parses");
        let b = parse_timestamp("2026-11-23T22:30:00+01:00").expect("parses");
        assert!((a - b - 0.5).abs() < 1e-6);
        assert_eq!(parse_timestamp("2026-11-23 21:30"), None);
        assert_eq!(parse_timestamp("yesterday at noon, more or less"), None);
    }

    #[test]
    fn tracing_lines_split_into_level_target_and_message() {
        let line = "2026-11-23T21:30:00.123456Z  WARN reelflow_worker::worker: lease lost run=run-1 error=x: y";
        let parsed = parse_app_line(line).expect("parses");
        assert_eq!((parsed.level, parsed.target), ("WARN", "reelflow_worker::worker"));
        assert_eq!(parsed.message, "lease lost run=run-1 error=x: y");
        let spans = "2026-11-23T21:30:00Z ERROR run{id=run-1}:node{id=cut}: reelflow_core::executor: node failed";
        let parsed = parse_app_line(spans).expect("parses");
        assert_eq!((parsed.level, parsed.target, parsed.message), ("ERROR", "reelflow_core::executor", "node failed"));
        assert!(parse_app_line("   at src/main.rs:10").is_none());
        assert!(parse_app_line("2026-11-23T21:30:00Z NOTICE x: y").is_none());
    }
}
