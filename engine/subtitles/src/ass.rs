//! Advanced SubStation Alpha (and SSA, v4): `[Script Info]` key-value lines, styles in
//! `[V4+ Styles]` / `[V4 Styles]`, and `Dialogue:` events in `[Events]`, whose fields
//! follow the section's `Format:` line (Text is always last, so it may hold commas).
//! Other sections (`[Fonts]`, `[Graphics]`, editors' private ones) are skipped.

use indexmap::IndexMap;

use crate::codec::{Collector, Markup, clip, parse_clock, strip_markup};
use crate::error::Result;
use crate::model::{AssStyle, SubtitleCue, SubtitleFormat, Subtitles};

/// ASS text carries `{…}` blocks (override tags, or comments: both are hidden) and the
/// `\N`, `\n`, `\h` escapes; `<` is plain text.
pub(crate) const MARKUP: Markup = Markup {
    angle_tags: false,
    timestamp_tags: false,
    override_blocks: true,
    all_braces: true,
    ass_escapes: true,
    entities: false,
};

pub(crate) fn plain(raw: &str) -> String {
    strip_markup(raw, MARKUP)
}

const V4_PLUS_STYLE_FORMAT: &str = "Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding";
const V4_STYLE_FORMAT: &str = "Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, TertiaryColour, BackColour, Bold, Italic, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, AlphaLevel, Encoding";
/// What files that omit the `[Events]` Format line mean, and what the writer writes.
const EVENT_FORMAT: &str = "Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Before the first section header.
    Outside,
    ScriptInfo,
    /// `[V4+ Styles]` (ASS) or `[V4 Styles]` (SSA).
    Styles {
        ssa: bool,
    },
    Events,
    /// Sections this crate does not read.
    Other,
}

/// Styles and script info; the cues go to the collector.
pub(crate) fn parse(text: &str, c: &mut Collector) -> Result<(Vec<AssStyle>, IndexMap<String, String>)> {
    let mut styles = Vec::new();
    let mut info = IndexMap::new();
    let mut section = Section::Outside;
    let mut saw_script_info = false;
    let mut style_format: Option<Vec<String>> = None;
    let mut event_format: Option<Vec<String>> = None;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = line.trim();
        // `;` comments, and `!:` lines some old editors wrote.
        if line.is_empty() || line.starts_with(';') || line.starts_with("!:") {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = match line[1..line.len() - 1].trim().to_ascii_lowercase().as_str() {
                "script info" => {
                    saw_script_info = true;
                    Section::ScriptInfo
                }
                "v4+ styles" => Section::Styles { ssa: false },
                "v4 styles" => Section::Styles { ssa: true },
                "events" => Section::Events,
                _ => Section::Other,
            };
            if matches!(section, Section::Styles { .. }) {
                style_format = None;
            }
            continue;
        }
        if section == Section::Other {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            c.deviation(line_no, format!("expected `Key: value`, found `{}`", clip(line)));
            continue;
        };
        let (key, value) = (key.trim(), value.trim_start());
        match section {
            Section::ScriptInfo => {
                info.insert(key.to_owned(), value.trim().to_owned());
            }
            Section::Styles { ssa } => match key {
                "Format" => style_format = Some(split_format(value)),
                "Style" => {
                    let format = style_format.get_or_insert_with(|| {
                        c.deviation(
                            line_no,
                            "a Style line before the section's Format line; the standard fields assumed",
                        );
                        split_format(if ssa { V4_STYLE_FORMAT } else { V4_PLUS_STYLE_FORMAT })
                    });
                    styles.push(style(value, format, line_no, c));
                }
                _ => c.deviation(line_no, format!("unknown line `{}` among the styles", clip(key))),
            },
            Section::Events | Section::Outside => {
                if section == Section::Outside && key != "Dialogue" {
                    c.deviation(line_no, format!("`{}` outside any section", clip(line)));
                    continue;
                }
                match key {
                    "Format" => {
                        let format = split_format(value);
                        let has = |name: &str| format.iter().any(|f| f.eq_ignore_ascii_case(name));
                        let text_last = format.last().is_some_and(|f| f.eq_ignore_ascii_case("Text"));
                        event_format = Some(if has("Start") && has("End") && text_last {
                            format
                        } else {
                            c.deviation(
                                line_no,
                                "an [Events] Format line without Start, End and a last Text field; the standard one assumed",
                            );
                            split_format(EVENT_FORMAT)
                        });
                    }
                    "Dialogue" => {
                        if section == Section::Outside {
                            c.deviation(line_no, "a Dialogue line outside the [Events] section");
                        }
                        let format = event_format.get_or_insert_with(|| {
                            if section == Section::Events {
                                c.deviation(
                                    line_no,
                                    "a Dialogue line before the [Events] Format line; the standard fields assumed",
                                );
                            }
                            split_format(EVENT_FORMAT)
                        });
                        if let Some(cue) = dialogue(value, format, line_no, c) {
                            c.push(line_no, cue)?;
                        }
                    }
                    "Comment" | "Picture" | "Sound" | "Movie" | "Command" => {}
                    other => c.deviation(line_no, format!("unknown event type `{}`", clip(other))),
                }
            }
            Section::Other => {}
        }
    }
    if !saw_script_info {
        c.deviation(1, "no [Script Info] section");
    }
    Ok((styles, info))
}

fn split_format(value: &str) -> Vec<String> {
    value.split(',').map(|f| f.trim().to_owned()).collect()
}

/// One `Style:` line against its section's Format fields. Extra values (a comma inside a
/// value) join the last field; missing ones are left out; both are deviations.
fn style(value: &str, format: &[String], line: usize, c: &mut Collector) -> AssStyle {
    let mut values: Vec<&str> = value.split(',').map(str::trim).collect();
    if values.len() != format.len() {
        c.deviation(line, format!("a style with {} fields where the Format line has {}", values.len(), format.len()));
    }
    let mut fields: IndexMap<String, String> =
        format.iter().cloned().zip(values.iter().map(|v| (*v).to_owned())).collect();
    if values.len() > format.len()
        && let Some((_, last)) = fields.last_mut()
    {
        *last = values.split_off(format.len() - 1).join(",");
    }
    AssStyle { fields }
}

/// One `Dialogue:` line against the Format fields, or `None` (after a deviation) when its
/// fields or times are unusable.
fn dialogue(value: &str, format: &[String], line: usize, c: &mut Collector) -> Option<SubtitleCue> {
    let fields: Vec<&str> = value.splitn(format.len(), ',').collect();
    if fields.len() < format.len() {
        c.deviation(
            line,
            format!("a Dialogue line with {} fields where the Format line has {}", fields.len(), format.len()),
        );
        return None;
    }
    let field = |name: &str| format.iter().position(|f| f.eq_ignore_ascii_case(name)).map(|i| fields[i].trim());
    let text_only = |name: &str| field(name).filter(|v| !v.is_empty()).map(str::to_owned);
    let (Some(start), Some(end)) = (field("Start").and_then(parse_clock), field("End").and_then(parse_clock)) else {
        c.deviation(line, "a Dialogue line whose Start or End is not a time like `0:00:01.00`");
        return None;
    };
    let (start_ms, end_ms) = c.check_times(line, start.ms, end.ms);
    let mut number = |name: &str| -> Option<i32> {
        let v = field(name).filter(|v| !v.is_empty())?;
        match v.parse::<i32>() {
            Ok(n) => Some(n).filter(|&n| n != 0),
            Err(_) => {
                c.deviation(line, format!("the {name} field `{}` is not a whole number", clip(v)));
                None
            }
        }
    };
    let (layer, margin_l, margin_r, margin_v) =
        (number("Layer"), number("MarginL"), number("MarginR"), number("MarginV"));
    // The Text field is last (checked with the Format line) and kept as written.
    let raw = fields.last().copied().unwrap_or_default().to_owned();
    Some(SubtitleCue {
        start_ms,
        end_ms,
        text: plain(&raw),
        raw,
        style: text_only("Style"),
        actor: text_only("Name").or_else(|| text_only("Actor")),
        layer,
        margin_l,
        margin_r,
        margin_v,
        effect: text_only("Effect"),
        ..Default::default()
    })
}

pub(crate) fn write(subs: &Subtitles) -> String {
    let mut out = String::with_capacity(1024 + subs.cues.len() * 80);
    // Always ASS: SSA input is written as v4.00+ (its style fields stay as they were, and
    // renderers read them by the Format line).
    out.push_str("[Script Info]\nScriptType: v4.00+\n");
    for (key, value) in &subs.script_info {
        if !key.eq_ignore_ascii_case("ScriptType") {
            out.push_str(&format!("{}: {}\n", one_line(key), one_line(value)));
        }
    }
    let default_style = [AssStyle::default_style()];
    let styles: &[AssStyle] = if subs.styles.is_empty() {
        // The default style is sized for 1080p: say so, or renderers assume 384×288.
        for (key, value) in [("PlayResX", "1920"), ("PlayResY", "1080"), ("ScaledBorderAndShadow", "yes")] {
            if !subs.script_info.keys().any(|k| k.eq_ignore_ascii_case(key)) {
                out.push_str(&format!("{key}: {value}\n"));
            }
        }
        &default_style
    } else {
        &subs.styles
    };
    // One Format line for all styles: every field any style has, in first-seen order.
    let mut names: Vec<&str> = Vec::new();
    for style in styles {
        for key in style.fields.keys() {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(key)) {
                names.push(key);
            }
        }
    }
    out.push_str(&format!("\n[V4+ Styles]\nFormat: {}\n", names.join(", ")));
    for style in styles {
        let values: Vec<String> = names
            .iter()
            .map(|name| field(style.get(name).or_else(|| default_style[0].get(name)).unwrap_or_default()))
            .collect();
        out.push_str(&format!("Style: {}\n", values.join(",")));
    }
    out.push_str(&format!("\n[Events]\nFormat: {EVENT_FORMAT}\n"));
    for cue in &subs.cues {
        let text = if subs.format == SubtitleFormat::Ass && !cue.raw.is_empty() && plain(&cue.raw) == cue.text {
            cue.raw.replace('\n', "\\N")
        } else {
            cue.text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\\N")
        };
        out.push_str(&format!(
            "Dialogue: {},{},{},{},{},{},{},{},{},{}\n",
            cue.layer.unwrap_or(0),
            clock(cue.start_ms),
            clock(cue.end_ms),
            field(cue.style.as_deref().unwrap_or("Default")),
            field(cue.actor.as_deref().unwrap_or_default()),
            cue.margin_l.unwrap_or(0),
            cue.margin_r.unwrap_or(0),
            cue.margin_v.unwrap_or(0),
            field(cue.effect.as_deref().unwrap_or_default()),
            text
        ));
    }
    out
}

/// A value for a comma-separated line: a comma would shift every later field.
fn field(value: &str) -> String {
    one_line(value).replace(',', ";")
}

fn one_line(value: &str) -> String {
    value.replace(['\n', '\r'], " ")
}

/// `H:MM:SS.cc`: ASS has centiseconds, so milliseconds are rounded to the nearest.
fn clock(ms: u64) -> String {
    let cs = ms.saturating_add(5) / 10;
    format!("{}:{:02}:{:02}.{:02}", cs / 360_000, cs / 6000 % 60, cs / 100 % 60, cs % 100)
}

#[cfg(test)]
mod tests {
    use super::clock;
    use crate::{Error, ParseOptions, SubtitleCue, SubtitleFormat, Subtitles, parse, write};

    const STRICT: ParseOptions = ParseOptions { strict: true };

    #[test]
    fn fields_follow_the_format_line() {
        let text = "[Script Info]\nTitle: x\n\n[Events]\nFormat: Start, End, Style, Text\nDialogue: 0:00:01.00,0:00:02.50,Sign,Hello, world, {\\i1}again\n";
        let subs = parse(text.as_bytes(), None, STRICT).expect("strict");
        let cue = &subs.cues[0];
        assert_eq!((cue.start_ms, cue.end_ms, cue.style.as_deref()), (1_000, 2_500, Some("Sign")));
        assert_eq!((cue.raw.as_str(), cue.text.as_str()), ("Hello, world, {\\i1}again", "Hello, world, again"));
    }

    #[test]
    fn ssa_files_and_unknown_sections() {
        let text = "[Script Info]\nScriptType: v4.00\n\n[V4 Styles]\nFormat: Name, Fontname, Fontsize, TertiaryColour, AlphaLevel\nStyle: Default,Arial,20,&H0,0\n\n[Events]\nFormat: Marked, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\nDialogue: Marked=0,0:00:01.00,0:00:02.00,Default,Bob,0010,0000,0000,,Hi\\Nthere\n\n[Fonts]\nfontname: a.ttf\nM3J#&*!!garbage-without-colon\n";
        let subs = parse(text.as_bytes(), None, STRICT).expect("strict");
        assert_eq!(subs.styles[0].get("TertiaryColour"), Some("&H0"));
        let cue = &subs.cues[0];
        assert_eq!(
            (cue.text.as_str(), cue.actor.as_deref(), cue.margin_l, cue.layer),
            ("Hi\nthere", Some("Bob"), Some(10), None)
        );
        // Written as ASS: the SSA style fields survive, the script type becomes v4.00+.
        let written = write(&subs, SubtitleFormat::Ass);
        assert!(written.contains("ScriptType: v4.00+\n") && !written.contains("v4.00\n"), "{written}");
        let again = parse(written.as_bytes(), None, STRICT).expect("again");
        assert_eq!(again.styles, subs.styles);
        assert_eq!(again.cues, subs.cues);
    }

    #[test]
    fn broken_lines_are_located() {
        let text = "[Script Info]\nno colon here\n[V4+ Styles]\nStyle: Default,Arial,20\n[Events]\nFormat: Layer, Start, End, Style, Text\nDialogue: 0,0:00:01.00,0:00:02.00,Default,ok\nDialogue: 0,later,0:00:02.00,Default,bad time\nDialogue: x,0:00:03.00,0:00:04.00,Default,bad layer\nDialogue: 0,0:00:05.00\nKaraoke: 1\n";
        let subs = parse(text.as_bytes(), None, ParseOptions::default()).expect("tolerant");
        assert_eq!(subs.cues.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["ok", "bad layer"]);
        assert_eq!(
            subs.warnings,
            [
                "line 2: expected `Key: value`, found `no colon here`",
                "line 4: a Style line before the section's Format line; the standard fields assumed",
                "line 4: a style with 3 fields where the Format line has 23",
                "line 8: a Dialogue line whose Start or End is not a time like `0:00:01.00`",
                "line 9: the Layer field `x` is not a whole number",
                "line 10: a Dialogue line with 2 fields where the Format line has 5",
                "line 11: unknown event type `Karaoke`",
            ]
        );
        let Err(Error::Strict(problems)) = parse(text.as_bytes(), None, STRICT) else { panic!("strict refuses") };
        assert_eq!(problems.len(), 7);
    }

    #[test]
    fn plain_cues_get_a_default_style_and_a_1080p_script() {
        let mut cue = SubtitleCue::new(1_004, 62_345, "first line\nsecond, with comma");
        cue.actor = Some("A, B".into());
        let written = write(&Subtitles::new(SubtitleFormat::Srt, vec![cue]), SubtitleFormat::Ass);
        assert!(written.contains("PlayResY: 1080\n"), "{written}");
        assert!(written.contains("\nStyle: Default,Arial,56,"), "{written}");
        assert!(
            written
                .ends_with("Dialogue: 0,0:00:01.00,0:01:02.35,Default,A; B,0,0,0,,first line\\Nsecond, with comma\n"),
            "{written}"
        );
        let back = parse(written.as_bytes(), None, STRICT).expect("parses");
        assert_eq!(back.cues[0].text, "first line\nsecond, with comma");
        assert_eq!(clock(3_599_999), "1:00:00.00");
    }
}
