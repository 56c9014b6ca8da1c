//! The timeline model: tracks of clips, gaps and transitions in exact rational time.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::time::{Rational, RationalTime, Rounding};

/// An edit: tracks of media in exact time, at one frame rate and picture size.
///
/// Semantics every export follows:
///
/// - A track plays its items back to back from 0s. Clips and gaps take record time;
///   a transition takes none.
/// - A transition sits between two clips and is centred on the cut between them: it starts
///   `duration / 2` before the cut and ends `duration / 2` after it, using that much extra media
///   ("handles") past the outgoing clip's `source_out` and before the incoming clip's `source_in`.
///   This is how Final Cut Pro, OpenTimelineIO and CMX3600 all model a dissolve, so the track
///   keeps its length when one is added.
/// - A video track carries its clips' picture, an audio track their sound: an A/V file whose
///   sound should play is placed on both, as in any track-based editor.
/// - Timeline markers are in record time; clip markers are in the clip's source time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeline {
    /// Shown as the project/sequence name in editors.
    pub name: String,
    /// Frames per second of the sequence; exports snap cuts to this grid.
    pub frame_rate: Rational,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Audio sample rate in Hz.
    #[serde(default = "default_audio_rate")]
    pub audio_rate: u32,
    /// Tracks, in order: the first video track is the main (primary) one.
    #[serde(default)]
    pub tracks: Vec<Track>,
    /// Markers in record time.
    #[serde(default)]
    pub markers: Vec<Marker>,
}

fn default_audio_rate() -> u32 {
    48_000
}

/// What a track carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrackKind {
    Video,
    Audio,
}

/// A sequence of items played back to back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Track {
    pub kind: TrackKind,
    /// Optional label (`V1`, `Music` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub items: Vec<TrackItem>,
}

/// One entry of a track.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TrackItem {
    Clip(Clip),
    Gap(Gap),
    Transition(Transition),
}

/// A range `[source_in, source_out)` of a media file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Clip {
    /// Shown in editors; empty means the file's name without extension.
    #[serde(default)]
    pub name: String,
    pub source: MediaRef,
    /// Where the clip starts in the source.
    pub source_in: RationalTime,
    /// Where it ends in the source (exclusive).
    pub source_out: RationalTime,
    /// Markers in source time, within `[source_in, source_out)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<Marker>,
}

/// Empty time (black / silence).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    pub duration: RationalTime,
}

/// A transition between the two clips around it, centred on their cut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    #[serde(default)]
    pub kind: TransitionKind,
    pub duration: RationalTime,
}

/// The look of a transition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// Blend from one clip to the next (a crossfade on audio).
    #[default]
    CrossDissolve,
    /// Fade through black.
    DipToBlack,
    /// An edge wipe.
    Wipe,
}

impl TransitionKind {
    /// The editor-facing name.
    pub fn display_name(self) -> &'static str {
        match self {
            TransitionKind::CrossDissolve => "Cross Dissolve",
            TransitionKind::DipToBlack => "Dip to Black",
            TransitionKind::Wipe => "Wipe",
        }
    }
}

/// A media file and what is known about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaRef {
    /// Absolute path of the file.
    pub path: PathBuf,
    /// Its length.
    pub duration: RationalTime,
    /// Its frame rate, when it has video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<Rational>,
    pub has_video: bool,
    pub has_audio: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// A named point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    /// Where: record time for timeline markers, source time for clip markers.
    pub at: RationalTime,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where an item of a track plays, in exact record time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Index of the item in [`Track::items`].
    pub index: usize,
    pub start: RationalTime,
    /// Exclusive end.
    pub end: RationalTime,
}

impl Timeline {
    /// An empty timeline at 48 kHz audio.
    pub fn new(name: impl Into<String>, frame_rate: Rational, width: u32, height: u32) -> Self {
        Timeline {
            name: name.into(),
            frame_rate,
            width,
            height,
            audio_rate: default_audio_rate(),
            tracks: vec![],
            markers: vec![],
        }
    }

    /// The length of the longest track.
    pub fn duration(&self) -> Result<RationalTime> {
        self.tracks.iter().try_fold(RationalTime::ZERO, |longest, track| Ok(longest.max(track.duration()?)))
    }

    /// Every distinct source file, in order of first use.
    pub fn sources(&self) -> Vec<&MediaRef> {
        let mut seen: HashSet<&Path> = HashSet::new();
        let mut out = Vec::new();
        for clip in self.clips() {
            if seen.insert(clip.source.path.as_path()) {
                out.push(&clip.source);
            }
        }
        out
    }

    /// Every clip of every track, track by track.
    pub fn clips(&self) -> impl Iterator<Item = &Clip> {
        self.tracks.iter().flat_map(|t| t.items.iter()).filter_map(|item| match item {
            TrackItem::Clip(c) => Some(c),
            _ => None,
        })
    }

    /// Checks the rules every export relies on and reports all violations at once: positive
    /// sizes, absolute paths, `source_in < source_out` within the media, no negative times,
    /// transitions only between two clips with enough media for them, one description per
    /// file, markers inside what they mark.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.width == 0 || self.height == 0 {
            problems.push(format!("picture size {}x{} is empty", self.width, self.height));
        }
        if self.audio_rate == 0 {
            problems.push("audio_rate is 0".into());
        }
        let mut described: HashMap<&Path, (&MediaRef, String)> = HashMap::new();
        for (t, track) in self.tracks.iter().enumerate() {
            for (i, item) in track.items.iter().enumerate() {
                let at = format!("tracks[{t}].items[{i}]");
                match item {
                    TrackItem::Clip(clip) => {
                        check_clip(clip, track.kind, &at, &mut problems);
                        match described.get(clip.source.path.as_path()) {
                            Some((first, first_at)) if *first != &clip.source => problems.push(format!(
                                "{at}: {} is described differently than at {first_at}",
                                clip.source.path.display()
                            )),
                            Some(_) => {}
                            None => {
                                described.insert(clip.source.path.as_path(), (&clip.source, at.clone()));
                            }
                        }
                    }
                    TrackItem::Gap(gap) => {
                        if !gap.duration.is_positive() {
                            problems.push(format!("{at}: gap duration {} is not positive", gap.duration));
                        }
                    }
                    TrackItem::Transition(tr) => check_transition(track, i, tr, &at, &mut problems),
                }
            }
            // Two transitions on one clip must not overlap inside it.
            for (i, item) in track.items.iter().enumerate() {
                let TrackItem::Clip(clip) = item else { continue };
                let half = |j: Option<usize>| match j.and_then(|j| track.items.get(j)) {
                    Some(TrackItem::Transition(tr)) => tr.duration.checked_div(2).unwrap_or(RationalTime::ZERO),
                    _ => RationalTime::ZERO,
                };
                let (before, after) = (half(i.checked_sub(1)), half(i.checked_add(1)));
                if let (Ok(used), Ok(len)) = (before.checked_add(after), clip.duration())
                    && !before.is_zero()
                    && !after.is_zero()
                    && used > len
                {
                    problems.push(format!(
                        "tracks[{t}].items[{i}]: the transitions on both ends of clip `{}` overlap ({used} of {len})",
                        clip.display_name()
                    ));
                }
            }
        }
        match self.duration() {
            Ok(total) => {
                for (m, marker) in self.markers.iter().enumerate() {
                    if marker.at.is_negative() || marker.at >= total {
                        problems.push(format!(
                            "markers[{m}] `{}` at {} is outside the timeline [0s, {total})",
                            marker.name, marker.at
                        ));
                    }
                }
            }
            Err(e) => problems.push(format!("timeline duration: {e}")),
        }
        if problems.is_empty() { Ok(()) } else { Err(Error::Invalid(problems)) }
    }
}

fn check_clip(clip: &Clip, kind: TrackKind, at: &str, problems: &mut Vec<String>) {
    let name = clip.display_name();
    let src = &clip.source;
    if !src.path.is_absolute() {
        problems.push(format!("{at}: clip `{name}`: source path {} is not absolute", src.path.display()));
    }
    if !src.duration.is_positive() {
        problems.push(format!("{at}: clip `{name}`: source duration {} is not positive", src.duration));
    }
    if src.width == Some(0) || src.height == Some(0) {
        problems.push(format!("{at}: clip `{name}`: source picture size is empty"));
    }
    if clip.source_in.is_negative() {
        problems.push(format!("{at}: clip `{name}`: source_in {} is negative", clip.source_in));
    }
    if clip.source_out <= clip.source_in {
        problems.push(format!(
            "{at}: clip `{name}`: source_out {} is not after source_in {}",
            clip.source_out, clip.source_in
        ));
    }
    if clip.source_out > src.duration {
        problems.push(format!(
            "{at}: clip `{name}`: source_out {} is past the end of the media ({})",
            clip.source_out, src.duration
        ));
    }
    match kind {
        TrackKind::Video if !src.has_video => {
            problems.push(format!("{at}: clip `{name}` is on a video track but its source has no video"))
        }
        TrackKind::Audio if !src.has_audio => {
            problems.push(format!("{at}: clip `{name}` is on an audio track but its source has no audio"))
        }
        _ => {}
    }
    for (m, marker) in clip.markers.iter().enumerate() {
        if marker.at < clip.source_in || marker.at >= clip.source_out {
            problems.push(format!(
                "{at}.markers[{m}] `{}` at {} is outside the clip's source range [{}, {})",
                marker.name, marker.at, clip.source_in, clip.source_out
            ));
        }
    }
}

fn check_transition(track: &Track, i: usize, tr: &Transition, at: &str, problems: &mut Vec<String>) {
    if !tr.duration.is_positive() {
        problems.push(format!("{at}: transition duration {} is not positive", tr.duration));
        return;
    }
    let prev = i.checked_sub(1).and_then(|j| track.items.get(j));
    let next = track.items.get(i + 1);
    let (Some(TrackItem::Clip(from)), Some(TrackItem::Clip(to))) = (prev, next) else {
        problems.push(format!("{at}: a transition must sit between two clips"));
        return;
    };
    let Ok(half) = tr.duration.checked_div(2) else {
        problems.push(format!("{at}: transition duration {} overflows", tr.duration));
        return;
    };
    // The transition plays `half` of media past each cut: the handles must exist.
    match from.source_out.checked_add(half) {
        Ok(end) if end <= from.source.duration => {}
        _ => problems.push(format!(
            "{at}: clip `{}` needs {half} of media after its source_out {} for the transition (media ends at {})",
            from.display_name(),
            from.source_out,
            from.source.duration
        )),
    }
    match to.source_in.checked_sub(half) {
        Ok(start) if !start.is_negative() => {}
        _ => problems.push(format!(
            "{at}: clip `{}` needs {half} of media before its source_in {} for the transition",
            to.display_name(),
            to.source_in
        )),
    }
    for clip in [from, to] {
        if let Ok(len) = clip.duration()
            && half > len
        {
            problems.push(format!(
                "{at}: half the transition ({half}) is longer than clip `{}` ({len})",
                clip.display_name()
            ));
        }
    }
}

impl Track {
    pub fn video(items: Vec<TrackItem>) -> Self {
        Track { kind: TrackKind::Video, name: None, items }
    }

    pub fn audio(items: Vec<TrackItem>) -> Self {
        Track { kind: TrackKind::Audio, name: None, items }
    }

    /// The sum of the clip and gap durations (transitions take no time).
    pub fn duration(&self) -> Result<RationalTime> {
        self.items.iter().try_fold(RationalTime::ZERO, |sum, item| sum.checked_add(item.record_duration()?))
    }

    /// Where each item plays in record time. Clips and gaps follow each other from 0s; a
    /// transition spans `duration / 2` either side of the cut it sits on.
    pub fn placements(&self) -> Result<Vec<Placement>> {
        let mut at = RationalTime::ZERO;
        let mut out = Vec::with_capacity(self.items.len());
        for (index, item) in self.items.iter().enumerate() {
            let placement = match item {
                TrackItem::Transition(tr) => {
                    let half = tr.duration.checked_div(2)?;
                    Placement { index, start: at.checked_sub(half)?, end: at.checked_add(half)? }
                }
                _ => {
                    let end = at.checked_add(item.record_duration()?)?;
                    let p = Placement { index, start: at, end };
                    at = end;
                    p
                }
            };
            out.push(placement);
        }
        Ok(out)
    }
}

impl TrackItem {
    pub fn clip(clip: Clip) -> Self {
        TrackItem::Clip(clip)
    }

    pub fn gap(duration: RationalTime) -> Self {
        TrackItem::Gap(Gap { duration })
    }

    pub fn transition(kind: TransitionKind, duration: RationalTime) -> Self {
        TrackItem::Transition(Transition { kind, duration })
    }

    /// The record time this item takes: a clip's length, a gap's duration, zero for a transition.
    pub fn record_duration(&self) -> Result<RationalTime> {
        match self {
            TrackItem::Clip(c) => c.duration(),
            TrackItem::Gap(g) => Ok(g.duration),
            TrackItem::Transition(_) => Ok(RationalTime::ZERO),
        }
    }
}

impl Clip {
    pub fn new(name: impl Into<String>, source: MediaRef, source_in: RationalTime, source_out: RationalTime) -> Self {
        Clip { name: name.into(), source, source_in, source_out, markers: vec![] }
    }

    /// `source_out - source_in`.
    pub fn duration(&self) -> Result<RationalTime> {
        self.source_out.checked_sub(self.source_in)
    }

    /// The clip's name, or its file's name without extension when the name is empty.
    pub fn display_name(&self) -> String {
        if self.name.is_empty() { self.source.stem() } else { self.name.clone() }
    }
}

impl MediaRef {
    pub fn new(path: impl Into<PathBuf>, duration: RationalTime, has_video: bool, has_audio: bool) -> Self {
        MediaRef { path: path.into(), duration, frame_rate: None, has_video, has_audio, width: None, height: None }
    }

    /// The file name without its extension (lossy for non-UTF-8 names).
    pub fn stem(&self) -> String {
        self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

impl Marker {
    pub fn new(at: RationalTime, name: impl Into<String>) -> Self {
        Marker { at, name: name.into(), note: None }
    }
}

/// `path` as a `file://` URL: every byte but the unreserved ASCII characters (`A-Z a-z 0-9 - . _ ~`)
/// and `/` is percent-encoded, so spaces, quotes and non-ASCII (UTF-8) names survive any parser.
/// On Windows, `\\` becomes `/` and the drive letter keeps its colon (`file:///C:/...`).
pub fn file_url(path: &Path) -> String {
    #[cfg(unix)]
    let bytes: Vec<u8> = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes: Vec<u8> = {
        let text = path.to_string_lossy().replace('\\', "/");
        if text.starts_with('/') { text.into_bytes() } else { format!("/{text}").into_bytes() }
    };
    let mut out = String::from("file://");
    for (i, &b) in bytes.iter().enumerate() {
        let drive_colon = cfg!(windows) && i == 2 && b == b':';
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') || drive_colon {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The JSON Schema of a [`Timeline`] document.
pub fn timeline_json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Timeline)).unwrap_or_default()
}

/// An item of a track laid out on the sequence's frame grid, for the frame-based exports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameItem<'a> {
    pub index: usize,
    pub item: &'a TrackItem,
    /// First record frame.
    pub start: i64,
    /// Record frame after the last.
    pub end: i64,
    /// For clips: the source frame at `start`; 0 otherwise.
    pub source_start: i64,
}

/// Lays a track out on the frame grid of `rate`.
///
/// Every boundary is snapped from its exact position with [`Rounding::Nearest`], so errors
/// never accumulate: the cut after a hundred clips is as close to exact as the first. A clip's
/// source in-point is snapped the same way; its length is the snapped record length. An item
/// shorter than half a frame vanishes, and so does a transition next to a vanished clip. A
/// transition of `n` frames starts `⌊n/2⌋` frames before its (snapped) cut.
pub(crate) fn frame_layout(track: &Track, rate: Rational) -> Result<Vec<FrameItem<'_>>> {
    let placements = track.placements()?;
    let mut out: Vec<FrameItem<'_>> = Vec::with_capacity(placements.len());
    let mut cut = 0i64;
    let mut pending: Option<FrameItem<'_>> = None;
    let mut transitions_end = i64::MIN;
    for p in placements {
        let item = &track.items[p.index];
        match item {
            TrackItem::Transition(tr) => {
                let frames = tr.duration.to_frames(rate, Rounding::Nearest)?;
                // Only keep it if the clip before it survived; the one after is checked below.
                let prev_ok = out.last().is_some_and(|f| f.index + 1 == p.index);
                pending = (frames > 0 && prev_ok).then(|| {
                    let start = cut - frames / 2;
                    FrameItem { index: p.index, item, start, end: start + frames, source_start: 0 }
                });
            }
            _ => {
                let start = p.start.to_frames(rate, Rounding::Nearest)?;
                let end = p.end.to_frames(rate, Rounding::Nearest)?;
                cut = end;
                if end <= start {
                    pending = None;
                    continue;
                }
                let source_start = match item {
                    TrackItem::Clip(c) => c.source_in.to_frames(rate, Rounding::Nearest)?,
                    _ => 0,
                };
                if let Some(tr) = pending.take() {
                    // Rounding can shift a cut or a duration by a frame: the transition must still
                    // fit its clips and must not run into the previous transition.
                    let prev_start = out.last().map_or(i64::MIN, |f| f.start);
                    if tr.start < prev_start || tr.end > end || tr.start < transitions_end {
                        return Err(Error::unsupported(
                            "frame-based export",
                            format!(
                                "the transition at item {} overlaps a neighbour once on the {rate} fps frame grid",
                                tr.index
                            ),
                        ));
                    }
                    transitions_end = tr.end;
                    out.push(tr);
                }
                out.push(FrameItem { index: p.index, item, start, end, source_start });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: i64) -> RationalTime {
        RationalTime::from_seconds(n)
    }

    fn media(path: &str, secs: i64) -> MediaRef {
        MediaRef::new(path, s(secs), true, true)
    }

    fn clip(path: &str, a: i64, b: i64) -> TrackItem {
        TrackItem::clip(Clip::new("", media(path, 100), s(a), s(b)))
    }

    fn timeline(items: Vec<TrackItem>) -> Timeline {
        let mut tl = Timeline::new("t", Rational::FPS_25, 1920, 1080);
        tl.tracks.push(Track::video(items));
        tl
    }

    fn problems(tl: &Timeline) -> Vec<String> {
        match tl.validate() {
            Err(Error::Invalid(p)) => p,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn durations_and_placements_follow_the_items() {
        let track = Track::video(vec![
            clip("/m/a.mov", 10, 15),
            TrackItem::transition(TransitionKind::CrossDissolve, s(1)),
            clip("/m/b.mov", 20, 22),
            TrackItem::gap(s(3)),
        ]);
        assert_eq!(track.duration().unwrap(), s(10));
        let p: Vec<(RationalTime, RationalTime)> =
            track.placements().unwrap().iter().map(|p| (p.start, p.end)).collect();
        let half = RationalTime::new(1, 2).unwrap();
        assert_eq!(
            p,
            [
                (s(0), s(5)),
                (s(5).checked_sub(half).unwrap(), s(5).checked_add(half).unwrap()),
                (s(5), s(7)),
                (s(7), s(10))
            ]
        );
        let mut tl = timeline(track.items.clone());
        tl.tracks.push(Track::audio(vec![clip("/m/c.wav", 0, 12)]));
        assert_eq!(tl.duration().unwrap(), s(12));
        tl.validate().unwrap();
        assert_eq!(tl.sources().len(), 3);
        assert_eq!(tl.clips().next().unwrap().display_name(), "a");
    }

    #[test]
    fn bad_clips_are_reported_together() {
        let mut tl = timeline(vec![
            clip("/m/a.mov", 5, 5),
            clip("relative.mov", -1, 2),
            TrackItem::clip(Clip::new("late", media("/m/b.mov", 10), s(8), s(12))),
            TrackItem::gap(s(0)),
        ]);
        tl.markers.push(Marker::new(s(-1), "before"));
        let p = problems(&tl);
        assert!(p.iter().any(|m| m.contains("source_out 5s is not after source_in 5s")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("not absolute")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("source_in -1s is negative")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("past the end of the media")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("gap duration 0s")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("markers[0] `before`")), "{p:?}");
    }

    #[test]
    fn transitions_need_two_clips_and_handles() {
        let tr = || TrackItem::transition(TransitionKind::CrossDissolve, s(2));
        let p = problems(&timeline(vec![tr(), clip("/m/a.mov", 5, 10)]));
        assert!(p[0].contains("between two clips"), "{p:?}");
        let p = problems(&timeline(vec![clip("/m/a.mov", 5, 10), tr(), TrackItem::gap(s(1))]));
        assert!(p[0].contains("between two clips"), "{p:?}");
        let p = problems(&timeline(vec![clip("/m/a.mov", 5, 10), tr(), tr(), clip("/m/a.mov", 5, 10)]));
        assert_eq!(p.len(), 2, "{p:?}");
        // No media before source_in 0 for the incoming clip.
        let p = problems(&timeline(vec![clip("/m/a.mov", 5, 10), tr(), clip("/m/a.mov", 0, 10)]));
        assert!(p[0].contains("before its source_in"), "{p:?}");
        // No media after the end for the outgoing clip.
        let p = problems(&timeline(vec![clip("/m/a.mov", 5, 100), tr(), clip("/m/a.mov", 5, 10)]));
        assert!(p[0].contains("after its source_out"), "{p:?}");
        let p = problems(&timeline(vec![
            clip("/m/a.mov", 5, 10),
            TrackItem::transition(TransitionKind::Wipe, s(-1)),
            clip("/m/a.mov", 5, 10),
        ]));
        assert!(p[0].contains("not positive"), "{p:?}");
        // Both ends of a 1s clip use 1s each.
        let p = problems(&timeline(vec![
            clip("/m/a.mov", 5, 10),
            tr(),
            clip("/m/a.mov", 20, 21),
            tr(),
            clip("/m/a.mov", 30, 40),
        ]));
        assert!(p.iter().any(|m| m.contains("overlap")), "{p:?}");
        timeline(vec![clip("/m/a.mov", 5, 10), tr(), clip("/m/a.mov", 5, 10)]).validate().unwrap();
    }

    #[test]
    fn clips_must_fit_their_track_and_one_description_per_file() {
        let mut tl =
            timeline(vec![TrackItem::clip(Clip::new("", MediaRef::new("/m/a.wav", s(9), false, true), s(0), s(1)))]);
        tl.tracks.push(Track::audio(vec![TrackItem::clip(Clip::new(
            "",
            MediaRef::new("/m/a.wav", s(10), false, true),
            s(0),
            s(1),
        ))]));
        let p = problems(&tl);
        assert!(p.iter().any(|m| m.contains("no video")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("described differently")), "{p:?}");
    }

    #[test]
    fn json_round_trips_with_readable_times() {
        let json = r#"{
            "name": "cut", "frame_rate": "29.97", "width": 1920, "height": 1080,
            "tracks": [{"kind": "video", "items": [
                {"type": "clip", "name": "a", "source": {"path": "/m/a.mov", "duration": "10s",
                 "has_video": true, "has_audio": true}, "source_in": "1.5s", "source_out": "1001/200s"},
                {"type": "transition", "duration": "1001/30000s"},
                {"type": "clip", "source": {"path": "/m/a.mov", "duration": "10s",
                 "has_video": true, "has_audio": true}, "source_in": 6, "source_out": 8},
                {"type": "gap", "duration": "1s"}
            ]}],
            "markers": [{"at": "2s", "name": "look"}]
        }"#;
        let tl: Timeline = serde_json::from_str(json).unwrap();
        assert_eq!(tl.audio_rate, 48_000);
        assert_eq!(tl.frame_rate, Rational::FPS_29_97);
        tl.validate().unwrap();
        let back: Timeline = serde_json::from_value(serde_json::to_value(&tl).unwrap()).unwrap();
        assert_eq!(back, tl);
        let text = serde_json::to_string(&tl).unwrap();
        assert!(text.contains(r#""source_in":"3/2s""#), "{text}");
        assert!(text.contains(r#""kind":"cross_dissolve""#), "{text}");
        let bad = json.replace(r#""type": "gap""#, r#""type": "gap", "extra": 1"#);
        assert!(serde_json::from_str::<Timeline>(&bad).is_err());
        let schema = timeline_json_schema();
        assert!(schema.to_string().contains("RationalTime"), "{schema}");
    }

    #[test]
    fn frame_layout_snaps_boundaries_without_drift() {
        // Three clips of 1/3 s at 25 fps: exact cuts at 8.33, 16.67, 25 frames.
        let third = RationalTime::new(1, 3).unwrap();
        let c = |i: i64| {
            let a = third.checked_mul(i).unwrap();
            TrackItem::clip(Clip::new("", media("/m/a.mov", 100), a, a.checked_add(third).unwrap()))
        };
        let track = Track::video(vec![c(0), c(1), c(2)]);
        let frames: Vec<(i64, i64, i64)> =
            frame_layout(&track, Rational::FPS_25).unwrap().iter().map(|f| (f.start, f.end, f.source_start)).collect();
        assert_eq!(frames, [(0, 8, 0), (8, 17, 8), (17, 25, 17)]);
        // A 3-frame transition starts 1 frame before the cut; a sub-half-frame clip vanishes.
        let track = Track::video(vec![
            clip("/m/a.mov", 5, 10),
            TrackItem::transition(TransitionKind::CrossDissolve, RationalTime::new(3, 25).unwrap()),
            clip("/m/a.mov", 5, 10),
            TrackItem::clip(Clip::new("", media("/m/a.mov", 100), s(1), RationalTime::new(1001, 1000).unwrap())),
        ]);
        let frames: Vec<(usize, i64, i64)> =
            frame_layout(&track, Rational::FPS_25).unwrap().iter().map(|f| (f.index, f.start, f.end)).collect();
        assert_eq!(frames, [(0, 0, 125), (1, 124, 127), (2, 125, 250)]);
    }
}
