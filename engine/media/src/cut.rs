//! Frame-accurate cutting by re-encoding: for each segment, seek to the keyframe before it,
//! decode, keep exactly the frames (and audio samples) of the segment, encode them; the
//! segments follow each other in one output. The smart cut ([`crate::smart_cut`]) uses the
//! same segment plan and re-encodes only GOP edges.

use std::path::Path;

use ffmpeg::{ChannelLayout, Rational, format, frame, software};
use ffmpeg_next as ffmpeg;

use crate::encode::{AudioSettings, VideoSettings, Writer};
use crate::error::{Error, Result};
use crate::open_input;

/// How cuts are encoded.
#[derive(Clone, Debug)]
pub struct CutOptions {
    pub preset: String,
    pub crf: u8,
}

impl Default for CutOptions {
    fn default() -> Self {
        CutOptions { preset: "veryfast".into(), crf: 20 }
    }
}

/// Progress (0–1) and cancellation for long loops: return `false` to stop.
pub type Progress<'a> = &'a mut dyn FnMut(f32) -> bool;

/// A range of the source in seconds: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    pub start: f64,
    pub end: f64,
}

/// A segment on the frame grid: frames `first..last` of the source, and where its audio
/// samples go in the output.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlannedSegment {
    pub first: i64,
    pub last: i64,
    /// Source seconds of `first` and `last` (exclusive end).
    pub start: f64,
    pub end: f64,
    /// Output frames before this segment.
    pub frames_before: i64,
    /// Audio samples of this segment: the difference of the exact sample positions of its
    /// output start and end, so audio never drifts from video however many segments.
    pub samples: u64,
}

/// Snaps each span to the frame grid (a frame belongs to a span when it starts in it; a
/// quarter frame of tolerance absorbs timestamps that are not exact) and lays the
/// segments end to end.
pub(crate) fn plan(input: &Path, spans: &[Span], rate: Rational, sample_rate: u32) -> Result<Vec<PlannedSegment>> {
    let fps = f64::from(rate.numerator()) / f64::from(rate.denominator());
    let samples_at = |frames: i64| {
        // frames × sample_rate / fps, exactly, rounded.
        let num = i128::from(frames) * i128::from(sample_rate) * i128::from(rate.denominator());
        let den = i128::from(rate.numerator()).max(1);
        ((num + den / 2) / den) as u64
    };
    let mut out = Vec::with_capacity(spans.len());
    let mut frames_before = 0i64;
    for span in spans {
        if !(span.start >= 0.0 && span.end > span.start && span.end.is_finite()) {
            return Err(Error::Unsupported {
                path: input.to_owned(),
                what: format!("cut range {}..{}", span.start, span.end),
            });
        }
        let first = (span.start * fps - 0.25).ceil().max(0.0) as i64;
        let last = (span.end * fps - 0.25).ceil() as i64;
        if last <= first {
            return Err(Error::Unsupported {
                path: input.to_owned(),
                what: format!("cut range {}..{} (holds no frame)", span.start, span.end),
            });
        }
        let samples_before = samples_at(frames_before);
        out.push(PlannedSegment {
            first,
            last,
            start: first as f64 / fps,
            end: last as f64 / fps,
            frames_before,
            samples: samples_at(frames_before + last - first) - samples_before,
        });
        frames_before += last - first;
    }
    Ok(out)
}

pub(crate) fn frame_rate(stream: &ffmpeg::format::stream::Stream) -> Rational {
    [stream.rate(), stream.avg_frame_rate()]
        .into_iter()
        .find(|r| r.numerator() > 0 && r.denominator() > 0)
        .unwrap_or(Rational(25, 1))
}

/// Writes `[start, end)` seconds of `input` to `output`, re-encoded (H.264 + AAC).
/// Returns the number of video frames written.
pub fn cut_reencode(
    input: &Path,
    output: &Path,
    start: f64,
    end: f64,
    opts: &CutOptions,
    progress: Progress<'_>,
) -> Result<u64> {
    cut_reencode_spans(input, output, &[Span { start, end }], opts, progress)
}

/// Writes the spans of `input` one after another to `output`, re-encoded.
pub fn cut_reencode_spans(
    input: &Path,
    output: &Path,
    spans: &[Span],
    opts: &CutOptions,
    progress: Progress<'_>,
) -> Result<u64> {
    let mut source = open_input(input)?;
    let video_stream = source
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or(Error::MissingStream { path: input.to_owned(), what: "no video stream" })?;
    let (video_index, video_tb) = (video_stream.index(), video_stream.time_base());
    let rate = frame_rate(&video_stream);
    let video_params = video_stream.parameters();
    let audio = source.streams().best(ffmpeg::media::Type::Audio).map(|s| (s.index(), s.time_base(), s.parameters()));
    let audio_settings = AudioSettings::default();
    let segments = plan(input, spans, rate, audio_settings.sample_rate)?;

    let probe = crate::video_decoder(video_params.clone(), input)?;
    let (width, height) = (probe.width(), probe.height());
    drop(probe);
    let video = VideoSettings {
        width,
        height,
        frame_rate: rate,
        preset: opts.preset.clone(),
        crf: opts.crf,
        gop: None,
        closed_gop: true,
    };
    let mut writer = Writer::create(output, Some(&video), audio.as_ref().map(|_| &audio_settings))?;
    let mut audio_out = AudioCutter::new(&audio_settings, writer.audio_frame_size());
    let mut scaler: Option<software::scaling::Context> = None;
    let total_frames: i64 = segments.iter().map(|s| s.last - s.first).sum();
    let frame_duration = f64::from(rate.denominator()) / f64::from(rate.numerator());
    let slack = frame_duration / 4.0;
    let mut written = 0u64;

    for segment in &segments {
        // Fresh decoders per segment: after a seek, nothing from before may come out.
        let mut video_decoder = crate::video_decoder(video_params.clone(), input)?;
        let mut audio_decoder = match &audio {
            Some((_, _, params)) => Some(crate::audio_decoder(params.clone(), input)?),
            None => None,
        };
        let mut resampler = None;
        audio_out.begin(segment);
        let target = (segment.start * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
        // The last keyframe at or before the segment: decoding must begin on one.
        source.seek(target, ..target + 1).map_err(Error::codec(input, "seeking"))?;

        let (start, end) = (segment.start, segment.end);
        let written_before = written;
        let mut decoded = frame::Video::empty();
        let mut converted = frame::Video::empty();
        let mut sound = frame::Audio::empty();
        let mut video_done = false;
        let mut take = |decoded: &frame::Video, writer: &mut Writer, written: &mut u64| -> Result<bool> {
            let t = seconds(decoded.pts().or(decoded.timestamp()), video_tb);
            if t >= end - slack {
                return Ok(false);
            }
            if t < start - slack {
                return Ok(true);
            }
            let picture = if decoded.format() == format::Pixel::YUV420P {
                decoded
            } else {
                let scaler = match &mut scaler {
                    Some(s) => s,
                    None => scaler.insert(
                        software::scaling::Context::get(
                            decoded.format(),
                            width,
                            height,
                            format::Pixel::YUV420P,
                            width,
                            height,
                            software::scaling::Flags::BICUBIC,
                        )
                        .map_err(Error::codec(input, "converting pixels"))?,
                    ),
                };
                scaler.run(decoded, &mut converted).map_err(Error::codec(input, "converting pixels"))?;
                &converted
            };
            let mut out = picture.clone();
            out.set_pts(Some(*written as i64));
            out.set_kind(ffmpeg::picture::Type::None);
            writer.write_video(&out)?;
            *written += 1;
            Ok(true)
        };
        for (stream, packet) in source.packets() {
            if stream.index() == video_index && !video_done {
                video_decoder.send_packet(&packet).map_err(Error::codec(input, "decoding video"))?;
                while video_decoder.receive_frame(&mut decoded).is_ok() {
                    if !take(&decoded, &mut writer, &mut written)? {
                        video_done = true;
                        break;
                    }
                }
                if !progress((written as f64 / total_frames.max(1) as f64) as f32) {
                    return Err(Error::Cancelled);
                }
            } else if let (Some((index, tb, _)), Some(decoder)) = (&audio, audio_decoder.as_mut())
                && stream.index() == *index
                && !audio_out.segment_done()
                // A partial packet where a file breaks off: the picture check names the break.
                && !packet.is_corrupt()
            {
                decoder.send_packet(&packet).map_err(Error::codec(input, "decoding audio"))?;
                while decoder.receive_frame(&mut sound).is_ok() {
                    let t = seconds(sound.timestamp().or(sound.pts()), *tb);
                    let resampled = resample(input, &mut resampler, &sound, &audio_settings)?;
                    audio_out.push(t, &resampled, &mut writer)?;
                }
            }
            if video_done && (audio.is_none() || audio_out.segment_done()) {
                break;
            }
        }
        if !video_done {
            video_decoder.send_eof().map_err(Error::codec(input, "decoding video"))?;
            while video_decoder.receive_frame(&mut decoded).is_ok() {
                if !take(&decoded, &mut writer, &mut written)? {
                    break;
                }
            }
            let kept = written - written_before;
            check_reached(input, start + kept as f64 * frame_duration, segment, rate)?;
        }
        if audio.is_some() {
            audio_out.end_segment(&mut writer)?;
        }
    }
    audio_out.finish(&mut writer)?;
    writer.finish()?;
    progress(1.0);
    Ok(written)
}

/// Fails when the source's picture stopped (`reached`, seconds) well before the segment's
/// end: the file is truncated or damaged. Half a second or two frames of slack let a video
/// stream that ends a little before the container's duration through.
pub(crate) fn check_reached(input: &Path, reached: f64, segment: &PlannedSegment, rate: Rational) -> Result<()> {
    let frame = f64::from(rate.denominator()) / f64::from(rate.numerator()).max(1.0);
    if reached.max(segment.start) + (2.0 * frame).max(0.5) >= segment.end {
        return Ok(());
    }
    Err(Error::Truncated { path: input.to_owned(), stops: reached.max(0.0), start: segment.start, end: segment.end })
}

pub(crate) fn seconds(ts: Option<i64>, tb: Rational) -> f64 {
    ts.map_or(0.0, |t| t as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()))
}

/// Converts decoded audio to the encoder's planar float layout and rate.
pub(crate) fn resample(
    path: &Path,
    resampler: &mut Option<software::resampling::Context>,
    sound: &frame::Audio,
    settings: &AudioSettings,
) -> Result<frame::Audio> {
    let layout = ChannelLayout::default(i32::from(settings.channels));
    let target = format::Sample::F32(format::sample::Type::Planar);
    let ctx = match resampler {
        Some(r) => r,
        None => resampler.insert(
            software::resampling::Context::get(
                sound.format(),
                sound.channel_layout(),
                sound.rate(),
                target,
                layout,
                settings.sample_rate,
            )
            .map_err(Error::codec(path, "resampling audio"))?,
        ),
    };
    let mut out = frame::Audio::empty();
    ctx.run(sound, &mut out).map_err(Error::codec(path, "resampling audio"))?;
    Ok(out)
}

/// Takes each segment's samples, exactly as many as the plan says (padding with silence
/// or dropping the excess), and re-chunks them to the encoder's frame size.
pub(crate) struct AudioCutter {
    rate: u32,
    channels: usize,
    frame_size: usize,
    pending: Vec<Vec<f32>>,
    /// Samples handed to the encoder so far.
    written: u64,
    /// The current segment: source seconds, and how many samples it must produce.
    start: f64,
    end: f64,
    quota: u64,
    taken: u64,
}

impl AudioCutter {
    pub(crate) fn new(settings: &AudioSettings, frame_size: usize) -> Self {
        let channels = usize::from(settings.channels);
        AudioCutter {
            rate: settings.sample_rate,
            channels,
            frame_size,
            pending: vec![Vec::new(); channels],
            written: 0,
            start: 0.0,
            end: 0.0,
            quota: 0,
            taken: 0,
        }
    }

    pub(crate) fn begin(&mut self, segment: &PlannedSegment) {
        self.start = segment.start;
        self.end = segment.end;
        self.quota = segment.samples;
        self.taken = 0;
    }

    pub(crate) fn segment_done(&self) -> bool {
        self.taken >= self.quota
    }

    /// `t`: the source time of the chunk's first sample.
    pub(crate) fn push(&mut self, t: f64, chunk: &frame::Audio, writer: &mut Writer) -> Result<()> {
        let n = chunk.samples();
        if n == 0 || self.segment_done() {
            return Ok(());
        }
        let rate = f64::from(self.rate);
        let first = ((self.start - t) * rate).round().max(0.0) as usize;
        let want = (self.quota - self.taken) as usize;
        let last = n.min(first.saturating_add(want));
        if first < last {
            for ch in 0..self.channels {
                let plane = chunk.plane::<f32>(ch.min(chunk.planes().saturating_sub(1)));
                self.pending[ch].extend_from_slice(&plane[first..last]);
            }
            self.taken += (last - first) as u64;
        }
        self.flush(writer, false)
    }

    /// Pads the segment with silence up to its quota (a source whose audio ends early).
    pub(crate) fn end_segment(&mut self, writer: &mut Writer) -> Result<()> {
        let missing = self.quota.saturating_sub(self.taken) as usize;
        for ch in 0..self.channels {
            self.pending[ch].extend(std::iter::repeat_n(0.0, missing));
        }
        self.taken = self.quota;
        self.flush(writer, false)
    }

    fn flush(&mut self, writer: &mut Writer, all: bool) -> Result<()> {
        while self.pending[0].len() >= self.frame_size || (all && !self.pending[0].is_empty()) {
            let count = self.frame_size.min(self.pending[0].len());
            let mut out = frame::Audio::new(
                format::Sample::F32(format::sample::Type::Planar),
                count,
                ChannelLayout::default(self.channels as i32),
            );
            out.set_rate(self.rate);
            out.set_pts(Some(self.written as i64));
            for ch in 0..self.channels {
                let samples: Vec<f32> = self.pending[ch].drain(..count).collect();
                out.plane_mut::<f32>(ch)[..count].copy_from_slice(&samples);
            }
            writer.write_audio(&out)?;
            self.written += count as u64;
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, writer: &mut Writer) -> Result<()> {
        self.flush(writer, true)
    }
}
