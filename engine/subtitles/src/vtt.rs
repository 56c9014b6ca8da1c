//! WebVTT: a `WEBVTT` header, then blocks separated by blank lines — cues (an optional
//! identifier, `start --> end [settings]`, payload lines) and `NOTE`, `STYLE` and
//! `REGION` blocks, which are skipped.

use crate::codec::{Collector, Markup, Timing, clip, format_clock, is_vtt_header, strip_markup, timing};
use crate::error::Result;
use crate::model::{SubtitleCue, SubtitleFormat, Subtitles};

/// WebVTT payloads carry tags (`<v Roger>`, `<c.yellow>`, `<i>`, timestamps) and
/// character references (`&amp;`, `&lt;`); braces are plain text.
pub(crate) const MARKUP: Markup = Markup {
    angle_tags: true,
    timestamp_tags: true,
    override_blocks: false,
    all_braces: false,
    ass_escapes: false,
    entities: true,
};

pub(crate) fn plain(raw: &str) -> String {
    strip_markup(raw, MARKUP)
}

pub(crate) fn parse(text: &str, c: &mut Collector) -> Result<()> {
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() && lines[i].trim().is_empty() {
        i += 1;
    }
    if i > 0 {
        c.deviation(1, "blank lines before the `WEBVTT` header");
    }
    if lines.get(i).is_some_and(|l| is_vtt_header(l.trim_end())) {
        i += 1;
        // Header lines (`Kind: captions`, `Language: en`) run to the first blank line.
        while i < lines.len() && !lines[i].trim().is_empty() {
            if starts_cue(&lines, i) {
                c.deviation(i + 1, "missing blank line after the `WEBVTT` header");
                break;
            }
            i += 1;
        }
    } else {
        c.deviation(i + 1, "a WebVTT file starts with `WEBVTT`");
    }
    while i < lines.len() {
        let first = lines[i].trim();
        if first.is_empty() {
            i += 1;
            continue;
        }
        let keyword = first.split_whitespace().next().unwrap_or_default();
        // A keyword line right before a timing line is that cue's identifier instead.
        if matches!(keyword, "NOTE" | "STYLE" | "REGION") && !starts_cue(&lines, i) {
            if keyword != "NOTE" && !c.cues.is_empty() {
                c.deviation(i + 1, format!("a {keyword} block after the first cue"));
            }
            i = skip_block(&lines, i);
            continue;
        }
        let mut id = None;
        if timing(lines[i]).is_none() {
            if lines.get(i + 1).is_some_and(|l| timing(l).is_some()) {
                id = Some(first.to_owned());
                i += 1;
            } else {
                c.deviation(
                    i + 1,
                    format!("expected a cue timing like `00:01.000 --> 00:02.000`, found `{}`", clip(first)),
                );
                i = skip_block(&lines, i);
                continue;
            }
        }
        let Some(t) = timing(lines[i]) else {
            // Unreachable: the line was checked above; skipping it keeps the loop finite.
            i += 1;
            continue;
        };
        let timing_line = i + 1;
        check_clocks(&t, timing_line, c);
        let (start, end) = c.check_times(timing_line, t.start.ms, t.end.ms);
        let settings = Some(t.rest.to_owned()).filter(|s| !s.is_empty());
        i += 1;
        let mut raw_lines = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            // A payload never contains `-->`: such a line starts the next cue.
            if lines[i].contains("-->") {
                c.deviation(i + 1, "missing blank line before the next cue");
                break;
            }
            raw_lines.push(lines[i].trim_end());
            i += 1;
        }
        let raw = raw_lines.join("\n");
        let first_line = if id.is_some() { timing_line - 1 } else { timing_line };
        c.push(
            first_line,
            SubtitleCue { start_ms: start, end_ms: end, text: plain(&raw), raw, id, settings, ..Default::default() },
        )?;
    }
    Ok(())
}

/// WebVTT wants `[HH:]MM:SS.mmm`.
fn check_clocks(t: &Timing, line: usize, c: &mut Collector) {
    if t.start.separator == Some(',') || t.end.separator == Some(',') {
        c.deviation(line, "milliseconds after a comma; WebVTT uses a dot");
    }
    for clock in [t.start, t.end] {
        if !clock.exact {
            c.deviation(
                line,
                format!("a time not in the [HH:]MM:SS.mmm form (read as {})", format_clock(clock.ms, '.')),
            );
        }
    }
}

/// An identifier line followed by a timing line, or a timing line.
fn starts_cue(lines: &[&str], i: usize) -> bool {
    timing(lines[i]).is_some() || lines.get(i + 1).is_some_and(|l| timing(l).is_some())
}

/// The index of the first line after the block starting at `i`.
fn skip_block(lines: &[&str], mut i: usize) -> usize {
    while i < lines.len() && !lines[i].trim().is_empty() {
        i += 1;
    }
    i
}

pub(crate) fn write(subs: &Subtitles) -> String {
    let mut out = String::with_capacity(16 + subs.cues.len() * 64);
    out.push_str("WEBVTT\n\n");
    for cue in &subs.cues {
        // An identifier is one line and cannot contain `-->`; one that breaks either rule
        // is dropped rather than written as a broken cue.
        if let Some(id) = cue.id.as_deref().map(str::trim).filter(|id| !id.is_empty() && !id.contains(['\n', '\r']))
            && !id.contains("-->")
        {
            out.push_str(id);
            out.push('\n');
        }
        out.push_str(&format_clock(cue.start_ms, '.'));
        out.push_str(" --> ");
        out.push_str(&format_clock(cue.end_ms, '.'));
        if let Some(settings) = cue.settings.as_deref().map(|s| s.replace(['\n', '\r'], " "))
            && !settings.trim().is_empty()
        {
            out.push(' ');
            out.push_str(settings.trim());
        }
        out.push('\n');
        let body = if subs.format == SubtitleFormat::Vtt && !cue.raw.is_empty() && plain(&cue.raw) == cue.text {
            cue.raw.clone()
        } else {
            escape(&cue.text)
        };
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            out.push_str(&line.replace("-->", "--&gt;"));
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// Plain text as a WebVTT payload: `&`, `<` and `>` as character references.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use crate::{Error, ParseOptions, SubtitleCue, SubtitleFormat, Subtitles, parse, write};

    #[test]
    fn headers_notes_styles_ids_and_settings() {
        let text = "WEBVTT - a title\nKind: captions\nLanguage: zh\n\nNOTE a comment\nspanning lines\n\nSTYLE\n::cue { color: lime }\n\nREGION\nid:fred width:40%\n\nintro\n00:01.000 --> 00:02.500 align:start position:10%\n<v Roger>Hi <i>there</i> &amp; you\n\n00:00:03.000 --> 00:00:04.000\n<c.yellow>Second</c>\n<00:00:03.500>line\n\nNOTE\nat the end\n";
        let subs = parse(text.as_bytes(), None, ParseOptions { strict: true }).expect("strict");
        assert_eq!(subs.format, SubtitleFormat::Vtt);
        assert_eq!(subs.cues.len(), 2);
        let cue = &subs.cues[0];
        assert_eq!((cue.id.as_deref(), cue.start_ms, cue.end_ms), (Some("intro"), 1_000, 2_500));
        assert_eq!(cue.settings.as_deref(), Some("align:start position:10%"));
        assert_eq!(cue.text, "Hi there & you");
        assert_eq!(subs.cues[1].text, "Second\nline");
        // Written back: the same cues, tags and all.
        let again =
            parse(write(&subs, SubtitleFormat::Vtt).as_bytes(), None, ParseOptions { strict: true }).expect("again");
        assert_eq!(again.cues, subs.cues);
    }

    #[test]
    fn sloppy_files_are_tolerated_and_located() {
        let text = "\nWEBVTT\n00:00:01,000 --> 00:00:02.000\nA\n00:03.000 --> 00:04.0\nB\n\nstray\n";
        let subs = parse(text.as_bytes(), Some(SubtitleFormat::Vtt), ParseOptions::default()).expect("tolerant");
        assert_eq!(subs.cues.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(
            subs.warnings,
            [
                "line 1: blank lines before the `WEBVTT` header",
                "line 3: missing blank line after the `WEBVTT` header",
                "line 3: milliseconds after a comma; WebVTT uses a dot",
                "line 5: missing blank line before the next cue",
                "line 5: a time not in the [HH:]MM:SS.mmm form (read as 00:00:04.000)",
                "line 8: expected a cue timing like `00:01.000 --> 00:02.000`, found `stray`",
            ]
        );
        assert!(matches!(
            parse(text.as_bytes(), Some(SubtitleFormat::Vtt), ParseOptions { strict: true }),
            Err(Error::Strict(p)) if p.len() == 6
        ));
    }

    #[test]
    fn plain_text_is_escaped() {
        let mut cue = SubtitleCue::new(0, 1000, "a <b> & c --> d");
        cue.id = Some("bad --> id".into());
        let text = write(&Subtitles::new(SubtitleFormat::Srt, vec![cue]), SubtitleFormat::Vtt);
        assert_eq!(text, "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\na &lt;b&gt; &amp; c --&gt; d\n\n");
        let back = parse(text.as_bytes(), None, ParseOptions { strict: true }).expect("parses");
        assert_eq!(back.cues[0].text, "a <b> & c --> d");
    }
}
