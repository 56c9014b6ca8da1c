//! `timeline.render`: a timeline as one MP4. The first video track's clips are
//! frame-accurate smart cuts of their sources; gaps are black. A track whose clips all come
//! from one source, back to back, is a single smart cut; anything else is rendered piece by
//! piece and joined ([`crate::concat`]).
//!
//! A video track with transitions is decoded, blended and re-encoded whole instead
//! ([`crate::blend`]).
//!
//! Sound follows the timeline model: audio tracks carry it. Each audio track is rendered
//! (its clips' sound, silence in its gaps), the tracks are mixed, and the mix replaces the
//! picture's own sound. A timeline without audio tracks keeps the video clips' own sound.

use std::path::{Path, PathBuf};

use ffmpeg::{ChannelLayout, format, frame};
use ffmpeg_next as ffmpeg;
use reelflow_timeline::{Timeline, Track, TrackItem, TrackKind};

use crate::blend::{CpuBlender, PictureBlender};
use crate::cut::{AudioCutter, CutOptions, PlannedSegment, Progress, Span, resample, seconds};
use crate::encode::{AudioSettings, VideoSettings, Writer};
use crate::error::{Error, Result};

/// What a render did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenderReport {
    pub clips: usize,
    pub gaps: usize,
    /// Packets stream-copied by the smart cuts.
    pub copied_packets: u64,
    /// Audio tracks mixed under the picture.
    pub audio_tracks: usize,
    /// Transitions blended (the picture is then re-encoded whole, see [`crate::blend`]).
    pub transitions: usize,
}

/// A run of the track: clips back to back from one source, or a gap (seconds).
enum Piece {
    Clips { source: PathBuf, spans: Vec<Span> },
    Gap(f64),
}

/// Renders `timeline` to `output`, using `work` for intermediate pieces; transitions are
/// blended on the CPU.
pub fn render_timeline(
    timeline: &Timeline,
    output: &Path,
    work: &Path,
    opts: &CutOptions,
    progress: Progress<'_>,
) -> Result<RenderReport> {
    render_timeline_with(timeline, output, work, opts, &mut CpuBlender, progress)
}

/// [`render_timeline`], with the transitions' pictures blended by `blender`.
pub fn render_timeline_with(
    timeline: &Timeline,
    output: &Path,
    work: &Path,
    opts: &CutOptions,
    blender: &mut dyn PictureBlender,
    progress: Progress<'_>,
) -> Result<RenderReport> {
    let audio_tracks: Vec<&Track> = timeline
        .tracks
        .iter()
        .filter(|t| t.kind == TrackKind::Audio && t.items.iter().any(|i| matches!(i, TrackItem::Clip(_))))
        .collect();
    if audio_tracks.is_empty() {
        return render_picture(timeline, output, work, opts, blender, progress);
    }
    std::fs::create_dir_all(work).map_err(|source| Error::Io { path: work.to_owned(), source })?;
    let picture = work.join("picture.mp4");
    let mut report = render_picture(timeline, &picture, work, opts, blender, &mut |f| progress(f * 0.7))?;
    let mut mixes = Vec::new();
    for (k, track) in audio_tracks.iter().enumerate() {
        let path = work.join(format!("audio-{k}.m4a"));
        render_audio_track(track, &path)?;
        mixes.push(crate::MixTrack { path, gain_db: 0.0, role: crate::TrackRole::Other });
    }
    report.audio_tracks = mixes.len();
    let mix = work.join("mix.m4a");
    crate::mix_audio(&mixes, &mix, &crate::MixOptions::default(), &mut |f| progress(0.7 + f * 0.2))?;
    crate::mux(&picture, &mix, output, &mut |f| progress(0.9 + f * 0.1))?;
    for path in mixes.iter().map(|m| m.path.clone()).chain([mix, picture]) {
        let _ = std::fs::remove_file(path);
    }
    Ok(report)
}

/// One audio track as an M4A: each clip's sound from its source, silence in gaps, every
/// item exactly its length in samples (positions computed from exact rational times).
fn render_audio_track(track: &Track, output: &Path) -> Result<()> {
    let settings = AudioSettings::default();
    let mut writer = Writer::create(output, None, Some(&settings))?;
    let mut cutter = AudioCutter::new(&settings, writer.audio_frame_size());
    let rate = f64::from(settings.sample_rate);
    let mut at = 0.0f64;
    for item in &track.items {
        let (start, length, source) = match item {
            TrackItem::Clip(clip) => {
                let (a, b) = (clip.source_in.to_seconds_f64(), clip.source_out.to_seconds_f64());
                (a, b - a, Some(clip.source.path.clone()))
            }
            TrackItem::Gap(gap) => (0.0, gap.duration.to_seconds_f64(), None),
            TrackItem::Transition(_) => continue,
        };
        // The item's exact sample span in the output, so rounding never accumulates.
        let samples = ((at + length) * rate).round() as u64 - (at * rate).round() as u64;
        at += length;
        cutter.begin(&PlannedSegment { first: 0, last: 0, start, end: start + length, frames_before: 0, samples });
        if let Some(path) = source {
            let mut input = crate::open_input(&path)?;
            let stream = input
                .streams()
                .best(ffmpeg::media::Type::Audio)
                .ok_or(Error::MissingStream { path: path.clone(), what: "no audio stream" })?;
            let (index, tb) = (stream.index(), stream.time_base());
            let mut decoder = crate::audio_decoder(stream.parameters(), &path)?;
            let target = (start * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
            input.seek(target, ..target + 1).map_err(Error::codec(&path, "seeking"))?;
            let mut resampler = None;
            let mut sound = frame::Audio::empty();
            for (s, packet) in input.packets() {
                if s.index() != index {
                    continue;
                }
                if cutter.segment_done() {
                    break;
                }
                decoder.send_packet(&packet).map_err(Error::codec(&path, "decoding audio"))?;
                while decoder.receive_frame(&mut sound).is_ok() {
                    let t = seconds(sound.pts().or(sound.timestamp()), tb);
                    let chunk = resample(&path, &mut resampler, &sound, &settings)?;
                    cutter.push(t, &chunk, &mut writer)?;
                }
            }
        }
        cutter.end_segment(&mut writer)?;
    }
    cutter.finish(&mut writer)?;
    writer.finish()
}

/// The first video track as MP4 (with the video clips' own sound).
fn render_picture(
    timeline: &Timeline,
    output: &Path,
    work: &Path,
    opts: &CutOptions,
    blender: &mut dyn PictureBlender,
    progress: Progress<'_>,
) -> Result<RenderReport> {
    let invalid = |what: String| Error::Unsupported { path: output.to_owned(), what };
    timeline.validate().map_err(|e| invalid(format!("timeline ({e})")))?;
    let track = timeline
        .tracks
        .iter()
        .find(|t| t.kind == TrackKind::Video)
        .ok_or_else(|| invalid("timeline without a video track".into()))?;
    if track.items.iter().any(|item| matches!(item, TrackItem::Transition(_))) {
        return crate::blend::render_blended(timeline, track, output, opts, blender, progress);
    }
    let mut pieces: Vec<Piece> = Vec::new();
    let mut report = RenderReport::default();
    for item in &track.items {
        match item {
            TrackItem::Clip(clip) => {
                report.clips += 1;
                let span = Span { start: clip.source_in.to_seconds_f64(), end: clip.source_out.to_seconds_f64() };
                match pieces.last_mut() {
                    Some(Piece::Clips { source, spans }) if *source == clip.source.path => spans.push(span),
                    _ => pieces.push(Piece::Clips { source: clip.source.path.clone(), spans: vec![span] }),
                }
            }
            TrackItem::Gap(gap) => {
                report.gaps += 1;
                pieces.push(Piece::Gap(gap.duration.to_seconds_f64()));
            }
            TrackItem::Transition(_) => unreachable!("tracks with transitions are blended"),
        }
    }
    if pieces.is_empty() {
        return Err(invalid("an empty video track".into()));
    }
    let total = pieces.len() as f32;
    if let [Piece::Clips { source, spans }] = &pieces[..] {
        let smart = crate::smart_cut_spans(source, output, spans, opts, progress)?;
        report.copied_packets = smart.copied_packets;
        return Ok(report);
    }
    std::fs::create_dir_all(work).map_err(|source| Error::Io { path: work.to_owned(), source })?;
    let mut files = Vec::new();
    for (k, piece) in pieces.iter().enumerate() {
        let path = work.join(format!("piece-{k:04}.mp4"));
        let base = k as f32 / total;
        let mut inner = |f: f32| progress(base + f / total);
        match piece {
            Piece::Clips { source, spans } => {
                report.copied_packets += crate::smart_cut_spans(source, &path, spans, opts, &mut inner)?.copied_packets;
            }
            Piece::Gap(seconds) => black(timeline, *seconds, &path, opts)?,
        }
        files.push(path);
    }
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    crate::concat(&paths, output, &mut |f| progress(((total - 1.0) + f) / total))?;
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    Ok(report)
}

/// The encoder settings for pictures at the timeline's size (even, as 4:2:0 needs) and rate.
pub(crate) fn timeline_video(timeline: &Timeline, opts: &CutOptions) -> VideoSettings {
    VideoSettings {
        width: timeline.width / 2 * 2,
        height: timeline.height / 2 * 2,
        frame_rate: ffmpeg::Rational(
            i32::try_from(timeline.frame_rate.num()).unwrap_or(25),
            i32::try_from(timeline.frame_rate.den()).unwrap_or(1),
        ),
        preset: opts.preset.clone(),
        crf: opts.crf,
        gop: None,
        closed_gop: true,
    }
}

/// `seconds` of black picture and silence at the timeline's size and rate.
fn black(timeline: &Timeline, seconds: f64, path: &Path, opts: &CutOptions) -> Result<()> {
    let video = timeline_video(timeline, opts);
    let (rate, width, height) = (video.frame_rate, video.width, video.height);
    let audio = AudioSettings::default();
    let mut writer = Writer::create(path, Some(&video), Some(&audio))?;
    let fps = f64::from(rate.numerator()) / f64::from(rate.denominator());
    let frames = (seconds * fps).round().max(1.0) as i64;
    let mut picture = frame::Video::new(format::Pixel::YUV420P, width, height);
    for (plane, value) in [(0, 16u8), (1, 128), (2, 128)] {
        picture.data_mut(plane).fill(value);
    }
    let samples_total = (frames as f64 / fps * f64::from(audio.sample_rate)).round() as usize;
    let size = writer.audio_frame_size();
    let mut samples_written = 0usize;
    for n in 0..frames {
        picture.set_pts(Some(n));
        writer.write_video(&picture)?;
        let until = (((n + 1) as f64 / fps) * f64::from(audio.sample_rate)).round() as usize;
        while samples_written + size <= until.min(samples_total) || (n + 1 == frames && samples_written < samples_total)
        {
            let count = size.min(samples_total - samples_written);
            let mut silence = frame::Audio::new(
                format::Sample::F32(format::sample::Type::Planar),
                count,
                ChannelLayout::default(i32::from(audio.channels)),
            );
            silence.set_rate(audio.sample_rate);
            silence.set_pts(Some(samples_written as i64));
            for ch in 0..usize::from(audio.channels) {
                silence.plane_mut::<f32>(ch)[..count].fill(0.0);
            }
            writer.write_audio(&silence)?;
            samples_written += count;
        }
    }
    writer.finish()
}
