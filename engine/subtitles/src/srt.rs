//! SubRip: numbered blocks of `index`, `start --> end`, text lines, a blank line.
//!
//! Real files break every rule, so the parser keys on timing lines rather than on the
//! block structure: a missing blank line, a missing or wrong number, dot milliseconds or
//! stray lines between cues each cost a located warning (an error in strict mode), never
//! the cues around them.

use crate::codec::{Collector, Markup, Timing, clip, format_clock, strip_markup, timing};
use crate::error::Result;
use crate::model::{SubtitleCue, SubtitleFormat, Subtitles};

/// SRT text carries HTML-like tags (`<i>`, `<font color=…>`) and, from ASS conversions,
/// `{\an8}`-style override blocks.
pub(crate) const MARKUP: Markup = Markup {
    angle_tags: true,
    timestamp_tags: false,
    override_blocks: true,
    all_braces: false,
    ass_escapes: false,
    entities: false,
};

pub(crate) fn plain(raw: &str) -> String {
    strip_markup(raw, MARKUP)
}

pub(crate) fn parse(text: &str, c: &mut Collector) -> Result<()> {
    let lines: Vec<&str> = text.lines().collect();
    // The number the next cue should carry: one more than the last one seen (or assumed),
    // so that one wrong number is one warning, not one per following cue.
    let mut expected: u64 = 1;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.is_empty() {
            i += 1;
            continue;
        }
        let number = if starts_numbered_cue(&lines, i) {
            i += 1;
            Some((i, line.parse::<u64>().unwrap_or(0)))
        } else {
            None
        };
        let Some(t) = timing(lines[i]) else {
            c.deviation(
                i + 1,
                format!("expected a cue timing like `00:00:01,000 --> 00:00:02,000`, found `{}`", clip(line)),
            );
            // Skip the rest of this stray block, but stop at anything that starts a cue.
            i += 1;
            while i < lines.len() && !lines[i].trim().is_empty() && !starts_cue(&lines, i) {
                i += 1;
            }
            continue;
        };
        let timing_line = i + 1;
        match number {
            None => c.deviation(timing_line, "cue without an index number"),
            Some((line, n)) if n != expected => {
                c.deviation(line, format!("cue number {n} where {expected} was expected"));
            }
            _ => {}
        }
        expected = number.map_or(expected, |(_, n)| n) + 1;
        check_clocks(&t, timing_line, c);
        let (start, end) = c.check_times(timing_line, t.start.ms, t.end.ms);
        i += 1;
        let mut raw_lines = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            if starts_cue(&lines, i) {
                c.deviation(i + 1, "missing blank line before the next cue");
                break;
            }
            raw_lines.push(lines[i].trim_end());
            i += 1;
        }
        if raw_lines.is_empty() {
            c.deviation(timing_line, "cue without text");
        }
        let raw = raw_lines.join("\n");
        let first_line = number.map_or(timing_line, |(line, _)| line);
        c.push(first_line, SubtitleCue { start_ms: start, end_ms: end, text: plain(&raw), raw, ..Default::default() })?;
    }
    Ok(())
}

/// SRT wants `HH:MM:SS,mmm` on both sides.
fn check_clocks(t: &Timing, line: usize, c: &mut Collector) {
    if t.start.separator == Some('.') || t.end.separator == Some('.') {
        c.deviation(line, "milliseconds after a dot; SRT uses a comma");
    }
    for clock in [t.start, t.end] {
        if !(clock.exact && clock.has_hours) {
            c.deviation(line, format!("a time not in the HH:MM:SS,mmm form (read as {})", format_clock(clock.ms, ',')));
        }
    }
}

fn is_index(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.len() < 10 && t.bytes().all(|b| b.is_ascii_digit())
}

/// A number line followed by a timing line.
fn starts_numbered_cue(lines: &[&str], i: usize) -> bool {
    is_index(lines[i]) && lines.get(i + 1).is_some_and(|l| timing(l).is_some())
}

fn starts_cue(lines: &[&str], i: usize) -> bool {
    timing(lines[i]).is_some() || starts_numbered_cue(lines, i)
}

pub(crate) fn write(subs: &Subtitles) -> String {
    let mut out = String::with_capacity(subs.cues.len() * 64);
    for (i, cue) in subs.cues.iter().enumerate() {
        let body = if subs.format == SubtitleFormat::Srt && !cue.raw.is_empty() && plain(&cue.raw) == cue.text {
            cue.raw.as_str()
        } else {
            cue.text.as_str()
        };
        out.push_str(&format!(
            "{}\n{} --> {}\n",
            i + 1,
            format_clock(cue.start_ms, ','),
            format_clock(cue.end_ms, ',')
        ));
        // A blank line would end the cue early.
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::{Error, ParseOptions, SubtitleCue, SubtitleFormat, Subtitles, parse, write};

    fn tolerant(text: &str) -> Subtitles {
        parse(text.as_bytes(), Some(SubtitleFormat::Srt), ParseOptions::default()).expect("parses")
    }

    #[test]
    fn a_clean_file_has_no_warnings_and_is_written_back_unchanged() {
        let text =
            "1\n00:00:01,000 --> 00:00:02,500\n<i>Hello</i>\nthere\n\n2\n01:00:03,000 --> 01:00:04,000\n{\\an8}Top\n\n";
        let subs = parse(text.as_bytes(), None, ParseOptions { strict: true }).expect("strict");
        assert!(subs.warnings.is_empty(), "{:?}", subs.warnings);
        assert_eq!(subs.cues[0].text, "Hello\nthere");
        assert_eq!(subs.cues[1].text, "Top");
        assert_eq!(subs.cues[1].start_ms, 3_603_000);
        assert_eq!(write(&subs, SubtitleFormat::Srt), text);
    }

    #[test]
    fn stray_blocks_and_wrong_numbers_are_single_warnings() {
        let subs = tolerant(
            "garbage\nmore garbage\n1\n00:00:01,000 --> 00:00:02,000\na\n\n5\n00:00:03,000 --> 00:00:04,000\nb\n\n6\n0:00:05,0 --> 00:00:06,000\nc\n",
        );
        assert_eq!(subs.cues.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(
            subs.warnings,
            [
                "line 1: expected a cue timing like `00:00:01,000 --> 00:00:02,000`, found `garbage`",
                "line 7: cue number 5 where 2 was expected",
                "line 12: a time not in the HH:MM:SS,mmm form (read as 00:00:05,000)",
            ]
        );
    }

    #[test]
    fn empty_cues_reversed_times_and_trailing_coordinates() {
        let subs = tolerant(
            "1\n00:00:05,000 --> 00:00:04,000 X1:10 X2:20\n\n2\n00:00:06,000 --> 00:00:07,000\n\n\n3\n00:00:08,000 --> 00:00:09,000\nend\n",
        );
        assert_eq!(subs.cues.len(), 3);
        assert_eq!((subs.cues[0].start_ms, subs.cues[0].end_ms), (5_000, 5_000));
        assert_eq!(subs.cues[1].text, "");
        assert!(
            subs.warnings[0].starts_with("line 2: the cue ends (00:00:04.000) before it starts"),
            "{:?}",
            subs.warnings
        );
        assert_eq!(subs.warnings[1], "line 2: cue without text");
    }

    #[test]
    fn old_mac_line_endings_work() {
        let subs = tolerant("1\r00:00:01,000 --> 00:00:02,000\rHi\r\r2\r00:00:03,000 --> 00:00:04,000\rBye\r");
        assert_eq!(subs.cues.len(), 2);
        assert!(subs.warnings.is_empty());
    }

    #[test]
    fn edited_text_wins_over_stale_raw() {
        let mut subs = tolerant("1\n00:00:01,000 --> 00:00:02,000\n<i>Hello</i>\n");
        assert_eq!(write(&subs, SubtitleFormat::Srt), "1\n00:00:01,000 --> 00:00:02,000\n<i>Hello</i>\n\n");
        subs.cues[0].text = "Bonjour\n\nà tous".into();
        assert_eq!(write(&subs, SubtitleFormat::Srt), "1\n00:00:01,000 --> 00:00:02,000\nBonjour\nà tous\n\n");
        let built = Subtitles::new(SubtitleFormat::Srt, vec![SubtitleCue::new(0, 10, "x")]);
        assert!(write(&built, SubtitleFormat::Srt).starts_with("1\n00:00:00,000 --> 00:00:00,010\nx\n"));
    }

    #[test]
    fn strict_mode_lists_every_problem() {
        let text = "00:00:01.000 --> 00:00:02,000\na\n3\n00:00:03,000 --> 00:00:04,000\nb\n";
        let Err(Error::Strict(problems)) = parse(text.as_bytes(), None, ParseOptions { strict: true }) else {
            panic!("strict refuses");
        };
        let found: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "line 1: cue without an index number",
                "line 1: milliseconds after a dot; SRT uses a comma",
                "line 3: missing blank line before the next cue",
                "line 3: cue number 3 where 2 was expected",
            ]
        );
    }
}
