//! Transcoding to H.264 + AAC MP4, optionally fitted to a target frame (platform presets:
//! 9:16 1080×1920, 16:9 1920×1080, 1:1 1080×1080): scaled to fit inside and padded
//! (`contain`), scaled to fill and cropped (`cover`), or stretched. Streaming: one frame at
//! a time, so memory does not grow with the length of the video.

use std::path::Path;

use ffmpeg::{format, frame, software};
use ffmpeg_next as ffmpeg;

use crate::cut::{Progress, frame_rate, resample, seconds};
use crate::encode::{AudioSettings, VideoSettings, Writer};
use crate::error::{Error, Result};
use crate::frames::{BridgeError, ClipShape, FrameEffect, RgbaBridge};
use crate::open_input;

/// How a picture is fitted into a frame of another shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Scale to fit inside, pad the rest with black (letterbox / pillarbox).
    #[default]
    Contain,
    /// Scale to fill, crop what sticks out (centred).
    Cover,
    /// Scale to the frame, ignoring the aspect ratio.
    Stretch,
}

#[derive(Clone, Debug)]
pub struct TranscodeOptions {
    /// Target frame size; `None` keeps the source size.
    pub size: Option<(u32, u32)>,
    pub fit: Fit,
    pub preset: String,
    pub crf: u8,
}

impl Default for TranscodeOptions {
    fn default() -> Self {
        TranscodeOptions { size: None, fit: Fit::Contain, preset: "veryfast".into(), crf: 20 }
    }
}

/// A named platform frame: `9:16`, `16:9`, `1:1`, `4:5`.
pub fn preset_size(name: &str) -> Option<(u32, u32)> {
    match name {
        "9:16" | "vertical" => Some((1080, 1920)),
        "16:9" | "landscape" => Some((1920, 1080)),
        "1:1" | "square" => Some((1080, 1080)),
        "4:5" | "portrait" => Some((1080, 1350)),
        _ => None,
    }
}

/// Where the scaled picture goes inside the target: scaled size and the offset of the
/// visible part (negative offsets crop). Even numbers, as 4:2:0 chroma needs.
pub(crate) fn layout(src: (u32, u32), dst: (u32, u32), fit: Fit) -> ((u32, u32), (i64, i64)) {
    let even = |v: f64| ((v / 2.0).round() as i64 * 2).max(2) as u32;
    let (sw, sh) = (f64::from(src.0.max(1)), f64::from(src.1.max(1)));
    let (dw, dh) = (f64::from(dst.0), f64::from(dst.1));
    let scale = match fit {
        Fit::Stretch => return (dst, (0, 0)),
        Fit::Contain => (dw / sw).min(dh / sh),
        Fit::Cover => (dw / sw).max(dh / sh),
    };
    let (w, h) = (even(sw * scale), even(sh * scale));
    let off = |outer: u32, inner: u32| ((i64::from(outer) - i64::from(inner)) / 4) * 2;
    ((w, h), (off(dst.0, w), off(dst.1, h)))
}

/// Copies `scaled` into a black `dst`-sized YUV420P frame at `offset` (cropping what falls
/// outside).
pub(crate) fn place(scaled: &frame::Video, dst: (u32, u32), offset: (i64, i64), out: &mut frame::Video) {
    for plane in 0..3 {
        let (shift, fill) = if plane == 0 { (0, 16u8) } else { (1, 128u8) };
        let (ow, oh) = ((dst.0 >> shift) as i64, (dst.1 >> shift) as i64);
        let (sw, sh) = ((scaled.width() >> shift) as i64, (scaled.height() >> shift) as i64);
        let (ox, oy) = (offset.0 >> shift, offset.1 >> shift);
        let out_stride = out.stride(plane);
        let src_stride = scaled.stride(plane);
        let src = scaled.data(plane);
        let data = out.data_mut(plane);
        for y in 0..oh {
            let row = &mut data[(y as usize) * out_stride..(y as usize) * out_stride + ow as usize];
            let sy = y - oy;
            if sy < 0 || sy >= sh {
                row.fill(fill);
                continue;
            }
            for (x, px) in row.iter_mut().enumerate() {
                let sx = x as i64 - ox;
                *px = if sx < 0 || sx >= sw { fill } else { src[sy as usize * src_stride + sx as usize] };
            }
        }
    }
}

/// A file opened for re-encoding: its best video stream with a decoder, frame rate and
/// length, and its best audio stream's index and decoder, if it has one.
pub(crate) struct Source {
    pub source: format::context::Input,
    pub video_index: usize,
    pub video_tb: ffmpeg::Rational,
    pub rate: ffmpeg::Rational,
    /// Seconds (0 when the container does not say).
    pub duration: f64,
    pub decoder: ffmpeg::decoder::Video,
    pub audio: Option<(usize, ffmpeg::decoder::Audio)>,
}

impl Source {
    pub(crate) fn open(input: &Path) -> Result<Source> {
        let source = open_input(input)?;
        let video_stream = source
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or(Error::MissingStream { path: input.to_owned(), what: "no video stream" })?;
        let (video_index, video_tb) = (video_stream.index(), video_stream.time_base());
        let rate = frame_rate(&video_stream);
        let decoder = crate::video_decoder(video_stream.parameters(), input)?;
        let audio = match source.streams().best(ffmpeg::media::Type::Audio) {
            Some(s) => Some((s.index(), crate::audio_decoder(s.parameters(), input)?)),
            None => None,
        };
        let duration =
            if source.duration() > 0 { source.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE) } else { 0.0 };
        Ok(Source { source, video_index, video_tb, rate, duration, decoder, audio })
    }
}

/// Re-encodes `input` into `output` (H.264 + AAC MP4), fitted to `opts.size` when given.
/// Returns the number of video frames written.
pub fn transcode(input: &Path, output: &Path, opts: &TranscodeOptions, progress: Progress<'_>) -> Result<u64> {
    transcode_with(input, output, opts, None, progress)
}

/// [`transcode`], with every output picture passed through `effect` (as RGBA) before it is
/// encoded. The effect is told the clip's shape once, before the first frame.
pub(crate) fn transcode_with(
    input: &Path,
    output: &Path,
    opts: &TranscodeOptions,
    mut effect: Option<&mut dyn FrameEffect>,
    progress: Progress<'_>,
) -> Result<u64> {
    let Source { mut source, video_index, video_tb, rate, duration, mut decoder, mut audio } = Source::open(input)?;
    let src_size = (decoder.width(), decoder.height());
    let dst = opts.size.map_or(src_size, |(w, h)| (w / 2 * 2, h / 2 * 2));
    let ((sw, sh), offset) = if opts.size.is_some() { layout(src_size, dst, opts.fit) } else { (src_size, (0, 0)) };
    let settings = VideoSettings {
        width: dst.0,
        height: dst.1,
        frame_rate: rate,
        preset: opts.preset.clone(),
        crf: opts.crf,
        gop: None,
        closed_gop: true,
    };
    let audio_settings = AudioSettings::default();
    let mut writer = Writer::create(output, Some(&settings), audio.as_ref().map(|_| &audio_settings))?;
    let mut scaler: Option<software::scaling::Context> = None;
    let mut scaled = frame::Video::empty();
    let mut canvas = frame::Video::new(format::Pixel::YUV420P, dst.0, dst.1);
    let mut decoded = frame::Video::empty();
    let mut chunker = Chunker::new(writer.audio_frame_size());
    let mut written = 0u64;
    let mut rgba = match effect.as_deref_mut() {
        Some(effect) => {
            let shape = ClipShape { width: dst.0, height: dst.1, frame_rate: f64::from(rate), duration };
            effect.prepare(&shape).map_err(|message| Error::Frames { path: input.to_owned(), message })?;
            Some(RgbaBridge::new(dst.0, dst.1).map_err(Error::codec(input, "colour conversion"))?)
        }
        None => None,
    };
    let first_video = std::cell::Cell::new(None::<f64>);

    let mut emit = |decoded: &frame::Video, writer: &mut Writer, written: &mut u64| -> Result<()> {
        let scaler = match &mut scaler {
            Some(s) => s,
            None => scaler.insert(
                software::scaling::Context::get(
                    decoded.format(),
                    decoded.width(),
                    decoded.height(),
                    format::Pixel::YUV420P,
                    sw,
                    sh,
                    software::scaling::Flags::BICUBIC,
                )
                .map_err(Error::codec(input, "scaling"))?,
            ),
        };
        scaler.run(decoded, &mut scaled).map_err(Error::codec(input, "scaling"))?;
        let picture = if (sw, sh) == dst && offset == (0, 0) {
            &mut scaled
        } else {
            place(&scaled, dst, offset, &mut canvas);
            &mut canvas
        };
        if first_video.get().is_none() {
            first_video.set(Some(seconds(decoded.pts().or(decoded.timestamp()), video_tb)));
        }
        if let (Some(effect), Some(bridge)) = (effect.as_deref_mut(), rgba.as_mut()) {
            let time = *written as f64 / f64::from(rate);
            bridge.apply(picture, time, effect).map_err(|e| match e {
                BridgeError::Codec(e) => Error::Codec { path: input.to_owned(), stage: "colour conversion", source: e },
                BridgeError::Effect(message) => Error::Frames { path: input.to_owned(), message },
            })?;
        }
        picture.set_pts(Some(*written as i64));
        writer.write_video(picture)?;
        *written += 1;
        Ok(())
    };

    for (stream, packet) in source.packets() {
        if stream.index() == video_index {
            decoder.send_packet(&packet).map_err(Error::codec(input, "decoding video"))?;
            while decoder.receive_frame(&mut decoded).is_ok() {
                emit(&decoded, &mut writer, &mut written)?;
            }
            let t = seconds(packet.pts(), video_tb);
            if !progress(if duration > 0.0 { (t / duration).clamp(0.0, 1.0) as f32 } else { 0.0 }) {
                return Err(Error::Cancelled);
            }
        } else if let Some((index, dec)) = audio.as_mut()
            && stream.index() == *index
        {
            chunker.feed(input, dec, &packet, &mut writer)?;
        }
    }
    decoder.send_eof().map_err(Error::codec(input, "decoding video"))?;
    while decoder.receive_frame(&mut decoded).is_ok() {
        emit(&decoded, &mut writer, &mut written)?;
    }
    chunker.finish(&mut writer)?;
    writer.finish()?;
    progress(1.0);
    Ok(written)
}

/// Re-chunks resampled audio to the encoder's frame size (AAC takes 1024 samples a frame).
pub(crate) struct Chunker {
    pending: Vec<Vec<f32>>,
    next_pts: i64,
    size: usize,
    resampler: Option<software::resampling::Context>,
    decoded: frame::Audio,
}

impl Chunker {
    pub(crate) fn new(size: usize) -> Self {
        Chunker {
            pending: vec![Vec::new(); usize::from(AudioSettings::default().channels)],
            next_pts: 0,
            size: size.max(1),
            resampler: None,
            decoded: frame::Audio::empty(),
        }
    }

    /// Decodes one audio packet of `input` and queues its sound, resampled to the
    /// encoder's format, writing every whole encoder frame it completes.
    pub(crate) fn feed(
        &mut self,
        input: &Path,
        decoder: &mut ffmpeg::decoder::Audio,
        packet: &ffmpeg::Packet,
        writer: &mut Writer,
    ) -> Result<()> {
        decoder.send_packet(packet).map_err(Error::codec(input, "decoding audio"))?;
        while decoder.receive_frame(&mut self.decoded).is_ok() {
            let chunk = resample(input, &mut self.resampler, &self.decoded, &AudioSettings::default())?;
            if chunk.samples() > 0 {
                self.push(&chunk, writer)?;
            }
        }
        Ok(())
    }

    fn push(&mut self, chunk: &frame::Audio, writer: &mut Writer) -> Result<()> {
        let planes = chunk.planes().max(1);
        for (ch, buf) in self.pending.iter_mut().enumerate() {
            buf.extend_from_slice(&chunk.plane::<f32>(ch.min(planes - 1))[..chunk.samples()]);
        }
        while self.pending[0].len() >= self.size {
            let f = self.take(self.size);
            writer.write_audio(&f)?;
        }
        Ok(())
    }

    fn take(&mut self, count: usize) -> frame::Audio {
        let settings = AudioSettings::default();
        let mut out = frame::Audio::new(
            format::Sample::F32(format::sample::Type::Planar),
            count,
            ffmpeg::ChannelLayout::default(i32::from(settings.channels)),
        );
        out.set_rate(settings.sample_rate);
        out.set_pts(Some(self.next_pts));
        for (ch, buf) in self.pending.iter_mut().enumerate() {
            let samples: Vec<f32> = buf.drain(..count).collect();
            out.plane_mut::<f32>(ch)[..count].copy_from_slice(&samples);
        }
        self.next_pts += count as i64;
        out
    }

    pub(crate) fn finish(&mut self, writer: &mut Writer) -> Result<()> {
        let left = self.pending[0].len();
        if left > 0 {
            let f = self.take(left);
            writer.write_audio(&f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_fit_cover_and_stretch() {
        // 16:9 into 9:16: contain scales to the width and pads top and bottom.
        assert_eq!(layout((1920, 1080), (1080, 1920), Fit::Contain), ((1080, 608), (0, 656)));
        // cover scales to the height and crops the sides.
        assert_eq!(layout((1920, 1080), (1080, 1920), Fit::Cover), ((3414, 1920), (-1166, 0)));
        assert_eq!(layout((640, 480), (1080, 1080), Fit::Stretch), ((1080, 1080), (0, 0)));
        assert_eq!(preset_size("9:16"), Some((1080, 1920)));
        assert_eq!(preset_size("3:2"), None);
    }
}
