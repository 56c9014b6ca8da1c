//! The exports end to end: FCPXML validated by `xmllint` against Apple's DTDs, OpenTimelineIO
//! parsed back, EDLs compared line by line.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use reelflow_timeline::{
    Clip, EdlOptions, FcpxmlOptions, FcpxmlVersion, Marker, MediaRef, Rational, RationalTime, Timeline, Track,
    TrackItem, TransitionKind, format_timecode, to_edl, to_fcpxml, to_fcpxml_with, to_otio,
};

fn s(n: i64) -> RationalTime {
    RationalTime::from_seconds(n)
}

fn frames(n: i64, rate: Rational) -> RationalTime {
    RationalTime::from_frames(n, rate).expect("frames fit")
}

/// The folder holding the FCPXML DTDs: `shared/fixtures/fcpxml` beside the repository (found
/// from this crate's manifest), else `$REELFLOW_SHARED/fixtures/fcpxml` or `$REELFLOW_SHARED`.
fn dtd_dir() -> PathBuf {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/fcpxml");
    if beside.join("FCPXMLv1_11.dtd").is_file() {
        return beside;
    }
    if let Some(shared) = std::env::var_os("REELFLOW_SHARED") {
        // It may name the shared folder itself or its FCPXML fixtures folder.
        let shared = PathBuf::from(shared);
        for dir in [shared.join("fixtures/fcpxml"), shared.clone()] {
            if dir.join("FCPXMLv1_11.dtd").is_file() {
                return dir;
            }
        }
        panic!(
            "REELFLOW_SHARED is set but neither {0}/fixtures/fcpxml nor {0} holds FCPXMLv1_11.dtd",
            shared.display()
        );
    }
    panic!("no FCPXML DTDs at {} and REELFLOW_SHARED is not set", beside.display());
}

/// Runs `xmllint --noout --dtdvalid <dtd> <file>`: `Ok` when valid, `Err(its messages)` when not.
/// A missing xmllint fails the test: skipping would hide unvalidated output.
fn xmllint(dtd: &str, xml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("out.fcpxml");
    std::fs::write(&file, xml).expect("writing the document");
    let dtd = dtd_dir().join(dtd);
    let out = match Command::new("xmllint").arg("--noout").arg("--dtdvalid").arg(&dtd).arg(&file).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("xmllint is not installed (Debian package libxml2-utils); FCPXML output cannot be validated")
        }
        Err(e) => panic!("running xmllint: {e}"),
    };
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// Several clips from two sources (one with spaces, `&` and Chinese in its path), a gap, a
/// transition, markers, awkward names, a connected video track and two audio tracks, at 29.97.
fn showcase() -> Timeline {
    let rate = Rational::FPS_29_97;
    let mut interview = MediaRef::new("/media/My Project/采访 A&B.mov", s(120), true, true);
    interview.frame_rate = Some(rate);
    interview.width = Some(1920);
    interview.height = Some(1080);
    let mut broll = MediaRef::new("/media/b-roll 4k.mp4", s(30), true, false);
    broll.frame_rate = Some(Rational::FPS_25);
    broll.width = Some(3840);
    broll.height = Some(2160);
    let music = MediaRef::new("/media/music.wav", s(300), false, true);

    let mut first = Clip::new("开场 <intro> & \"hello\"", interview.clone(), s(10), s(15));
    first.markers.push(Marker { at: s(12), name: "笑点".into(), note: Some("keep 'this'".into()) });
    let mut tl = Timeline::new("Reelflow 剪辑 & cut", rate, 1920, 1080);
    tl.tracks.push(Track::video(vec![
        TrackItem::clip(first),
        TrackItem::transition(TransitionKind::CrossDissolve, frames(30, rate)),
        TrackItem::clip(Clip::new("B-roll 城市", broll.clone(), s(2), s(6))),
        TrackItem::gap(RationalTime::new(3, 2).expect("3/2")),
        TrackItem::clip(Clip::new("", interview.clone(), frames(1800, rate), frames(1950, rate))),
        TrackItem::transition(TransitionKind::DipToBlack, frames(15, rate)),
        TrackItem::clip(Clip::new("wide", broll.clone(), s(10), s(14))),
    ]));
    tl.tracks
        .push(Track::video(vec![TrackItem::gap(s(3)), TrackItem::clip(Clip::new("overlay", broll, s(20), s(22)))]));
    tl.tracks.push(Track::audio(vec![
        TrackItem::clip(Clip::new("开场", interview.clone(), s(10), s(15))),
        TrackItem::gap(s(4)),
        TrackItem::clip(Clip::new("", interview, frames(1800, rate), frames(1950, rate))),
    ]));
    tl.tracks.push(Track::audio(vec![
        TrackItem::clip(Clip::new("music", music.clone(), s(0), s(8))),
        TrackItem::transition(TransitionKind::CrossDissolve, s(1)),
        TrackItem::clip(Clip::new("music 2", music, s(60), s(67))),
    ]));
    tl.markers.push(Marker::new(s(1), "start & go"));
    tl.markers.push(Marker { at: RationalTime::new(21, 2).expect("21/2"), name: "gap 空".into(), note: None });
    tl.markers.push(Marker::new(s(16), "late"));
    tl.validate().expect("the showcase is valid");
    tl
}

/// The values of every `name="…"` attribute in elements other than `skip`.
fn attr_values<'a>(xml: &'a str, name: &str, skip: &[&str]) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    xml.lines()
        .filter(|line| !skip.iter().any(|s| line.trim_start().starts_with(s)))
        .flat_map(|line| {
            line.match_indices(&needle).filter_map(|(i, _)| {
                let rest = &line[i + needle.len()..];
                rest.find('"').map(|end| &rest[..end])
            })
        })
        .collect()
}

#[test]
fn the_minimal_fixture_validates_so_the_checker_works() {
    let fixture = std::fs::read_to_string(dtd_dir().join("minimal-1.11.fcpxml")).expect("the fixture");
    xmllint("FCPXMLv1_11.dtd", &fixture).expect("the fixture is valid");
    let broken = fixture.replace("<spine>", "<spine><marker start=\"0s\" value=\"x\"/>");
    assert!(xmllint("FCPXMLv1_11.dtd", &broken).is_err(), "a marker in a spine must be rejected");
}

#[test]
fn fcpxml_1_10_and_1_11_validate_against_their_dtds_only() {
    let tl = showcase();
    let v10 = to_fcpxml(&tl, FcpxmlVersion::V1_10).expect("1.10 exports");
    let v11 = to_fcpxml(&tl, FcpxmlVersion::V1_11).expect("1.11 exports");
    assert!(v10.contains(r#"<fcpxml version="1.10">"#));
    assert!(v11.contains(r#"<fcpxml version="1.11">"#));
    xmllint("FCPXMLv1_10.dtd", &v10).unwrap_or_else(|e| panic!("1.10 invalid:\n{e}\n{v10}"));
    xmllint("FCPXMLv1_11.dtd", &v11).unwrap_or_else(|e| panic!("1.11 invalid:\n{e}\n{v11}"));
    // Each DTD fixes the version attribute.
    let cross = xmllint("FCPXMLv1_11.dtd", &v10).expect_err("1.10 must not validate as 1.11");
    assert!(cross.contains("version"), "{cross}");
    assert!(xmllint("FCPXMLv1_10.dtd", &v11).is_err(), "1.11 must not validate as 1.10");

    let dropped = to_fcpxml_with(&tl, &FcpxmlOptions { version: FcpxmlVersion::V1_11, drop_frame: true }).expect("DF");
    assert!(dropped.contains(r#"tcFormat="DF""#));
    xmllint("FCPXMLv1_11.dtd", &dropped).expect("DF document valid");
}

#[test]
fn fcpxml_of_empty_and_audio_only_timelines_validate() {
    let empty = Timeline::new("", Rational::FPS_24, 1280, 720);
    let xml = to_fcpxml(&empty, FcpxmlVersion::V1_11).expect("exports");
    assert!(xml.contains(r#"<project name="Reelflow">"#) && xml.contains(r#"duration="0s""#), "{xml}");
    xmllint("FCPXMLv1_11.dtd", &xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));

    let voice = MediaRef::new("/media/voice over.m4a", s(30), false, true);
    let mut audio = Timeline::new("podcast", Rational::FPS_30, 1920, 1080);
    audio.audio_rate = 44_100;
    audio.tracks.push(Track::audio(vec![
        TrackItem::gap(s(1)),
        TrackItem::clip(Clip::new("intro", voice.clone(), s(0), s(5))),
        TrackItem::transition(TransitionKind::CrossDissolve, s(1)),
        TrackItem::clip(Clip::new("talk", voice.clone(), s(10), s(20))),
    ]));
    audio.tracks.push(Track::audio(vec![TrackItem::clip(Clip::new("bed", voice, s(0), s(3)))]));
    audio.markers.push(Marker::new(s(0), "top"));
    for version in [FcpxmlVersion::V1_10, FcpxmlVersion::V1_11] {
        let xml = to_fcpxml(&audio, version).expect("exports");
        assert!(xml.contains(r#"audioRate="44.1k""#), "{xml}");
        assert!(xml.contains(r#"<filter-audio ref="r3" name="Audio Crossfade"/>"#), "{xml}");
        assert!(xml.contains(r#"<spine lane="-1" offset="0s">"#), "{xml}");
        let dtd = if version == FcpxmlVersion::V1_10 { "FCPXMLv1_10.dtd" } else { "FCPXMLv1_11.dtd" };
        xmllint(dtd, &xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    }
}

#[test]
fn fcpxml_escapes_names_and_encodes_paths() {
    let xml = to_fcpxml(&showcase(), FcpxmlVersion::V1_11).expect("exports");
    for needle in [
        r#"<event name="Reelflow 剪辑 &amp; cut">"#,
        r#"name="开场 &lt;intro&gt; &amp; &quot;hello&quot;""#,
        // 12s of source is frame 359.64 at 29.97, snapped to 360.
        r#"<marker start="3003/250s" duration="1001/30000s" value="笑点" note="keep &apos;this&apos;"/>"#,
        r#"src="file:///media/My%20Project/%E9%87%87%E8%AE%BF%20A%26B.mov""#,
        r#"src="file:///media/b-roll%204k.mp4""#,
        r#"<asset id="r2" name="采访 A&amp;B" start="0s" duration="120s" hasVideo="1" format="r1" hasAudio="1""#,
        r#"<format id="r3" name="FFVideoFormat3840x2160p25" frameDuration="1/25s" width="3840" height="2160"/>"#,
        r#"<effect id="r6" name="Cross Dissolve" uid="FxPlug:4731E73A-8DAC-4113-9A30-AE85B1761265"/>"#,
        r#"<filter-video ref="r7" name="Fade To Color"/>"#,
        r#"<filter-audio ref="r8" name="Audio Crossfade"/>"#,
        // Lanes hang off the first clip at its (snapped) in-point: 10s is frame 299.7 → 300.
        r#"<spine lane="1" offset="1001/100s">"#,
        r#"<spine lane="-1" offset="1001/100s">"#,
        r#"<spine lane="-2" offset="1001/100s">"#,
        // The clip named "" takes its file's name.
        r#"name="采访 A&amp;B" start="3003/50s" duration="1001/200s" srcEnable="video">"#,
    ] {
        assert!(xml.contains(needle), "missing {needle} in\n{xml}");
    }
}

#[test]
fn fcpxml_story_times_are_on_the_frame_grid() {
    let tl = showcase();
    let xml = to_fcpxml(&tl, FcpxmlVersion::V1_10).expect("exports");
    let skip = ["<asset ", "<format "];
    let mut checked = 0;
    for attr in ["offset", "start", "duration", "frameDuration"] {
        for value in attr_values(&xml, attr, &skip) {
            let t = RationalTime::parse_fcpxml(value).unwrap_or_else(|e| panic!("{attr}={value}: {e}"));
            assert!(t.is_on_grid(tl.frame_rate), "{attr}=\"{value}\" is off the 29.97 grid");
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} times found");
    // 5s + 4s + 1.5s + 150 frames (5.005s) + 4s; the sequence ends on the nearest frame.
    let total = tl.duration().expect("duration");
    assert_eq!(total, RationalTime::new(3901, 200).expect("19.505s"));
    let sequence_duration =
        frames(total.to_frames(tl.frame_rate, reelflow_timeline::Rounding::Nearest).unwrap(), tl.frame_rate);
    assert!(xml.contains(&format!("<sequence format=\"r1\" duration=\"{}\"", sequence_duration.to_fcpxml())), "{xml}");
}

/// Every object's `OTIO_SCHEMA`, depth first.
fn schemas(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(o) => {
            if let Some(s) = o.get("OTIO_SCHEMA").and_then(|s| s.as_str()) {
                out.push(s.to_owned());
            }
            o.values().for_each(|c| schemas(c, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|c| schemas(c, out)),
        _ => {}
    }
}

#[test]
fn otio_round_trips_with_known_schemas_and_exact_durations() {
    let tl = showcase();
    let text = to_otio(&tl).expect("exports");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let again: serde_json::Value = serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
    assert_eq!(doc, again);

    let mut found = Vec::new();
    schemas(&doc, &mut found);
    let known = [
        "Timeline.1",
        "Stack.1",
        "Track.1",
        "Clip.1",
        "Gap.1",
        "ExternalReference.1",
        "RationalTime.1",
        "TimeRange.1",
        "Marker.2",
        "Transition.1",
    ];
    for schema in &found {
        assert!(known.contains(&schema.as_str()), "unexpected schema {schema}");
    }
    for schema in known {
        assert!(found.iter().any(|f| f == schema), "{schema} not written");
    }
    assert_eq!(doc["OTIO_SCHEMA"], "Timeline.1");
    assert_eq!(doc["name"], "Reelflow 剪辑 & cut");
    assert_eq!(doc["metadata"]["reelflow"]["frame_rate"], "30000/1001");
    let tracks = doc["tracks"]["children"].as_array().expect("tracks");
    assert_eq!(tracks.len(), 4);
    assert_eq!(doc["tracks"]["markers"].as_array().unwrap().len(), 3);

    let rate = tl.frame_rate;
    for (track, model) in tracks.iter().zip(&tl.tracks) {
        assert_eq!(track["kind"], if model.kind == reelflow_timeline::TrackKind::Video { "Video" } else { "Audio" });
        // Clips and gaps add up to the track's exact length; transitions take no time.
        let mut sum = 0.0;
        for child in track["children"].as_array().unwrap() {
            if child["OTIO_SCHEMA"] != "Transition.1" {
                let d = &child["source_range"]["duration"];
                assert_eq!(d["rate"].as_f64().unwrap(), 30000.0 / 1001.0);
                sum += d["value"].as_f64().unwrap();
            }
        }
        let exact = model.duration().unwrap().checked_mul(rate.num()).unwrap().checked_div(rate.den()).unwrap();
        assert!((sum - exact.to_seconds_f64()).abs() < 1e-9, "{sum} vs {exact}");
    }
    let first = &tracks[0]["children"][0];
    assert_eq!(first["name"], "开场 <intro> & \"hello\"");
    assert_eq!(first["media_reference"]["target_url"], "file:///media/My%20Project/%E9%87%87%E8%AE%BF%20A%26B.mov");
    assert_eq!(first["source_range"]["start_time"]["value"].as_f64(), Some(10.0 * 30000.0 / 1001.0));
    assert_eq!(first["markers"][0]["comment"], "keep 'this'");
    let dissolve = &tracks[0]["children"][1];
    assert_eq!(dissolve["in_offset"]["value"], 15.0);
    assert_eq!(dissolve["out_offset"]["value"], 15.0);
}

#[test]
fn otio_frame_counts_of_on_grid_timelines_sum_exactly() {
    for tl in [edl_timeline_25(), edl_timeline_2997()] {
        let doc: serde_json::Value = serde_json::from_str(&to_otio(&tl).expect("exports")).expect("JSON");
        let rate = tl.frame_rate;
        for (track, model) in doc["tracks"]["children"].as_array().unwrap().iter().zip(&tl.tracks) {
            let values: Vec<f64> = track["children"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["OTIO_SCHEMA"] != "Transition.1")
                .map(|c| c["source_range"]["duration"]["value"].as_f64().unwrap())
                .collect();
            assert!(values.iter().all(|v| v.fract() == 0.0), "{values:?}");
            let frames = model.duration().unwrap().to_frames(rate, reelflow_timeline::Rounding::Down).unwrap();
            assert_eq!(values.iter().sum::<f64>(), frames as f64);
        }
    }
}

/// A known timeline at 25 fps: a dissolve, a gap, a clip marker and a timeline marker, and
/// two audio tracks.
fn edl_timeline_25() -> Timeline {
    let interview = MediaRef::new("/media/Interview A.mov", s(60), true, true);
    let broll = MediaRef::new("/media/b-roll.mov", s(30), true, false);
    let music = MediaRef::new("/media/music.wav", s(120), false, true);
    let mut cutaway = Clip::new("B-roll 镜头", broll, s(2), s(6));
    cutaway.markers.push(Marker::new(s(3), "cutaway"));
    let mut tl = Timeline::new("EDL 测试", Rational::FPS_25, 1920, 1080);
    tl.tracks.push(Track::video(vec![
        TrackItem::clip(Clip::new("Intro", interview.clone(), s(10), s(15))),
        TrackItem::transition(TransitionKind::CrossDissolve, s(1)),
        TrackItem::clip(cutaway),
        TrackItem::gap(s(2)),
        TrackItem::clip(Clip::new("Outro", interview.clone(), s(40), s(43))),
    ]));
    tl.tracks.push(Track::audio(vec![
        TrackItem::clip(Clip::new("Intro", interview.clone(), s(10), s(15))),
        TrackItem::gap(s(6)),
        TrackItem::clip(Clip::new("Outro", interview, s(40), s(43))),
    ]));
    tl.tracks.push(Track::audio(vec![TrackItem::clip(Clip::new("", music, s(0), s(14)))]));
    tl.markers.push(Marker::new(s(12), "ending"));
    tl
}

#[test]
fn edl_at_25_fps_is_exact() {
    let edl = to_edl(&edl_timeline_25(), &EdlOptions::default()).expect("exports");
    let expected = "\
TITLE: EDL 测试
FCM: NON-DROP FRAME

001  Intervie V     C        00:00:10:00 00:00:14:13 00:00:00:00 00:00:04:13
* FROM CLIP NAME: Intro

002  Intervie A     C        00:00:10:00 00:00:15:00 00:00:00:00 00:00:05:00
* FROM CLIP NAME: Intro

003  music    A2    C        00:00:00:00 00:00:14:00 00:00:00:00 00:00:14:00
* FROM CLIP NAME: music

004  Intervie V     C        00:00:14:13 00:00:14:13 00:00:04:13 00:00:04:13
004  b_roll   V     D    025 00:00:01:13 00:00:06:00 00:00:04:13 00:00:09:00
* FROM CLIP NAME: Intro
* TO CLIP NAME: B-roll 镜头
* LOC: 00:00:06:00 RED     cutaway

005  Intervie V     C        00:00:40:00 00:00:43:00 00:00:11:00 00:00:14:00
* FROM CLIP NAME: Outro
* LOC: 00:00:12:00 RED     ending

006  Intervie A     C        00:00:40:00 00:00:43:00 00:00:11:00 00:00:14:00
* FROM CLIP NAME: Outro
";
    assert_eq!(edl, expected, "got:\n{edl}");
    // The CMX3600 columns: event, reel, channel, transition, duration, then four timecodes.
    for line in edl.lines().filter(|l| l.starts_with("00")) {
        assert_eq!(line.len(), 76, "{line}");
        assert_eq!(&line[3..5], "  ");
        assert_eq!(line[29..].split(' ').map(str::len).collect::<Vec<_>>(), [11, 11, 11, 11], "{line}");
    }
    assert!(to_edl(&edl_timeline_25(), &EdlOptions { drop_frame: true }).is_err(), "no drop frame at 25");
}

fn edl_timeline_2997() -> Timeline {
    let rate = Rational::FPS_29_97;
    let a = MediaRef::new("/media/a.mov", s(600), true, true);
    let b = MediaRef::new("/media/b.mov", s(600), true, true);
    let mut tl = Timeline::new("NTSC", rate, 1920, 1080);
    tl.tracks.push(Track::video(vec![
        TrackItem::clip(Clip::new("A", a.clone(), frames(30, rate), frames(1830, rate))),
        TrackItem::clip(Clip::new("B", b, frames(0, rate), frames(300, rate))),
    ]));
    tl.tracks.push(Track::audio(vec![TrackItem::clip(Clip::new("A", a, frames(30, rate), frames(1830, rate)))]));
    tl
}

#[test]
fn edl_at_29_97_non_drop_and_drop_frame_is_exact() {
    let tl = edl_timeline_2997();
    let ndf = to_edl(&tl, &EdlOptions { drop_frame: false }).expect("NDF");
    assert_eq!(
        ndf,
        "\
TITLE: NTSC
FCM: NON-DROP FRAME

001  a        V     C        00:00:01:00 00:01:01:00 00:00:00:00 00:01:00:00
* FROM CLIP NAME: A

002  a        A     C        00:00:01:00 00:01:01:00 00:00:00:00 00:01:00:00
* FROM CLIP NAME: A

003  b        V     C        00:00:00:00 00:00:10:00 00:01:00:00 00:01:10:00
* FROM CLIP NAME: B
"
    );
    let df = to_edl(&tl, &EdlOptions { drop_frame: true }).expect("DF");
    assert_eq!(
        df,
        "\
TITLE: NTSC
FCM: DROP FRAME

001  a        V     C        00:00:01;00 00:01:01;02 00:00:00;00 00:01:00;02
* FROM CLIP NAME: A

002  a        A     C        00:00:01;00 00:01:01;02 00:00:00;00 00:01:00;02
* FROM CLIP NAME: A

003  b        V     C        00:00:00;00 00:00:10;00 00:01:00;02 00:01:10;02
* FROM CLIP NAME: B
"
    );
}

#[test]
fn edl_refuses_what_cmx3600_cannot_hold() {
    let mut tl = edl_timeline_25();
    tl.tracks.push(Track::video(vec![]));
    let err = to_edl(&tl, &EdlOptions::default()).unwrap_err().to_string();
    assert!(err.contains("one video track"), "{err}");
    let mut tl = edl_timeline_25();
    tl.frame_rate = Rational::new(25, 2).unwrap();
    assert!(to_edl(&tl, &EdlOptions::default()).is_err());
}

#[test]
fn exports_reject_invalid_timelines() {
    let mut tl = edl_timeline_25();
    tl.tracks[0].items.insert(0, TrackItem::transition(TransitionKind::Wipe, s(1)));
    for result in [to_fcpxml(&tl, FcpxmlVersion::V1_11), to_otio(&tl), to_edl(&tl, &EdlOptions::default())] {
        let err = result.unwrap_err().to_string();
        assert!(err.contains("between two clips"), "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// N one-frame NTSC clips add up to exactly N frames, and the exports say so to the frame.
    #[test]
    fn ntsc_frames_never_drift(n in 1i64..400, start in 0i64..100_000) {
        let rate = Rational::FPS_29_97;
        let frame = rate.frame_duration();
        prop_assert_eq!(frame, RationalTime::new(1001, 30000).unwrap());
        let media = MediaRef::new("/media/long take.mov", s(100_000), true, false);
        let items: Vec<TrackItem> = (0..n)
            .map(|i| {
                let (a, b) = (frames(start + i, rate), frames(start + i + 1, rate));
                TrackItem::clip(Clip::new("", media.clone(), a, b))
            })
            .collect();
        let mut tl = Timeline::new("drift", rate, 1280, 720);
        tl.tracks.push(Track::video(items));

        let total = tl.duration().unwrap();
        prop_assert_eq!(total, frame.checked_mul(n).unwrap());
        prop_assert_eq!(total, RationalTime::sum((0..n).map(|_| frame)).unwrap());
        prop_assert_eq!(total.to_frames(rate, reelflow_timeline::Rounding::Down).unwrap(), n);

        let xml = to_fcpxml(&tl, FcpxmlVersion::V1_11).unwrap();
        let expected_duration = format!("<sequence format=\"r1\" duration=\"{}\"", total.to_fcpxml());
        prop_assert!(xml.contains(&expected_duration));
        let last_offset = format!("offset=\"{}\"", frames(n - 1, rate).to_fcpxml());
        prop_assert!(xml.contains(&last_offset));

        let edl = to_edl(&tl, &EdlOptions::default()).unwrap();
        let last = edl.lines().rfind(|l| l.starts_with(|c: char| c.is_ascii_digit())).unwrap();
        let rec_out = format_timecode(n, rate, false).unwrap();
        prop_assert!(last.ends_with(&rec_out), "{} does not end at {}", last, rec_out);
        let edl_df = to_edl(&tl, &EdlOptions { drop_frame: true }).unwrap();
        let last = edl_df.lines().rfind(|l| l.starts_with(|c: char| c.is_ascii_digit())).unwrap();
        prop_assert!(last.ends_with(&format_timecode(n, rate, true).unwrap()));
    }
}

/// One random track: clips (from a long source) and gaps, in whole milliseconds, with
/// transitions of at most half the shorter neighbour between some adjacent clips.
fn random_items(media: MediaRef, pieces: Vec<(bool, i64, i64, bool, i64)>) -> Vec<TrackItem> {
    let mut items = Vec::new();
    let mut last_clip_ms: Option<i64> = None;
    for (is_clip, len_ms, in_ms, transition, tr_per_mille) in pieces {
        let len = RationalTime::from_millis(len_ms);
        if !is_clip {
            items.push(TrackItem::gap(len));
            last_clip_ms = None;
            continue;
        }
        if let (Some(prev), true) = (last_clip_ms, transition) {
            // Up to half the shorter clip, so two transitions on one clip never meet exactly.
            let max = prev.min(len_ms) / 2;
            let d = max * tr_per_mille / 1000;
            if d > 0 {
                items.push(TrackItem::transition(TransitionKind::CrossDissolve, RationalTime::from_millis(d)));
            }
        }
        let source_in = RationalTime::from_millis(100_000 + in_ms);
        items.push(TrackItem::clip(Clip::new(
            format!("clip {in_ms} & <{len_ms}>"),
            media.clone(),
            source_in,
            source_in.checked_add(len).unwrap(),
        )));
        last_clip_ms = Some(len_ms);
    }
    items
}

fn pieces() -> impl Strategy<Value = Vec<(bool, i64, i64, bool, i64)>> {
    prop::collection::vec((prop::bool::weighted(0.8), 1i64..4000, 0i64..500_000, any::<bool>(), 0i64..=1000), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20))]

    /// Random timelines at any common rate export to DTD-valid FCPXML with every story time on
    /// the frame grid, and to an EDL and OTIO that parse.
    #[test]
    fn random_timelines_export_valid_documents(
        rate in prop::sample::select(
            vec![Rational::FPS_23_976, Rational::FPS_25, Rational::FPS_29_97, Rational::FPS_60]
        ),
        v1 in pieces(),
        v2 in pieces(),
        a1 in pieces(),
        markers in prop::collection::vec(0i64..1000, 0..4),
        v10 in any::<bool>(),
    ) {
        let av = MediaRef::new("/media/长 take #1.mov", s(1000), true, true);
        let mut tl = Timeline::new("random \"cut\"", rate, 1920, 1080);
        tl.tracks.push(Track::video(random_items(av.clone(), v1)));
        tl.tracks.push(Track::audio(random_items(av.clone(), a1)));
        let total = tl.duration().unwrap();
        for per_mille in markers {
            let at = total.checked_mul(per_mille).unwrap().checked_div(1000).unwrap();
            if at < total {
                tl.markers.push(Marker::new(at, format!("m{per_mille}")));
            }
        }
        tl.validate().unwrap();

        // The EDL holds one video track; check it before adding the second.
        match to_edl(&tl, &EdlOptions::default()) {
            Ok(edl) => prop_assert!(edl.starts_with("TITLE: ")),
            Err(e) => prop_assert!(e.to_string().contains("overlaps a neighbour"), "{}", e),
        }
        tl.tracks.push(Track::video(random_items(av, v2)));
        let doc: serde_json::Value = serde_json::from_str(&to_otio(&tl).unwrap()).unwrap();
        prop_assert_eq!(&doc["OTIO_SCHEMA"], "Timeline.1");

        let version = if v10 { FcpxmlVersion::V1_10 } else { FcpxmlVersion::V1_11 };
        let xml = match to_fcpxml(&tl, version) {
            Ok(xml) => xml,
            Err(e) => {
                // Only transitions squeezed together by rounding may be refused.
                prop_assert!(e.to_string().contains("overlaps a neighbour"), "{}", e);
                return Ok(());
            }
        };
        let dtd = if v10 { "FCPXMLv1_10.dtd" } else { "FCPXMLv1_11.dtd" };
        if let Err(e) = xmllint(dtd, &xml) {
            prop_assert!(false, "invalid FCPXML:\n{}\n{}", e, xml);
        }
        for attr in ["offset", "start", "duration"] {
            for value in attr_values(&xml, attr, &["<asset ", "<format "]) {
                let t = RationalTime::parse_fcpxml(value).unwrap();
                prop_assert!(t.is_on_grid(rate), "{}=\"{}\" off the {} grid", attr, value, rate);
            }
        }
    }
}
