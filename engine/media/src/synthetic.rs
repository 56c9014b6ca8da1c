//! Synthetic media for tests and benchmarks, made through the library: every video frame
//! carries its own number as a row of black/white blocks (a per-frame marker that survives
//! H.264 compression), and the audio is a sine tone. Decoding a cut and reading the markers
//! tells exactly which source frames it holds.

use std::path::Path;

use ffmpeg::{ChannelLayout, Rational, format, frame};
use ffmpeg_next as ffmpeg;

use crate::encode::{AudioSettings, VideoSettings, Writer};
use crate::error::{Error, Result};
use crate::open_input;

/// Bits of the frame-number marker.
pub const MARKER_BITS: u32 = 16;

/// What to generate.
#[derive(Clone, Debug)]
pub struct SyntheticSpec {
    pub width: u32,
    pub height: u32,
    pub frame_rate: Rational,
    pub frames: u32,
    /// Frames between keyframes.
    pub gop: u32,
    /// A sine tone at this frequency (Hz), or no audio.
    pub tone_hz: Option<f32>,
    pub preset: String,
    pub crf: u8,
    /// Closed GOPs (the default); open GOPs make sources a smart cut must refuse.
    pub closed_gop: bool,
    /// Stretches of silence in the tone, `(start, end)` in seconds (pauses between words).
    pub silences: Vec<(f64, f64)>,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            width: 320,
            height: 240,
            frame_rate: Rational(25, 1),
            frames: 50,
            gop: 25,
            tone_hz: Some(440.0),
            preset: "ultrafast".into(),
            crf: 18,
            closed_gop: true,
            silences: Vec::new(),
        }
    }
}

/// Height of the marker band at the top of the frame.
fn marker_height(height: u32) -> u32 {
    (height / 8).max(8).min(height)
}

/// Fills a YUV420P frame: the marker band on top, a moving gradient below.
fn draw_frame(frame: &mut frame::Video, number: u32) {
    let (width, height) = (frame.width() as usize, frame.height() as usize);
    let band = marker_height(height as u32) as usize;
    let block = width / MARKER_BITS as usize;
    let stride = frame.stride(0);
    let luma = frame.data_mut(0);
    for y in 0..height {
        let row = &mut luma[y * stride..y * stride + width];
        for (x, px) in row.iter_mut().enumerate() {
            *px = if y < band {
                let bit = (x / block.max(1)).min(MARKER_BITS as usize - 1);
                // Most significant bit first; studio-range white and black.
                if number >> (MARKER_BITS as usize - 1 - bit) & 1 == 1 { 235 } else { 16 }
            } else {
                (((x + y + number as usize * 4) % 200) + 28) as u8
            };
        }
    }
    for plane in 1..3 {
        let stride = frame.stride(plane);
        let rows = frame.plane_height(plane) as usize;
        let data = frame.data_mut(plane);
        for y in 0..rows {
            for px in &mut data[y * stride..y * stride + stride] {
                *px = 128;
            }
        }
    }
}

/// Reads the frame number drawn by [`generate`] from a decoded frame (any pixel format
/// whose first plane is luma at full size, like YUV420P).
pub fn read_marker(frame: &frame::Video) -> u32 {
    let (width, height) = (frame.width() as usize, frame.height() as usize);
    let band = marker_height(height as u32) as usize;
    let block = width / MARKER_BITS as usize;
    let stride = frame.stride(0);
    let luma = frame.data(0);
    let y = band / 2;
    let mut number = 0;
    for bit in 0..MARKER_BITS as usize {
        let x = bit * block + block / 2;
        let value = luma[y * stride + x.min(width - 1)];
        number = number << 1 | u32::from(value > 128);
    }
    number
}

/// Writes a synthetic H.264 (+ AAC) file.
pub fn generate(path: &Path, spec: &SyntheticSpec) -> Result<()> {
    let video = VideoSettings {
        width: spec.width,
        height: spec.height,
        frame_rate: spec.frame_rate,
        preset: spec.preset.clone(),
        crf: spec.crf,
        gop: Some(spec.gop),
        closed_gop: spec.closed_gop,
    };
    let audio = AudioSettings::default();
    let mut writer = Writer::create(path, Some(&video), spec.tone_hz.map(|_| &audio))?;
    let samples_per_frame = |n: u64| {
        // Exact sample positions of frame n at this frame rate, so audio and video end together.
        n * u64::from(audio.sample_rate) * spec.frame_rate.denominator() as u64 / spec.frame_rate.numerator() as u64
    };
    let total_samples = samples_per_frame(u64::from(spec.frames));
    let mut next_sample = 0u64;
    let frame_size = writer.audio_frame_size() as u64;
    let mut picture = frame::Video::new(format::Pixel::YUV420P, spec.width, spec.height);
    for n in 0..spec.frames {
        draw_frame(&mut picture, n);
        picture.set_pts(Some(i64::from(n)));
        writer.write_video(&picture)?;
        // Audio up to the end of this frame, in encoder-sized chunks.
        if let Some(hz) = spec.tone_hz {
            let until = samples_per_frame(u64::from(n) + 1);
            while next_sample + frame_size <= until || (n + 1 == spec.frames && next_sample < total_samples) {
                let count = frame_size.min(total_samples - next_sample) as usize;
                let chunk = tone(hz, audio.sample_rate, audio.channels, next_sample, count, &spec.silences);
                writer.write_audio(&chunk)?;
                next_sample += count as u64;
            }
        }
    }
    writer.finish()
}

fn tone(hz: f32, rate: u32, channels: u16, first: u64, count: usize, silences: &[(f64, f64)]) -> frame::Audio {
    let mut chunk = frame::Audio::new(
        format::Sample::F32(format::sample::Type::Planar),
        count,
        ChannelLayout::default(i32::from(channels)),
    );
    chunk.set_rate(rate);
    chunk.set_pts(Some(first as i64));
    for ch in 0..usize::from(channels) {
        let plane = chunk.plane_mut::<f32>(ch);
        for (i, s) in plane.iter_mut().enumerate().take(count) {
            let t = (first + i as u64) as f64 / f64::from(rate);
            let quiet = silences.iter().any(|&(a, b)| t >= a && t < b);
            *s = if quiet { 0.0 } else { (0.25 * (std::f64::consts::TAU * f64::from(hz) * t).sin()) as f32 };
        }
    }
    chunk
}

/// Decodes every video frame and returns the markers in presentation order.
pub fn read_markers(path: &Path) -> Result<Vec<u32>> {
    let mut input = open_input(path)?;
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or(Error::MissingStream { path: path.to_owned(), what: "no video stream" })?;
    let index = stream.index();
    let mut decoder = crate::video_decoder(stream.parameters(), path)?;
    let mut markers = Vec::new();
    let mut frame = frame::Video::empty();
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        decoder.send_packet(&packet).map_err(Error::codec(path, "decoding video"))?;
        while decoder.receive_frame(&mut frame).is_ok() {
            markers.push(read_marker(&frame));
        }
    }
    decoder.send_eof().map_err(Error::codec(path, "decoding video"))?;
    while decoder.receive_frame(&mut frame).is_ok() {
        markers.push(read_marker(&frame));
    }
    Ok(markers)
}
