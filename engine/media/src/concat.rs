//! Joining whole files end to end. When every file's video is H.264 with the same
//! parameters (the same `avcC`, size and time base, as segments cut from one source are),
//! video packets are copied; otherwise each file is decoded, fitted to the first file's
//! frame and re-encoded. Audio is always decoded and re-encoded per file to exactly the
//! length of that file's video, so A/V stay in sync across the joins.

use std::path::Path;

use ffmpeg::{Packet, Rational, codec, format, frame, software};
use ffmpeg_next as ffmpeg;

use crate::cut::{AudioCutter, PlannedSegment, Progress, frame_rate, resample, seconds};
use crate::encode::{AudioSettings, VideoSettings, Writer};
use crate::error::{Error, Result};
use crate::open_input;
use crate::transcode::{Fit, layout};

/// What a concat did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConcatReport {
    /// True when video packets were copied; false when re-encoded.
    pub copied: bool,
    pub frames: u64,
}

struct Source {
    params: codec::Parameters,
    extradata: Option<Vec<u8>>,
    size: (u32, u32),
    time_base: Rational,
    rate: Rational,
    /// Frames of video (from the packet count).
    frames: i64,
}

fn inspect(path: &Path) -> Result<Source> {
    let mut input = open_input(path)?;
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or(Error::MissingStream { path: path.to_owned(), what: "no video stream" })?;
    let (index, params, time_base, rate) =
        (stream.index(), stream.parameters(), stream.time_base(), frame_rate(&stream));
    let decoder = crate::video_decoder(params.clone(), path)?;
    let size = (decoder.width(), decoder.height());
    let frames = input.packets().filter(|(s, _)| s.index() == index).count() as i64;
    Ok(Source { extradata: crate::smart::extradata(&params), params, size, time_base, rate, frames })
}

/// Joins `inputs` in order into `output` (H.264 + AAC MP4), copying video when the files
/// allow it and re-encoding otherwise.
pub fn concat(inputs: &[&Path], output: &Path, progress: Progress<'_>) -> Result<ConcatReport> {
    if inputs.is_empty() {
        return Err(Error::Unsupported { path: output.to_owned(), what: "concat of no files".into() });
    }
    let sources = inputs.iter().map(|p| inspect(p)).collect::<Result<Vec<_>>>()?;
    match join(inputs, &sources, true, output, progress) {
        Err(Error::Unsupported { .. }) => {
            let _ = std::fs::remove_file(output);
            join(inputs, &sources, false, output, progress)
        }
        other => other,
    }
}

fn join(
    inputs: &[&Path],
    sources: &[Source],
    try_copy: bool,
    output: &Path,
    progress: Progress<'_>,
) -> Result<ConcatReport> {
    let first = &sources[0];
    let copyable = try_copy
        && first.params.id() == codec::Id::H264
        && first.extradata.as_ref().is_some_and(|e| e.first() == Some(&1))
        && sources.iter().all(|s| {
            s.params.id() == codec::Id::H264
                && s.extradata == first.extradata
                && s.size == first.size
                && s.time_base == first.time_base
                && s.rate == first.rate
        });
    let settings = AudioSettings::default();
    // Each file is one "segment" of its whole video length, for the audio quotas.
    let mut frames_before = 0i64;
    let segments: Vec<PlannedSegment> = sources
        .iter()
        .map(|s| {
            let rate = first.rate;
            let samples_at = |frames: i64| {
                let num = i128::from(frames) * i128::from(settings.sample_rate) * i128::from(rate.denominator());
                let den = i128::from(rate.numerator()).max(1);
                ((num + den / 2) / den) as u64
            };
            let fps = f64::from(rate.numerator()) / f64::from(rate.denominator());
            let segment = PlannedSegment {
                first: 0,
                last: s.frames,
                start: 0.0,
                end: s.frames as f64 / fps,
                frames_before,
                samples: samples_at(frames_before + s.frames) - samples_at(frames_before),
            };
            frames_before += s.frames;
            segment
        })
        .collect();
    let total = frames_before.max(1) as f64;

    let mut writer = if copyable {
        Writer::create_copying(output, first.params.clone(), first.time_base, Some(&settings))?
    } else {
        let video = VideoSettings {
            width: first.size.0,
            height: first.size.1,
            frame_rate: first.rate,
            preset: "veryfast".into(),
            crf: 20,
            gop: None,
            closed_gop: true,
        };
        Writer::create(output, Some(&video), Some(&settings))?
    };
    let mut audio_out = AudioCutter::new(&settings, writer.audio_frame_size());
    let frame_ticks = (i64::from(first.time_base.denominator()) * i64::from(first.rate.denominator()))
        / (i64::from(first.time_base.numerator()) * i64::from(first.rate.numerator())).max(1);
    let mut written = 0u64;
    let mut last_dts = i64::MIN;

    for (path, (source, segment)) in inputs.iter().zip(sources.iter().zip(&segments)) {
        let mut input = open_input(path)?;
        let video_index = input.streams().best(ffmpeg::media::Type::Video).map(|s| s.index()).unwrap_or(usize::MAX);
        let audio =
            input.streams().best(ffmpeg::media::Type::Audio).map(|s| (s.index(), s.time_base(), s.parameters()));
        let mut audio_decoder = match &audio {
            Some((_, _, p)) => Some(crate::audio_decoder(p.clone(), path)?),
            None => None,
        };
        let mut video_decoder = if copyable { None } else { Some(crate::video_decoder(source.params.clone(), path)?) };
        audio_out.begin(segment);
        let base = segment.frames_before * frame_ticks;
        let mut origin: Option<i64> = None;
        let mut resampler = None;
        let mut scaler: Option<software::scaling::Context> = None;
        let ((sw, sh), offset) = layout(source.size, first.size, Fit::Contain);
        let mut sound = frame::Audio::empty();
        let mut decoded = frame::Video::empty();
        let mut scaled = frame::Video::empty();
        let mut canvas = frame::Video::new(format::Pixel::YUV420P, first.size.0, first.size.1);
        let mut reencode = |decoded: &frame::Video, writer: &mut Writer, written: &mut u64| -> Result<()> {
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
                    .map_err(Error::codec(path, "scaling"))?,
                ),
            };
            scaler.run(decoded, &mut scaled).map_err(Error::codec(path, "scaling"))?;
            let picture = if (sw, sh) == first.size {
                &mut scaled
            } else {
                crate::transcode::place(&scaled, first.size, offset, &mut canvas);
                &mut canvas
            };
            picture.set_pts(Some(*written as i64));
            writer.write_video(picture)?;
            *written += 1;
            Ok(())
        };
        for (stream, packet) in input.packets() {
            if stream.index() == video_index {
                match video_decoder.as_mut() {
                    None => {
                        let mut packet: Packet = packet;
                        // This file's first frame shows at `base`; both times shift alike, so
                        // the source's pts − dts lag is kept.
                        let pts0 = *origin.get_or_insert(packet.pts().unwrap_or(0));
                        let shift = base - pts0;
                        packet.set_pts(packet.pts().map(|p| p + shift));
                        packet.set_dts(packet.dts().map(|d| d + shift));
                        if let Some(d) = packet.dts() {
                            if d <= last_dts {
                                return Err(Error::Unsupported {
                                    path: path.to_path_buf(),
                                    what: "decode times that do not join".into(),
                                });
                            }
                            last_dts = d;
                        }
                        writer.write_video_packet(packet)?;
                        written += 1;
                    }
                    Some(decoder) => {
                        decoder.send_packet(&packet).map_err(Error::codec(path, "decoding video"))?;
                        while decoder.receive_frame(&mut decoded).is_ok() {
                            reencode(&decoded, &mut writer, &mut written)?;
                        }
                    }
                }
                if !progress((written as f64 / total).min(1.0) as f32) {
                    return Err(Error::Cancelled);
                }
            } else if let (Some((index, tb, _)), Some(decoder)) = (&audio, audio_decoder.as_mut())
                && stream.index() == *index
                && !audio_out.segment_done()
            {
                decoder.send_packet(&packet).map_err(Error::codec(path, "decoding audio"))?;
                while decoder.receive_frame(&mut sound).is_ok() {
                    let t = seconds(sound.pts().or(sound.timestamp()), *tb);
                    let chunk = resample(path, &mut resampler, &sound, &settings)?;
                    audio_out.push(t, &chunk, &mut writer)?;
                }
            }
        }
        if let Some(decoder) = video_decoder.as_mut() {
            decoder.send_eof().map_err(Error::codec(path, "decoding video"))?;
            while decoder.receive_frame(&mut decoded).is_ok() {
                reencode(&decoded, &mut writer, &mut written)?;
            }
        }
        audio_out.end_segment(&mut writer)?;
    }
    audio_out.finish(&mut writer)?;
    writer.finish()?;
    progress(1.0);
    Ok(ConcatReport { copied: copyable, frames: written })
}
