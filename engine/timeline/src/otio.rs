//! OpenTimelineIO (`.otio` JSON) export.

use serde_json::{Value, json};

use crate::error::Result;
use crate::model::{Clip, Marker, Timeline, TrackItem, TrackKind, TransitionKind, file_url};
use crate::time::{Rational, RationalTime};

/// The timeline as OpenTimelineIO JSON (pretty-printed with four-space indents, as OTIO writes).
pub fn to_otio(timeline: &Timeline) -> Result<String> {
    let value = to_otio_value(timeline)?;
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"    "));
    serde::Serialize::serialize(&value, &mut ser).map_err(|e| crate::Error::unsupported("OTIO", e.to_string()))?;
    // serde_json only writes valid UTF-8.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The timeline as an OpenTimelineIO JSON value.
///
/// Schemas written: `Timeline.1` › `Stack.1` (timeline markers) › `Track.1` (`Video` / `Audio`)
/// › `Clip.1` (with an `ExternalReference.1`, `file://` URL), `Gap.1`, `Transition.1`; markers
/// are `Marker.2`. `Clip.1` (one `media_reference`) rather than `Clip.2` keeps the file readable
/// by every OpenTimelineIO release; newer ones upgrade it on read.
///
/// OpenTimelineIO already models a transition the way this crate does (taking no track time,
/// overlapping its neighbours by `in_offset` before the cut and `out_offset` after), so nothing
/// is snapped: times are exact model values, written as `RationalTime.1 {rate, value}` with
/// `rate` the timeline's frame rate and `value` the time in (possibly fractional) frames.
/// Those two numbers are JSON floats by the format's definition; a whole number of frames is
/// exact in a float, so on-grid timelines round-trip exactly. The rate itself is exact in the
/// timeline's `metadata.reelflow.frame_rate` (`"30000/1001"`).
pub fn to_otio_value(timeline: &Timeline) -> Result<Value> {
    timeline.validate()?;
    let rate = timeline.frame_rate;
    let (mut video, mut audio) = (0, 0);
    let mut tracks = Vec::with_capacity(timeline.tracks.len());
    for track in &timeline.tracks {
        let (kind, default_name) = match track.kind {
            TrackKind::Video => {
                video += 1;
                ("Video", format!("V{video}"))
            }
            TrackKind::Audio => {
                audio += 1;
                ("Audio", format!("A{audio}"))
            }
        };
        let mut children = Vec::with_capacity(track.items.len());
        for item in &track.items {
            children.push(match item {
                TrackItem::Clip(clip) => clip_json(clip, rate)?,
                TrackItem::Gap(gap) => json!({
                    "OTIO_SCHEMA": "Gap.1",
                    "metadata": {},
                    "name": "",
                    "source_range": range(RationalTime::ZERO, gap.duration, rate)?,
                    "effects": [],
                    "markers": [],
                    "enabled": true,
                }),
                TrackItem::Transition(tr) => {
                    let half = tr.duration.checked_div(2)?;
                    json!({
                        "OTIO_SCHEMA": "Transition.1",
                        "metadata": {"reelflow": {"kind": tr.kind}},
                        "name": tr.kind.display_name(),
                        "transition_type": match tr.kind {
                            TransitionKind::CrossDissolve => "SMPTE_Dissolve",
                            TransitionKind::DipToBlack | TransitionKind::Wipe => "Custom",
                        },
                        "in_offset": time(half, rate)?,
                        "out_offset": time(half, rate)?,
                    })
                }
            });
        }
        tracks.push(json!({
            "OTIO_SCHEMA": "Track.1",
            "metadata": {},
            "name": track.name.clone().unwrap_or(default_name),
            "source_range": null,
            "effects": [],
            "markers": [],
            "enabled": true,
            "children": children,
            "kind": kind,
        }));
    }
    Ok(json!({
        "OTIO_SCHEMA": "Timeline.1",
        "metadata": {"reelflow": {
            "frame_rate": rate.to_string(),
            "width": timeline.width,
            "height": timeline.height,
            "audio_rate": timeline.audio_rate,
        }},
        "name": timeline.name,
        "global_start_time": time(RationalTime::ZERO, rate)?,
        "tracks": {
            "OTIO_SCHEMA": "Stack.1",
            "metadata": {},
            "name": "tracks",
            "source_range": null,
            "effects": [],
            "markers": markers(&timeline.markers, rate)?,
            "enabled": true,
            "children": tracks,
        },
    }))
}

fn clip_json(clip: &Clip, rate: Rational) -> Result<Value> {
    let src = &clip.source;
    Ok(json!({
        "OTIO_SCHEMA": "Clip.1",
        "metadata": {},
        "name": clip.display_name(),
        "source_range": range(clip.source_in, clip.duration()?, rate)?,
        "effects": [],
        "markers": markers(&clip.markers, rate)?,
        "enabled": true,
        "media_reference": {
            "OTIO_SCHEMA": "ExternalReference.1",
            "metadata": {},
            "name": src.stem(),
            "available_range": range(RationalTime::ZERO, src.duration, rate)?,
            "target_url": file_url(&src.path),
        },
    }))
}

fn markers(markers: &[Marker], rate: Rational) -> Result<Vec<Value>> {
    markers
        .iter()
        .map(|m| {
            Ok(json!({
                "OTIO_SCHEMA": "Marker.2",
                "metadata": {},
                "name": m.name,
                "color": "RED",
                "marked_range": range(m.at, RationalTime::ZERO, rate)?,
                "comment": m.note.clone().unwrap_or_default(),
            }))
        })
        .collect()
}

fn range(start: RationalTime, duration: RationalTime, rate: Rational) -> Result<Value> {
    Ok(json!({
        "OTIO_SCHEMA": "TimeRange.1",
        "duration": time(duration, rate)?,
        "start_time": time(start, rate)?,
    }))
}

/// `t` as `RationalTime.1`: frames at the timeline rate. Whole frame counts are exact floats.
fn time(t: RationalTime, rate: Rational) -> Result<Value> {
    let frames = t.checked_mul(rate.num())?.checked_div(rate.den())?;
    let value = if frames.den() == 1 { frames.num() as f64 } else { frames.to_seconds_f64() };
    Ok(json!({
        "OTIO_SCHEMA": "RationalTime.1",
        "rate": rate.num() as f64 / rate.den() as f64,
        "value": value,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MediaRef, Track};

    #[test]
    fn times_are_frames_at_the_timeline_rate() {
        let rate = Rational::FPS_29_97;
        let t = time(RationalTime::from_frames(150, rate).unwrap(), rate).unwrap();
        assert_eq!(t["value"], json!(150.0));
        assert_eq!(t["rate"], json!(30000.0 / 1001.0));
        let half = time(RationalTime::new(1, 50).unwrap(), Rational::FPS_25).unwrap();
        assert_eq!(half["value"], json!(0.5));
    }

    #[test]
    fn transitions_overlap_half_each_side() {
        let s = RationalTime::from_seconds;
        let media = MediaRef::new("/m/a b.mov", s(20), true, true);
        let mut tl = Timeline::new("t", Rational::FPS_25, 1280, 720);
        tl.tracks.push(Track::video(vec![
            TrackItem::clip(Clip::new("a", media.clone(), s(1), s(5))),
            TrackItem::transition(TransitionKind::CrossDissolve, s(1)),
            TrackItem::clip(Clip::new("b", media, s(6), s(8))),
        ]));
        let v = to_otio_value(&tl).unwrap();
        let children = &v["tracks"]["children"][0]["children"];
        assert_eq!(children[1]["in_offset"]["value"], json!(12.5));
        assert_eq!(children[1]["transition_type"], "SMPTE_Dissolve");
        assert_eq!(children[0]["media_reference"]["target_url"], "file:///m/a%20b.mov");
        assert_eq!(v["tracks"]["children"][0]["name"], "V1");
    }
}
