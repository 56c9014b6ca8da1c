//! Media made by the library itself, probed and decoded back frame by frame.

use ffmpeg_next::Rational;
use reelflow_media::synthetic::{SyntheticSpec, generate, read_markers};
use reelflow_media::{Error, probe};

#[test]
fn synthetic_media_probes_exactly_and_carries_frame_markers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pattern.mp4");
    let spec = SyntheticSpec { frames: 60, gop: 12, frame_rate: Rational(30000, 1001), ..Default::default() };
    generate(&path, &spec).expect("generate");

    let info = probe(&path, true).expect("probe");
    assert!(info.format.contains("mp4"), "{}", info.format);
    let video = info.video().expect("a video stream");
    assert_eq!(video.codec, "h264");
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    let rate = video.frame_rate.expect("a frame rate");
    assert_eq!((rate.num, rate.den), (30000, 1001), "exact, not 29.97");
    assert_eq!(video.rotation, Some(0));
    assert_eq!(video.pixel_format.as_deref(), Some("yuv420p"));
    // 60 frames at 30000/1001: 2.002 s.
    assert!((video.duration - 2.002).abs() < 0.02, "{}", video.duration);
    let keyframes = video.keyframes.as_ref().expect("keyframes");
    assert_eq!(keyframes.len(), 5, "a keyframe every 12 frames: {keyframes:?}");
    let frame = 1001.0 / 30000.0;
    for (i, t) in keyframes.iter().enumerate() {
        assert!((t - i as f64 * 12.0 * frame).abs() < 1e-3, "keyframe {i} at {t}");
    }
    let audio = info.audio().expect("an audio stream");
    assert_eq!((audio.codec.as_str(), audio.sample_rate, audio.channels), ("aac", Some(48_000), Some(2)));
    assert!((audio.duration - video.duration).abs() < 0.05, "audio {} vs video {}", audio.duration, video.duration);

    assert_eq!(read_markers(&path).expect("decode"), (0..60).collect::<Vec<u32>>());
}

#[test]
fn video_only_media_has_no_audio_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("silent.mp4");
    generate(&path, &SyntheticSpec { frames: 10, tone_hz: None, ..Default::default() }).expect("generate");
    let info = probe(&path, false).expect("probe");
    assert!(info.audio().is_none());
    assert!(info.video().expect("video").keyframes.is_none());
}

#[test]
fn bad_files_are_clear_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.mp4");
    assert!(matches!(probe(&missing, false), Err(Error::NotFound { .. })));

    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").expect("write");
    let err = probe(&empty, false).expect_err("empty");
    assert!(err.to_string().contains("empty.mp4") && err.to_string().contains("empty"), "{err}");

    let jpeg = dir.path().join("subs.srt");
    std::fs::write(&jpeg, [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1]).expect("write");
    let err = probe(&jpeg, false).map(|i| i.streams.len());
    // FFmpeg may read a JPEG header as an image stream; it must never be taken for a video with audio.
    if let Ok(streams) = err {
        assert!(streams <= 1);
    }

    // A truncated file: the first half of a valid one.
    let whole = dir.path().join("whole.mp4");
    generate(&whole, &SyntheticSpec { frames: 50, ..Default::default() }).expect("generate");
    let bytes = std::fs::read(&whole).expect("read");
    let cut = dir.path().join("truncated.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    // The index is at the front (faststart), so the header reads; decoding stops early, cleanly.
    let markers = read_markers(&cut);
    match markers {
        Ok(m) => assert!(m.len() < 50, "a truncated file cannot decode every frame"),
        Err(e) => assert!(e.to_string().contains("truncated.mp4"), "{e}"),
    }

    let noise = dir.path().join("noise.mp4");
    std::fs::write(&noise, (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect::<Vec<_>>())
        .expect("write");
    let err = probe(&noise, false).expect_err("noise is not media");
    assert!(matches!(err, Error::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("noise.mp4"));
}

#[tokio::test]
async fn the_probe_op_runs_in_a_workflow() {
    use reelflow_core::{Executor, NoExpressions, Registry, RunRequest, RunStatus, SourceFile, Value, load_workflow};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    generate(&clip, &SyntheticSpec { frames: 25, ..Default::default() }).expect("generate");
    let mut registry = Registry::with_builtins();
    reelflow_media::register(&mut registry).expect("register");
    let yaml = "reelflow: 1\ninputs:\n  clip: {type: video}\nnodes:\n  p:\n    op: media.probe\n    inputs: {file: inputs.clip}\n    params: {keyframes: true}\noutputs:\n  info: p.info\n  duration: p.duration\n";
    let plan = Arc::new(load_workflow(SourceFile::new("probe.yaml", yaml), &registry, &NoExpressions).expect("valid"));
    let mut given = indexmap::IndexMap::new();
    given.insert("clip".to_owned(), Value::String(clip.to_string_lossy().into_owned()));
    let mut request = RunRequest::new("probe", dir.path().join("work"));
    request.inputs = plan.bind_inputs(given, dir.path()).expect("inputs");
    let report = Executor::new(Default::default(), None).run(plan, request).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    assert!((report.outputs["duration"].as_f64().unwrap_or(0.0) - 1.0).abs() < 0.05);
    let info = report.outputs["info"].to_json();
    assert_eq!(info["streams"][0]["codec"], "h264");
    assert_eq!(info["streams"][0]["keyframes"].as_array().map(Vec::len), Some(1));

    // A missing file fails the node with the file's name.
    let mut given = indexmap::IndexMap::new();
    given.insert("clip".to_owned(), Value::String("/nonexistent/clip.mp4".into()));
    let plan = Arc::new(load_workflow(SourceFile::new("probe.yaml", yaml), &registry, &NoExpressions).expect("valid"));
    let mut request = RunRequest::new("probe2", dir.path().join("work2"));
    request.inputs = plan.bind_inputs(given, dir.path()).expect("inputs");
    let report = Executor::new(Default::default(), None).run(plan, request).await;
    assert_eq!(report.status, RunStatus::Failed);
    let (_, chain) = report.first_error().expect("an error");
    assert!(chain.join(" ").contains("/nonexistent/clip.mp4"), "{chain:?}");
}

#[test]
fn reencoded_cuts_hold_exactly_the_frames_in_range_with_audio_in_sync() {
    use reelflow_media::{CutOptions, cut_reencode};
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source.mp4");
    generate(&source, &SyntheticSpec { frames: 100, gop: 25, ..Default::default() }).expect("generate");
    let out = dir.path().join("cut.mp4");
    let mut seen = Vec::new();
    // 25 fps: [1.2 s, 2.6 s) is frames 30..65, starting mid-GOP (keyframes at 25, 50, 75).
    let written = cut_reencode(&source, &out, 1.2, 2.6, &CutOptions::default(), &mut |f| {
        seen.push(f);
        true
    })
    .expect("cut");
    assert_eq!(written, 35);
    assert_eq!(read_markers(&out).expect("decode"), (30..65).collect::<Vec<u32>>());
    assert_eq!(seen.last(), Some(&1.0));
    let info = probe(&out, false).expect("probe");
    let (video, audio) = (info.video().expect("video"), info.audio().expect("audio"));
    assert!((video.duration - 1.4).abs() < 0.041, "within one frame: {}", video.duration);
    assert!(
        (audio.duration - video.duration).abs() < 0.03,
        "A/V in sync: audio {} vs video {}",
        audio.duration,
        video.duration
    );

    // Cancelling stops the loop with an error.
    let err = cut_reencode(&source, &dir.path().join("never.mp4"), 0.0, 3.0, &CutOptions::default(), &mut |_| false);
    assert!(matches!(err, Err(Error::Cancelled)));
    assert!(cut_reencode(&source, &out, 2.0, 1.0, &CutOptions::default(), &mut |_| true).is_err());
}

#[test]
fn smart_cuts_copy_whole_gops_and_match_a_full_reencode_frame_for_frame() {
    use reelflow_media::{CutOptions, cut_reencode, smart_cut};
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source.mp4");
    // Keyframes every 25 frames (1 s at 25 fps).
    generate(&source, &SyntheticSpec { frames: 200, gop: 25, ..Default::default() }).expect("generate");
    for (start, end) in [(1.2, 5.6), (2.0, 6.0), (0.0, 3.3), (0.5, 1.5), (3.96, 8.0)] {
        let smart = dir.path().join(format!("smart-{start}-{end}.mp4"));
        let report = smart_cut(&source, &smart, start, end, &CutOptions::default(), &mut |_| true).expect("smart cut");
        let plain = dir.path().join(format!("plain-{start}-{end}.mp4"));
        cut_reencode(&source, &plain, start, end, &CutOptions::default(), &mut |_| true).expect("re-encode");
        let expected: Vec<u32> = ((start * 25.0_f64).round() as u32..(end * 25.0_f64).round() as u32).collect();
        assert_eq!(read_markers(&smart).expect("decode smart"), expected, "smart cut {start}..{end}: {report:?}");
        assert_eq!(read_markers(&plain).expect("decode plain"), expected, "re-encode {start}..{end}");
        let whole_gops =
            (((end * 25.0_f64).round() as u32) / 25).saturating_sub(((start * 25.0_f64).round() as u32).div_ceil(25));
        assert_eq!(report.copied_packets, u64::from(whole_gops) * 25, "{start}..{end}: {report:?}");
        assert!(!report.fell_back);
        let info = probe(&smart, false).expect("probe");
        let (video, audio) = (info.video().expect("video"), info.audio().expect("audio"));
        assert!((video.duration - (end - start)).abs() < 0.041, "{start}..{end}: video {}", video.duration);
        assert!(
            (audio.duration - video.duration).abs() < 0.03,
            "{start}..{end}: audio {} video {}",
            audio.duration,
            video.duration
        );
    }
}

#[test]
fn smart_cuts_handle_b_frames_and_ntsc_rates() {
    use reelflow_media::{CutOptions, smart_cut};
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("bframes.mp4");
    // `veryfast` uses B-frames (decode order differs from display order); 30000/1001 fps.
    let spec = SyntheticSpec {
        frames: 150,
        gop: 30,
        preset: "veryfast".into(),
        frame_rate: Rational(30000, 1001),
        ..Default::default()
    };
    generate(&source, &spec).expect("generate");
    let frame = 1001.0 / 30000.0;
    for (first, last) in [(10u32, 100u32), (30, 90), (45, 150)] {
        let out = dir.path().join(format!("cut-{first}-{last}.mp4"));
        let report = smart_cut(
            &source,
            &out,
            f64::from(first) * frame,
            f64::from(last) * frame,
            &CutOptions::default(),
            &mut |_| true,
        )
        .expect("smart cut");
        assert_eq!(
            read_markers(&out).expect("decode"),
            (first..last).collect::<Vec<u32>>(),
            "{first}..{last}: {report:?}"
        );
        assert!(report.copied_packets > 0 && !report.fell_back, "{report:?}");
    }
}

#[test]
fn several_segments_join_into_one_file_in_sync() {
    use reelflow_media::{CutOptions, Span, cut_reencode_spans, smart_cut_spans};
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source.mp4");
    generate(&source, &SyntheticSpec { frames: 250, gop: 25, preset: "veryfast".into(), ..Default::default() })
        .expect("generate");
    let spans = [
        Span { start: 0.5, end: 1.5 },
        Span { start: 3.0, end: 5.2 },
        Span { start: 6.1, end: 7.0 },
        Span { start: 2.0, end: 3.0 },
    ];
    let expected: Vec<u32> = [(13, 38), (75, 130), (153, 175), (50, 75)].iter().flat_map(|&(a, b)| a..b).collect();
    let smart = dir.path().join("smart.mp4");
    let report = smart_cut_spans(&source, &smart, &spans, &CutOptions::default(), &mut |_| true).expect("smart");
    assert_eq!(read_markers(&smart).expect("decode"), expected, "{report:?}");
    assert!(report.copied_packets >= 25 * 3, "{report:?}");
    let plain = dir.path().join("plain.mp4");
    cut_reencode_spans(&source, &plain, &spans, &CutOptions::default(), &mut |_| true).expect("re-encode");
    assert_eq!(read_markers(&plain).expect("decode"), expected);
    for path in [&smart, &plain] {
        let info = probe(path, false).expect("probe");
        let (video, audio) = (info.video().expect("video"), info.audio().expect("audio"));
        assert!((video.duration - expected.len() as f64 / 25.0).abs() < 0.041, "{}", video.duration);
        assert!(
            (audio.duration - video.duration).abs() < 0.025,
            "audio {} vs video {}",
            audio.duration,
            video.duration
        );
    }
}

#[test]
fn open_gop_sources_fall_back_to_a_full_reencode_with_the_right_frames() {
    use reelflow_media::{CutOptions, smart_cut};
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("open.mp4");
    let spec =
        SyntheticSpec { frames: 100, gop: 25, preset: "veryfast".into(), closed_gop: false, ..Default::default() };
    generate(&source, &spec).expect("generate");
    let out = dir.path().join("cut.mp4");
    let report = smart_cut(&source, &out, 0.6, 3.0, &CutOptions::default(), &mut |_| true).expect("cut");
    assert!(report.fell_back, "{report:?}");
    assert_eq!(read_markers(&out).expect("decode"), (15..75).collect::<Vec<u32>>());
}

#[tokio::test]
async fn the_cut_op_joins_segments_with_progress_events() {
    use reelflow_core::{
        CollectSink, EventKind, Executor, NoExpressions, Registry, RunRequest, RunStatus, SourceFile, Value,
        load_workflow,
    };
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    generate(&clip, &SyntheticSpec { frames: 150, gop: 25, ..Default::default() }).expect("generate");
    let mut registry = Registry::with_builtins();
    reelflow_media::register(&mut registry).expect("register");
    let yaml = "reelflow: 1
inputs:
  clip: {type: video}
nodes:
  cut:
    op: media.cut
    inputs: {video: inputs.clip}
    params:
      segments: [{start: 4.0, end: 5.0}, {start: 0.4, end: 2.2}]
      name: remix.mp4
outputs:
  video: cut.video
  report: cut.report
";
    let plan = Arc::new(load_workflow(SourceFile::new("cut.yaml", yaml), &registry, &NoExpressions).expect("valid"));
    let mut given = indexmap::IndexMap::new();
    given.insert("clip".to_owned(), Value::String(clip.to_string_lossy().into_owned()));
    let events = Arc::new(CollectSink::default());
    let mut request = RunRequest::new("cut", dir.path().join("work"));
    request.inputs = plan.bind_inputs(given, dir.path()).expect("inputs");
    request.events = events.clone();
    let report = Executor::new(Default::default(), None).run(plan, request).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    let Value::File(out) = &report.outputs["video"] else { panic!("not a file") };
    assert!(out.path.ends_with("remix.mp4"));
    let expected: Vec<u32> = (100..125).chain(10..55).collect();
    assert_eq!(read_markers(&out.path).expect("decode"), expected);
    assert_eq!(report.outputs["report"].to_json()["fell_back"], false);
    assert!(
        events.events().iter().any(|e| matches!(&e.kind, EventKind::NodeProgress { fraction, .. } if *fraction >= 1.0))
    );
}

#[test]
fn transcoding_fits_a_landscape_clip_into_a_vertical_frame() {
    use reelflow_media::{Fit, TranscodeOptions, transcode};
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("wide.mp4");
    generate(&source, &SyntheticSpec { width: 320, height: 180, frames: 30, ..Default::default() }).expect("generate");
    for (fit, name) in [(Fit::Contain, "contain.mp4"), (Fit::Cover, "cover.mp4"), (Fit::Stretch, "stretch.mp4")] {
        let out = dir.path().join(name);
        let opts = TranscodeOptions { size: Some((180, 320)), fit, preset: "ultrafast".into(), crf: 18 };
        let frames = transcode(&source, &out, &opts, &mut |_| true).expect("transcode");
        assert_eq!(frames, 30);
        let info = probe(&out, false).expect("probe");
        let (video, audio) = (info.video().expect("video"), info.audio().expect("audio"));
        assert_eq!((video.width, video.height), (Some(180), Some(320)), "{fit:?}");
        assert!(
            (audio.duration - video.duration).abs() < 0.03,
            "{fit:?}: audio {} video {}",
            audio.duration,
            video.duration
        );
    }
    // Stretched, the marker band still spans the frame's width: every frame is there, in order.
    assert_eq!(read_markers(&dir.path().join("stretch.mp4")).expect("decode"), (0..30).collect::<Vec<u32>>());
    let err = transcode(&source, &dir.path().join("never.mp4"), &TranscodeOptions::default(), &mut |_| false);
    assert!(matches!(err, Err(Error::Cancelled)));
}

#[tokio::test]
async fn the_fit_op_makes_a_vertical_video_and_refuses_bad_params() {
    use reelflow_core::{Executor, NoExpressions, Registry, RunRequest, RunStatus, SourceFile, Value, load_workflow};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    generate(&clip, &SyntheticSpec { frames: 10, ..Default::default() }).expect("generate");
    let mut registry = Registry::with_builtins();
    reelflow_media::register(&mut registry).expect("register");
    let executor = Executor::new(Default::default(), None);
    let run = |params: &str| {
        let yaml = format!(
            "reelflow: 1\ninputs:\n  clip: {{type: video}}\nnodes:\n  fit:\n    op: media.fit\n    inputs: {{video: inputs.clip}}\n    params: {params}\noutputs:\n  video: fit.video\n"
        );
        let plan =
            Arc::new(load_workflow(SourceFile::new("fit.yaml", yaml), &registry, &NoExpressions).expect("valid"));
        let mut given = indexmap::IndexMap::new();
        given.insert("clip".to_owned(), Value::String(clip.to_string_lossy().into_owned()));
        let mut request = RunRequest::new("fit", dir.path().join("work"));
        request.inputs = plan.bind_inputs(given, dir.path()).expect("inputs");
        executor.run(plan, request)
    };
    let report = run("{aspect: '9:16', fit: cover, speed: ultrafast}").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    let Value::File(out) = &report.outputs["video"] else { panic!("not a file") };
    let video = probe(&out.path, false).expect("probe").video().cloned().expect("video");
    assert_eq!((video.width, video.height), (Some(1080), Some(1920)));
    let report = run("{aspect: '3:2'}").await;
    assert_eq!(report.status, RunStatus::Failed);
    assert!(report.first_error().expect("error").1.join(" ").contains("unknown aspect"));
    let report = run("{}").await;
    assert_eq!(report.status, RunStatus::Failed);
}

#[test]
fn silences_are_found_where_the_tone_stops() {
    use reelflow_media::{SilenceOptions, detect_silence};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("speech.mp4");
    let spec = SyntheticSpec { frames: 100, silences: vec![(1.0, 1.5), (2.2, 2.3), (3.0, 3.6)], ..Default::default() };
    generate(&path, &spec).expect("generate");
    let found = detect_silence(&path, &SilenceOptions::default(), &mut |_| true).expect("detect");
    // 0.1 s is shorter than the 0.2 s minimum; the others are found within a window or two
    // (AAC smears edges by a few milliseconds).
    assert_eq!(found.len(), 2, "{found:?}");
    for (silence, (start, end)) in found.iter().zip([(1.0, 1.5), (3.0, 3.6)]) {
        assert!(
            (silence.start - start).abs() < 0.05 && (silence.end - end).abs() < 0.05,
            "{silence:?} vs {start}..{end}"
        );
    }
    let no_audio = dir.path().join("mute.mp4");
    generate(&no_audio, &SyntheticSpec { frames: 5, tone_hz: None, ..Default::default() }).expect("generate");
    assert!(matches!(
        detect_silence(&no_audio, &SilenceOptions::default(), &mut |_| true),
        Err(Error::MissingStream { .. })
    ));
}

#[test]
fn thumbnails_are_the_frames_at_the_asked_times() {
    use reelflow_media::{ImageFormat, thumbnails};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clip.mp4");
    generate(&path, &SyntheticSpec { frames: 75, gop: 25, ..Default::default() }).expect("generate");
    let files = thumbnails(&path, &[0.0, 1.3, 2.5, 99.0], Some(160), ImageFormat::Jpg, dir.path(), "t", &mut |_| true)
        .expect("stills");
    assert_eq!(files.len(), 4);
    for file in &files {
        let bytes = std::fs::read(file).expect("read");
        assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "a JPEG: {}", file.display());
        assert!(bytes.len() > 1000, "{} is {} bytes", file.display(), bytes.len());
    }
    // Decode the JPEGs back through FFmpeg and read their markers: frames 0, 33 (1.32 s is
    // the first frame at or after 1.3 s), 63 and, past the end, the last frame 74.
    let markers: Vec<u32> = files.iter().map(|f| read_markers(f).expect("decode a still")[0]).collect();
    assert_eq!(markers, [0, 33, 63, 74]);
    let png = thumbnails(&path, &[1.0], None, ImageFormat::Png, dir.path(), "p", &mut |_| true).expect("png");
    assert_eq!(&std::fs::read(&png[0]).expect("read")[1..4], b"PNG");
    assert!(thumbnails(&path, &[-1.0], None, ImageFormat::Png, dir.path(), "x", &mut |_| true).is_err());
}

#[test]
fn concat_copies_compatible_files_and_reencodes_the_rest_in_sync() {
    use reelflow_media::{CutOptions, Span, concat, smart_cut_spans};
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source.mp4");
    generate(&source, &SyntheticSpec { frames: 150, gop: 25, preset: "veryfast".into(), ..Default::default() })
        .expect("generate");
    // Two pieces cut from one source share its parameters: joined by copying.
    let (a, b) = (dir.path().join("a.mp4"), dir.path().join("b.mp4"));
    smart_cut_spans(&source, &a, &[Span { start: 1.0, end: 2.0 }], &CutOptions::default(), &mut |_| true)
        .expect("cut a");
    smart_cut_spans(&source, &b, &[Span { start: 4.0, end: 5.0 }], &CutOptions::default(), &mut |_| true)
        .expect("cut b");
    let joined = dir.path().join("joined.mp4");
    let report = concat(&[&a, &b, &a], &joined, &mut |_| true).expect("concat");
    assert!(report.copied, "{report:?}");
    let expected: Vec<u32> = (25..50).chain(100..125).chain(25..50).collect();
    assert_eq!(read_markers(&joined).expect("decode"), expected);

    // A file of another size: everything is re-encoded to the first file's frame.
    let small = dir.path().join("small.mp4");
    generate(&small, &SyntheticSpec { width: 160, height: 120, frames: 10, ..Default::default() }).expect("generate");
    let mixed = dir.path().join("mixed.mp4");
    let report = concat(&[&a, &small], &mixed, &mut |_| true).expect("concat");
    assert!(!report.copied);
    assert_eq!(report.frames, 35);
    let info = probe(&mixed, false).expect("probe");
    let (video, audio) = (info.video().expect("video"), info.audio().expect("audio"));
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    assert!(
        (video.duration - 1.4).abs() < 0.041 && (audio.duration - video.duration).abs() < 0.03,
        "video {} audio {}",
        video.duration,
        audio.duration
    );
    assert_eq!(read_markers(&mixed).expect("decode")[..25], (25..50).collect::<Vec<u32>>()[..]);
}

#[test]
fn audio_extracts_to_m4a_and_wav_at_full_length() {
    use reelflow_media::{AudioFormat, extract_audio};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clip.mp4");
    generate(&path, &SyntheticSpec { frames: 50, ..Default::default() }).expect("generate");
    let m4a = dir.path().join("sound.m4a");
    let samples = extract_audio(&path, &m4a, AudioFormat::M4a, &mut |_| true).expect("m4a");
    assert!((samples as f64 / 48_000.0 - 2.0).abs() < 0.03, "{samples}");
    let info = probe(&m4a, false).expect("probe");
    assert!(info.video().is_none());
    assert!((info.audio().expect("audio").duration - 2.0).abs() < 0.03);

    let wav = dir.path().join("sound.wav");
    let samples = extract_audio(&path, &wav, AudioFormat::Wav, &mut |_| true).expect("wav");
    let bytes = std::fs::read(&wav).expect("read");
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(bytes.len() as u64, 44 + samples * 4);
    let info = probe(&wav, false).expect("probe the wav");
    assert_eq!(info.audio().map(|a| (a.sample_rate, a.channels)), Some((Some(48_000), Some(2))));

    let mute = dir.path().join("mute.mp4");
    generate(&mute, &SyntheticSpec { frames: 5, tone_hz: None, ..Default::default() }).expect("generate");
    let err = extract_audio(&mute, &dir.path().join("x.m4a"), AudioFormat::M4a, &mut |_| true).expect_err("no audio");
    assert!(err.to_string().contains("mute.mp4") && err.to_string().contains("no audio"), "{err}");
}

/// Mono RMS in dBFS per `window` seconds of a file's audio (through a WAV extraction).
fn rms_windows(path: &std::path::Path, window: f64) -> Vec<f64> {
    let wav = path.with_extension("levels.wav");
    reelflow_media::extract_audio(path, &wav, reelflow_media::AudioFormat::Wav, &mut |_| true).expect("extract");
    let bytes = std::fs::read(&wav).expect("read");
    let samples: Vec<f64> =
        bytes[44..].chunks_exact(4).map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0).collect();
    let per = (window * 48_000.0) as usize;
    samples
        .chunks(per)
        .map(|w| 10.0 * (w.iter().map(|s| s * s).sum::<f64>() / w.len() as f64).max(1e-12).log10())
        .collect()
}

#[test]
fn mixing_ducks_music_under_speech_and_normalises_loudness() {
    use reelflow_media::{MixOptions, MixTrack, TrackRole, mix_audio};
    let dir = tempfile::tempdir().expect("tempdir");
    let speech = dir.path().join("speech.mp4");
    let music = dir.path().join("music.mp4");
    // Speech talks for the first 2 s and after 4 s; silent from 2 to 4 s.
    generate(
        &speech,
        &SyntheticSpec { frames: 150, tone_hz: Some(880.0), silences: vec![(2.0, 4.0)], ..Default::default() },
    )
    .expect("speech");
    generate(&music, &SyntheticSpec { frames: 150, tone_hz: Some(440.0), ..Default::default() }).expect("music");
    let tracks = [
        MixTrack { path: speech.clone(), gain_db: 0.0, role: TrackRole::Speech },
        MixTrack { path: music.clone(), gain_db: 0.0, role: TrackRole::Music },
    ];
    let plain = dir.path().join("plain.m4a");
    let ducked = dir.path().join("ducked.m4a");
    let samples = mix_audio(&tracks, &plain, &MixOptions::default(), &mut |_| true).expect("plain mix");
    assert!((samples as f64 / 48_000.0 - 6.0).abs() < 0.05, "{samples}");
    mix_audio(&tracks, &ducked, &MixOptions { duck_db: Some(12.0), ..Default::default() }, &mut |_| true)
        .expect("ducked mix");
    let (p, d) = (rms_windows(&plain, 0.1), rms_windows(&ducked, 0.1));
    // While speech talks (1.0–1.9 s), the ducked mix is quieter: the music went down.
    let talking = |levels: &[f64]| levels[10..19].iter().sum::<f64>() / 9.0;
    assert!(talking(&p) - talking(&d) > 1.5, "plain {:.1} dB, ducked {:.1} dB", talking(&p), talking(&d));
    // In the pause (3.0–3.9 s, after the release), music is back to full level.
    let pause = |levels: &[f64]| levels[30..39].iter().sum::<f64>() / 9.0;
    assert!((pause(&p) - pause(&d)).abs() < 1.0, "plain {:.1} dB, ducked {:.1} dB", pause(&p), pause(&d));

    // Loudness: a -23 LUFS target brings a loud music track (RMS about -15 dBFS) down ~8 dB.
    let quiet = dir.path().join("quiet.m4a");
    let one = [MixTrack { path: music, gain_db: 0.0, role: TrackRole::Music }];
    mix_audio(&one, &quiet, &MixOptions { loudness: Some(-23.0), fade_in: 0.5, ..Default::default() }, &mut |_| true)
        .expect("normalised");
    let q = rms_windows(&quiet, 0.1);
    let steady = q[30..55].iter().sum::<f64>() / 25.0;
    assert!((steady - -23.0).abs() < 3.0, "steady level {steady:.1} dBFS");
    assert!(q[0] < steady - 10.0, "the fade-in starts quiet: {:.1} vs {steady:.1}", q[0]);
}

#[test]
fn muxing_puts_new_sound_under_copied_video_at_its_length() {
    use reelflow_media::mux;
    let dir = tempfile::tempdir().expect("tempdir");
    let video = dir.path().join("video.mp4");
    let long_sound = dir.path().join("long.mp4");
    let short_sound = dir.path().join("short.mp4");
    generate(&video, &SyntheticSpec { frames: 75, tone_hz: None, ..Default::default() }).expect("video");
    generate(&long_sound, &SyntheticSpec { frames: 150, tone_hz: Some(300.0), ..Default::default() }).expect("long");
    generate(&short_sound, &SyntheticSpec { frames: 25, tone_hz: Some(300.0), ..Default::default() }).expect("short");
    for sound in [&long_sound, &short_sound] {
        let out = dir.path().join("muxed.mp4");
        mux(&video, sound, &out, &mut |_| true).expect("mux");
        assert_eq!(read_markers(&out).expect("decode"), (0..75).collect::<Vec<u32>>(), "video copied whole");
        let info = probe(&out, false).expect("probe");
        let (v, a) = (info.video().expect("video"), info.audio().expect("audio"));
        assert!((a.duration - v.duration).abs() < 0.03, "audio {} video {}", a.duration, v.duration);
    }
    let err = mux(&video, &video, &dir.path().join("x.mp4"), &mut |_| true).expect_err("the video has no sound");
    assert!(matches!(err, Error::MissingStream { .. }), "{err}");
}

#[test]
fn timelines_render_clips_and_gaps_frame_accurately() {
    use reelflow_media::{CutOptions, render_timeline};
    use reelflow_timeline::{Clip, MediaRef, Rational, RationalTime, Timeline, Track, TrackItem};
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("episode.mp4");
    generate(&source, &SyntheticSpec { frames: 200, gop: 25, ..Default::default() }).expect("generate");
    let t = |ms: i64| RationalTime::from_millis(ms);
    let media = MediaRef::new(&source, t(8000), true, true);
    let clip = |a: i64, b: i64| TrackItem::clip(Clip::new("", media.clone(), t(a), t(b)));

    // One source, back to back: a single smart cut.
    let mut timeline = Timeline::new("remix", Rational::FPS_25, 320, 240);
    timeline.tracks.push(Track::video(vec![clip(4000, 5000), clip(400, 2200)]));
    let out = dir.path().join("remix.mp4");
    let report = render_timeline(&timeline, &out, &dir.path().join("work"), &CutOptions::default(), &mut |_| true)
        .expect("render");
    assert_eq!((report.clips, report.gaps), (2, 0));
    assert!(report.copied_packets > 0);
    assert_eq!(read_markers(&out).expect("decode"), (100..125).chain(10..55).collect::<Vec<u32>>());

    // With a gap: black frames (marker 0) between the clips, audio in sync.
    let mut timeline = Timeline::new("gap", Rational::FPS_25, 320, 240);
    timeline.tracks.push(Track::video(vec![clip(1000, 2000), TrackItem::gap(t(400)), clip(6000, 6400)]));
    let out = dir.path().join("gap.mp4");
    let report = render_timeline(&timeline, &out, &dir.path().join("work2"), &CutOptions::default(), &mut |_| true)
        .expect("render");
    assert_eq!((report.clips, report.gaps), (2, 1));
    let expected: Vec<u32> = (25..50).chain(std::iter::repeat_n(0, 10)).chain(150..160).collect();
    assert_eq!(read_markers(&out).expect("decode"), expected);
    let info = probe(&out, false).expect("probe");
    let (v, a) = (info.video().expect("video"), info.audio().expect("audio"));
    assert!(
        (v.duration - 1.8).abs() < 0.041 && (a.duration - v.duration).abs() < 0.03,
        "video {} audio {}",
        v.duration,
        a.duration
    );

    // A clip past the end of its media is refused before anything is written.
    let mut bad = Timeline::new("bad", Rational::FPS_25, 320, 240);
    bad.tracks.push(Track::video(vec![clip(7000, 9000)]));
    assert!(
        render_timeline(&bad, &dir.path().join("bad.mp4"), &dir.path().join("w3"), &CutOptions::default(), &mut |_| {
            true
        })
        .is_err()
    );
}

#[test]
fn stills_become_video_held_or_in_sequence() {
    use reelflow_media::{ImageFormat, images_to_video, thumbnails};
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    generate(&clip, &SyntheticSpec { frames: 50, ..Default::default() }).expect("generate");
    let stills =
        thumbnails(&clip, &[0.4, 0.8, 1.2], None, ImageFormat::Png, dir.path(), "s", &mut |_| true).expect("stills");
    let paths: Vec<&std::path::Path> = stills.iter().map(|p| p.as_path()).collect();

    // One still held for 2 s at 25 fps: 50 frames of marker 10, with 2 s of silence.
    let held = dir.path().join("held.mp4");
    let frames = images_to_video(&paths[..1], 2.0, Rational(25, 1), None, &held, &mut |_| true).expect("held");
    assert_eq!(frames, 50);
    assert_eq!(read_markers(&held).expect("decode"), vec![10; 50]);
    let info = probe(&held, false).expect("probe");
    assert!((info.audio().expect("silent audio").duration - 2.0).abs() < 0.03);

    // A sequence: each image one frame.
    let seq = dir.path().join("seq.mp4");
    images_to_video(&paths, 1.0 / 25.0, Rational(25, 1), None, &seq, &mut |_| true).expect("sequence");
    assert_eq!(read_markers(&seq).expect("decode"), vec![10, 20, 30]);
    assert!(images_to_video(&[], 1.0, Rational(25, 1), None, &seq, &mut |_| true).is_err());
}

#[test]
fn cutting_bad_inputs_fails_cleanly_naming_the_file() {
    use reelflow_media::{
        AudioFormat, CutOptions, Span, concat, cut_reencode, extract_audio, smart_cut, smart_cut_spans, transcode,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.mp4");
    generate(&good, &SyntheticSpec { frames: 100, gop: 25, ..Default::default() }).expect("generate");
    let opts = CutOptions::default();
    let out = dir.path().join("out.mp4");

    // Audio only: no video stream to cut.
    let sound = dir.path().join("sound.m4a");
    extract_audio(&good, &sound, AudioFormat::M4a, &mut |_| true).expect("extract");
    for result in [
        smart_cut(&sound, &out, 0.0, 1.0, &opts, &mut |_| true).map(|_| ()),
        cut_reencode(&sound, &out, 0.0, 1.0, &opts, &mut |_| true).map(|_| ()),
    ] {
        let err = result.expect_err("no video");
        assert!(matches!(err, Error::MissingStream { .. }) && err.to_string().contains("sound.m4a"), "{err}");
    }

    // Truncated (the index at the front says 4 s, the data stops before): a range past the
    // break is a clear error naming the file and where it stops, never a silently short cut.
    let bytes = std::fs::read(&good).expect("read");
    let truncated = dir.path().join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).expect("write");
    assert!((probe(&truncated, false).expect("the index is intact").duration - 4.0).abs() < 0.1);
    for result in [
        smart_cut(&truncated, &out, 0.5, 3.9, &opts, &mut |_| true).map(|_| ()),
        cut_reencode(&truncated, &out, 0.5, 3.9, &opts, &mut |_| true).map(|_| ()),
    ] {
        let err = result.expect_err("the data stops before 3.9 s");
        assert!(matches!(err, Error::Truncated { .. }) && err.to_string().contains("truncated.mp4"), "{err}");
        let err: reelflow_core::NodeError = err.into();
        assert_eq!(err.kind(), Some(reelflow_core::ErrorKind::RenderFailed), "{err}");
    }
    // What lies before the break still cuts.
    smart_cut(&truncated, &out, 0.0, 1.0, &opts, &mut |_| true).expect("the readable part");
    assert_eq!(read_markers(&out).expect("decode").len(), 25);
    // Not media at all.
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "these are notes, not a video\n".repeat(50)).expect("write");
    let err = cut_reencode(&text, &out, 0.0, 1.0, &opts, &mut |_| true).expect_err("not media");
    assert!(matches!(err, Error::Unreadable { .. }) && err.to_string().contains("notes.mp4"), "{err}");
    assert!(concat(&[&good, &text], &out, &mut |_| true).is_err());
    assert!(transcode(&text, &out, &Default::default(), &mut |_| true).is_err());
    // Impossible ranges.
    for (a, b) in [(-1.0, 2.0), (3.0, 3.0), (2.0, 1.0), (0.0, f64::NAN), (0.0, f64::INFINITY)] {
        assert!(smart_cut_spans(&good, &out, &[Span { start: a, end: b }], &opts, &mut |_| true).is_err(), "{a}..{b}");
    }
}

#[test]
fn timeline_audio_tracks_replace_the_pictures_sound() {
    use reelflow_media::{CutOptions, render_timeline};
    use reelflow_timeline::{Clip, MediaRef, Rational, RationalTime, Timeline, Track, TrackItem};
    let dir = tempfile::tempdir().expect("tempdir");
    let episode = dir.path().join("episode.mp4");
    let music = dir.path().join("music.mp4");
    generate(&episode, &SyntheticSpec { frames: 200, gop: 25, tone_hz: Some(880.0), ..Default::default() })
        .expect("episode");
    generate(&music, &SyntheticSpec { frames: 200, tone_hz: Some(220.0), ..Default::default() }).expect("music");
    let t = |ms: i64| RationalTime::from_millis(ms);
    let ep = MediaRef::new(&episode, t(8000), true, true);
    let bgm = MediaRef::new(&music, t(8000), true, true);
    let mut timeline = Timeline::new("scored", Rational::FPS_25, 320, 240);
    timeline.tracks.push(Track::video(vec![TrackItem::clip(Clip::new("", ep.clone(), t(1000), t(3000)))]));
    // Dialogue for the first second only, then silence; music under everything.
    timeline
        .tracks
        .push(Track::audio(vec![TrackItem::clip(Clip::new("", ep, t(1000), t(2000))), TrackItem::gap(t(1000))]));
    timeline.tracks.push(Track::audio(vec![TrackItem::clip(Clip::new("", bgm, t(0), t(2000)))]));
    let out = dir.path().join("scored.mp4");
    let report = render_timeline(&timeline, &out, &dir.path().join("work"), &CutOptions::default(), &mut |_| true)
        .expect("render");
    assert_eq!(report.audio_tracks, 2);
    assert_eq!(read_markers(&out).expect("decode"), (25..75).collect::<Vec<u32>>());
    let info = probe(&out, false).expect("probe");
    let (v, a) = (info.video().expect("video"), info.audio().expect("audio"));
    assert!(
        (v.duration - 2.0).abs() < 0.041 && (a.duration - v.duration).abs() < 0.03,
        "video {} audio {}",
        v.duration,
        a.duration
    );
    // The first second has dialogue and music, the second only music: quieter.
    let levels = rms_windows(&out, 0.1);
    let (first, second) = (levels[2..9].iter().sum::<f64>() / 7.0, levels[12..19].iter().sum::<f64>() / 7.0);
    assert!(first > second + 2.0, "with dialogue {first:.1} dB, without {second:.1} dB");
}

/// Every decoded frame's luma plane (width × height bytes, rows packed).
fn lumas(path: &std::path::Path) -> Vec<Vec<u8>> {
    let mut input = ffmpeg_next::format::input(path).expect("open");
    let stream = input.streams().best(ffmpeg_next::media::Type::Video).expect("video");
    let index = stream.index();
    let context = ffmpeg_next::codec::context::Context::from_parameters(stream.parameters()).expect("codec");
    let mut decoder = context.decoder().video().expect("decoder");
    let mut frames = Vec::new();
    let mut frame = ffmpeg_next::frame::Video::empty();
    let mut take = |frame: &ffmpeg_next::frame::Video| {
        let (w, h, stride) = (frame.width() as usize, frame.height() as usize, frame.stride(0));
        frames.push((0..h).flat_map(|y| frame.data(0)[y * stride..y * stride + w].to_vec()).collect::<Vec<u8>>());
    };
    for (s, packet) in input.packets() {
        if s.index() == index {
            decoder.send_packet(&packet).expect("decode");
            while decoder.receive_frame(&mut frame).is_ok() {
                take(&frame);
            }
        }
    }
    decoder.send_eof().expect("eof");
    while decoder.receive_frame(&mut frame).is_ok() {
        take(&frame);
    }
    frames
}

/// A transition between two clips of one source: outside it the frames are the clips' own
/// (by their markers); inside, each frame is the blend of the two pictures it joins (checked
/// against a plain reference of each look); the timeline keeps its length and A/V stay in
/// sync.
#[test]
fn timeline_transitions_blend_the_clips_they_join() {
    use reelflow_media::{CutOptions, render_timeline};
    use reelflow_timeline::{Clip, MediaRef, Rational, RationalTime, Timeline, Track, TrackItem, TransitionKind};
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source.mp4");
    generate(&source, &SyntheticSpec { frames: 150, gop: 25, ..Default::default() }).expect("source");
    let source_lumas = lumas(&source);
    let t = |ms: i64| RationalTime::from_millis(ms);
    let media = MediaRef::new(&source, t(6000), true, true);
    for kind in [TransitionKind::CrossDissolve, TransitionKind::DipToBlack, TransitionKind::Wipe] {
        // A = source 0–2 s, B = source 4–6 s, a 24-frame transition on the cut at 2 s: it
        // covers output frames 38..62, where A shows source frame n and B source frame n + 50.
        let mut timeline = Timeline::new("joined", Rational::FPS_25, 320, 240);
        timeline.tracks.push(Track::video(vec![
            TrackItem::clip(Clip::new("a", media.clone(), t(0), t(2000))),
            TrackItem::transition(kind, t(960)),
            TrackItem::clip(Clip::new("b", media.clone(), t(4000), t(6000))),
        ]));
        let out = dir.path().join(format!("{kind:?}.mp4"));
        let report = render_timeline(&timeline, &out, &dir.path().join("work"), &CutOptions::default(), &mut |_| true)
            .expect("render");
        assert_eq!((report.clips, report.transitions), (2, 1));

        let markers = read_markers(&out).expect("decode");
        assert_eq!(markers.len(), 100, "{kind:?}: the timeline keeps its 4 s");
        assert_eq!(markers[..38], (0..38).collect::<Vec<u32>>()[..], "{kind:?}");
        assert_eq!(markers[62..], (112..150).collect::<Vec<u32>>()[..], "{kind:?}");
        let output = lumas(&out);
        for n in 38..62 {
            let w = (n as f64 - 38.0 + 0.5) / 24.0;
            let (a, b) = (&source_lumas[n], &source_lumas[n + 50]);
            let expected = |i: usize| {
                let (a, b) = (f64::from(a[i]), f64::from(b[i]));
                match kind {
                    TransitionKind::CrossDissolve => a + (b - a) * w,
                    TransitionKind::DipToBlack if w < 0.5 => 16.0 + (a - 16.0) * (1.0 - 2.0 * w),
                    TransitionKind::DipToBlack => 16.0 + (b - 16.0) * (2.0 * w - 1.0),
                    TransitionKind::Wipe => {
                        if ((i % 320) as f64 + 0.5) < w * 320.0 {
                            b
                        } else {
                            a
                        }
                    }
                }
            };
            let error: f64 =
                output[n].iter().enumerate().map(|(i, &v)| (f64::from(v) - expected(i)).abs()).sum::<f64>()
                    / output[n].len() as f64;
            assert!(error < 3.0, "{kind:?} frame {n}: mean error {error:.2} levels against the reference blend");
        }
        let info = probe(&out, false).expect("probe");
        let (v, a) = (info.video().expect("video"), info.audio().expect("audio"));
        assert!((v.duration - 4.0).abs() < 0.041 && (a.duration - v.duration).abs() < 0.03, "{kind:?}: {v:?} {a:?}");
    }
    // A clip from a larger, silent source is fitted into the timeline's frame (letterboxed)
    // and joined the same way; its missing sound is silence.
    let wide = dir.path().join("wide.mp4");
    generate(&wide, &SyntheticSpec { width: 640, height: 360, frames: 100, tone_hz: None, ..Default::default() })
        .expect("wide source");
    let mut timeline = Timeline::new("mixed", Rational::FPS_25, 320, 240);
    timeline.tracks.push(Track::video(vec![
        TrackItem::clip(Clip::new("a", media.clone(), t(0), t(2000))),
        TrackItem::transition(TransitionKind::CrossDissolve, t(400)),
        TrackItem::clip(Clip::new("w", MediaRef::new(&wide, t(4000), true, false), t(1000), t(3000))),
    ]));
    let out = dir.path().join("mixed.mp4");
    render_timeline(&timeline, &out, &dir.path().join("work"), &CutOptions::default(), &mut |_| true).expect("render");
    let frames = lumas(&out);
    assert_eq!(frames.len(), 100);
    // Letterbox bars (studio black) above and below the fitted 320×180 picture.
    let last = frames.last().unwrap();
    assert!(last[..320 * 20].iter().all(|&y| y <= 20), "top bar");
    assert!(last[320 * 40..320 * 41].iter().any(|&y| y > 40), "the picture");
}
