//! Audio analysis: where the quiet stretches are (pauses between words, for cuts that
//! never land mid-word).

use std::path::Path;

use ffmpeg::frame;
use ffmpeg_next as ffmpeg;

use crate::cut::{Progress, resample};
use crate::encode::AudioSettings;
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
    let mut decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().audio())
        .map_err(Error::codec(input, "opening the audio decoder"))?;
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
