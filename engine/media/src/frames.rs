//! Frame-level work for operators that process or make pictures themselves (WASM effect and
//! generator plugins, say): RGBA frames in and out of the encoder, one at a time, so memory
//! stays bounded however long the video is.

use std::path::Path;

use ffmpeg::{Rational, format, frame, software};
use ffmpeg_next as ffmpeg;

use crate::cut::Progress;
use crate::encode::{AudioSettings, VideoSettings, Writer};
use crate::error::{Error, Result};
use crate::transcode::{TranscodeOptions, transcode_with};

/// A picture with 4 bytes a pixel (red, green, blue, alpha), rows without padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbaFrame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbaFrame {
    pub fn expected_len(width: u32, height: u32) -> usize {
        width as usize * height as usize * 4
    }
}

/// The clip an effect or generator works on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipShape {
    pub width: u32,
    pub height: u32,
    pub frame_rate: f64,
    /// Seconds (0 when unknown).
    pub duration: f64,
}

/// A per-frame picture effect.
pub trait FrameEffect {
    /// Called once, before the first frame.
    fn prepare(&mut self, shape: &ClipShape) -> Result<(), String>;
    /// The frame shown at `time` seconds; must come back at the same size.
    fn apply(&mut self, frame: RgbaFrame, time: f64) -> Result<RgbaFrame, String>;
}

/// Re-encodes `input` to `output` (H.264 + AAC MP4) with every picture passed through
/// `effect`; the sound is re-encoded unchanged. Returns the number of frames written.
pub fn filter_video(
    input: &Path,
    output: &Path,
    opts: &TranscodeOptions,
    effect: &mut dyn FrameEffect,
    progress: Progress<'_>,
) -> Result<u64> {
    transcode_with(input, output, opts, Some(effect), progress)
}

/// Sound for a generated clip: `frames` sample frames from `start` seconds, interleaved,
/// at the requested rate and channel count; `None` for silence from here on.
pub trait SoundSource {
    fn sound(&mut self, start: f64, sample_rate: u32, channels: u16, frames: usize)
    -> Result<Option<Vec<f32>>, String>;
}

/// What to make: size, rate, length and the encoder's settings.
#[derive(Clone, Debug)]
pub struct GeneratedClip {
    pub width: u32,
    pub height: u32,
    pub frame_rate: crate::Ratio,
    pub duration: f64,
    pub preset: String,
    pub crf: u8,
}

/// Encodes a clip whose pictures come from `picture(time)` (and, optionally, whose sound
/// comes from `sound`) into an H.264 (+ AAC) MP4. Returns the number of frames written.
pub fn generate_video(
    output: &Path,
    clip: &GeneratedClip,
    picture: &mut dyn FnMut(f64) -> Result<RgbaFrame, String>,
    mut sound: Option<&mut dyn SoundSource>,
    progress: Progress<'_>,
) -> Result<u64> {
    let fail = |message: String| Error::Frames { path: output.to_owned(), message };
    let (width, height) = (clip.width / 2 * 2, clip.height / 2 * 2);
    let (num, den) = (clip.frame_rate.num, clip.frame_rate.den);
    if width == 0 || height == 0 || num <= 0 || den <= 0 {
        return Err(fail(format!("cannot make a {}x{} clip at {num}/{den} fps", clip.width, clip.height)));
    }
    let frame_rate = Rational(num, den);
    let rate = f64::from(frame_rate);
    let frames = (clip.duration * rate).round().max(1.0) as u64;
    let video = VideoSettings {
        width,
        height,
        frame_rate,
        preset: clip.preset.clone(),
        crf: clip.crf,
        gop: None,
        closed_gop: true,
    };
    let audio = AudioSettings::default();
    let mut writer = Writer::create(output, Some(&video), sound.is_some().then_some(&audio))?;
    let mut bridge = RgbaBridge::new(width, height).map_err(Error::codec(output, "colour conversion"))?;
    let mut yuv = frame::Video::new(format::Pixel::YUV420P, width, height);
    let samples_per_frame = writer.audio_frame_size().max(1);
    let mut samples_written = 0u64;
    for index in 0..frames {
        let time = index as f64 / rate;
        let rgba = picture(time).map_err(fail)?;
        bridge.write_rgba(&rgba, &mut yuv).map_err(|e| match e {
            BridgeError::Codec(e) => Error::Codec { path: output.to_owned(), stage: "colour conversion", source: e },
            BridgeError::Effect(message) => fail(message),
        })?;
        yuv.set_pts(Some(index as i64));
        writer.write_video(&yuv)?;
        // Sound up to the end of this frame, in encoder-sized blocks.
        if let Some(source) = sound.as_deref_mut() {
            let until = (((index + 1) as f64 / rate) * f64::from(audio.sample_rate)).round() as u64;
            while samples_written < until {
                let count = samples_per_frame.min((until - samples_written) as usize);
                let start = samples_written as f64 / f64::from(audio.sample_rate);
                let block = source.sound(start, audio.sample_rate, audio.channels, count).map_err(fail)?;
                let block = block.unwrap_or_else(|| vec![0.0; count * usize::from(audio.channels)]);
                if block.len() != count * usize::from(audio.channels) {
                    return Err(fail(format!(
                        "the sound block has {} samples, {} were asked for",
                        block.len(),
                        count * usize::from(audio.channels)
                    )));
                }
                writer.write_audio(&planar_audio(&block, audio.channels, audio.sample_rate, samples_written))?;
                samples_written += count as u64;
            }
        }
        if !progress((index + 1) as f32 / frames as f32) {
            return Err(Error::Cancelled);
        }
    }
    writer.finish()?;
    Ok(frames)
}

fn planar_audio(interleaved: &[f32], channels: u16, sample_rate: u32, pts: u64) -> frame::Audio {
    let channels_n = usize::from(channels);
    let count = interleaved.len() / channels_n;
    let mut out = frame::Audio::new(
        format::Sample::F32(format::sample::Type::Planar),
        count,
        ffmpeg::ChannelLayout::default(i32::from(channels)),
    );
    out.set_rate(sample_rate);
    out.set_pts(Some(pts as i64));
    for ch in 0..channels_n {
        let plane = out.plane_mut::<f32>(ch);
        for (i, sample) in plane[..count].iter_mut().enumerate() {
            *sample = interleaved[i * channels_n + ch].clamp(-1.0, 1.0);
        }
    }
    out
}

pub(crate) enum BridgeError {
    Codec(ffmpeg::Error),
    Effect(String),
}

/// Converts YUV 4:2:0 pictures to RGBA and back, at one size.
pub(crate) struct RgbaBridge {
    width: u32,
    height: u32,
    to_rgba: software::scaling::Context,
    to_yuv: software::scaling::Context,
    rgba: frame::Video,
}

impl RgbaBridge {
    pub fn new(width: u32, height: u32) -> std::result::Result<RgbaBridge, ffmpeg::Error> {
        let flags = software::scaling::Flags::BILINEAR | software::scaling::Flags::ACCURATE_RND;
        let yuv = format::Pixel::YUV420P;
        let rgba = format::Pixel::RGBA;
        Ok(RgbaBridge {
            width,
            height,
            to_rgba: software::scaling::Context::get(yuv, width, height, rgba, width, height, flags)?,
            to_yuv: software::scaling::Context::get(rgba, width, height, yuv, width, height, flags)?,
            rgba: frame::Video::new(rgba, width, height),
        })
    }

    /// Runs `effect` on `picture` (YUV 4:2:0 at the bridge's size) in place.
    pub fn apply(
        &mut self,
        picture: &mut frame::Video,
        time: f64,
        effect: &mut dyn FrameEffect,
    ) -> std::result::Result<(), BridgeError> {
        self.to_rgba.run(picture, &mut self.rgba).map_err(BridgeError::Codec)?;
        let frame = self.packed();
        let done = effect.apply(frame, time).map_err(BridgeError::Effect)?;
        self.write_rgba(&done, picture)
    }

    /// The bridge's RGBA picture without row padding.
    fn packed(&self) -> RgbaFrame {
        let (w, h) = (self.width as usize, self.height as usize);
        let stride = self.rgba.stride(0);
        let plane = self.rgba.data(0);
        let mut data = Vec::with_capacity(w * h * 4);
        for row in 0..h {
            data.extend_from_slice(&plane[row * stride..row * stride + w * 4]);
        }
        RgbaFrame { width: self.width, height: self.height, data }
    }

    /// Converts a packed RGBA frame of the bridge's size into `out` (YUV 4:2:0).
    pub fn write_rgba(&mut self, frame: &RgbaFrame, out: &mut frame::Video) -> std::result::Result<(), BridgeError> {
        if (frame.width, frame.height) != (self.width, self.height)
            || frame.data.len() != RgbaFrame::expected_len(frame.width, frame.height)
        {
            return Err(BridgeError::Effect(format!(
                "a {}x{} frame of {} bytes came back where a {}x{} RGBA frame ({} bytes) was expected",
                frame.width,
                frame.height,
                frame.data.len(),
                self.width,
                self.height,
                RgbaFrame::expected_len(self.width, self.height)
            )));
        }
        let w = self.width as usize * 4;
        let stride = self.rgba.stride(0);
        let plane = self.rgba.data_mut(0);
        for (row, src) in frame.data.chunks_exact(w).enumerate() {
            plane[row * stride..row * stride + w].copy_from_slice(src);
        }
        self.to_yuv.run(&self.rgba, out).map_err(BridgeError::Codec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{SyntheticSpec, generate, read_markers};

    /// Blacks out every frame from `from` seconds on and counts the frames it sees.
    struct BlackoutFrom {
        from: f64,
        prepared: Option<ClipShape>,
        frames: u64,
    }

    impl FrameEffect for BlackoutFrom {
        fn prepare(&mut self, shape: &ClipShape) -> Result<(), String> {
            self.prepared = Some(*shape);
            Ok(())
        }
        fn apply(&mut self, mut frame: RgbaFrame, time: f64) -> Result<RgbaFrame, String> {
            self.frames += 1;
            if time >= self.from {
                for px in frame.data.chunks_exact_mut(4) {
                    px[..3].fill(0);
                }
            }
            Ok(frame)
        }
    }

    #[test]
    fn an_effect_sees_every_frame_in_order_and_changes_the_picture() {
        crate::init();
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.mp4");
        generate(&input, &SyntheticSpec { frames: 50, ..Default::default() }).unwrap();
        let output = dir.path().join("out.mp4");
        let mut effect = BlackoutFrom { from: 1.0, prepared: None, frames: 0 };
        let written = filter_video(&input, &output, &TranscodeOptions::default(), &mut effect, &mut |_| true).unwrap();
        let shape = effect.prepared.unwrap();
        assert_eq!((shape.width, shape.height, shape.frame_rate), (320, 240, 25.0));
        assert_eq!((written, effect.frames), (50, 50));
        let markers = read_markers(&output).unwrap();
        // The RGBA round trip keeps the markers readable; from 1 s (frame 25) on they are black.
        assert_eq!(markers[..25], (0..25).collect::<Vec<u32>>()[..]);
        assert!(markers[25..].iter().all(|&m| m == 0), "{markers:?}");
    }

    #[test]
    fn a_wrong_sized_frame_from_an_effect_is_an_error() {
        struct Shrink;
        impl FrameEffect for Shrink {
            fn prepare(&mut self, _: &ClipShape) -> Result<(), String> {
                Ok(())
            }
            fn apply(&mut self, mut frame: RgbaFrame, _: f64) -> Result<RgbaFrame, String> {
                frame.data.truncate(8);
                Ok(frame)
            }
        }
        crate::init();
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.mp4");
        generate(&input, &SyntheticSpec { frames: 5, ..Default::default() }).unwrap();
        let err =
            filter_video(&input, &dir.path().join("o.mp4"), &TranscodeOptions::default(), &mut Shrink, &mut |_| true)
                .unwrap_err()
                .to_string();
        assert!(err.contains("8 bytes") && err.contains("in.mp4"), "{err}");
    }

    #[test]
    fn a_generated_clip_has_its_length_pictures_and_sound() {
        struct Tone;
        impl SoundSource for Tone {
            fn sound(
                &mut self,
                start: f64,
                rate: u32,
                channels: u16,
                frames: usize,
            ) -> Result<Option<Vec<f32>>, String> {
                let mut out = Vec::with_capacity(frames * usize::from(channels));
                for i in 0..frames {
                    let t = start + i as f64 / f64::from(rate);
                    let v = (0.3 * (std::f64::consts::TAU * 440.0 * t).sin()) as f32;
                    out.extend(std::iter::repeat_n(v, usize::from(channels)));
                }
                Ok(Some(out))
            }
        }
        crate::init();
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("gen.mp4");
        let clip = GeneratedClip {
            width: 64,
            height: 48,
            frame_rate: crate::Ratio { num: 24, den: 1 },
            duration: 2.0,
            preset: "ultrafast".into(),
            crf: 23,
        };
        let mut times = Vec::new();
        let mut picture = |t: f64| {
            times.push(t);
            let level = (t * 100.0) as u8;
            Ok(RgbaFrame { width: 64, height: 48, data: [level, level, level, 255].repeat(64 * 48) })
        };
        let frames = generate_video(&output, &clip, &mut picture, Some(&mut Tone), &mut |_| true).unwrap();
        assert_eq!(frames, 48);
        assert_eq!(times.len(), 48);
        assert!((times[47] - 47.0 / 24.0).abs() < 1e-9);
        let info = crate::probe(&output, false).unwrap();
        assert!((info.duration - 2.0).abs() < 0.1, "{}", info.duration);
        assert!(info.audio().is_some() && info.video().is_some());
    }
}
