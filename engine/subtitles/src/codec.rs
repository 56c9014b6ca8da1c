//! The entry points — [`parse`] (limits, sniffing, decoding, format detection, dispatch,
//! numbering, overlap checks) and [`write`] — and the helpers the three formats share:
//! clock times, markup stripping, and the [`Collector`] that gathers cues and problems.

use crate::encoding::decode;
use crate::error::{Error, MAX_PROBLEMS, Problem, Result};
use crate::model::{SubtitleCue, SubtitleFormat, Subtitles};
use crate::{ass, srt, vtt};

/// Largest input accepted, in bytes (64 MiB).
pub const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Most cues accepted in one file.
pub const MAX_CUES: usize = 1_000_000;

/// How to parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Report every deviation from the format as an error ([`Error::Strict`], with line
    /// numbers) instead of tolerating it with a warning.
    pub strict: bool,
}

/// Parses subtitle bytes in any supported encoding. The format is `hint` when given,
/// otherwise detected from the content (see [`detect_format`]); file extensions are not
/// consulted, since subtitle files are often misnamed.
pub fn parse(bytes: &[u8], hint: Option<SubtitleFormat>, opts: ParseOptions) -> Result<Subtitles> {
    parse_with(bytes, hint, opts, MAX_CUES, &|| false)
}

/// [`parse`] with a cue limit (tests use a small one) and a cancellation check, which is
/// polled every few thousand cues.
pub(crate) fn parse_with(
    bytes: &[u8],
    hint: Option<SubtitleFormat>,
    opts: ParseOptions,
    max_cues: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<Subtitles> {
    if bytes.len() > MAX_BYTES {
        return Err(Error::TooLarge { size: bytes.len() as u64, max: MAX_BYTES as u64 });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Empty);
    }
    if let Some(kind) = magic_kind(bytes) {
        return Err(Error::NotText { kind: kind.into() });
    }
    let decoded = decode(bytes);
    let text = normalize_newlines(decoded.text.trim_start_matches('\u{feff}'));
    if text.trim().is_empty() {
        return Err(Error::Empty);
    }
    if looks_binary(&text) {
        return Err(Error::NotText { kind: "binary data".into() });
    }
    let Some(format) = hint.or_else(|| detect_format(&text)) else {
        return Err(Error::NoCues { format: None });
    };
    let mut c = Collector::new(opts.strict, max_cues, cancelled);
    if decoded.malformed {
        let line = text.find('\u{FFFD}').map_or(1, |at| line_of(&text, at));
        c.deviation(line, format!("bytes that are not valid {}, replaced with U+FFFD", decoded.encoding));
    }
    let mut subs = Subtitles { format, encoding: decoded.encoding.to_owned(), ..Default::default() };
    match format {
        SubtitleFormat::Srt => srt::parse(&text, &mut c)?,
        SubtitleFormat::Vtt => vtt::parse(&text, &mut c)?,
        SubtitleFormat::Ass => {
            let (styles, script_info) = ass::parse(&text, &mut c)?;
            subs.styles = styles;
            subs.script_info = script_info;
        }
    }
    if c.cues.is_empty() {
        return Err(Error::NoCues { format: Some(format) });
    }
    if !c.problems.is_empty() {
        return Err(Error::Strict(c.problems));
    }
    // Overlaps are legal in all three formats (two speakers at once), so they are never a
    // strict-mode error; in SRT and WebVTT they are usually a timing mistake, worth a
    // warning. ASS overlaps on purpose all the time (signs, layers), so it gets none.
    if format != SubtitleFormat::Ass {
        for i in 1..c.cues.len() {
            let (before, cue) = (&c.cues[i - 1], &c.cues[i]);
            if cue.start_ms < before.end_ms {
                let message = format!(
                    "cue {} starts at {} before cue {} ends at {}; both kept",
                    i + 1,
                    format_clock(cue.start_ms, '.'),
                    i,
                    format_clock(before.end_ms, '.')
                );
                c.note(c.cue_lines[i], message);
            }
        }
    }
    subs.cues = c.cues;
    subs.renumber();
    subs.warnings = c.warnings;
    if c.dropped > 0 {
        subs.warnings.push(format!("… and {} more warnings", c.dropped));
    }
    Ok(subs)
}

/// The subtitles as a file of `format` (a string, to be written as UTF-8).
///
/// A cue's `raw` text (with its styling tags) is written when the subtitles came from the
/// same format and `raw` still matches `text`; otherwise — another format, or `text` was
/// edited since parsing — the plain `text` is written, escaped as the format needs.
pub fn write(subs: &Subtitles, format: SubtitleFormat) -> String {
    match format {
        SubtitleFormat::Srt => srt::write(subs),
        SubtitleFormat::Vtt => vtt::write(subs),
        SubtitleFormat::Ass => ass::write(subs),
    }
}

/// The format `text` is in, from its content: a `WEBVTT` first line; ASS section headers
/// (or, failing those, `Dialogue:` lines); SRT-style `-->` timing lines. `None` when the
/// text looks like none of them.
pub fn detect_format(text: &str) -> Option<SubtitleFormat> {
    let text = text.trim_start_matches('\u{feff}');
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    if is_vtt_header(first) {
        return Some(SubtitleFormat::Vtt);
    }
    let mut timing = false;
    let mut dialogue = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            let section = line.to_ascii_lowercase();
            if matches!(section.as_str(), "[script info]" | "[v4+ styles]" | "[v4 styles]" | "[events]") {
                return Some(SubtitleFormat::Ass);
            }
        }
        timing |= line.contains("-->");
        dialogue |= line.starts_with("Dialogue:");
    }
    if timing {
        Some(SubtitleFormat::Srt)
    } else if dialogue {
        Some(SubtitleFormat::Ass)
    } else {
        None
    }
}

/// `WEBVTT`, alone or followed by a space or tab and a title.
pub(crate) fn is_vtt_header(line: &str) -> bool {
    line.strip_prefix("WEBVTT").is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// What a file is when its first bytes say it is not text.
fn magic_kind(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    Some(if starts(&[0xFF, 0xD8, 0xFF]) {
        "a JPEG image"
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        "a PNG image"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "a GIF image"
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        "a WebP image"
    } else if starts(b"%PDF-") {
        "a PDF document"
    } else if starts(b"PK\x03\x04") {
        "a ZIP archive"
    } else if starts(&[0x1F, 0x8B]) {
        "a gzip archive"
    } else if starts(b"Rar!\x1a\x07") {
        "a RAR archive"
    } else if starts(&[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]) {
        "a 7-Zip archive"
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        "a Matroska/WebM video"
    } else if bytes.get(4..8) == Some(b"ftyp") {
        "an MP4/MOV file"
    } else if starts(b"RIFF") {
        "a RIFF (WAV/AVI) file"
    } else if starts(b"ID3") || starts(&[0xFF, 0xFB]) {
        "an MP3 file"
    } else if starts(b"OggS") {
        "an Ogg file"
    } else if starts(b"fLaC") {
        "a FLAC file"
    } else if starts(b"\x7fELF") {
        "an executable"
    } else {
        return None;
    })
}

/// Decoded binary data is full of control characters (or NULs, or U+FFFD) where text has
/// almost none.
fn looks_binary(text: &str) -> bool {
    let (mut total, mut control, mut replaced) = (0usize, 0usize, 0usize);
    for c in text.chars() {
        total += 1;
        if c == '\0' {
            return true;
        }
        control += usize::from(c.is_control() && !matches!(c, '\n' | '\t'));
        replaced += usize::from(c == '\u{FFFD}');
    }
    control * 50 > total || replaced * 10 > total
}

/// `\r\n` and lone `\r` (old Mac files) both become `\n`, so every parser sees one kind.
fn normalize_newlines(text: &str) -> String {
    if text.contains('\r') { text.replace("\r\n", "\n").replace('\r', "\n") } else { text.to_owned() }
}

fn line_of(text: &str, byte: usize) -> usize {
    text.as_bytes()[..byte].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Cues and problems, gathered as a parser goes.
pub(crate) struct Collector<'a> {
    strict: bool,
    pub(crate) problems: Vec<Problem>,
    pub(crate) warnings: Vec<String>,
    /// Warnings and problems not kept once [`MAX_PROBLEMS`] were.
    dropped: usize,
    pub(crate) cues: Vec<SubtitleCue>,
    /// The line each cue starts at, for located messages after parsing.
    cue_lines: Vec<usize>,
    max_cues: usize,
    cancelled: &'a dyn Fn() -> bool,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(strict: bool, max_cues: usize, cancelled: &'a dyn Fn() -> bool) -> Self {
        Collector {
            strict,
            problems: Vec::new(),
            warnings: Vec::new(),
            dropped: 0,
            cues: Vec::new(),
            cue_lines: Vec::new(),
            max_cues,
            cancelled,
        }
    }

    /// Something the format does not allow: an error in strict mode, a warning otherwise.
    pub(crate) fn deviation(&mut self, line: usize, message: impl Into<String>) {
        if self.strict {
            if self.problems.len() < MAX_PROBLEMS {
                self.problems.push(Problem { line, message: message.into() });
            }
        } else {
            self.note(line, message);
        }
    }

    /// Something allowed but suspicious: a warning in either mode.
    pub(crate) fn note(&mut self, line: usize, message: impl Into<String>) {
        if self.warnings.len() < MAX_PROBLEMS {
            self.warnings.push(format!("line {line}: {}", message.into()));
        } else {
            self.dropped += 1;
        }
    }

    /// Adds a cue that starts at `line`, enforcing the cue limit and polling for
    /// cancellation now and then.
    pub(crate) fn push(&mut self, line: usize, cue: SubtitleCue) -> Result<()> {
        if self.cues.len() >= self.max_cues {
            return Err(Error::TooManyCues { max: self.max_cues });
        }
        if self.cues.len() % 4096 == 4095 && (self.cancelled)() {
            return Err(Error::Cancelled);
        }
        self.cues.push(cue);
        self.cue_lines.push(line);
        Ok(())
    }

    /// A cue's times, checked: an end before the start is a deviation, and the end is
    /// moved to the start so that every cue in the model has `start_ms <= end_ms`.
    pub(crate) fn check_times(&mut self, line: usize, start: u64, end: u64) -> (u64, u64) {
        if end < start {
            self.deviation(
                line,
                format!(
                    "the cue ends ({}) before it starts ({}); its end was moved to its start",
                    format_clock(end, '.'),
                    format_clock(start, '.')
                ),
            );
        }
        (start, end.max(start))
    }
}

/// A clock time as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Clock {
    pub ms: u64,
    /// `,` or `.` before the fraction, if there was a fraction.
    pub separator: Option<char>,
    pub has_hours: bool,
    /// Two-digit minutes and seconds, at least two-digit hours, three-digit fraction: the
    /// shape both SRT and WebVTT require.
    pub exact: bool,
}

/// Parses `[H:]MM:SS[,.]fff`. Any number of fraction digits is accepted (scaled or
/// truncated to milliseconds); `exact` says whether the shape was the standard one.
pub(crate) fn parse_clock(text: &str) -> Option<Clock> {
    let text = text.trim();
    let (clock, fraction, separator) = match text.rfind([',', '.']) {
        Some(i) => (&text[..i], &text[i + 1..], text[i..].chars().next()),
        None => (text, "", None),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts.iter().any(|p| p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()))
        || (separator.is_some() && (fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit())))
    {
        return None;
    }
    // At most three digits each, so these cannot overflow.
    let nums: Vec<u64> = parts.iter().map(|p| p.bytes().fold(0, |n, b| n * 10 + u64::from(b - b'0'))).collect();
    let (h, m, s) = if let [h, m, s] = nums[..] { (h, m, s) } else { (0, nums[0], nums[1]) };
    if m >= 60 || s >= 60 {
        return None;
    }
    // Milliseconds from the first three fraction digits, scaled when fewer.
    let ms = fraction.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0, |n, b| n * 10 + u64::from(b - b'0'));
    let has_hours = parts.len() == 3;
    let exact = parts[parts.len() - 2..].iter().all(|p| p.len() == 2)
        && (!has_hours || parts[0].len() >= 2)
        && fraction.len() == 3;
    Some(Clock { ms: ((h * 60 + m) * 60 + s) * 1000 + ms, separator, has_hours, exact })
}

/// `HH:MM:SS,mmm` (SRT, separator `,`) or `HH:MM:SS.mmm` (WebVTT, separator `.`).
pub(crate) fn format_clock(ms: u64, separator: char) -> String {
    let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}{separator}{f:03}")
}

/// A `start --> end [rest]` line, split; `None` unless both times parse.
pub(crate) struct Timing<'a> {
    pub start: Clock,
    pub end: Clock,
    /// What follows the end time (WebVTT cue settings, SRT coordinates), trimmed.
    pub rest: &'a str,
}

pub(crate) fn timing(line: &str) -> Option<Timing<'_>> {
    let (a, b) = line.split_once("-->")?;
    let b = b.trim_start();
    let end_len = b.find(char::is_whitespace).unwrap_or(b.len());
    Some(Timing { start: parse_clock(a)?, end: parse_clock(&b[..end_len])?, rest: b[end_len..].trim() })
}

/// Which markup a format's text carries, for [`strip_markup`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Markup {
    /// `<i>`, `</font>`, `<v Roger>`: HTML-like tags (SRT, WebVTT).
    pub angle_tags: bool,
    /// WebVTT timestamp tags, `<00:00:01.000>`.
    pub timestamp_tags: bool,
    /// `{\…}` override blocks: SRT files converted from ASS carry `{\an8}` and the like.
    pub override_blocks: bool,
    /// Every `{…}` block, comments included (ASS).
    pub all_braces: bool,
    /// `\N`, `\n` (line breaks) and `\h` (hard space), ASS escapes.
    pub ass_escapes: bool,
    /// `&amp;`, `&lt;`, `&gt;`, `&nbsp;`, `&lrm;`, `&rlm;` and numeric references (WebVTT).
    pub entities: bool,
}

/// Plain text from marked-up cue text: tags and override blocks removed, escapes and
/// entities resolved, each line trimmed, empty lines dropped, lines joined with `\n`.
/// A `<` or `{` with no closing `>` or `}` on its line is text, not a tag.
pub(crate) fn strip_markup(raw: &str, m: Markup) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, line) in raw.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        strip_line(line, m, &mut out);
    }
    out.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

fn strip_line(line: &str, m: Markup, out: &mut String) {
    // Once a search for `>` or `}` fails, none later on the line can succeed: remembering
    // that keeps a line of a million `<` linear instead of quadratic.
    let (mut angle_closes, mut brace_closes) = (true, true);
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        match c {
            '<' if m.angle_tags && angle_closes => {
                let tag_like = after
                    .chars()
                    .next()
                    .is_some_and(|n| n.is_ascii_alphabetic() || n == '/' || (m.timestamp_tags && n.is_ascii_digit()));
                if tag_like {
                    match after.find('>') {
                        Some(close) => {
                            rest = &after[close + 1..];
                            continue;
                        }
                        None => angle_closes = false,
                    }
                }
            }
            '{' if brace_closes && (m.all_braces || (m.override_blocks && after.starts_with('\\'))) => {
                match after.find('}') {
                    Some(close) => {
                        rest = &after[close + 1..];
                        continue;
                    }
                    None => brace_closes = false,
                }
            }
            '\\' if m.ass_escapes => {
                let replacement = match after.chars().next() {
                    Some('N' | 'n') => Some('\n'),
                    Some('h') => Some('\u{a0}'),
                    _ => None,
                };
                if let Some(r) = replacement {
                    out.push(r);
                    rest = &after[1..];
                    continue;
                }
            }
            '&' if m.entities => {
                if let Some((decoded, len)) = entity(after) {
                    out.push(decoded);
                    rest = &after[len..];
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        rest = after;
    }
}

/// The character an entity after `&` stands for, and how many bytes it took (with `;`).
fn entity(after: &str) -> Option<(char, usize)> {
    let (end, _) = after.char_indices().take(12).find(|&(_, c)| c == ';')?;
    let name = &after[..end];
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "lrm" => '\u{200e}',
        "rlm" => '\u{200f}',
        _ => {
            let code = match name.strip_prefix('#')? {
                hex if hex.starts_with(['x', 'X']) => u32::from_str_radix(&hex[1..], 16).ok()?,
                dec => dec.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

/// A line, shortened for a message.
pub(crate) fn clip(line: &str) -> String {
    let short: String = line.chars().take(60).collect();
    if short.len() < line.len() { format!("{short}…") } else { short }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRT: Markup = crate::srt::MARKUP;

    #[test]
    fn clocks_parse_in_every_common_shape() {
        let ms = |t: &str| parse_clock(t).map(|c| c.ms);
        assert_eq!(ms("00:01:02,345"), Some(62_345));
        assert_eq!(ms("00:01:02.345"), Some(62_345));
        assert_eq!(ms("01:02.5"), Some(62_500));
        assert_eq!(ms("1:00:00.00"), Some(3_600_000));
        assert_eq!(ms("0:00:01.23"), Some(1_230));
        assert_eq!(ms("00:00:01,23456"), Some(1_234));
        assert_eq!(ms("100:00:00,000"), Some(360_000_000));
        for bad in ["00:61:00,000", "aa:bb:cc", "00:00:01,", "1", "00:00:00:01,000", "-0:00:01,000", "0:00:01,0a0", ""]
        {
            assert_eq!(ms(bad), None, "{bad}");
        }
        let c = parse_clock("00:01:02,345").expect("parses");
        assert_eq!((c.separator, c.has_hours, c.exact), (Some(','), true, true));
        assert!(!parse_clock("0:01:02,345").expect("parses").exact);
        assert!(parse_clock("01:02.345").is_some_and(|c| c.exact && !c.has_hours));
        assert_eq!(format_clock(3_723_004, ','), "01:02:03,004");
    }

    #[test]
    fn markup_goes_and_text_stays() {
        assert_eq!(strip_markup("<i>Hello</i> {\\an8}world", SRT), "Hello world");
        assert_eq!(strip_markup("<font color=\"red\">a < b</font>", SRT), "a < b");
        assert_eq!(strip_markup("1 < 2 and {braces} stay", SRT), "1 < 2 and {braces} stay");
        assert_eq!(strip_markup("  two \n\n lines ", SRT), "two\nlines");
        assert_eq!(strip_markup("<b>on\nlines</b>", SRT), "on\nlines");
        assert_eq!(strip_markup("<font\ncolor=red>x", SRT), "<font\ncolor=red>x", "a tag never spans lines");
        let ass = crate::ass::MARKUP;
        assert_eq!(strip_markup("{\\b1}你好{\\b0}\\N世界{comment} <i>", ass), "你好\n世界 <i>");
        let vtt = crate::vtt::MARKUP;
        assert_eq!(
            strip_markup("<v Roger>a &lt;b&gt; &amp; <00:01.000>c&#x41;&#66;&bogus;", vtt),
            "a <b> & cAB&bogus;"
        );
    }

    #[test]
    fn hostile_markup_stays_linear() {
        let line = "<a".repeat(200_000) + &"{\\".repeat(200_000);
        let started = std::time::Instant::now();
        assert_eq!(strip_markup(&line, crate::ass::MARKUP).len(), line.len());
        assert_eq!(strip_markup(&line, SRT).len(), line.len());
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn formats_are_detected_from_content() {
        assert_eq!(detect_format("\u{feff}\nWEBVTT - title\n"), Some(SubtitleFormat::Vtt));
        assert_eq!(detect_format("WEBVTTX\n00:01.000 --> 00:02.000\n"), Some(SubtitleFormat::Srt));
        assert_eq!(detect_format("; comment\n[Script Info]\nTitle: x\n"), Some(SubtitleFormat::Ass));
        assert_eq!(detect_format("Dialogue: 0,0:00:01.00,0:00:02.00,,,0,0,0,,x"), Some(SubtitleFormat::Ass));
        assert_eq!(detect_format("1\n00:00:01,000 --> 00:00:02,000\nDialogue: hi\n"), Some(SubtitleFormat::Srt));
        assert_eq!(detect_format("just words"), None);
    }

    #[test]
    fn the_cue_limit_and_cancellation_stop_parsing() {
        let srt: String = (0..10).map(|i| format!("{}\n00:00:0{i},000 --> 00:00:0{i},500\nx\n\n", i + 1)).collect();
        let opts = ParseOptions::default();
        assert_eq!(parse_with(srt.as_bytes(), None, opts, 9, &|| false), Err(Error::TooManyCues { max: 9 }));
        assert_eq!(parse_with(srt.as_bytes(), None, opts, 10, &|| false).map(|s| s.cues.len()), Ok(10));
        let many: String =
            (0..5000).map(|i| format!("{}\n00:00:00,000 --> 00:00:00,500\nx\n\n", i + 1)).collect::<String>();
        assert_eq!(parse_with(many.as_bytes(), None, opts, MAX_CUES, &|| true), Err(Error::Cancelled));
    }

    #[test]
    fn warnings_are_capped() {
        let garbage: String = (0..MAX_PROBLEMS + 5).map(|i| format!("junk {i}\n\n")).collect();
        let text = format!("{garbage}1\n00:00:01,000 --> 00:00:02,000\nok\n");
        let subs = parse(text.as_bytes(), None, ParseOptions::default()).expect("tolerant");
        assert_eq!(subs.warnings.len(), MAX_PROBLEMS + 1);
        assert_eq!(subs.warnings.last().map(String::as_str), Some("… and 5 more warnings"));
        let Err(Error::Strict(problems)) = parse(text.as_bytes(), None, ParseOptions { strict: true }) else {
            panic!("strict refuses");
        };
        assert_eq!(problems.len(), MAX_PROBLEMS);
    }
}
