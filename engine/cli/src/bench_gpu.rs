//! `reelflow bench gpu`: 1080p frames per second of the GPU kernels (crossfade, Gaussian
//! blur, resize, text), resident on the GPU and with the upload/download a CPU pipeline pays,
//! against the `ffmpeg` CLI's CPU filters (`xfade`, `gblur`, `scale`, `drawtext`) doing the
//! same work in the same run; and decode → GPU → encode end to end against the CLI.

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::Context;
use reelflow_gpu::kernels::resize::{Filter, Fit};
use reelflow_gpu::kernels::text::{self, FontSet, GpuText, Outline, TextRenderer, TextStyle};
use reelflow_gpu::kernels::{blur, crossfade, resize};
use reelflow_gpu::{Gpu, GpuFrame};

use crate::bench_media::{run, which};

#[derive(clap::Args)]
pub struct GpuBenchArgs {
    /// Frames per measurement.
    #[arg(long, default_value_t = 60)]
    frames: u32,
    /// Sigma of the blur, in pixels.
    #[arg(long, default_value_t = 5.0)]
    sigma: f32,
    /// Seconds of generated 1080p H.264 for the end-to-end decode → GPU → encode run (0
    /// skips it).
    #[arg(long, default_value_t = 5)]
    e2e_seconds: u32,
    #[arg(long)]
    json: bool,
}

const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;

#[derive(serde::Serialize)]
struct Row {
    kernel: &'static str,
    gpu_fps: f64,
    gpu_with_transfers_fps: f64,
    ffmpeg_filter: String,
    ffmpeg_fps: f64,
    speedup: f64,
}

pub fn bench_gpu(args: &GpuBenchArgs) -> anyhow::Result<ExitCode> {
    let gpu = Gpu::shared()?;
    let ffmpeg = which("ffmpeg").context("the `ffmpeg` command is the reference; install Debian's `ffmpeg` package")?;
    let n = args.frames.max(1);
    let pattern: Vec<u8> = (0..WIDTH * HEIGHT * 4).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let other: Vec<u8> = pattern.iter().map(|b| b.wrapping_add(97)).collect();
    let a = GpuFrame::upload(&gpu, &pattern, WIDTH, HEIGHT)?;
    let b = GpuFrame::upload(&gpu, &other, WIDTH, HEIGHT)?;
    let out = GpuFrame::new(&gpu, WIDTH, HEIGHT)?;
    let small = GpuFrame::new(&gpu, 1280, 720)?;

    // Frames per second of `step` run n times (after one warm-up run that compiles the kernel).
    let fps = |step: &mut dyn FnMut(u32) -> anyhow::Result<()>| -> anyhow::Result<f64> {
        step(0)?;
        let started = Instant::now();
        for i in 0..n {
            step(i)?;
        }
        Ok(f64::from(n) / started.elapsed().as_secs_f64())
    };
    let t = |i: u32| i as f32 / n as f32;

    let mut rows = Vec::new();
    let xfade = "xfade=transition=fade";
    rows.push(Row {
        kernel: "crossfade",
        gpu_fps: fps(&mut |i| Ok(crossfade::crossfade(&gpu, &a, &b, t(i), &out)?))?,
        gpu_with_transfers_fps: fps(&mut |i| {
            a.write(&gpu, &pattern)?;
            b.write(&gpu, &other)?;
            crossfade::crossfade(&gpu, &a, &b, t(i), &out)?;
            std::hint::black_box(out.download(&gpu)?);
            Ok(())
        })?,
        ffmpeg_filter: xfade.into(),
        ffmpeg_fps: ffmpeg_fps(&ffmpeg, n, Reference::Crossfade)?,
        speedup: 0.0,
    });
    let gblur = format!("gblur=sigma={}", args.sigma);
    rows.push(Row {
        kernel: "gaussian blur",
        gpu_fps: fps(&mut |_| Ok(blur::gaussian_blur(&gpu, &a, args.sigma, &out)?))?,
        gpu_with_transfers_fps: fps(&mut |_| {
            a.write(&gpu, &pattern)?;
            blur::gaussian_blur(&gpu, &a, args.sigma, &out)?;
            std::hint::black_box(out.download(&gpu)?);
            Ok(())
        })?,
        ffmpeg_filter: gblur.clone(),
        ffmpeg_fps: ffmpeg_fps(&ffmpeg, n, Reference::Filter(&gblur))?,
        speedup: 0.0,
    });
    for (kernel, filter, flags) in
        [("resize bilinear", Filter::Bilinear, "bilinear"), ("resize bicubic", Filter::Bicubic, "bicubic")]
    {
        let scale = format!("scale=1280:720:flags={flags}");
        rows.push(Row {
            kernel,
            gpu_fps: fps(&mut |_| Ok(resize::resize(&gpu, &a, &small, Fit::Stretch, filter)?))?,
            gpu_with_transfers_fps: fps(&mut |_| {
                a.write(&gpu, &pattern)?;
                resize::resize(&gpu, &a, &small, Fit::Stretch, filter)?;
                std::hint::black_box(small.download(&gpu)?);
                Ok(())
            })?,
            ffmpeg_filter: scale.clone(),
            ffmpeg_fps: ffmpeg_fps(&ffmpeg, n, Reference::Filter(&scale))?,
            speedup: 0.0,
        });
    }
    // A title in DejaVu Sans, 64 px with a 2 px outline, redrawn on every frame.
    let font = text::DEFAULT_FONTS[0];
    let mut renderer = TextRenderer::new(FontSet::load(&[font.into()])?);
    let style =
        TextStyle { size: 64.0, outline: Some(Outline { width: 2.0, color: [0, 0, 0, 255] }), ..TextStyle::default() };
    let title = GpuText::new(&gpu, &renderer.prepare(TITLE, &style)?)?;
    let drawtext = format!("drawtext=fontfile={font}:text='{TITLE}':fontsize=64:fontcolor=white:borderw=2:x=100:y=900");
    rows.push(Row {
        kernel: "text overlay",
        gpu_fps: fps(&mut |_| Ok(text::draw_text(&gpu, &a, &title, (100, 900), 1.0, &out)?))?,
        gpu_with_transfers_fps: fps(&mut |_| {
            a.write(&gpu, &pattern)?;
            text::draw_text(&gpu, &a, &title, (100, 900), 1.0, &out)?;
            std::hint::black_box(out.download(&gpu)?);
            Ok(())
        })?,
        ffmpeg_filter: "drawtext (64 px, border 2)".into(),
        ffmpeg_fps: ffmpeg_fps(&ffmpeg, n, Reference::Filter(&drawtext))?,
        speedup: 0.0,
    });
    for row in &mut rows {
        row.speedup = row.gpu_fps / row.ffmpeg_fps;
    }
    let end_to_end = if args.e2e_seconds > 0 { Some(end_to_end(&gpu, &ffmpeg, args.e2e_seconds)?) } else { None };
    let adapter = gpu.info().to_string();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"adapter": adapter, "kernels": rows, "end_to_end": end_to_end})
            )?
        );
    } else {
        println!("GPU: {adapter}; 1080p RGBA, {n} frames per measurement");
        println!(
            "  {:<16} {:>10} {:>16}   {:<28} {:>10} {:>9}",
            "kernel", "GPU fps", "+transfers fps", "ffmpeg CPU filter", "fps", "GPU/CPU"
        );
        for r in &rows {
            println!(
                "  {:<16} {:>10.1} {:>16.1}   {:<28} {:>10.1} {:>8.2}x",
                r.kernel, r.gpu_fps, r.gpu_with_transfers_fps, r.ffmpeg_filter, r.ffmpeg_fps, r.speedup
            );
        }
        for e in end_to_end.iter().flatten() {
            println!(
                "End to end, {} frames of 1080p H.264 → {} → H.264 (libx264 {}, crf {}):",
                e.frames, e.work, PRESET, CRF
            );
            println!("  reelflow, GPU pipeline        {:>8.1} fps", e.reelflow_fps);
            println!("  ffmpeg CLI, CPU filter        {:>8.1} fps   ({})", e.ffmpeg_fps, e.ffmpeg_filter);
            println!("  ffmpeg CLI, no filter         {:>8.1} fps   (decode + encode alone)", e.ffmpeg_plain_fps);
            println!("  ratio reelflow / ffmpeg       {:>8.2}x", e.ratio);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The benchmark's title: Latin only, so ffmpeg's drawtext (one font, no fallback) draws the same.
const TITLE: &str = "Reelflow on the GPU 1080p";

const PRESET: &str = "veryfast";
const CRF: u8 = 20;

#[derive(serde::Serialize)]
struct EndToEnd {
    frames: u64,
    work: &'static str,
    reelflow_fps: f64,
    ffmpeg_filter: &'static str,
    ffmpeg_fps: f64,
    ffmpeg_plain_fps: f64,
    ratio: f64,
}

/// Decode → GPU work → encode through the GPU pipeline, and the same through the `ffmpeg`
/// CLI with a CPU filter, on one generated 1080p H.264 file with the same encoder settings:
/// a bicubic resize to 720p (against `scale`), and a colour grade (against `eq`, which
/// works on YUV directly). Also the CLI without a filter: decode and encode alone.
fn end_to_end(gpu: &std::sync::Arc<Gpu>, ffmpeg: &std::path::Path, seconds: u32) -> anyhow::Result<Vec<EndToEnd>> {
    use reelflow_gpu::filters::{Effect, ResizeFilter};
    use reelflow_gpu::kernels::adjust::Adjust;
    use reelflow_gpu::stream::GpuFilter;

    let dir = tempfile::tempdir()?;
    let source = dir.path().join("source.mp4");
    run(Command::new(ffmpeg)
        .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=s={WIDTH}x{HEIGHT}:r=30:d={seconds}"))
        .args(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-y"])
        .arg(&source))?;
    let encode = |filter: Option<&str>, name: &str| -> anyhow::Result<f64> {
        let mut cmd = Command::new(ffmpeg);
        cmd.args(["-v", "error", "-nostdin", "-i"]).arg(&source);
        if let Some(filter) = filter {
            cmd.args(["-vf", filter]);
        }
        cmd.args(["-c:v", "libx264", "-preset", PRESET, "-crf", &CRF.to_string(), "-an", "-y"])
            .arg(dir.path().join(name));
        let started = Instant::now();
        run(&mut cmd)?;
        Ok(started.elapsed().as_secs_f64())
    };
    let plain_s = encode(None, "plain.mp4")?;
    let grade = Adjust { brightness: 0.02, contrast: 1.1, saturation: 1.2, gamma: 1.0 };
    let jobs: Vec<(&'static str, Box<dyn GpuFilter>, &'static str)> = vec![
        (
            "bicubic resize to 720p",
            Box::new(ResizeFilter { size: (1280, 720), fit: Fit::Stretch, filter: Filter::Bicubic }),
            "scale=1280:720:flags=bicubic",
        ),
        (
            "colour grade (adjust)",
            Effect::Adjust(grade).into_filter(None)?,
            "eq=brightness=0.02:contrast=1.1:saturation=1.2",
        ),
    ];
    let mut rows = Vec::new();
    for (k, (work, filter, ffmpeg_filter)) in jobs.into_iter().enumerate() {
        let opts = reelflow_media::TranscodeOptions { preset: PRESET.into(), crf: CRF, ..Default::default() };
        let started = Instant::now();
        let frames = reelflow_gpu::stream::filter_video_on_gpu(
            gpu.clone(),
            &source,
            &dir.path().join(format!("gpu-{k}.mp4")),
            &opts,
            vec![filter],
            &mut |_| true,
        )?;
        let reelflow_s = started.elapsed().as_secs_f64();
        let ffmpeg_s = encode(Some(ffmpeg_filter), &format!("cpu-{k}.mp4"))?;
        let per_s = |s: f64| frames as f64 / s.max(1e-6);
        rows.push(EndToEnd {
            frames,
            work,
            reelflow_fps: per_s(reelflow_s),
            ffmpeg_filter,
            ffmpeg_fps: per_s(ffmpeg_s),
            ffmpeg_plain_fps: per_s(plain_s),
            ratio: ffmpeg_s / reelflow_s,
        });
    }
    Ok(rows)
}

enum Reference<'a> {
    Crossfade,
    Filter(&'a str),
}

/// The `ffmpeg` CLI's frames per second for the filter alone: the same command with the
/// filter and with a plain pass-through, on generated 1080p RGBA frames, and the difference
/// of the two times (so the test source and the frame handling do not count against it).
fn ffmpeg_fps(ffmpeg: &std::path::Path, n: u32, reference: Reference<'_>) -> anyhow::Result<f64> {
    let seconds = format!("{:.3}", f64::from(n) / 30.0);
    let source = format!("testsrc2=s={WIDTH}x{HEIGHT}:r=30:d={seconds},format=rgba");
    let time = |graph: &str, inputs: usize| -> anyhow::Result<f64> {
        let mut cmd = Command::new(ffmpeg);
        cmd.args(["-v", "error", "-nostdin"]);
        for _ in 0..inputs {
            cmd.args(["-f", "lavfi", "-i", &source]);
        }
        cmd.args(["-filter_complex", graph, "-f", "null", "-"]);
        let started = Instant::now();
        run(&mut cmd)?;
        Ok(started.elapsed().as_secs_f64())
    };
    let (with, without) = match reference {
        // Two inputs blended over their whole length: every output frame is a crossfade.
        Reference::Crossfade => (
            time(&format!("[0][1]xfade=transition=fade:duration={seconds}:offset=0,format=rgba"), 2)?,
            // Both sources generated, one consumed by a sink: no pixel work.
            time("[1]nullsink;[0]null", 2)?,
        ),
        Reference::Filter(filter) => (time(&format!("[0]{filter},format=rgba"), 1)?, time("[0]null", 1)?),
    };
    Ok(f64::from(n) / (with - without).max(1e-3))
}
