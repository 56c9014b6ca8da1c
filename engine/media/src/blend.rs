//! Timelines whose video track has transitions. The picture is decoded, each transition is
//! blended on the CPU (cross dissolve, dip to black, wipe) and the track is re-encoded at
//! the timeline's size and rate, with the clips' own sound crossfaded under it.
//!
//! A transition is centred on its cut and plays the clips' handles, as editors do: half its
//! length of media past the outgoing clip's out point and before the incoming clip's in
//! point (the timeline model checks that the handles exist), so the timeline's length does
//! not change. At most two clips are read at a time, frame by frame, so memory stays
//! bounded however long the timeline is. This path needs nothing but the CPU.

use std::path::{Path, PathBuf};

use ffmpeg::{ChannelLayout, Packet, Rational, format, frame, software};
use ffmpeg_next as ffmpeg;
use reelflow_timeline::{Timeline, Track, TrackItem, TransitionKind};

use crate::cut::{CutOptions, Progress, resample, seconds};
use crate::encode::{AudioSettings, Writer};
use crate::error::{Error, Result};
use crate::render::RenderReport;
use crate::transcode::{Fit, layout, place};

/// A clip as played: output frames `[from, to)` show its source from `start` seconds on
/// (handles included).
struct Shot {
    source: PathBuf,
    start: f64,
    from: i64,
    to: i64,
}

/// A transition over output frames `[from, to)`.
struct Blend {
    kind: TransitionKind,
    from: i64,
    to: i64,
}

impl Blend {
    /// How far into the transition frame `n` is (0 → 1), at the frame's centre.
    fn progress(&self, n: f64) -> f64 {
        ((n - self.from as f64 + 0.5) / (self.to - self.from).max(1) as f64).clamp(0.0, 1.0)
    }
}

/// Lays the track's items on the output frame grid.
fn lay_out(track: &Track, fps: f64) -> (Vec<Shot>, Vec<Blend>, i64, RenderReport) {
    let frames = |t: f64| (t * fps).round() as i64;
    let half = |item: Option<&TrackItem>| match item {
        Some(TrackItem::Transition(tr)) => tr.duration.to_seconds_f64() / 2.0,
        _ => 0.0,
    };
    let (mut shots, mut blends, mut report) = (Vec::new(), Vec::new(), RenderReport::default());
    let mut at = 0.0f64;
    for (i, item) in track.items.iter().enumerate() {
        match item {
            TrackItem::Clip(clip) => {
                report.clips += 1;
                let (cin, cout) = (clip.source_in.to_seconds_f64(), clip.source_out.to_seconds_f64());
                let before = i.checked_sub(1).map_or(0.0, |j| half(track.items.get(j)));
                let after = half(track.items.get(i + 1));
                shots.push(Shot {
                    source: clip.source.path.clone(),
                    start: cin - before,
                    from: frames(at - before),
                    to: frames(at + (cout - cin) + after),
                });
                at += cout - cin;
            }
            TrackItem::Gap(gap) => {
                report.gaps += 1;
                at += gap.duration.to_seconds_f64();
            }
            TrackItem::Transition(tr) => {
                report.transitions += 1;
                let half = tr.duration.to_seconds_f64() / 2.0;
                blends.push(Blend { kind: tr.kind, from: frames(at - half), to: frames(at + half) });
            }
        }
    }
    (shots, blends, frames(at), report)
}

/// How a transition's two pictures become one.
pub trait PictureBlender {
    /// Blends `incoming` into `out`, which holds the outgoing picture; both are planar YUV
    /// 4:2:0 at the timeline's size. `progress` runs from 0 to 1 over the transition.
    fn blend(
        &mut self,
        out: &mut frame::Video,
        incoming: &frame::Video,
        progress: f64,
        kind: TransitionKind,
    ) -> std::result::Result<(), String>;
}

/// Blends on the CPU, in YUV: cross dissolve, dip to black, and a wipe from the left.
pub struct CpuBlender;

impl PictureBlender for CpuBlender {
    fn blend(
        &mut self,
        out: &mut frame::Video,
        incoming: &frame::Video,
        progress: f64,
        kind: TransitionKind,
    ) -> std::result::Result<(), String> {
        blend_into(out, incoming, progress, kind);
        Ok(())
    }
}

/// Renders `track` (a video track with transitions) of `timeline` to `output`.
pub(crate) fn render_blended(
    timeline: &Timeline,
    track: &Track,
    output: &Path,
    opts: &CutOptions,
    blender: &mut dyn PictureBlender,
    progress: Progress<'_>,
) -> Result<RenderReport> {
    let video = crate::render::timeline_video(timeline, opts);
    let (rate, size) = (video.frame_rate, (video.width, video.height));
    let fps = f64::from(rate.numerator()) / f64::from(rate.denominator());
    let sound = AudioSettings::default();
    let mut writer = Writer::create(output, Some(&video), Some(&sound))?;
    let (shots, blends, total, report) = lay_out(track, fps);
    // Exact sample positions of frame boundaries, so audio never drifts from the picture.
    let samples_at = |n: i64| {
        let num = i128::from(n) * i128::from(sound.sample_rate) * i128::from(rate.denominator());
        let den = i128::from(rate.numerator()).max(1);
        ((num + den / 2) / den) as usize
    };
    let mut pictures: Vec<Option<PictureReader>> = shots.iter().map(|_| None).collect();
    let mut sounds: Vec<Option<SoundReader>> = shots.iter().map(|_| None).collect();
    let mut queue = SampleQueue::new(&sound, writer.audio_frame_size());
    let mut out = frame::Video::new(format::Pixel::YUV420P, size.0, size.1);
    let mut first_open = 0usize;

    for n in 0..total {
        // Readers open as their shot begins and close once it has played.
        while first_open < shots.len() && shots[first_open].to <= n {
            pictures[first_open] = None;
            sounds[first_open] = None;
            first_open += 1;
        }
        let active: Vec<usize> =
            (first_open..shots.len()).take_while(|&i| shots[i].from <= n).filter(|&i| n < shots[i].to).collect();
        for &i in &active {
            if pictures[i].is_none() {
                pictures[i] = Some(PictureReader::open(&shots[i].source, shots[i].start, size, fps)?);
                sounds[i] = SoundReader::open(&shots[i].source, shots[i].start, &sound)?;
            }
        }
        let time_in = |i: usize| shots[i].start + (n - shots[i].from) as f64 / fps;
        let count = samples_at(n + 1) - samples_at(n);
        let mut take_sound = |i: usize| match sounds[i].as_mut() {
            Some(reader) => reader.take(count),
            None => Ok(vec![vec![0.0; count]; usize::from(sound.channels)]),
        };
        let chunk = match active[..] {
            [] => {
                fill_black(&mut out);
                vec![vec![0.0; count]; usize::from(sound.channels)]
            }
            [i] => {
                let picture = pictures[i].as_mut().map(|p| p.frame_at(time_in(i))).transpose()?;
                copy_picture(picture.expect("opened above"), &mut out);
                take_sound(i)?
            }
            [a, b, ..] => {
                let blend = blends.iter().find(|bl| bl.from <= n && n < bl.to);
                let (kind, w) =
                    blend.map_or((TransitionKind::CrossDissolve, 0.5), |bl| (bl.kind, bl.progress(n as f64)));
                let picture_a = pictures[a].as_mut().map(|p| p.frame_at(time_in(a))).transpose()?;
                copy_picture(picture_a.expect("opened above"), &mut out);
                let picture_b = pictures[b].as_mut().map(|p| p.frame_at(time_in(b))).transpose()?;
                blender
                    .blend(&mut out, picture_b.expect("opened above"), w, kind)
                    .map_err(|message| Error::Frames { path: output.to_owned(), message })?;
                let (sound_a, sound_b) = (take_sound(a)?, take_sound(b)?);
                let ramp = |k: usize| {
                    blend.map_or(0.5, |bl| bl.progress(n as f64 - 0.5 + (k as f64 + 0.5) / count.max(1) as f64))
                };
                mix_sound(&sound_a, &sound_b, kind, ramp)
            }
        };
        out.set_pts(Some(n));
        writer.write_video(&out)?;
        queue.push(&chunk, &mut writer)?;
        if n % 8 == 0 && !progress(n as f32 / total.max(1) as f32) {
            return Err(Error::Cancelled);
        }
    }
    queue.finish(&mut writer)?;
    writer.finish()?;
    progress(1.0);
    Ok(report)
}

/// Blends `b` over `out` (which holds the outgoing picture) at `w` (0 → 1).
fn blend_into(out: &mut frame::Video, b: &frame::Video, w: f64, kind: TransitionKind) {
    let (width, height) = (out.width() as usize, out.height() as usize);
    for plane in 0..3 {
        let (pw, ph) = if plane == 0 { (width, height) } else { (width / 2, height / 2) };
        let black = if plane == 0 { 16.0 } else { 128.0 };
        let (os, bs) = (out.stride(plane), b.stride(plane));
        let edge = w * pw as f64;
        let src = b.data(plane);
        let dst = out.data_mut(plane);
        for y in 0..ph {
            for x in 0..pw {
                let (a, bv) = (f64::from(dst[y * os + x]), f64::from(src[y * bs + x]));
                let v = match kind {
                    TransitionKind::CrossDissolve => a + (bv - a) * w,
                    TransitionKind::DipToBlack if w < 0.5 => black + (a - black) * (1.0 - 2.0 * w),
                    TransitionKind::DipToBlack => black + (bv - black) * (2.0 * w - 1.0),
                    // Left to right: the incoming picture is revealed behind a moving edge.
                    TransitionKind::Wipe => {
                        if (x as f64 + 0.5) < edge {
                            bv
                        } else {
                            a
                        }
                    }
                };
                dst[y * os + x] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// The sound under a transition: a crossfade (a dip goes through silence), with the gain
/// ramp evaluated per sample.
fn mix_sound(a: &[Vec<f32>], b: &[Vec<f32>], kind: TransitionKind, ramp: impl Fn(usize) -> f64) -> Vec<Vec<f32>> {
    a.iter()
        .zip(b)
        .map(|(ca, cb)| {
            ca.iter()
                .zip(cb)
                .enumerate()
                .map(|(k, (&x, &y))| {
                    let w = ramp(k);
                    let (ga, gb) = match kind {
                        TransitionKind::DipToBlack => ((1.0 - 2.0 * w).max(0.0), (2.0 * w - 1.0).max(0.0)),
                        _ => (1.0 - w, w),
                    };
                    (f64::from(x) * ga + f64::from(y) * gb) as f32
                })
                .collect()
        })
        .collect()
}

fn fill_black(out: &mut frame::Video) {
    for (plane, value) in [(0, 16u8), (1, 128), (2, 128)] {
        out.data_mut(plane).fill(value);
    }
}

/// Copies a picture of the same size and format into `out`, row by row (strides may differ).
fn copy_picture(src: &frame::Video, out: &mut frame::Video) {
    let (width, height) = (out.width() as usize, out.height() as usize);
    for plane in 0..3 {
        let (pw, ph) = if plane == 0 { (width, height) } else { (width / 2, height / 2) };
        let (os, ss) = (out.stride(plane), src.stride(plane));
        let data = src.data(plane);
        let dst = out.data_mut(plane);
        for y in 0..ph {
            dst[y * os..y * os + pw].copy_from_slice(&data[y * ss..y * ss + pw]);
        }
    }
}

/// Reads a demuxer's next packet for `index`, skipping other streams; `None` at the end.
/// A damaged packet is skipped as the packet iterator does, but only so many in a row.
fn next_packet(input: &mut format::context::Input, index: usize) -> Option<Packet> {
    let mut failures = 0;
    loop {
        let mut packet = Packet::empty();
        match packet.read(input) {
            Ok(()) if packet.stream() == index && !packet.is_corrupt() => return Some(packet),
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => return None,
            Err(_) if failures < 64 => failures += 1,
            Err(_) => return None,
        }
    }
}

/// Scales a source's pictures to fit the output: the scaler, then where its output goes.
struct Fitter {
    scaler: software::scaling::Context,
    offset: (i64, i64),
}

/// One clip's pictures in order, each shown until the next one's time, converted to the
/// output's size (fitted inside it) and YUV 4:2:0.
struct PictureReader {
    path: PathBuf,
    input: format::context::Input,
    index: usize,
    time_base: Rational,
    decoder: ffmpeg::decoder::Video,
    drained: bool,
    size: (u32, u32),
    scaler: Option<Fitter>,
    /// The picture showing now and its source time.
    current: Option<(f64, frame::Video)>,
    /// The next decoded picture, not yet showing.
    next: Option<(f64, frame::Video)>,
    frame_seconds: f64,
}

impl PictureReader {
    fn open(path: &Path, start: f64, size: (u32, u32), fps: f64) -> Result<Self> {
        let mut input = crate::open_input(path)?;
        let stream = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or(Error::MissingStream { path: path.to_owned(), what: "no video stream" })?;
        let (index, time_base) = (stream.index(), stream.time_base());
        let decoder = crate::video_decoder(stream.parameters(), path)?;
        let target = (start.max(0.0) * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
        input.seek(target, ..target + 1).map_err(Error::codec(path, "seeking"))?;
        Ok(PictureReader {
            path: path.to_owned(),
            input,
            index,
            time_base,
            decoder,
            drained: false,
            size,
            scaler: None,
            current: None,
            next: None,
            frame_seconds: 1.0 / fps,
        })
    }

    fn decode(&mut self) -> Result<Option<(f64, frame::Video)>> {
        let mut decoded = frame::Video::empty();
        loop {
            if self.decoder.receive_frame(&mut decoded).is_ok() {
                let t = seconds(decoded.pts().or(decoded.timestamp()), self.time_base);
                return Ok(Some((t, decoded)));
            }
            if self.drained {
                return Ok(None);
            }
            match next_packet(&mut self.input, self.index) {
                Some(packet) => {
                    self.decoder.send_packet(&packet).map_err(Error::codec(&self.path, "decoding video"))?;
                }
                None => {
                    self.decoder.send_eof().map_err(Error::codec(&self.path, "decoding video"))?;
                    self.drained = true;
                }
            }
        }
    }

    fn convert(&mut self, raw: frame::Video) -> Result<frame::Video> {
        let source = (raw.width(), raw.height());
        if raw.format() == format::Pixel::YUV420P && source == self.size {
            return Ok(raw);
        }
        if self.scaler.as_ref().is_none_or(|f| (f.scaler.input().width, f.scaler.input().height) != source) {
            let (scaled, offset) = layout(source, self.size, Fit::Contain);
            let scaler = software::scaling::Context::get(
                raw.format(),
                source.0,
                source.1,
                format::Pixel::YUV420P,
                scaled.0,
                scaled.1,
                software::scaling::Flags::BICUBIC,
            )
            .map_err(Error::codec(&self.path, "scaling video"))?;
            self.scaler = Some(Fitter { scaler, offset });
        }
        let fitter = self.scaler.as_mut().expect("set above");
        let mut scaled = frame::Video::empty();
        fitter.scaler.run(&raw, &mut scaled).map_err(Error::codec(&self.path, "scaling video"))?;
        let mut out = frame::Video::new(format::Pixel::YUV420P, self.size.0, self.size.1);
        place(&scaled, self.size, fitter.offset, &mut out);
        Ok(out)
    }

    /// The picture showing at source time `t`.
    fn frame_at(&mut self, t: f64) -> Result<&frame::Video> {
        let slack = self.frame_seconds / 4.0;
        loop {
            if self.next.is_none() {
                self.next = self.decode()?;
            }
            match &self.next {
                Some((next_t, _)) if self.current.is_none() || *next_t <= t + slack => {
                    let (next_t, raw) = self.next.take().expect("matched");
                    self.current = Some((next_t, self.convert(raw)?));
                }
                _ => break,
            }
        }
        match &self.current {
            // Past the last picture by more than a little: the file stops early.
            Some((shown, _)) if t - shown > (2.0 * self.frame_seconds).max(0.5) => {
                Err(Error::Truncated { path: self.path.clone(), stops: *shown, start: t, end: t })
            }
            Some((_, picture)) => Ok(picture),
            None => Err(Error::Truncated { path: self.path.clone(), stops: 0.0, start: t, end: t }),
        }
    }
}

/// One clip's sound from `start` on, as planar f32 at the output's rate; silence once it
/// ends.
struct SoundReader {
    path: PathBuf,
    input: format::context::Input,
    index: usize,
    time_base: Rational,
    decoder: ffmpeg::decoder::Audio,
    resampler: Option<software::resampling::Context>,
    settings: AudioSettings,
    pending: Vec<Vec<f32>>,
    start: f64,
    aligned: bool,
    drained: bool,
}

impl SoundReader {
    /// `None` when the file has no sound.
    fn open(path: &Path, start: f64, settings: &AudioSettings) -> Result<Option<Self>> {
        let mut input = crate::open_input(path)?;
        let Some(stream) = input.streams().best(ffmpeg::media::Type::Audio) else { return Ok(None) };
        let (index, time_base) = (stream.index(), stream.time_base());
        let decoder = crate::audio_decoder(stream.parameters(), path)?;
        let target = (start.max(0.0) * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
        input.seek(target, ..target + 1).map_err(Error::codec(path, "seeking"))?;
        Ok(Some(SoundReader {
            path: path.to_owned(),
            input,
            index,
            time_base,
            decoder,
            resampler: None,
            settings: settings.clone(),
            pending: vec![Vec::new(); usize::from(settings.channels)],
            start,
            aligned: false,
            drained: false,
        }))
    }

    /// The next `count` samples per channel.
    fn take(&mut self, count: usize) -> Result<Vec<Vec<f32>>> {
        let mut decoded = frame::Audio::empty();
        while self.pending[0].len() < count {
            if self.decoder.receive_frame(&mut decoded).is_ok() {
                self.add(&decoded)?;
                continue;
            }
            if self.drained {
                break;
            }
            match next_packet(&mut self.input, self.index) {
                Some(packet) => {
                    self.decoder.send_packet(&packet).map_err(Error::codec(&self.path, "decoding audio"))?;
                }
                None => {
                    self.decoder.send_eof().map_err(Error::codec(&self.path, "decoding audio"))?;
                    self.drained = true;
                }
            }
        }
        Ok(self
            .pending
            .iter_mut()
            .map(|channel| {
                let mut out: Vec<f32> = channel.drain(..count.min(channel.len())).collect();
                out.resize(count, 0.0);
                out
            })
            .collect())
    }

    fn add(&mut self, decoded: &frame::Audio) -> Result<()> {
        let t = seconds(decoded.pts().or(decoded.timestamp()), self.time_base);
        let chunk = resample(&self.path, &mut self.resampler, decoded, &self.settings)?;
        let rate = f64::from(self.settings.sample_rate);
        // The first chunk lines the sound up with `start`: drop what precedes it, or pad
        // with silence when the sound begins later.
        let mut skip = 0usize;
        if !self.aligned {
            let offset = ((self.start - t) * rate).round() as i64;
            if offset > 0 {
                skip = usize::try_from(offset).unwrap_or(usize::MAX);
                if skip >= chunk.samples() {
                    return Ok(());
                }
            } else {
                for channel in &mut self.pending {
                    channel.extend(std::iter::repeat_n(0.0, offset.unsigned_abs() as usize));
                }
            }
            self.aligned = true;
        }
        for (ch, channel) in self.pending.iter_mut().enumerate() {
            let plane = chunk.plane::<f32>(ch.min(chunk.planes().saturating_sub(1)));
            channel.extend_from_slice(&plane[skip..chunk.samples()]);
        }
        Ok(())
    }
}

/// Re-chunks planar samples to the encoder's frame size.
struct SampleQueue {
    rate: u32,
    frame_size: usize,
    pending: Vec<Vec<f32>>,
    written: u64,
}

impl SampleQueue {
    fn new(settings: &AudioSettings, frame_size: usize) -> Self {
        SampleQueue {
            rate: settings.sample_rate,
            frame_size,
            pending: vec![Vec::new(); usize::from(settings.channels)],
            written: 0,
        }
    }

    fn push(&mut self, chunk: &[Vec<f32>], writer: &mut Writer) -> Result<()> {
        for (queue, samples) in self.pending.iter_mut().zip(chunk) {
            queue.extend_from_slice(samples);
        }
        self.flush(writer, false)
    }

    fn flush(&mut self, writer: &mut Writer, all: bool) -> Result<()> {
        let channels = self.pending.len();
        while self.pending[0].len() >= self.frame_size || (all && !self.pending[0].is_empty()) {
            let count = self.frame_size.min(self.pending[0].len());
            let mut out = frame::Audio::new(
                format::Sample::F32(format::sample::Type::Planar),
                count,
                ChannelLayout::default(channels as i32),
            );
            out.set_rate(self.rate);
            out.set_pts(Some(self.written as i64));
            for (ch, queue) in self.pending.iter_mut().enumerate() {
                out.plane_mut::<f32>(ch)[..count].copy_from_slice(&queue[..count]);
                queue.drain(..count);
            }
            writer.write_audio(&out)?;
            self.written += count as u64;
        }
        Ok(())
    }

    fn finish(&mut self, writer: &mut Writer) -> Result<()> {
        self.flush(writer, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blends_follow_their_kind() {
        let mut a = frame::Video::new(format::Pixel::YUV420P, 4, 2);
        let mut b = frame::Video::new(format::Pixel::YUV420P, 4, 2);
        for plane in 0..3 {
            a.data_mut(plane).fill(200);
            b.data_mut(plane).fill(100);
        }
        let luma = |f: &frame::Video| f.data(0)[..4].to_vec();
        let mut out = a.clone();
        blend_into(&mut out, &b, 0.25, TransitionKind::CrossDissolve);
        assert_eq!(luma(&out), vec![175; 4]);
        let mut out = a.clone();
        blend_into(&mut out, &b, 0.5, TransitionKind::DipToBlack);
        assert_eq!((luma(&out), out.data(1)[0]), (vec![16; 4], 128));
        let mut out = a.clone();
        blend_into(&mut out, &b, 0.5, TransitionKind::Wipe);
        assert_eq!(luma(&out), vec![100, 100, 200, 200]);
        let mixed = mix_sound(&[vec![1.0; 4]], &[vec![0.0; 4]], TransitionKind::CrossDissolve, |k| k as f64 / 4.0);
        assert_eq!(mixed, vec![vec![1.0, 0.75, 0.5, 0.25]]);
    }
}
