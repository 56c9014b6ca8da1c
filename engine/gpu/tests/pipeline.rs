//! The GPU ops end to end: clips generated here, run through workflows on the real engine,
//! encoded with libx264, decoded again and checked picture by picture against the CPU
//! references.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ffmpeg_next::{format, frame};
use reelflow_core::{
    CollectSink, EventKind, Executor, NoExpressions, Registry, RunRequest, RunStatus, SourceFile, Value, load_workflow,
};
use reelflow_gpu::kernels::transition::{self, Transition};
use reelflow_gpu::kernels::yuv::{self, YuvFormat, YuvPlanes};
use reelflow_gpu::stream::color_of;
use reelflow_media::{ClipShape, GeneratedClip, PictureStage, Ratio, RgbaFrame, SoundSource, TranscodeOptions};

const FPS: i32 = 25;

/// A clip of `seconds` showing one still picture, with a quiet tone under it.
fn still_clip(path: &Path, picture: &RgbaFrame, seconds: f64) {
    struct Tone;
    impl SoundSource for Tone {
        fn sound(&mut self, start: f64, rate: u32, channels: u16, frames: usize) -> Result<Option<Vec<f32>>, String> {
            let mut out = Vec::with_capacity(frames * usize::from(channels));
            for i in 0..frames {
                let t = start + i as f64 / f64::from(rate);
                out.extend(std::iter::repeat_n((0.2 * (t * 2765.0).sin()) as f32, usize::from(channels)));
            }
            Ok(Some(out))
        }
    }
    let clip = GeneratedClip {
        width: picture.width,
        height: picture.height,
        frame_rate: Ratio { num: FPS, den: 1 },
        duration: seconds,
        preset: "ultrafast".into(),
        crf: 0,
    };
    let mut frames = |_: f64| Ok(picture.clone());
    reelflow_media::generate_video(path, &clip, &mut frames, Some(&mut Tone), &mut |_| true).expect("generate");
}

/// Smooth gradients (4:2:0 keeps them well), different in each clip.
fn gradient(width: u32, height: u32, seed: u32) -> RgbaFrame {
    let mut data = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            let c = match seed {
                0 => [40.0 + 180.0 * fx, 60.0 + 120.0 * fy, 200.0 - 150.0 * fx],
                _ => [210.0 - 160.0 * fy, 50.0 + 150.0 * fx * fy, 60.0 + 140.0 * fy],
            };
            data.extend([c[0] as u8, c[1] as u8, c[2] as u8, 255]);
        }
    }
    RgbaFrame { width, height, data }
}

/// Every decoded picture of a file, as RGBA converted exactly as the GPU pipeline reads
/// them (the CPU reference of its YUV conversion).
fn decode_all(path: &Path) -> Vec<RgbaFrame> {
    struct Capture(Vec<RgbaFrame>);
    impl PictureStage for Capture {
        fn prepare(&mut self, shape: &ClipShape) -> Result<(u32, u32), String> {
            Ok((shape.width, shape.height))
        }
        fn process(&mut self, picture: &frame::Video, _: f64, out: &mut frame::Video) -> Result<(), String> {
            assert_eq!(picture.format(), format::Pixel::YUV420P);
            let views: Vec<(&[u8], usize)> = (0..3).map(|i| (picture.data(i), picture.stride(i))).collect();
            let planes = YuvPlanes {
                format: YuvFormat::Yuv420p,
                width: picture.width(),
                height: picture.height(),
                planes: &views,
            };
            let data = yuv::cpu_to_rgba(&planes, color_of(picture));
            self.0.push(RgbaFrame { width: picture.width(), height: picture.height(), data });
            for plane in 0..3 {
                out.data_mut(plane).fill(128);
            }
            Ok(())
        }
    }
    let mut capture = Capture(Vec::new());
    let scratch = tempfile::tempdir().expect("tempdir");
    let opts = TranscodeOptions { preset: "ultrafast".into(), ..TranscodeOptions::default() };
    reelflow_media::process_video(path, &scratch.path().join("x.mp4"), &opts, &mut capture, &mut |_| true)
        .expect("decode");
    capture.0
}

/// (largest, mean) absolute difference per channel, alpha aside.
fn difference(a: &[u8], b: &[u8]) -> (u8, f64) {
    assert_eq!(a.len(), b.len());
    let diffs: Vec<u8> =
        a.chunks_exact(4).zip(b.chunks_exact(4)).flat_map(|(p, q)| (0..3).map(move |c| p[c].abs_diff(q[c]))).collect();
    let max = diffs.iter().copied().max().unwrap_or(0);
    (max, diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len().max(1) as f64)
}

/// The share of colour channels within `tolerance` of each other.
fn within(a: &[u8], b: &[u8], tolerance: u8) -> f64 {
    let close = a
        .chunks_exact(4)
        .zip(b.chunks_exact(4))
        .flat_map(|(p, q)| (0..3).map(move |c| p[c].abs_diff(q[c]) <= tolerance))
        .filter(|&c| c)
        .count();
    close as f64 / (a.len() / 4 * 3).max(1) as f64
}

fn registry() -> Registry {
    let mut registry = Registry::with_builtins();
    reelflow_media::register(&mut registry).expect("media");
    reelflow_gpu::register(&mut registry).expect("gpu");
    registry
}

/// Runs `yaml` with `files` as its inputs; returns the output `video` and the events.
async fn run(yaml: &str, files: &[(&str, &Path)], work: &Path) -> (PathBuf, Arc<CollectSink>) {
    let registry = registry();
    let plan = Arc::new(load_workflow(SourceFile::new("gpu.yaml", yaml), &registry, &NoExpressions).expect("valid"));
    let mut given = indexmap::IndexMap::new();
    for (name, path) in files {
        given.insert((*name).to_owned(), Value::String(path.to_string_lossy().into_owned()));
    }
    let events = Arc::new(CollectSink::default());
    let mut request = RunRequest::new("gpu", work.to_path_buf());
    request.inputs = plan.bind_inputs(given, work).expect("inputs");
    request.events = events.clone();
    let report = Executor::new(Default::default(), None).run(plan, request).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    let Value::File(out) = &report.outputs["video"] else { panic!("not a file") };
    (out.path.clone(), events)
}

#[tokio::test]
async fn a_gpu_transition_between_two_clips_encodes_the_expected_blend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, h) = (160, 96);
    let (a, b) = (dir.path().join("a.mp4"), dir.path().join("b.mp4"));
    still_clip(&a, &gradient(w, h, 0), 2.0);
    still_clip(&b, &gradient(w, h, 1), 2.0);
    let (picture_a, picture_b) = (decode_all(&a).remove(0), decode_all(&b).remove(0));

    for (kind, yaml_kind) in [
        (Transition::Crossfade, "{kind: crossfade}"),
        (
            Transition::Wipe { direction: transition::Direction::Left, softness: 0.0 },
            "{kind: wipe, direction: left, softness: 0}",
        ),
    ] {
        let yaml = format!(
            "reelflow: 1
inputs:
  a: {{type: video}}
  b: {{type: video}}
nodes:
  join:
    op: gpu.transition
    inputs: {{a: inputs.a, b: inputs.b}}
    params: {{transition: {yaml_kind}, duration: 1.0, encoding: {{preset: ultrafast, crf: 0}}}}
outputs:
  video: join.video
"
        );
        let work = dir.path().join(format!("work-{}", yaml_kind.len()));
        let (out, events) = run(&yaml, &[("a", &a), ("b", &b)], &work).await;
        let frames = decode_all(&out);
        // 2 s + 2 s overlapping by 1 s (26 frames: an even count, so the cut falls on a frame).
        assert_eq!(frames.len(), 74, "{kind:?}");
        let info = reelflow_media::probe(&out, false).expect("probe");
        assert!(info.audio().is_some(), "the sound is kept");
        // The transition covers output frames 24..50; frame n is blended at its centre.
        let progress = |n: usize| (n as f32 - 24.0 + 0.5) / 26.0;
        for (n, expected) in [(10, picture_a.data.clone()), (66, picture_b.data.clone())] {
            let (max, mean) = difference(&frames[n].data, &expected);
            assert!(max <= 3 && mean < 1.0, "{kind:?}: frame {n} is not the clip itself ({max}, {mean:.2})");
        }
        for n in [30, 37, 44] {
            let expected = transition::cpu(&picture_a.data, &picture_b.data, w, h, &kind, progress(n)).expect("cpu");
            let (max, mean) = difference(&frames[n].data, &expected);
            // The blend passes through one more YUV 4:2:0 round trip than the clips did. A
            // wipe's hard edge is a step that 4:2:0 chroma (one sample per 2 x 2 pixels)
            // cannot hold, so the one or two columns at its edge may be far off; everywhere
            // else the picture must match.
            let near = within(&frames[n].data, &expected, 6);
            let edge = matches!(kind, Transition::Wipe { .. });
            assert!(
                (max <= 6 || (edge && near > 0.97)) && mean < 1.5,
                "{kind:?}: frame {n} differs from the blend by {max} (mean {mean:.2}, {near:.3} within 6)"
            );
            let (from_a, _) = difference(&frames[n].data, &picture_a.data);
            assert!(from_a > 20, "{kind:?}: frame {n} shows no transition at all");
        }
        assert!(
            events
                .events()
                .iter()
                .any(|e| matches!(&e.kind, EventKind::NodeProgress { fraction, .. } if *fraction >= 1.0))
        );
    }
}

#[tokio::test]
async fn resize_composite_and_ken_burns_run_as_workflow_ops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    still_clip(&clip, &gradient(192, 108, 0), 1.0);
    let base = decode_all(&clip).remove(0);

    // Resize into a vertical frame: letterboxed, black above and below the picture.
    let yaml = "reelflow: 1
inputs:
  clip: {type: video}
nodes:
  fit:
    op: gpu.resize
    inputs: {video: inputs.clip}
    params: {width: 108, height: 192, fit: pad, encoding: {preset: ultrafast, crf: 0}}
outputs:
  video: fit.video
";
    let (out, _) = run(yaml, &[("clip", &clip)], &dir.path().join("w1")).await;
    let frames = decode_all(&out);
    assert_eq!(frames.len(), 25);
    assert_eq!((frames[0].width, frames[0].height), (108, 192));
    let row = |f: &RgbaFrame, y: u32| f.data[(y * f.width * 4) as usize..((y + 1) * f.width * 4) as usize].to_vec();
    assert!(row(&frames[0], 5).chunks_exact(4).all(|p| p[0] <= 2 && p[1] <= 2 && p[2] <= 2), "top bar is black");
    assert!(row(&frames[0], 96).chunks_exact(4).any(|p| p[0] > 60), "the picture is in the middle");

    // An opaque overlay (a still of the clip itself, upside down in colour terms: another
    // gradient) at a quarter scale in the top-left corner, from 0.4 s on.
    let logo_clip = dir.path().join("logo.mp4");
    still_clip(&logo_clip, &gradient(64, 64, 1), 0.2);
    let logo = reelflow_media::thumbnails(
        &logo_clip,
        &[0.0],
        None,
        reelflow_media::ImageFormat::Png,
        dir.path(),
        "logo",
        &mut |_| true,
    )
    .expect("png")
    .remove(0);
    let yaml = "reelflow: 1
inputs:
  clip: {type: video}
  logo: {type: file}
nodes:
  mark:
    op: gpu.composite
    inputs: {video: inputs.clip, overlay: inputs.logo}
    params: {placement: {x: 8, y: 8, scale: 0.5, opacity: 1}, from: 0.4, encoding: {preset: ultrafast, crf: 0}}
outputs:
  video: mark.video
";
    let (out, _) = run(yaml, &[("clip", &clip), ("logo", &logo)], &dir.path().join("w2")).await;
    let frames = decode_all(&out);
    assert_eq!(frames.len(), 25);
    let pixel = |f: &RgbaFrame, x: u32, y: u32| {
        f.data[((y * f.width + x) * 4) as usize..((y * f.width + x) * 4 + 3) as usize].to_vec()
    };
    let far = |p: Vec<u8>, q: Vec<u8>| p.iter().zip(&q).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
    // Before 0.4 s (frame 5) the picture is untouched; from frame 10 the logo covers (8..40, 8..40).
    assert!(far(pixel(&frames[5], 20, 20), pixel(&base, 20, 20)) <= 3);
    assert!(far(pixel(&frames[15], 20, 20), pixel(&base, 20, 20)) > 20, "the logo shows");
    assert!(far(pixel(&frames[15], 100, 80), pixel(&base, 100, 80)) <= 3, "away from the logo nothing changed");

    // Ken Burns from a still: a PNG becomes a 1 s clip whose picture zooms in.
    let still = reelflow_media::thumbnails(
        &clip,
        &[0.0],
        None,
        reelflow_media::ImageFormat::Png,
        dir.path(),
        "still",
        &mut |_| true,
    )
    .expect("png")
    .remove(0);
    let yaml = "reelflow: 1
inputs:
  still: {type: file}
nodes:
  move:
    op: gpu.kenburns
    inputs: {image: inputs.still}
    params:
      duration: 1.0
      fps: 25
      width: 128
      height: 72
      motion: {start: {zoom: 1}, end: {zoom: 2}, easing: linear}
      encoding: {preset: ultrafast, crf: 0}
outputs:
  video: move.video
";
    let (out, _) = run(yaml, &[("still", &still)], &dir.path().join("w3")).await;
    let frames = decode_all(&out);
    assert_eq!(frames.len(), 25);
    assert_eq!((frames[0].width, frames[0].height), (128, 72));
    // Zooming in on a horizontal gradient narrows the range of red across a row.
    let red_span = |f: &RgbaFrame| {
        let r = row(f, 36);
        let reds: Vec<u8> = r.chunks_exact(4).map(|p| p[0]).collect();
        i32::from(*reds.iter().max().unwrap()) - i32::from(*reds.iter().min().unwrap())
    };
    let (first, last) = (red_span(&frames[0]), red_span(&frames[24]));
    assert!(last < first * 2 / 3, "the move zooms in: red spans {first} then {last}");
}

#[tokio::test]
async fn a_chain_of_effects_with_a_cube_lut_grades_a_video() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    still_clip(&clip, &gradient(160, 96, 0), 0.6);
    let base = decode_all(&clip).remove(0);
    // A 5-point LUT that swaps red and blue.
    let mut cube = String::from("TITLE \"swap\"\nLUT_3D_SIZE 5\n");
    for b in 0..5 {
        for g in 0..5 {
            for r in 0..5 {
                cube.push_str(&format!("{} {} {}\n", b as f32 / 4.0, g as f32 / 4.0, r as f32 / 4.0));
            }
        }
    }
    let lut = dir.path().join("swap.cube");
    std::fs::write(&lut, cube).expect("write");
    let yaml = "reelflow: 1
inputs:
  clip: {type: video}
  lut: {type: file}
nodes:
  grade:
    op: gpu.effect
    inputs: {video: inputs.clip, lut: inputs.lut}
    params:
      effects: [{kind: lut}, {kind: vignette, strength: 0.9, radius: 0.4, softness: 0.5}]
      encoding: {preset: ultrafast, crf: 0}
outputs:
  video: grade.video
";
    let (out, _) = run(yaml, &[("clip", &clip), ("lut", &lut)], &dir.path().join("w")).await;
    let frames = decode_all(&out);
    assert_eq!(frames.len(), 15);
    let px = |f: &RgbaFrame, x: u32, y: u32| {
        let i = ((y * f.width + x) * 4) as usize;
        [f.data[i], f.data[i + 1], f.data[i + 2]]
    };
    let (centre, original) = (px(&frames[7], 80, 48), px(&base, 80, 48));
    for (got, want) in [(centre[0], original[2]), (centre[1], original[1]), (centre[2], original[0])] {
        assert!(got.abs_diff(want) <= 6, "the centre is the LUT's swap: {centre:?} from {original:?}");
    }
    let luma = |p: [u8; 3]| u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2]);
    assert!(luma(px(&frames[7], 2, 2)) * 2 < luma(px(&base, 2, 2)), "the corner is darkened by the vignette");
}

#[tokio::test]
async fn titles_and_cjk_subtitles_are_burned_in_over_their_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    let grey = RgbaFrame { width: 320, height: 180, data: [90, 90, 90, 255].repeat(320 * 180) };
    still_clip(&clip, &grey, 2.0);
    let base = decode_all(&clip).remove(0);
    // Rows of the picture that changed, as (first, last).
    let rows_changed = |f: &RgbaFrame| {
        let rows: Vec<u32> = (0..f.height)
            .filter(|&y| {
                (0..f.width).any(|x| {
                    let i = ((y * f.width + x) * 4) as usize;
                    (0..3).any(|c| f.data[i + c].abs_diff(base.data[i + c]) > 12)
                })
            })
            .collect();
        rows.first().zip(rows.last()).map(|(a, b)| (*a, *b))
    };

    let srt = "1\n00:00:00,400 --> 00:00:01,000\n你好，世界\n\n2\n00:00:01,200 --> 00:00:01,800\n<i>Second</i> line\n";
    let subtitles = dir.path().join("subs.srt");
    std::fs::write(&subtitles, srt).expect("write");
    let yaml = "reelflow: 1
inputs:
  clip: {type: video}
  subs: {type: file}
nodes:
  burn:
    op: gpu.subtitles
    inputs: {video: inputs.clip, subtitles: inputs.subs}
    params: {style: {size: 28}, margin: 12, encoding: {preset: ultrafast, crf: 0}}
outputs:
  video: burn.video
";
    let (out, _) = run(yaml, &[("clip", &clip), ("subs", &subtitles)], &dir.path().join("w1")).await;
    let frames = decode_all(&out);
    assert_eq!(frames.len(), 50);
    // 25 fps: cue 1 covers frames 10..25, cue 2 frames 30..45.
    for n in [0, 5, 27, 48] {
        assert_eq!(rows_changed(&frames[n]), None, "frame {n} has no subtitle");
    }
    for n in [12, 20, 35] {
        let (top, bottom) = rows_changed(&frames[n]).unwrap_or_else(|| panic!("frame {n} shows its subtitle"));
        assert!(bottom >= 180 - 12 - 20 && top > 90, "frame {n}: subtitle rows {top}..{bottom} sit at the bottom");
    }

    let yaml = "reelflow: 1
inputs:
  clip: {type: video}
nodes:
  title:
    op: gpu.text
    inputs: {video: inputs.clip}
    params:
      text: \"Episode 3：背叛\"
      anchor: top_center
      margin: 10
      to: 1.0
      style: {size: 30, color: [255, 220, 0, 255], outline: {width: 2}}
      encoding: {preset: ultrafast, crf: 0}
outputs:
  video: title.video
";
    let (out, _) = run(yaml, &[("clip", &clip)], &dir.path().join("w2")).await;
    let frames = decode_all(&out);
    let (top, bottom) = rows_changed(&frames[5]).expect("the title shows");
    assert!(top >= 8 && bottom < 70, "title rows {top}..{bottom} sit at the top");
    assert_eq!(rows_changed(&frames[40]), None, "the title ends at 1 s");
}

#[test]
fn the_gpu_pipeline_stops_when_cancelled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    still_clip(&clip, &gradient(160, 96, 0), 2.0);
    let gpu = reelflow_gpu::Gpu::shared().expect("a GPU adapter");
    let opts = TranscodeOptions { preset: "ultrafast".into(), ..TranscodeOptions::default() };
    let grade = reelflow_gpu::filters::Effect::Adjust(reelflow_gpu::kernels::adjust::Adjust {
        contrast: 1.2,
        ..Default::default()
    });
    // Cancelled at the first progress report: the run stops with `Cancelled`, not an error.
    let mut calls = 0;
    let result = reelflow_gpu::stream::filter_video_on_gpu(
        gpu.clone(),
        &clip,
        &dir.path().join("cancelled.mp4"),
        &opts,
        vec![grade.clone().into_filter(None).expect("filter")],
        &mut |_| {
            calls += 1;
            false
        },
    );
    assert!(matches!(result, Err(reelflow_media::Error::Cancelled)), "{result:?}");
    assert_eq!(calls, 1, "it stopped at once");
    // Run to the end, it writes every frame.
    let frames = reelflow_gpu::stream::filter_video_on_gpu(
        gpu,
        &clip,
        &dir.path().join("done.mp4"),
        &opts,
        vec![grade.into_filter(None).expect("filter")],
        &mut |_| true,
    )
    .expect("filter");
    assert_eq!(frames, 50);
}

#[tokio::test]
async fn bad_gpu_params_fail_the_node_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a.mp4"), dir.path().join("b.mp4"));
    still_clip(&a, &gradient(64, 48, 0), 0.4);
    still_clip(&b, &gradient(64, 48, 1), 0.4);
    let registry = registry();
    // A transition longer than the clips is refused, naming the lengths.
    let yaml = "reelflow: 1
inputs:
  a: {type: video}
  b: {type: video}
nodes:
  join:
    op: gpu.transition
    inputs: {a: inputs.a, b: inputs.b}
    params: {duration: 3.0}
outputs:
  video: join.video
";
    let plan = Arc::new(load_workflow(SourceFile::new("bad.yaml", yaml), &registry, &NoExpressions).expect("valid"));
    let mut given = indexmap::IndexMap::new();
    given.insert("a".to_owned(), Value::String(a.to_string_lossy().into_owned()));
    given.insert("b".to_owned(), Value::String(b.to_string_lossy().into_owned()));
    let mut request = RunRequest::new("bad", dir.path().join("work"));
    request.inputs = plan.bind_inputs(given, dir.path()).expect("inputs");
    let report = Executor::new(Default::default(), None).run(plan, request).await;
    assert_eq!(report.status, RunStatus::Failed);
    let (_, chain) = report.first_error().expect("an error");
    assert!(chain.join(" ").contains("3 s transition"), "{chain:?}");
    // An unknown transition kind is refused before anything runs.
    let yaml = yaml.replace("params: {duration: 3.0}", "params: {transition: {kind: spin}}");
    let plan = load_workflow(SourceFile::new("bad.yaml", &yaml), &registry, &NoExpressions);
    assert!(plan.is_err(), "an unknown kind is caught at load");
    // A `lut` effect without a LUT file fails the node, saying what is missing.
    let yaml = "reelflow: 1
inputs:
  a: {type: video}
nodes:
  grade:
    op: gpu.effect
    inputs: {video: inputs.a}
    params: {effects: [{kind: lut}]}
outputs:
  video: grade.video
";
    let plan = Arc::new(load_workflow(SourceFile::new("lut.yaml", yaml), &registry, &NoExpressions).expect("valid"));
    let mut given = indexmap::IndexMap::new();
    given.insert("a".to_owned(), Value::String(a.to_string_lossy().into_owned()));
    let mut request = RunRequest::new("lut", dir.path().join("work-lut"));
    request.inputs = plan.bind_inputs(given, dir.path()).expect("inputs");
    let report = Executor::new(Default::default(), None).run(plan, request).await;
    assert_eq!(report.status, RunStatus::Failed);
    let (_, chain) = report.first_error().expect("an error");
    assert!(chain.join(" ").contains(".cube file"), "{chain:?}");
}
