//! CMX3600 EDL export.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::error::{Error, Result};
use crate::model::{FrameItem, Timeline, TrackItem, TrackKind, TransitionKind, frame_layout};
use crate::time::{Rounding, format_timecode};

const FORMAT: &str = "CMX3600 EDL";

/// How to write an EDL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdlOptions {
    /// Drop-frame timecode (29.97 and 59.94 only).
    pub drop_frame: bool,
}

/// One event's lines before numbering.
struct Event {
    record_in: i64,
    record_out: i64,
    /// Position of the track among the exported ones (video first).
    track: usize,
    /// (reel, channel, transition, duration, src in, src out, rec in, rec out) per line.
    lines: Vec<[String; 8]>,
    comments: Vec<String>,
}

/// The timeline as a CMX3600 EDL.
///
/// ```text
/// TITLE: Promo
/// FCM: NON-DROP FRAME
///
/// 001  Intervie V     C        00:00:10:00 00:00:15:00 00:00:00:00 00:00:05:00
/// * FROM CLIP NAME: Interview
/// ```
///
/// Columns: event number (3 digits), two spaces, reel (8, left-aligned), channel (5: `V`, `A`,
/// `A2` …), transition (4: `C`, `D`, `W001`), duration in frames (3, right-aligned, blank for
/// cuts), then source in, source out, record in and record out. Lines end in `\n`; events are
/// separated by a blank line.
///
/// - **Tracks**: CMX3600 has one picture track, so the timeline may have at most one video
///   track (its events are `V`); audio tracks become `A`, `A2`, `A3`, `A4` (the last two are the
///   common extension of the format). Events are sorted by record in, video before audio.
/// - **Timecode** counts frames at the timeline's rate from `00:00:00:00`, for record and
///   source alike (a source's own start timecode is not known). Drop-frame (`FCM: DROP FRAME`,
///   `;` before the frames) is written on request, for 29.97 and 59.94 only. Cuts are snapped to
///   frames as in the FCPXML export.
/// - **Reels** come from the file name: its stem with every ASCII character outside
///   `A-Z a-z 0-9 _` turned into `_` and non-ASCII characters dropped, cut to 8 characters. When
///   two files would share a reel, the later one ends in `_` and a number instead (`Intervie`,
///   then `Interv_1`); an empty result is `AX`, and `BL` (CMX's black) becomes `BL_`. The clip's
///   name follows each event as `* FROM CLIP NAME:` (`* TO CLIP NAME:` for the incoming side of
///   a transition).
/// - **Transitions** are two-line events: a zero-length cut of the outgoing clip where the
///   transition starts, then the incoming clip with `D` (dissolve; dips to black are written as
///   dissolves too) or `W001` (wipe) and the duration in frames (at most 999).
/// - **Markers** become `* LOC: <record tc> RED <name>` comments under the event that plays at
///   that time (video first); markers in a gap are not written.
/// - Gaps are implicit in the record times. At most 999 events.
pub fn to_edl(timeline: &Timeline, options: &EdlOptions) -> Result<String> {
    timeline.validate()?;
    let rate = timeline.frame_rate;
    let drop = options.drop_frame;
    if drop && !rate.supports_drop_frame() {
        return Err(Error::unsupported(FORMAT, format!("drop-frame timecode does not exist at {rate} fps")));
    }
    if rate.timecode_base().is_none() {
        return Err(Error::unsupported(FORMAT, format!("{rate} fps has no timecode")));
    }
    let video: Vec<_> = timeline.tracks.iter().filter(|t| t.kind == TrackKind::Video).collect();
    if video.len() > 1 {
        return Err(Error::unsupported(FORMAT, format!("it holds one video track, this timeline has {}", video.len())));
    }
    let audio: Vec<_> = timeline.tracks.iter().filter(|t| t.kind == TrackKind::Audio).collect();
    if audio.len() > 4 {
        return Err(Error::unsupported(
            FORMAT,
            format!("it holds four audio tracks, this timeline has {}", audio.len()),
        ));
    }
    let reels = reel_names(timeline.sources().iter().map(|m| m.path.as_path()));
    let tc = |frames: i64| format_timecode(frames, rate, drop);

    let tracks = video.iter().map(|t| (*t, "V".to_owned())).chain(
        audio.iter().enumerate().map(|(i, t)| (*t, if i == 0 { "A".to_owned() } else { format!("A{}", i + 1) })),
    );
    let mut events = Vec::new();
    // (event index, record frame, name) of every clip marker, for `* LOC:` lines.
    let mut clip_markers: Vec<(usize, i64, String)> = Vec::new();
    for (track_pos, (track, channel)) in tracks.enumerate() {
        let items = frame_layout(track, rate)?;
        for (k, f) in items.iter().enumerate() {
            let TrackItem::Clip(clip) = f.item else { continue };
            let reel = reels.get(clip.source.path.as_path()).cloned().unwrap_or_else(|| "AX".into());
            let incoming = k.checked_sub(1).and_then(|j| items.get(j)).filter(|p| is_transition(p));
            let outgoing = items.get(k + 1).filter(|n| is_transition(n));
            // The event plays from the start of the transition into it (or its own start) to the
            // start of the transition out of it (or its own end).
            let rec_in = incoming.map_or(f.start, |t| t.start);
            let rec_out = outgoing.map_or(f.end, |t| t.start);
            let src_at = |record: i64| f.source_start + (record - f.start);
            let mut lines = Vec::new();
            let mut comments = Vec::new();
            match incoming {
                Some(tr) => {
                    let from = k.checked_sub(2).and_then(|j| items.get(j)).ok_or_else(|| {
                        Error::unsupported(FORMAT, "a transition without an outgoing clip".to_string())
                    })?;
                    let TrackItem::Clip(from_clip) = from.item else {
                        return Err(Error::unsupported(FORMAT, "a transition without an outgoing clip"));
                    };
                    let TrackItem::Transition(t) = tr.item else {
                        return Err(Error::unsupported(FORMAT, "a transition that is not one"));
                    };
                    let frames = tr.end - tr.start;
                    if frames > 999 {
                        return Err(Error::unsupported(FORMAT, format!("a {frames}-frame transition (at most 999)")));
                    }
                    let from_reel = reels.get(from_clip.source.path.as_path()).cloned().unwrap_or_else(|| "AX".into());
                    let from_src = from.source_start + (tr.start - from.start);
                    lines.push([
                        from_reel,
                        channel.clone(),
                        "C".into(),
                        String::new(),
                        tc(from_src)?,
                        tc(from_src)?,
                        tc(tr.start)?,
                        tc(tr.start)?,
                    ]);
                    let code = match t.kind {
                        TransitionKind::CrossDissolve | TransitionKind::DipToBlack => "D".to_owned(),
                        TransitionKind::Wipe => "W001".to_owned(),
                    };
                    lines.push([
                        reel,
                        channel.clone(),
                        code,
                        format!("{frames:03}"),
                        tc(src_at(rec_in))?,
                        tc(src_at(rec_out))?,
                        tc(rec_in)?,
                        tc(rec_out)?,
                    ]);
                    comments.push(format!("* FROM CLIP NAME: {}", one_line(&from_clip.display_name())));
                    comments.push(format!("* TO CLIP NAME: {}", one_line(&clip.display_name())));
                }
                None => {
                    lines.push([
                        reel,
                        channel.clone(),
                        "C".into(),
                        String::new(),
                        tc(src_at(rec_in))?,
                        tc(src_at(rec_out))?,
                        tc(rec_in)?,
                        tc(rec_out)?,
                    ]);
                    comments.push(format!("* FROM CLIP NAME: {}", one_line(&clip.display_name())));
                }
            }
            for m in &clip.markers {
                let at = f.start + (m.at.to_frames(rate, Rounding::Nearest)? - f.source_start);
                clip_markers.push((events.len(), at, m.name.clone()));
            }
            events.push(Event { record_in: rec_in, record_out: rec_out, track: track_pos, lines, comments });
        }
    }

    // Timeline markers go under the event playing then, preferring the video track.
    let mut locs: Vec<(usize, i64, String)> = clip_markers;
    for marker in &timeline.markers {
        let at = marker.at.to_frames(rate, Rounding::Nearest)?;
        let host = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.record_in <= at && at < e.record_out)
            .min_by_key(|(_, e)| e.track)
            .map(|(i, _)| i);
        if let Some(i) = host {
            locs.push((i, at, marker.name.clone()));
        }
    }
    locs.sort_by_key(|(_, at, _)| *at);
    for (i, at, name) in locs {
        if let Some(e) = events.get_mut(i) {
            e.comments.push(format!("* LOC: {} RED     {}", tc(at)?, one_line(&name)));
        }
    }

    // Stable: events of one track keep their order; at equal record in, video comes first.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (events[i].record_in, events[i].track));
    if order.len() > 999 {
        return Err(Error::unsupported(FORMAT, format!("{} events (at most 999)", order.len())));
    }

    let mut out = format!("TITLE: {}\n", one_line(&timeline.name));
    out.push_str(if drop { "FCM: DROP FRAME\n" } else { "FCM: NON-DROP FRAME\n" });
    for (n, &i) in order.iter().enumerate() {
        out.push('\n');
        let event = &events[i];
        for [reel, channel, transition, duration, src_in, src_out, rec_in, rec_out] in &event.lines {
            out.push_str(&format!(
                "{:03}  {reel:<8} {channel:<5} {transition:<4} {duration:>3} {src_in} {src_out} {rec_in} {rec_out}\n",
                n + 1
            ));
        }
        for comment in &event.comments {
            out.push_str(comment);
            out.push('\n');
        }
    }
    Ok(out)
}

fn is_transition(f: &&FrameItem<'_>) -> bool {
    matches!(f.item, TrackItem::Transition(_))
}

/// A value for a one-line comment: line breaks become spaces.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Reel names for the given files (in order of first use), unique and at most 8 characters.
pub(crate) fn reel_names<'a>(paths: impl Iterator<Item = &'a Path>) -> HashMap<&'a Path, String> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = HashMap::new();
    for path in paths {
        if out.contains_key(path) {
            continue;
        }
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let mut base: String = stem
            .chars()
            .filter_map(|c| match c {
                c if c.is_ascii_alphanumeric() || c == '_' => Some(c),
                c if c.is_ascii() => Some('_'),
                // Non-ASCII letters have no place in a CMX reel; drop them.
                _ => None,
            })
            .take(8)
            .collect();
        if base.is_empty() {
            base = "AX".into();
        }
        if base.eq_ignore_ascii_case("BL") {
            base = "BL_".into();
        }
        // "AX" (auxiliary source) may repeat: the clip name identifies the file.
        let mut reel = base.clone();
        let mut n = 1u32;
        while reel != "AX" && taken.contains(&reel.to_ascii_uppercase()) {
            let suffix = n.to_string();
            let keep = 8usize.saturating_sub(suffix.len() + 1);
            reel = format!("{}_{suffix}", base.chars().take(keep).collect::<String>());
            n += 1;
        }
        taken.insert(reel.to_ascii_uppercase());
        out.insert(path, reel);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reels_are_short_unique_and_ascii() {
        let paths = [
            "/m/Interview A.mov",
            "/m/Interview B.mov",
            "/m/采访.mov",
            "/m/bl.mov",
            "/m/x-1.mov",
            "/m/Interview A.mov",
            "/n/x-1.wav",
        ]
        .map(Path::new);
        let reels = reel_names(paths.iter().copied());
        let r = |p: &str| reels[Path::new(p)].clone();
        assert_eq!(r("/m/Interview A.mov"), "Intervie");
        assert_eq!(r("/m/Interview B.mov"), "Interv_1");
        assert_eq!(r("/m/采访.mov"), "AX");
        assert_eq!(r("/m/bl.mov"), "BL_");
        assert_eq!(r("/m/x-1.mov"), "x_1");
        assert_eq!(r("/n/x-1.wav"), "x_1_1");
    }
}
