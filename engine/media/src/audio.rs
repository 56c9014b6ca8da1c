//! Audio analysis: where the quiet stretches are (pauses between words, for cuts that
//! never land mid-word).

use std::path::Path;

use ffmpeg::frame;
use ffmpeg_next as ffmpeg;

use crate::cut::{Progress, resample};
use crate::encode::{AudioSettings, Writer};
use crate::error::{Error, Result};
use crate::open_input;

/// A stretch of silence, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Silence {
    pub start: f64,
    pub end: f64,
}

/// How quiet, for how long.
#[derive(Clone, Copy, Debug)]
pub struct SilenceOptions {
    /// Level below which audio counts as silent, in dBFS (RMS over `window`).
    pub threshold_db: f64,
    /// Shortest silence reported, in seconds.
    pub min_duration: f64,
    /// Analysis window, in seconds.
    pub window: f64,
}

impl Default for SilenceOptions {
    fn default() -> Self {
        SilenceOptions { threshold_db: -40.0, min_duration: 0.2, window: 0.02 }
    }
}

/// The silences of the file's first audio stream, in order. Streaming: decodes chunk by
/// chunk and keeps only the current window.
pub fn detect_silence(input: &Path, opts: &SilenceOptions, progress: Progress<'_>) -> Result<Vec<Silence>> {
    let mut source = open_input(input)?;
    let stream = source
        .streams()
        .best(ffmpeg::media::Type::Audio)
        .ok_or(Error::MissingStream { path: input.to_owned(), what: "no audio stream" })?;
    let index = stream.index();
    let duration =
        if source.duration() > 0 { source.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE) } else { 0.0 };
    let mut decoder = crate::audio_decoder(stream.parameters(), input)?;
    let settings = AudioSettings::default();
    let rate = f64::from(settings.sample_rate);
    let window = ((opts.window * rate).round() as usize).max(1);
    let threshold = 10f64.powf(opts.threshold_db / 20.0);
    let mut detector = Detector {
        window,
        threshold,
        rate,
        opts: *opts,
        sum: 0.0,
        count: 0,
        position: 0,
        quiet_since: None,
        found: Vec::new(),
    };
    let mut resampler = None;
    let mut sound = frame::Audio::empty();
    for (s, packet) in source.packets() {
        if s.index() != index {
            continue;
        }
        decoder.send_packet(&packet).map_err(Error::codec(input, "decoding audio"))?;
        while decoder.receive_frame(&mut sound).is_ok() {
            let chunk = resample(input, &mut resampler, &sound, &settings)?;
            detector.feed(&chunk);
        }
        let t = detector.position as f64 / rate;
        if !progress(if duration > 0.0 { (t / duration).min(1.0) as f32 } else { 0.0 }) {
            return Err(Error::Cancelled);
        }
    }
    decoder.send_eof().map_err(Error::codec(input, "decoding audio"))?;
    while decoder.receive_frame(&mut sound).is_ok() {
        let chunk = resample(input, &mut resampler, &sound, &settings)?;
        detector.feed(&chunk);
    }
    progress(1.0);
    Ok(detector.finish())
}

struct Detector {
    window: usize,
    threshold: f64,
    rate: f64,
    opts: SilenceOptions,
    sum: f64,
    count: usize,
    /// Samples seen.
    position: u64,
    quiet_since: Option<u64>,
    found: Vec<Silence>,
}

impl Detector {
    fn feed(&mut self, chunk: &frame::Audio) {
        let planes = chunk.planes();
        for i in 0..chunk.samples() {
            // Mean square over the channels.
            let mut square = 0.0;
            for ch in 0..planes {
                let v = f64::from(chunk.plane::<f32>(ch)[i]);
                square += v * v;
            }
            self.sum += square / planes.max(1) as f64;
            self.count += 1;
            self.position += 1;
            if self.count == self.window {
                let rms = (self.sum / self.count as f64).sqrt();
                let window_start = self.position - self.count as u64;
                self.close_window(rms < self.threshold, window_start);
                self.sum = 0.0;
                self.count = 0;
            }
        }
    }

    fn close_window(&mut self, quiet: bool, window_start: u64) {
        match (quiet, self.quiet_since) {
            (true, None) => self.quiet_since = Some(window_start),
            (false, Some(since)) => {
                self.push(since, window_start);
                self.quiet_since = None;
            }
            _ => {}
        }
    }

    fn push(&mut self, from: u64, to: u64) {
        let (start, end) = (from as f64 / self.rate, to as f64 / self.rate);
        if end - start >= self.opts.min_duration {
            self.found.push(Silence { start, end });
        }
    }

    fn finish(mut self) -> Vec<Silence> {
        if self.count > 0 {
            let rms = (self.sum / self.count as f64).sqrt();
            let start = self.position - self.count as u64;
            self.close_window(rms < self.threshold, start);
        }
        if let Some(since) = self.quiet_since.take() {
            self.push(since, self.position);
        }
        self.found
    }
}

/// Container of extracted audio.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    /// AAC in MP4 (`.m4a`).
    #[default]
    M4a,
    /// 16-bit PCM WAV.
    Wav,
}

/// Extracts the first audio stream to `output`, resampled to 48 kHz stereo. Returns the
/// number of samples (per channel) written.
pub fn extract_audio(input: &Path, output: &Path, format: AudioFormat, progress: Progress<'_>) -> Result<u64> {
    let mut source = open_input(input)?;
    let stream = source
        .streams()
        .best(ffmpeg::media::Type::Audio)
        .ok_or(Error::MissingStream { path: input.to_owned(), what: "no audio stream" })?;
    let index = stream.index();
    let duration =
        if source.duration() > 0 { source.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE) } else { 0.0 };
    let mut decoder = crate::audio_decoder(stream.parameters(), input)?;
    let settings = AudioSettings::default();
    let mut sink = match format {
        AudioFormat::M4a => AudioSink::M4a(Writer::create(output, None, Some(&settings))?, Vec::new(), 0),
        AudioFormat::Wav => AudioSink::Wav(WavWriter::create(output, settings.sample_rate, settings.channels)?),
    };
    let mut resampler = None;
    let mut sound = frame::Audio::empty();
    let mut samples = 0u64;
    for (s, packet) in source.packets() {
        if s.index() != index {
            continue;
        }
        decoder.send_packet(&packet).map_err(Error::codec(input, "decoding audio"))?;
        while decoder.receive_frame(&mut sound).is_ok() {
            let chunk = resample(input, &mut resampler, &sound, &settings)?;
            samples += chunk.samples() as u64;
            sink.push(&chunk)?;
        }
        if !progress(if duration > 0.0 {
            (samples as f64 / f64::from(settings.sample_rate) / duration).min(1.0) as f32
        } else {
            0.0
        }) {
            return Err(Error::Cancelled);
        }
    }
    decoder.send_eof().map_err(Error::codec(input, "decoding audio"))?;
    while decoder.receive_frame(&mut sound).is_ok() {
        let chunk = resample(input, &mut resampler, &sound, &settings)?;
        samples += chunk.samples() as u64;
        sink.push(&chunk)?;
    }
    sink.finish()?;
    progress(1.0);
    Ok(samples)
}

enum AudioSink {
    /// The writer, samples waiting for a full AAC frame per channel, and the next pts.
    M4a(Writer, Vec<Vec<f32>>, i64),
    Wav(WavWriter),
}

impl AudioSink {
    fn push(&mut self, chunk: &frame::Audio) -> Result<()> {
        let planes = chunk.planes().max(1);
        let n = chunk.samples();
        match self {
            AudioSink::M4a(writer, pending, next) => {
                let channels = usize::from(AudioSettings::default().channels);
                pending.resize(channels, Vec::new());
                for (ch, buf) in pending.iter_mut().enumerate() {
                    buf.extend_from_slice(&chunk.plane::<f32>(ch.min(planes - 1))[..n]);
                }
                let size = writer.audio_frame_size();
                while pending[0].len() >= size {
                    write_aac(writer, pending, next, size)?;
                }
                Ok(())
            }
            AudioSink::Wav(wav) => {
                let mut bytes = Vec::with_capacity(n * planes * 2);
                for i in 0..n {
                    for ch in 0..usize::from(wav.channels) {
                        let v = chunk.plane::<f32>(ch.min(planes - 1))[i].clamp(-1.0, 1.0);
                        bytes.extend_from_slice(&((v * 32767.0).round() as i16).to_le_bytes());
                    }
                }
                wav.write(&bytes)
            }
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            AudioSink::M4a(mut writer, mut pending, mut next) => {
                let left = pending.first().map_or(0, Vec::len);
                if left > 0 {
                    write_aac(&mut writer, &mut pending, &mut next, left)?;
                }
                writer.finish()
            }
            AudioSink::Wav(wav) => wav.finish(),
        }
    }
}

fn write_aac(writer: &mut Writer, pending: &mut [Vec<f32>], next: &mut i64, count: usize) -> Result<()> {
    let settings = AudioSettings::default();
    let mut out = frame::Audio::new(
        ffmpeg::format::Sample::F32(ffmpeg::format::sample::Type::Planar),
        count,
        ffmpeg::ChannelLayout::default(i32::from(settings.channels)),
    );
    out.set_rate(settings.sample_rate);
    out.set_pts(Some(*next));
    for (ch, buf) in pending.iter_mut().enumerate() {
        let samples: Vec<f32> = buf.drain(..count).collect();
        out.plane_mut::<f32>(ch)[..count].copy_from_slice(&samples);
    }
    *next += count as i64;
    writer.write_audio(&out)
}

/// A 16-bit PCM WAV file, written as it streams; the sizes are filled in at the end.
struct WavWriter {
    path: std::path::PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    channels: u16,
    data_bytes: u64,
}

impl WavWriter {
    fn create(path: &Path, rate: u32, channels: u16) -> Result<Self> {
        use std::io::Write;
        let io = |source| Error::Io { path: path.to_owned(), source };
        let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
        let block = channels * 2;
        let mut header = Vec::with_capacity(44);
        header.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
        header.extend_from_slice(&16u32.to_le_bytes());
        header.extend_from_slice(&1u16.to_le_bytes()); // PCM
        header.extend_from_slice(&channels.to_le_bytes());
        header.extend_from_slice(&rate.to_le_bytes());
        header.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        header.extend_from_slice(&block.to_le_bytes());
        header.extend_from_slice(&16u16.to_le_bytes());
        header.extend_from_slice(b"data\0\0\0\0");
        file.write_all(&header).map_err(io)?;
        Ok(WavWriter { path: path.to_owned(), file, channels, data_bytes: 0 })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        self.data_bytes += bytes.len() as u64;
        self.file.write_all(bytes).map_err(|source| Error::Io { path: self.path.clone(), source })
    }

    fn finish(self) -> Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        let path = self.path.clone();
        let io = |source| Error::Io { path: path.clone(), source };
        let mut file = self.file.into_inner().map_err(|e| io(e.into_error()))?;
        // WAV sizes are 32-bit: a longer recording is refused rather than written corrupt.
        let data = u32::try_from(self.data_bytes)
            .map_err(|_| Error::Unsupported { path: path.clone(), what: "WAV over 4 GiB".into() })?;
        file.seek(SeekFrom::Start(4)).map_err(io)?;
        file.write_all(&(data + 36).to_le_bytes()).map_err(io)?;
        file.seek(SeekFrom::Start(40)).map_err(io)?;
        file.write_all(&data.to_le_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }
}
