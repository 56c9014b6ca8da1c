//! Frame-accurate cutting by re-encoding: seek to the keyframe before the cut, decode,
//! keep exactly the frames (and audio samples) inside `[start, end)`, encode them. The smart
//! cut (stream-copy whole GOPs, re-encode only the edges) is built on this for the edges.

use std::path::Path;

use ffmpeg::{ChannelLayout, Rational, format, frame, software};
use ffmpeg_next as ffmpeg;

use crate::encode::{AudioSettings, VideoSettings, Writer};
use crate::error::{Error, Result};
use crate::open_input;

/// How a cut is encoded.
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
    if !(start >= 0.0 && end > start) {
        return Err(Error::Unsupported { path: input.to_owned(), what: format!("cut range {start}..{end}") });
    }
    let mut source = open_input(input)?;
    let video_stream = source
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or(Error::MissingStream { path: input.to_owned(), what: "no video stream" })?;
    let (video_index, video_tb) = (video_stream.index(), video_stream.time_base());
    let rate = [video_stream.rate(), video_stream.avg_frame_rate()]
        .into_iter()
        .find(|r| r.numerator() > 0 && r.denominator() > 0)
        .unwrap_or(Rational(25, 1));
    let mut video_decoder = ffmpeg::codec::context::Context::from_parameters(video_stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(Error::codec(input, "opening the video decoder"))?;
    let audio = source.streams().best(ffmpeg::media::Type::Audio).map(|s| (s.index(), s.time_base(), s.parameters()));
    let mut audio_decoder = match &audio {
        Some((_, _, params)) => Some(
            ffmpeg::codec::context::Context::from_parameters(params.clone())
                .and_then(|c| c.decoder().audio())
                .map_err(Error::codec(input, "opening the audio decoder"))?,
        ),
        None => None,
    };

    let (width, height) = (video_decoder.width(), video_decoder.height());
    let video =
        VideoSettings { width, height, frame_rate: rate, preset: opts.preset.clone(), crf: opts.crf, gop: None };
    let audio_settings = AudioSettings::default();
    let mut writer = Writer::create(output, Some(&video), audio.as_ref().map(|_| &audio_settings))?;

    // Seek to the last keyframe at or before `start`: decoding must begin on one.
    let target = (start * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
    source.seek(target, ..target + 1).map_err(Error::codec(input, "seeking"))?;

    let frame_duration = f64::from(rate.denominator()) / f64::from(rate.numerator());
    // A frame belongs to the cut when its start lies in [start, end), with a quarter frame
    // of tolerance for timestamps that are not exact multiples of the frame duration.
    let slack = frame_duration / 4.0;
    let keep = |t: f64| t >= start - slack && t < end - slack;
    let mut scaler: Option<software::scaling::Context> = None;
    let mut audio_out = AudioCutter::new(start, end, &audio_settings, writer.audio_frame_size());
    let mut resampler: Option<software::resampling::Context> = None;
    let mut written = 0u64;
    let mut decoded = frame::Video::empty();
    let mut converted = frame::Video::empty();
    let mut sound = frame::Audio::empty();
    let mut video_done = false;

    let mut handle_video = |decoded: &frame::Video, writer: &mut Writer, written: &mut u64| -> Result<bool> {
        let t = seconds(decoded.timestamp().or(decoded.pts()), video_tb);
        if t >= end - slack {
            return Ok(false);
        }
        if !keep(t) {
            return Ok(true);
        }
        let frame = if decoded.format() == format::Pixel::YUV420P {
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
        let mut out = frame.clone();
        out.set_pts(Some(*written as i64));
        writer.write_video(&out)?;
        *written += 1;
        Ok(true)
    };

    for (stream, packet) in source.packets() {
        if stream.index() == video_index && !video_done {
            video_decoder.send_packet(&packet).map_err(Error::codec(input, "decoding video"))?;
            while video_decoder.receive_frame(&mut decoded).is_ok() {
                if !handle_video(&decoded, &mut writer, &mut written)? {
                    video_done = true;
                    break;
                }
            }
            let done_fraction = ((seconds(packet.pts(), video_tb) - start) / (end - start)).clamp(0.0, 1.0);
            if !progress(done_fraction as f32) {
                return Err(Error::Cancelled);
            }
        } else if let (Some((index, tb, _)), Some(decoder)) = (&audio, audio_decoder.as_mut())
            && stream.index() == *index
            && !audio_out.done
        {
            decoder.send_packet(&packet).map_err(Error::codec(input, "decoding audio"))?;
            while decoder.receive_frame(&mut sound).is_ok() {
                let t = seconds(sound.timestamp().or(sound.pts()), *tb);
                let resampled = resample(input, &mut resampler, &sound, &audio_settings)?;
                audio_out.push(t, &resampled, &mut writer)?;
            }
        }
        if video_done && (audio.is_none() || audio_out.done) {
            break;
        }
    }
    if !video_done {
        video_decoder.send_eof().map_err(Error::codec(input, "decoding video"))?;
        while video_decoder.receive_frame(&mut decoded).is_ok() {
            if !handle_video(&decoded, &mut writer, &mut written)? {
                break;
            }
        }
    }
    audio_out.finish(&mut writer)?;
    writer.finish()?;
    progress(1.0);
    Ok(written)
}

fn seconds(ts: Option<i64>, tb: Rational) -> f64 {
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

/// Keeps the samples inside `[start, end)` and re-chunks them to the encoder's frame size.
pub(crate) struct AudioCutter {
    start: f64,
    end: f64,
    rate: u32,
    channels: usize,
    frame_size: usize,
    pending: Vec<Vec<f32>>,
    written: u64,
    pub(crate) done: bool,
}

impl AudioCutter {
    pub(crate) fn new(start: f64, end: f64, settings: &AudioSettings, frame_size: usize) -> Self {
        let channels = usize::from(settings.channels);
        AudioCutter {
            start,
            end,
            rate: settings.sample_rate,
            channels,
            frame_size,
            pending: vec![Vec::new(); channels],
            written: 0,
            done: false,
        }
    }

    /// `t`: the time of the chunk's first sample.
    pub(crate) fn push(&mut self, t: f64, chunk: &frame::Audio, writer: &mut Writer) -> Result<()> {
        let n = chunk.samples();
        if n == 0 || self.done {
            return Ok(());
        }
        let rate = f64::from(self.rate);
        let first = ((self.start - t) * rate).round().max(0.0) as usize;
        let last = (((self.end - t) * rate).round().max(0.0) as usize).min(n);
        if last < n {
            self.done = true;
        }
        if first < last {
            for ch in 0..self.channels.min(chunk.planes()) {
                self.pending[ch].extend_from_slice(&chunk.plane::<f32>(ch)[first..last]);
            }
        }
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
