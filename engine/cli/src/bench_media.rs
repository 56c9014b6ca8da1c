//! `reelflow bench media`: the smart cut against the `ffmpeg` command doing the same job.
//!
//! Generates (once, cached in the temp directory) an H.264 + AAC source with per-frame
//! markers, then cuts `--segments` segments spread over it and joins them: with
//! [`reelflow_media::smart_cut_spans`], and with the `ffmpeg` CLI re-encoding each segment
//! (`-ss/-to` before `-i`, accurate seek) and joining them with the concat demuxer. Both in
//! one run, on the same machine; the ratio is the result. `--verify` decodes our output and
//! checks every frame's marker.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};
use reelflow_media::synthetic::{SyntheticSpec, generate, read_markers};
use reelflow_media::{CutOptions, Span, smart_cut_spans};

#[derive(clap::Args)]
pub struct MediaBenchArgs {
    /// Source length in minutes.
    #[arg(long, default_value_t = 20.0)]
    minutes: f64,
    /// Source height (16:9): 1080 for 1920×1080.
    #[arg(long, default_value_t = 1080)]
    height: u32,
    /// Segments to cut and join.
    #[arg(long, default_value_t = 10)]
    segments: usize,
    /// Seconds per segment.
    #[arg(long, default_value_t = 20.0)]
    segment_seconds: f64,
    /// Decode our output and check every frame's marker.
    #[arg(long)]
    verify: bool,
    #[arg(long)]
    json: bool,
}

fn source(args: &MediaBenchArgs) -> anyhow::Result<PathBuf> {
    let width = args.height * 16 / 9 / 2 * 2;
    let frames = (args.minutes * 60.0 * 30.0).round() as u32;
    let path = std::env::temp_dir().join(format!("reelflow-bench-{width}x{}-{frames}.mp4", args.height));
    if !path.exists() {
        eprintln!(
            "generating {} ({} frames at {width}x{}, 30 fps, keyframe every 2 s)…",
            path.display(),
            frames,
            args.height
        );
        let tmp = path.with_extension("partial.mp4");
        let spec = SyntheticSpec {
            width,
            height: args.height,
            frame_rate: ffmpeg_next::Rational(30, 1),
            frames,
            gop: 60,
            preset: "ultrafast".into(),
            crf: 23,
            ..Default::default()
        };
        generate(&tmp, &spec)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(path)
}

pub fn bench_media(args: &MediaBenchArgs) -> anyhow::Result<ExitCode> {
    let ffmpeg = which("ffmpeg").context("the `ffmpeg` command is the reference; install Debian's `ffmpeg` package")?;
    let src = source(args)?;
    let total = args.minutes * 60.0;
    // Segments spread evenly, starting off the keyframe grid (keyframes every 2 s).
    let stride = total / args.segments as f64;
    let spans: Vec<Span> = (0..args.segments)
        .map(|i| {
            let start = (i as f64 * stride + 0.77).min(total - args.segment_seconds - 0.1);
            Span { start, end: start + args.segment_seconds }
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("reelflow-bench-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let ours = dir.join("smart.mp4");
    let started = Instant::now();
    let report = smart_cut_spans(&src, &ours, &spans, &CutOptions::default(), &mut |_| true)?;
    let smart_s = started.elapsed().as_secs_f64();
    let rss_mb = reelflow_core::sysinfo::peak_rss_bytes() as f64 / (1024.0 * 1024.0);

    let started = Instant::now();
    let mut list = String::new();
    for (i, span) in spans.iter().enumerate() {
        let part = dir.join(format!("part{i}.mp4"));
        run(Command::new(&ffmpeg)
            .args(["-v", "error", "-y", "-ss", &format!("{:.3}", span.start), "-to", &format!("{:.3}", span.end), "-i"])
            .arg(&src)
            .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "aac", "-b:a", "160k"])
            .arg(&part))?;
        list.push_str(&format!("file '{}'\n", part.display()));
    }
    let list_path = dir.join("list.txt");
    std::fs::write(&list_path, list)?;
    let theirs = dir.join("ffmpeg.mp4");
    run(Command::new(&ffmpeg)
        .args(["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i"])
        .arg(&list_path)
        .args(["-c", "copy"])
        .arg(&theirs))?;
    let ffmpeg_s = started.elapsed().as_secs_f64();

    let verified = if args.verify {
        let markers = read_markers(&ours)?;
        let expected: Vec<u32> = spans
            .iter()
            .flat_map(|s| ((s.start * 30.0 - 0.25).ceil() as u32)..((s.end * 30.0 - 0.25).ceil() as u32))
            .collect();
        if markers != expected {
            bail!(
                "our output does not hold exactly the requested frames ({} vs {} frames)",
                markers.len(),
                expected.len()
            );
        }
        Some(markers.len())
    } else {
        None
    };
    let _ = std::fs::remove_dir_all(&dir);
    let result = serde_json::json!({
        "source": src.display().to_string(),
        "segments": args.segments,
        "segment_seconds": args.segment_seconds,
        "smart_cut_s": smart_s,
        "ffmpeg_reencode_s": ffmpeg_s,
        "speedup": ffmpeg_s / smart_s,
        "copied_packets": report.copied_packets,
        "reencoded_frames": report.reencoded_frames,
        "fell_back": report.fell_back,
        "peak_rss_mb": rss_mb,
        "verified_frames": verified,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!("{} segments of {} s from {}", args.segments, args.segment_seconds, src.display());
        println!(
            "  smart cut (reelflow)      {smart_s:.2} s   ({} packets copied, {} frames re-encoded)",
            report.copied_packets, report.reencoded_frames
        );
        println!("  ffmpeg CLI re-encode      {ffmpeg_s:.2} s");
        println!("  speed-up                  {:.1}x", ffmpeg_s / smart_s);
        println!("  peak RSS (this process)   {rss_mb:.0} MB");
        if let Some(n) = verified {
            println!("  verified                  {n} frames, every marker in place");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}
