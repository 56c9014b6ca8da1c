//! Final Cut Pro XML (FCPXML 1.10 and 1.11) export.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{
    FrameItem, MediaRef, Timeline, Track, TrackItem, TrackKind, TransitionKind, file_url, frame_layout,
};
use crate::time::{Rational, RationalTime, Rounding};

const FORMAT: &str = "FCPXML";
const CROSS_DISSOLVE_UID: &str = "FxPlug:4731E73A-8DAC-4113-9A30-AE85B1761265";
const FADE_TO_COLOR_UID: &str = "FxPlug:F779C565-486D-4633-8035-0374B4DB8F5C";
const AUDIO_CROSSFADE_UID: &str = "FFAudioTransition";

/// The FCPXML document versions written. Each DTD fixes the `version` attribute, so a document
/// is valid for exactly one of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum FcpxmlVersion {
    /// Final Cut Pro 10.6 and later; DaVinci Resolve 18 and later.
    #[serde(rename = "1.10")]
    V1_10,
    /// Final Cut Pro 10.6.6 and later.
    #[default]
    #[serde(rename = "1.11")]
    V1_11,
}

impl FcpxmlVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            FcpxmlVersion::V1_10 => "1.10",
            FcpxmlVersion::V1_11 => "1.11",
        }
    }
}

impl fmt::Display for FcpxmlVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FcpxmlVersion {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim() {
            "1.10" => Ok(FcpxmlVersion::V1_10),
            "1.11" => Ok(FcpxmlVersion::V1_11),
            _ => Err(Error::parse(text, "FCPXML version", "expected 1.10 or 1.11")),
        }
    }
}

/// How to write an FCPXML document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FcpxmlOptions {
    pub version: FcpxmlVersion,
    /// Display the sequence's timecode drop-frame (`tcFormat="DF"`); 29.97 and 59.94 only.
    pub drop_frame: bool,
}

/// The timeline as an FCPXML document of `version` (non-drop-frame timecode).
pub fn to_fcpxml(timeline: &Timeline, version: FcpxmlVersion) -> Result<String> {
    to_fcpxml_with(timeline, &FcpxmlOptions { version, drop_frame: false })
}

/// The timeline as an FCPXML document, with all options.
///
/// Layout of the document (every element placed where Apple's DTD allows it):
///
/// - `<resources>`: one `<format>` for the sequence (`r1`); one `<asset>` per distinct source
///   file with a `<media-rep kind="original-media" src="file:///…">` (plus its own `<format>`
///   when its known rate or size differs from the sequence's); the transition `<effect>`s in use.
/// - `<library>` › `<event>` › `<project>` › `<sequence>` › `<spine>`: the first video track
///   (or the first track) is the primary storyline, as `<asset-clip>`, `<gap>` and `<transition>`
///   elements. It is padded with a trailing gap to the timeline's length, so that everything
///   else can hang off it.
/// - Every other track becomes a connected storyline, `<spine lane="N">`, anchored in the first
///   primary element at record time 0: video tracks get lanes 1, 2, … and audio tracks −1, −2, ….
///   Its children's offsets count from 0, which is record time.
/// - The spine and the sequence take no markers in the DTD, so a timeline marker goes into the
///   primary clip or gap under it, converted to that element's local time; clip markers go into
///   their clip. Markers last one frame, as Final Cut Pro's own do.
/// - Clips on video tracks are written `srcEnable="video"` and clips on audio tracks
///   `srcEnable="audio"` when their file has both, so a file placed on a video and an audio track
///   plays its sound once.
///
/// Final Cut Pro rejects times off the sequence's frame grid, so every cut, source in-point,
/// transition and marker is snapped to the nearest frame (an exact half goes to the later one),
/// boundary by boundary from the exact positions, so errors never accumulate; see [`Timeline`]
/// and [`crate::Track::placements`] for the exact model. A transition of `n` frames starts
/// `⌊n/2⌋` frames before its cut. Items shorter than half a frame are left out; transitions that
/// rounding pushes into each other are an [`Error::Unsupported`]. Asset durations are exact.
///
/// Transitions: cross dissolves use Final Cut Pro's built-in Cross Dissolve
/// (`FxPlug:4731E73A-8DAC-4113-9A30-AE85B1761265`), dips to black its Fade To Color
/// (`FxPlug:F779C565-486D-4633-8035-0374B4DB8F5C`, black by default), and wipes — for which no
/// verified built-in reference exists — are written as cross dissolves. Transitions on audio
/// tracks are `Audio Crossfade` (`FFAudioTransition`).
pub fn to_fcpxml_with(timeline: &Timeline, options: &FcpxmlOptions) -> Result<String> {
    timeline.validate()?;
    let rate = timeline.frame_rate;
    if options.drop_frame && !rate.supports_drop_frame() {
        return Err(Error::unsupported(FORMAT, format!("drop-frame timecode does not exist at {rate} fps")));
    }
    let total = timeline.duration()?.to_frames(rate, Rounding::Nearest)?;

    // The primary storyline is the first video track; the rest hang off it as lanes.
    let primary = timeline.tracks.iter().position(|t| t.kind == TrackKind::Video).unwrap_or(0);
    let mut lanes: Vec<(i64, &Track, Vec<FrameItem<'_>>)> = Vec::new();
    let (mut up, mut down) = (0i64, 0i64);
    let mut primary_items = Vec::new();
    for (i, track) in timeline.tracks.iter().enumerate() {
        let items = frame_layout(track, rate)?;
        if i == primary {
            primary_items = items;
        } else if !items.is_empty() {
            let lane = if track.kind == TrackKind::Video {
                up += 1;
                up
            } else {
                down -= 1;
                down
            };
            lanes.push((lane, track, items));
        }
    }
    let primary_kind = timeline.tracks.get(primary).map_or(TrackKind::Video, |t| t.kind);

    let mut w = Writer::new(rate);
    w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    w.raw("<!DOCTYPE fcpxml>");
    w.raw("");
    w.open("fcpxml", &[("version", options.version.as_str().into())]);
    let ids = write_resources(&mut w, timeline, &primary_items, primary_kind, &lanes)?;

    let name = if timeline.name.trim().is_empty() { "Reelflow" } else { timeline.name.as_str() };
    w.open("library", &[]);
    w.open("event", &[("name", name.into())]);
    w.open("project", &[("name", name.into())]);
    let mut seq = vec![
        ("format", "r1".to_owned()),
        ("duration", w.frames(total)?),
        ("tcStart", "0s".into()),
        ("tcFormat", if options.drop_frame { "DF" } else { "NDF" }.into()),
        ("audioLayout", "stereo".into()),
    ];
    if let Some(hz) = audio_rate_attr(timeline.audio_rate) {
        seq.push(("audioRate", hz.into()));
    }
    w.open("sequence", &seq);
    w.open("spine", &[]);

    // Pad the primary storyline to the full length: connected lanes and timeline markers
    // need a primary element under them.
    let mut elements: Vec<Element<'_>> = primary_items.iter().map(|f| Element::from_frame(f, primary_kind)).collect();
    let primary_end = elements.last().map_or(0, |e| e.end);
    if primary_end < total {
        elements.push(Element { what: What::Gap, start: primary_end, end: total, source_start: 0, kind: primary_kind });
    }

    // Timeline markers, each placed in the clip or gap under it.
    let mut timeline_markers: HashMap<usize, Vec<MarkerOut>> = HashMap::new();
    for marker in &timeline.markers {
        let at = marker.at.to_frames(rate, Rounding::Nearest)?;
        let host = elements
            .iter()
            .position(|e| !e.is_transition() && e.start <= at && at < e.end)
            .or_else(|| elements.iter().rposition(|e| !e.is_transition()));
        if let Some(h) = host {
            let local = elements[h].local_origin() + (at - elements[h].start);
            timeline_markers.entry(h).or_default().push(MarkerOut {
                at: local,
                name: marker.name.clone(),
                note: marker.note.clone(),
            });
        }
    }

    let host = elements.iter().position(|e| !e.is_transition());
    for (i, element) in elements.iter().enumerate() {
        let lanes_here: &[(i64, &Track, Vec<FrameItem<'_>>)] = if Some(i) == host { &lanes } else { &[] };
        let markers = timeline_markers.remove(&i).unwrap_or_default();
        write_element(&mut w, &ids, element, None, lanes_here, markers)?;
    }

    w.close("spine");
    w.close("sequence");
    w.close("project");
    w.close("event");
    w.close("library");
    w.close("fcpxml");
    Ok(w.out)
}

/// Resource ids: assets by path and the transition effects in use.
struct Ids<'a> {
    assets: HashMap<&'a Path, String>,
    cross_dissolve: Option<String>,
    fade_to_color: Option<String>,
    audio_crossfade: Option<String>,
}

/// Which effect a transition uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Effect {
    CrossDissolve,
    FadeToColor,
    AudioCrossfade,
}

fn effect_of(kind: TransitionKind, track: TrackKind) -> Effect {
    match (track, kind) {
        (TrackKind::Audio, _) => Effect::AudioCrossfade,
        (TrackKind::Video, TransitionKind::DipToBlack) => Effect::FadeToColor,
        (TrackKind::Video, TransitionKind::CrossDissolve | TransitionKind::Wipe) => Effect::CrossDissolve,
    }
}

fn write_resources<'a>(
    w: &mut Writer,
    timeline: &'a Timeline,
    primary: &[FrameItem<'_>],
    primary_kind: TrackKind,
    lanes: &[(i64, &Track, Vec<FrameItem<'_>>)],
) -> Result<Ids<'a>> {
    let rate = timeline.frame_rate;
    w.open("resources", &[]);
    let mut format = vec![("id", "r1".to_owned())];
    if let Some(name) = format_name(rate, timeline.width, timeline.height) {
        format.push(("name", name));
    }
    format.extend([
        ("frameDuration", fcp_time(rate.frame_duration())?),
        ("width", timeline.width.to_string()),
        ("height", timeline.height.to_string()),
        ("colorSpace", "1-1-1 (Rec. 709)".into()),
    ]);
    w.empty("format", &format);

    let mut next = 2;
    let mut id = || {
        let id = format!("r{next}");
        next += 1;
        id
    };
    let mut ids = Ids { assets: HashMap::new(), cross_dissolve: None, fade_to_color: None, audio_crossfade: None };
    for media in timeline.sources() {
        let format_ref = match asset_format(media, timeline) {
            AssetFormat::Sequence => Some("r1".to_owned()),
            AssetFormat::Own(rate, width, height) => {
                let fid = id();
                let mut attrs = vec![("id", fid.clone())];
                if let Some(name) = format_name(rate, width, height) {
                    attrs.push(("name", name));
                }
                attrs.extend([
                    ("frameDuration", fcp_time(rate.frame_duration())?),
                    ("width", width.to_string()),
                    ("height", height.to_string()),
                ]);
                w.empty("format", &attrs);
                Some(fid)
            }
            AssetFormat::Unknown => None,
        };
        let aid = id();
        let stem = media.stem();
        let mut attrs = vec![
            ("id", aid.clone()),
            ("name", if stem.is_empty() { "media".into() } else { stem }),
            ("start", "0s".into()),
            ("duration", fcp_time(media.duration)?),
        ];
        if media.has_video {
            attrs.push(("hasVideo", "1".into()));
        }
        if let Some(f) = format_ref {
            attrs.push(("format", f));
        }
        if media.has_audio {
            attrs.push(("hasAudio", "1".into()));
        }
        if media.has_video {
            attrs.push(("videoSources", "1".into()));
        }
        if media.has_audio {
            attrs.push(("audioSources", "1".into()));
        }
        w.open("asset", &attrs);
        w.empty("media-rep", &[("kind", "original-media".into()), ("src", file_url(&media.path))]);
        w.close("asset");
        ids.assets.insert(media.path.as_path(), aid);
    }

    // Declare only the effects the surviving transitions use, in a fixed order.
    let mut used = Vec::new();
    let all = std::iter::once((primary_kind, primary)).chain(lanes.iter().map(|(_, t, items)| (t.kind, &items[..])));
    for (kind, items) in all {
        for f in items {
            if let TrackItem::Transition(tr) = f.item {
                used.push(effect_of(tr.kind, kind));
            }
        }
    }
    for (effect, name, uid) in [
        (Effect::CrossDissolve, "Cross Dissolve", CROSS_DISSOLVE_UID),
        (Effect::FadeToColor, "Fade To Color", FADE_TO_COLOR_UID),
        (Effect::AudioCrossfade, "Audio Crossfade", AUDIO_CROSSFADE_UID),
    ] {
        if used.contains(&effect) {
            let eid = id();
            w.empty("effect", &[("id", eid.clone()), ("name", name.into()), ("uid", uid.into())]);
            let slot = match effect {
                Effect::CrossDissolve => &mut ids.cross_dissolve,
                Effect::FadeToColor => &mut ids.fade_to_color,
                Effect::AudioCrossfade => &mut ids.audio_crossfade,
            };
            *slot = Some(eid);
        }
    }
    w.close("resources");
    Ok(ids)
}

enum AssetFormat {
    Sequence,
    Own(Rational, u32, u32),
    Unknown,
}

/// The format an asset points at: the sequence's when its known properties match, its own
/// when they are all known and differ, none (Final Cut Pro reads the file) otherwise.
fn asset_format(media: &MediaRef, timeline: &Timeline) -> AssetFormat {
    if !media.has_video {
        return AssetFormat::Unknown;
    }
    match (media.frame_rate, media.width, media.height) {
        (Some(r), Some(w), Some(h)) if (r, w, h) == (timeline.frame_rate, timeline.width, timeline.height) => {
            AssetFormat::Sequence
        }
        (Some(r), Some(w), Some(h)) => AssetFormat::Own(r, w, h),
        _ => AssetFormat::Unknown,
    }
}

/// Final Cut Pro's name for the standard formats (`FFVideoFormat1080p2997`); other formats go
/// unnamed, which Final Cut Pro reads as a custom format from `frameDuration` and the size.
fn format_name(rate: Rational, width: u32, height: u32) -> Option<String> {
    let rate = match (rate.num(), rate.den()) {
        (24000, 1001) => "2398",
        (24, 1) => "24",
        (25, 1) => "25",
        (30000, 1001) => "2997",
        (30, 1) => "30",
        (50, 1) => "50",
        (60000, 1001) => "5994",
        (60, 1) => "60",
        _ => return None,
    };
    let size = match (width, height) {
        (1920, 1080) => "1080p",
        (1280, 720) => "720p",
        (3840, 2160) => "3840x2160p",
        (4096, 2160) => "4096x2160p",
        _ => return None,
    };
    Some(format!("FFVideoFormat{size}{rate}"))
}

/// The sequence `audioRate` value; rates outside the DTD's list are left out (FCP defaults to 48k).
fn audio_rate_attr(hz: u32) -> Option<&'static str> {
    Some(match hz {
        32_000 => "32k",
        44_100 => "44.1k",
        48_000 => "48k",
        88_200 => "88.2k",
        96_000 => "96k",
        176_400 => "176.4k",
        192_000 => "192k",
        _ => return None,
    })
}

/// FCPXML allows a 64-bit numerator over a 32-bit denominator.
fn fcp_time(t: RationalTime) -> Result<String> {
    if t.den() > i64::from(u32::MAX) {
        return Err(Error::unsupported(FORMAT, format!("time {t} has a denominator wider than 32 bits")));
    }
    Ok(t.to_fcpxml())
}

#[derive(Clone, Copy)]
enum What<'a> {
    Clip(&'a crate::model::Clip),
    Gap,
    Transition(&'a crate::model::Transition),
}

/// One story element, on frames.
#[derive(Clone, Copy)]
struct Element<'a> {
    what: What<'a>,
    start: i64,
    end: i64,
    source_start: i64,
    kind: TrackKind,
}

impl<'a> Element<'a> {
    fn from_frame(f: &FrameItem<'a>, kind: TrackKind) -> Self {
        let what = match f.item {
            TrackItem::Clip(c) => What::Clip(c),
            TrackItem::Gap(_) => What::Gap,
            TrackItem::Transition(t) => What::Transition(t),
        };
        Element { what, start: f.start, end: f.end, source_start: f.source_start, kind }
    }

    fn is_transition(&self) -> bool {
        matches!(self.what, What::Transition(_))
    }

    /// The element's local time at its first frame: the source in-point for a clip, 0 for a gap.
    fn local_origin(&self) -> i64 {
        match self.what {
            What::Clip(_) => self.source_start,
            _ => 0,
        }
    }
}

struct MarkerOut {
    /// In the host element's local frames.
    at: i64,
    name: String,
    note: Option<String>,
}

/// Writes one element; `origin` is the record frame its container's offsets count from
/// (`None` for the primary spine, whose offsets are record frames too).
fn write_element(
    w: &mut Writer,
    ids: &Ids<'_>,
    e: &Element<'_>,
    origin: Option<i64>,
    lanes: &[(i64, &Track, Vec<FrameItem<'_>>)],
    mut markers: Vec<MarkerOut>,
) -> Result<()> {
    let offset = w.frames(e.start - origin.unwrap_or(0))?;
    let duration = w.frames(e.end - e.start)?;
    match e.what {
        What::Transition(tr) => {
            let effect = effect_of(tr.kind, e.kind);
            let (name, id) = match effect {
                Effect::CrossDissolve => ("Cross Dissolve", &ids.cross_dissolve),
                Effect::FadeToColor => ("Fade To Color", &ids.fade_to_color),
                Effect::AudioCrossfade => ("Audio Crossfade", &ids.audio_crossfade),
            };
            let attrs = [("name", name.to_owned()), ("offset", offset), ("duration", duration)];
            match id {
                Some(id) => {
                    w.open("transition", &attrs);
                    let filter = if effect == Effect::AudioCrossfade { "filter-audio" } else { "filter-video" };
                    w.empty(filter, &[("ref", id.clone()), ("name", name.into())]);
                    w.close("transition");
                }
                None => w.empty("transition", &attrs),
            }
            return Ok(());
        }
        What::Clip(clip) => {
            for m in &clip.markers {
                markers.push(MarkerOut {
                    at: m.at.to_frames(w.rate, Rounding::Nearest)?,
                    name: m.name.clone(),
                    note: m.note.clone(),
                });
            }
        }
        What::Gap => {}
    }
    let (name, attrs) = match e.what {
        What::Clip(clip) => {
            let asset = ids.assets.get(clip.source.path.as_path()).cloned().unwrap_or_default();
            let mut attrs = vec![
                ("ref", asset),
                ("offset", offset),
                ("name", clip.display_name()),
                ("start", w.frames(e.source_start)?),
                ("duration", duration),
            ];
            match e.kind {
                TrackKind::Video if clip.source.has_audio => attrs.push(("srcEnable", "video".into())),
                TrackKind::Audio if clip.source.has_video => attrs.push(("srcEnable", "audio".into())),
                _ => {}
            }
            ("asset-clip", attrs)
        }
        _ => ("gap", vec![("name", "Gap".to_owned()), ("offset", offset), ("duration", duration)]),
    };
    if lanes.is_empty() && markers.is_empty() {
        w.empty(name, &attrs);
        return Ok(());
    }
    w.open(name, &attrs);
    // The DTD puts anchored items before markers.
    for (lane, track, items) in lanes {
        // The lane starts at record 0, which is this element's local time at frame e.start
        // minus its start: children then count from 0 in record frames.
        let anchor = e.local_origin() - e.start;
        w.open("spine", &[("lane", lane.to_string()), ("offset", w.frames(anchor)?)]);
        for f in items {
            write_element(w, ids, &Element::from_frame(f, track.kind), Some(0), &[], vec![])?;
        }
        w.close("spine");
    }
    markers.sort_by_key(|m| m.at);
    for m in markers {
        let mut attrs = vec![("start", w.frames(m.at)?), ("duration", w.frames(1)?), ("value", m.name)];
        if let Some(note) = m.note {
            attrs.push(("note", note));
        }
        w.empty("marker", &attrs);
    }
    w.close(name);
    Ok(())
}

/// A small indenting XML writer; attribute values are escaped here and only here.
struct Writer {
    out: String,
    depth: usize,
    rate: Rational,
}

impl Writer {
    fn new(rate: Rational) -> Self {
        Writer { out: String::new(), depth: 0, rate }
    }

    /// `frames` of the sequence as an FCPXML time.
    fn frames(&self, frames: i64) -> Result<String> {
        fcp_time(RationalTime::from_frames(frames, self.rate)?)
    }

    fn raw(&mut self, line: &str) {
        self.out.push_str(line);
        self.out.push('\n');
    }

    fn tag(&mut self, name: &str, attrs: &[(&str, String)], close: &str) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_attr(value, &mut self.out);
            self.out.push('"');
        }
        self.out.push_str(close);
        self.out.push('\n');
    }

    fn open(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.tag(name, attrs, ">");
        self.depth += 1;
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.tag(name, attrs, "/>");
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }
}

/// Escapes an attribute value. Markup characters become entities; tab, newline and carriage
/// return become character references (a parser would otherwise normalize them to spaces);
/// the control characters XML 1.0 forbids outright are dropped, since no escape can carry them.
fn escape_attr(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Clip, Marker, MediaRef, Track, TrackItem};

    fn s(n: i64) -> RationalTime {
        RationalTime::from_seconds(n)
    }

    #[test]
    fn attributes_are_escaped() {
        let mut out = String::new();
        escape_attr("a&b<c>\"d'\u{1}\n中文", &mut out);
        assert_eq!(out, "a&amp;b&lt;c&gt;&quot;d&apos;&#10;中文");
    }

    #[test]
    fn versions_parse_and_print() {
        assert_eq!("1.10".parse::<FcpxmlVersion>().unwrap(), FcpxmlVersion::V1_10);
        assert_eq!(FcpxmlVersion::default().to_string(), "1.11");
        assert!("1.9".parse::<FcpxmlVersion>().is_err());
        assert_eq!(serde_json::to_string(&FcpxmlVersion::V1_10).unwrap(), "\"1.10\"");
    }

    #[test]
    fn a_single_clip_matches_the_minimal_fixture_layout() {
        let mut tl = Timeline::new("Fixture Project", Rational::FPS_25, 1920, 1080);
        let media = MediaRef::new("/Users/editor/Movies/clip.mp4", s(10), true, true);
        tl.tracks.push(Track::video(vec![TrackItem::clip(Clip::new("clip", media, s(2), s(7)))]));
        let xml = to_fcpxml(&tl, FcpxmlVersion::V1_11).unwrap();
        for needle in [
            r#"<fcpxml version="1.11">"#,
            r#"<format id="r1" name="FFVideoFormat1080p25" frameDuration="1/25s" width="1920" height="1080" colorSpace="1-1-1 (Rec. 709)"/>"#,
            r#"<asset id="r2" name="clip" start="0s" duration="10s" hasVideo="1" hasAudio="1" videoSources="1" audioSources="1">"#,
            r#"<media-rep kind="original-media" src="file:///Users/editor/Movies/clip.mp4"/>"#,
            r#"<sequence format="r1" duration="5s" tcStart="0s" tcFormat="NDF" audioLayout="stereo" audioRate="48k">"#,
            r#"<asset-clip ref="r2" offset="0s" name="clip" start="2s" duration="5s" srcEnable="video"/>"#,
        ] {
            assert!(xml.contains(needle), "missing {needle} in\n{xml}");
        }
    }

    #[test]
    fn markers_go_into_the_element_under_them() {
        let mut tl = Timeline::new("m", Rational::FPS_25, 1920, 1080);
        let media = MediaRef::new("/m/a.mov", s(100), true, false);
        let mut c = Clip::new("a", media.clone(), s(10), s(14));
        c.markers.push(Marker::new(s(11), "in clip"));
        tl.tracks.push(Track::video(vec![TrackItem::clip(c), TrackItem::gap(s(2))]));
        tl.tracks.push(Track::video(vec![TrackItem::clip(Clip::new("top", media, s(0), s(8)))]));
        tl.markers.push(Marker { at: s(1), name: "one".into(), note: Some("n".into()) });
        tl.markers.push(Marker::new(s(5), "in gap"));
        let xml = to_fcpxml(&tl, FcpxmlVersion::V1_10).unwrap();
        let expected = r#"                        <asset-clip ref="r2" offset="0s" name="a" start="10s" duration="4s">
                            <spine lane="1" offset="10s">
                                <asset-clip ref="r2" offset="0s" name="top" start="0s" duration="8s"/>
                            </spine>
                            <marker start="11s" duration="1/25s" value="one" note="n"/>
                            <marker start="11s" duration="1/25s" value="in clip"/>
                        </asset-clip>
                        <gap name="Gap" offset="4s" duration="2s">
                            <marker start="1s" duration="1/25s" value="in gap"/>
                        </gap>
                        <gap name="Gap" offset="6s" duration="2s"/>
"#;
        assert!(xml.contains(expected), "{xml}");
        assert!(xml.contains(r#"<sequence format="r1" duration="8s""#), "{xml}");
    }

    #[test]
    fn drop_frame_needs_an_ntsc_rate() {
        let tl = Timeline::new("e", Rational::FPS_25, 1920, 1080);
        let opts = FcpxmlOptions { version: FcpxmlVersion::V1_11, drop_frame: true };
        assert!(matches!(to_fcpxml_with(&tl, &opts), Err(Error::Unsupported { .. })));
        let tl = Timeline::new("e", Rational::FPS_29_97, 1920, 1080);
        let xml = to_fcpxml_with(&tl, &opts).unwrap();
        assert!(xml.contains(r#"tcFormat="DF""#) && xml.contains("<spine>\n"), "{xml}");
    }
}
