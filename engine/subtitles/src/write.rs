//! Writers: SRT, WebVTT and ASS.

use crate::model::{SubtitleCue, SubtitleFormat, Subtitles, format_clock};

/// The subtitles as a file of `format`. A cue keeps its styling tags (`raw`) when written
/// back to the format it came from; otherwise its plain text is written.
pub fn write(subs: &Subtitles, format: SubtitleFormat) -> String {
    let same = subs.format == Some(format);
    let body = |cue: &SubtitleCue| if same && !cue.raw.is_empty() { cue.raw.clone() } else { cue.text.clone() };
    let mut out = String::new();
    match format {
        SubtitleFormat::Srt => {
            for (i, cue) in subs.cues.iter().enumerate() {
                out.push_str(&format!(
                    "{}\n{} --> {}\n{}\n\n",
                    i + 1,
                    format_clock(cue.start_ms, ','),
                    format_clock(cue.end_ms, ','),
                    body(cue)
                ));
            }
        }
        SubtitleFormat::Vtt => {
            out.push_str("WEBVTT\n\n");
            for cue in &subs.cues {
                if let Some(id) = &cue.id {
                    out.push_str(id);
                    out.push('\n');
                }
                out.push_str(&format!(
                    "{} --> {}\n{}\n\n",
                    format_clock(cue.start_ms, '.'),
                    format_clock(cue.end_ms, '.'),
                    body(cue)
                ));
            }
        }
        SubtitleFormat::Ass => {
            out.push_str("[Script Info]\n");
            if !subs.script_info.iter().any(|(k, _)| k == "ScriptType") {
                out.push_str("ScriptType: v4.00+\n");
            }
            for (k, v) in &subs.script_info {
                out.push_str(&format!("{k}: {v}\n"));
            }
            out.push_str("\n[V4+ Styles]\n");
            let default_style = default_style();
            let styles = if subs.styles.is_empty() { std::slice::from_ref(&default_style) } else { &subs.styles[..] };
            let fields: Vec<&str> = styles[0].iter().map(|(k, _)| k.as_str()).collect();
            out.push_str(&format!("Format: {}\n", fields.join(", ")));
            for style in styles {
                let values: Vec<&str> = style.iter().map(|(_, v)| v.as_str()).collect();
                out.push_str(&format!("Style: {}\n", values.join(",")));
            }
            out.push_str(
                "\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n",
            );
            for cue in &subs.cues {
                let text = if same && !cue.raw.is_empty() { cue.raw.clone() } else { cue.text.replace('\n', "\\N") };
                out.push_str(&format!(
                    "Dialogue: 0,{},{},{},{},0,0,0,,{}\n",
                    ass_clock(cue.start_ms),
                    ass_clock(cue.end_ms),
                    cue.style.as_deref().unwrap_or("Default"),
                    cue.actor.as_deref().unwrap_or(""),
                    text
                ));
            }
        }
    }
    out
}

/// `H:MM:SS.cc`: ASS keeps centiseconds.
fn ass_clock(ms: u64) -> String {
    let cs = ms / 10;
    format!("{}:{:02}:{:02}.{:02}", cs / 360_000, cs / 6000 % 60, cs / 100 % 60, cs % 100)
}

fn default_style() -> Vec<(String, String)> {
    let fields = "Name,Fontname,Fontsize,PrimaryColour,SecondaryColour,OutlineColour,BackColour,Bold,Italic,Underline,StrikeOut,ScaleX,ScaleY,Spacing,Angle,BorderStyle,Outline,Shadow,Alignment,MarginL,MarginR,MarginV,Encoding";
    let values = "Default,Arial,48,&H00FFFFFF,&H000000FF,&H00000000,&H64000000,0,0,0,0,100,100,0,0,1,2,1,2,40,40,40,1";
    fields.split(',').zip(values.split(',')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}
