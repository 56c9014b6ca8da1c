//! Parsers for SRT, WebVTT and ASS/SSA: tolerant by default (real-world files are messy),
//! strict on request (every problem reported with its line number).

use crate::encoding::decode;
use crate::error::{Error, Problem, Result};
use crate::model::{SubtitleCue, SubtitleFormat, Subtitles, parse_clock, strip_tags};

/// Largest input accepted.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Most cues accepted.
pub const MAX_CUES: usize = 1_000_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Report every deviation from the format as an error (with line numbers) instead of
    /// tolerating it with a warning.
    pub strict: bool,
}

/// Parses subtitle bytes in any supported encoding. The format comes from `hint` or, when
/// absent, from the content.
pub fn parse(bytes: &[u8], hint: Option<SubtitleFormat>, opts: ParseOptions) -> Result<Subtitles> {
    if bytes.len() > MAX_BYTES {
        return Err(Error::TooLarge { max: MAX_BYTES });
    }
    if let Some(kind) = binary_kind(bytes) {
        return Err(Error::NotSubtitles(format!("the file looks like {kind}")));
    }
    let (text, encoding) = decode(bytes);
    let controls = text.chars().filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{feff}')).count();
    if text.contains('\0') || controls * 50 > text.chars().count().max(1) {
        return Err(Error::NotSubtitles("the file holds binary data, not text".into()));
    }
    let format = hint.unwrap_or_else(|| detect(&text));
    let mut log = Log { strict: opts.strict, problems: Vec::new(), warnings: Vec::new() };
    let mut subs = match format {
        SubtitleFormat::Srt => parse_srt(&text, &mut log)?,
        SubtitleFormat::Vtt => parse_vtt(&text, &mut log)?,
        SubtitleFormat::Ass => parse_ass(&text, &mut log)?,
    };
    if !log.problems.is_empty() {
        return Err(Error::Strict(log.problems));
    }
    if subs.cues.is_empty() {
        return Err(Error::NotSubtitles(format!("no subtitle cues found (read as {})", format.extension())));
    }
    for (i, cue) in subs.cues.iter_mut().enumerate() {
        cue.index = i + 1;
    }
    for pair in subs.cues.windows(2) {
        if pair[1].start_ms < pair[0].end_ms {
            log.warnings.push(format!("cues {} and {} overlap", pair[0].index, pair[1].index));
        }
    }
    subs.format = Some(format);
    subs.encoding = encoding.to_owned();
    subs.warnings = log.warnings;
    Ok(subs)
}

/// What a file is when its first bytes say it is not text.
fn binary_kind(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Some("an empty file");
    }
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Some("a JPEG image")
    } else if starts(b"\x89PNG") {
        Some("a PNG image")
    } else if starts(b"GIF8") {
        Some("a GIF image")
    } else if starts(b"%PDF") {
        Some("a PDF document")
    } else if starts(b"PK\x03\x04") {
        Some("a ZIP archive")
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("a Matroska/WebM video")
    } else if bytes.len() > 8 && &bytes[4..8] == b"ftyp" {
        Some("an MP4/MOV video")
    } else if starts(b"RIFF") {
        Some("a RIFF (WAV/AVI) file")
    } else if starts(b"ID3") {
        Some("an MP3 file")
    } else {
        None
    }
}

fn detect(text: &str) -> SubtitleFormat {
    let head: String = text.trim_start_matches('\u{feff}').chars().take(4096).collect();
    let lower = head.to_ascii_lowercase();
    if head.trim_start().starts_with("WEBVTT") {
        SubtitleFormat::Vtt
    } else if lower.contains("[script info]") || lower.contains("[events]") || lower.contains("dialogue:") {
        SubtitleFormat::Ass
    } else {
        SubtitleFormat::Srt
    }
}

/// Problems (strict) and warnings (tolerant) as parsing goes.
struct Log {
    strict: bool,
    problems: Vec<Problem>,
    warnings: Vec<String>,
}

impl Log {
    /// Something the format does not allow: an error in strict mode, a warning otherwise.
    fn deviation(&mut self, line: usize, message: impl Into<String>) {
        let message = message.into();
        if self.strict {
            self.problems.push(Problem { line, message });
        } else {
            self.warnings.push(format!("line {line}: {message}"));
        }
    }
}

fn check_count(cues: &[SubtitleCue]) -> Result<()> {
    if cues.len() > MAX_CUES { Err(Error::TooManyCues { max: MAX_CUES }) } else { Ok(()) }
}

/// `start --> end [settings]`: the two times and whether either used a dot.
fn timing(line: &str) -> Option<(u64, u64, bool)> {
    let (a, b) = line.split_once("-->")?;
    let end_text = b.split_whitespace().next()?;
    let (start, dot_a) = parse_clock(a)?;
    let (end, dot_b) = parse_clock(end_text)?;
    Some((start, end, dot_a || dot_b))
}

fn is_index(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.len() < 10 && t.bytes().all(|b| b.is_ascii_digit())
}

fn parse_srt(text: &str, log: &mut Log) -> Result<Subtitles> {
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut cues = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.is_empty() {
            i += 1;
            continue;
        }
        let mut index = None;
        if is_index(line) && lines.get(i + 1).is_some_and(|l| timing(l).is_some()) {
            index = line.parse::<usize>().ok();
            i += 1;
        }
        let Some((start, end, dot)) = timing(lines[i]) else {
            log.deviation(
                i + 1,
                format!("expected a cue timing like `00:00:01,000 --> 00:00:02,000`, found `{}`", clip(line)),
            );
            i += 1;
            continue;
        };
        let timing_line = i + 1;
        match index {
            None => log.deviation(timing_line, "cue without an index number"),
            Some(n) if n != cues.len() + 1 => {
                log.deviation(timing_line - 1, format!("cue number {n} where {} was expected", cues.len() + 1))
            }
            _ => {}
        }
        if dot {
            log.deviation(timing_line, "milliseconds after a dot; SRT uses a comma");
        }
        if end < start {
            log.deviation(timing_line, "the cue ends before it starts");
        }
        i += 1;
        let mut raw_lines = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            let next_is_cue = timing(lines[i]).is_some()
                || (is_index(lines[i]) && lines.get(i + 1).is_some_and(|l| timing(l).is_some()));
            if next_is_cue {
                log.deviation(i + 1, "missing blank line before the next cue");
                break;
            }
            raw_lines.push(lines[i].trim_end());
            i += 1;
        }
        let raw = raw_lines.join("\n");
        if raw.trim().is_empty() {
            log.deviation(timing_line, "cue without text");
        }
        cues.push(SubtitleCue {
            start_ms: start,
            end_ms: end.max(start),
            text: strip_tags(&raw),
            raw,
            ..Default::default()
        });
        check_count(&cues)?;
    }
    Ok(Subtitles { cues, ..Default::default() })
}

fn parse_vtt(text: &str, log: &mut Log) -> Result<Subtitles> {
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut i = 0;
    while i < lines.len() && lines[i].trim().is_empty() {
        i += 1;
    }
    if lines.get(i).is_some_and(|l| l.starts_with("WEBVTT")) {
        i += 1;
    } else {
        log.deviation(i + 1, "a WebVTT file starts with `WEBVTT`");
    }
    let mut cues = Vec::new();
    while i < lines.len() {
        // Skip to the next block.
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let first = lines[i].trim();
        if first.starts_with("NOTE")
            || first == "STYLE"
            || first == "REGION"
            || (i < 3 && first.contains(':') && !first.contains("-->"))
        {
            // Comment, style and region blocks, and header metadata: not cues.
            while i < lines.len() && !lines[i].trim().is_empty() {
                i += 1;
            }
            continue;
        }
        let mut id = None;
        if timing(lines[i]).is_none() {
            if lines.get(i + 1).is_some_and(|l| timing(l).is_some()) {
                id = Some(first.to_owned());
                i += 1;
            } else {
                log.deviation(
                    i + 1,
                    format!("expected a cue timing like `00:01.000 --> 00:02.000`, found `{}`", clip(first)),
                );
                while i < lines.len() && !lines[i].trim().is_empty() {
                    i += 1;
                }
                continue;
            }
        }
        let (start, end, _) = timing(lines[i]).unwrap_or((0, 0, true));
        if end < start {
            log.deviation(i + 1, "the cue ends before it starts");
        }
        i += 1;
        let mut raw_lines = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            if timing(lines[i]).is_some() {
                log.deviation(i + 1, "missing blank line before the next cue");
                break;
            }
            raw_lines.push(lines[i].trim_end());
            i += 1;
        }
        let raw = raw_lines.join("\n");
        cues.push(SubtitleCue {
            start_ms: start,
            end_ms: end.max(start),
            text: strip_tags(&raw),
            raw,
            id,
            ..Default::default()
        });
        check_count(&cues)?;
    }
    Ok(Subtitles { cues, ..Default::default() })
}

/// The standard `[Events]` fields, for files that omit the `Format:` line.
const DEFAULT_EVENT_FORMAT: &str = "Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text";

fn parse_ass(text: &str, log: &mut Log) -> Result<Subtitles> {
    let mut subs = Subtitles::default();
    let mut section = String::new();
    let mut style_format: Vec<String> = Vec::new();
    let mut event_format: Vec<String> = split_format(DEFAULT_EVENT_FORMAT);
    for (n, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let line = line.trim_end_matches('\r').trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with("!:") {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_ascii_lowercase();
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            log.deviation(n + 1, format!("expected `Key: value`, found `{}`", clip(line)));
            continue;
        };
        let (key, value) = (key.trim(), value.trim_start());
        match section.as_str() {
            "script info" => subs.script_info.push((key.to_owned(), value.to_owned())),
            "v4+ styles" | "v4 styles" => match key {
                "Format" => style_format = split_format(value),
                "Style" => {
                    let values: Vec<&str> = value.splitn(style_format.len().max(1), ',').map(str::trim).collect();
                    if values.len() != style_format.len() {
                        log.deviation(
                            n + 1,
                            format!(
                                "a style with {} fields where the Format line has {}",
                                values.len(),
                                style_format.len()
                            ),
                        );
                    }
                    subs.styles
                        .push(style_format.iter().cloned().zip(values.iter().map(|v| (*v).to_owned())).collect());
                }
                _ => {}
            },
            "events" => match key {
                "Format" => event_format = split_format(value),
                "Dialogue" => {
                    let fields: Vec<&str> = value.splitn(event_format.len(), ',').collect();
                    if fields.len() != event_format.len() {
                        log.deviation(
                            n + 1,
                            format!(
                                "a dialogue line with {} fields where the Format line has {}",
                                fields.len(),
                                event_format.len()
                            ),
                        );
                        continue;
                    }
                    let field = |name: &str| {
                        event_format.iter().position(|f| f.eq_ignore_ascii_case(name)).map(|i| fields[i].trim())
                    };
                    let raw = event_format
                        .iter()
                        .position(|f| f.eq_ignore_ascii_case("Text"))
                        .map_or("", |i| fields[i])
                        .to_owned();
                    let (Some((start, _)), Some((end, _))) =
                        (field("Start").and_then(parse_clock), field("End").and_then(parse_clock))
                    else {
                        log.deviation(n + 1, "a dialogue line without valid Start/End times (`0:00:01.00`)");
                        continue;
                    };
                    if end < start {
                        log.deviation(n + 1, "the cue ends before it starts");
                    }
                    let nonempty = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_owned);
                    subs.cues.push(SubtitleCue {
                        start_ms: start,
                        end_ms: end.max(start),
                        text: strip_tags(&raw),
                        raw,
                        style: nonempty(field("Style")),
                        actor: nonempty(field("Name").or(field("Actor"))),
                        ..Default::default()
                    });
                    check_count(&subs.cues)?;
                }
                "Comment" | "Picture" | "Sound" | "Movie" | "Command" => {}
                other => log.deviation(n + 1, format!("unknown event type `{}`", clip(other))),
            },
            // Fonts, graphics and sections we do not use are kept out of the model.
            _ => {}
        }
    }
    Ok(subs)
}

fn split_format(value: &str) -> Vec<String> {
    value.split(',').map(|f| f.trim().to_owned()).collect()
}

/// A line, shortened for a message.
fn clip(line: &str) -> String {
    let short: String = line.chars().take(60).collect();
    if short.len() < line.len() { format!("{short}…") } else { short }
}
