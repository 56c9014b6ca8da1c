//! Re-encoding through a picture stage that runs on its own thread (a GPU, typically):
//! decoding, the stage and encoding overlap. Pictures travel through a small ring: the
//! decoder blocks once `RING` pictures wait for the stage, so memory stays bounded however
//! long the video is and however slow the stage.

use std::path::Path;
use std::sync::mpsc;

use ffmpeg::{format, frame, software};
use ffmpeg_next as ffmpeg;

use crate::cut::{Progress, seconds};
use crate::encode::{AudioSettings, VideoSettings, Writer};
use crate::error::{Error, Result};
use crate::frames::ClipShape;
use crate::transcode::{Chunker, Source, TranscodeOptions};

/// Pictures decoded ahead of the stage, at most.
const RING: usize = 4;

/// A per-picture stage that owns its own device: pictures go in as decoded, YUV 4:2:0 at
/// the source's size, and come out as YUV 4:2:0 at the size [`PictureStage::prepare`]
/// chose. Runs on a thread of its own, one picture at a time, in order.
pub trait PictureStage: Send {
    /// Called once, before the first picture; returns the output size (made even).
    fn prepare(&mut self, shape: &ClipShape) -> std::result::Result<(u32, u32), String>;
    /// Turns `picture` (planar YUV420P or NV12, shown at `time` seconds) into `out` (planar
    /// YUV420P at the prepared size).
    fn process(&mut self, picture: &frame::Video, time: f64, out: &mut frame::Video)
    -> std::result::Result<(), String>;
}

type Processed = std::result::Result<frame::Video, String>;

/// Re-encodes `input` into `output` (H.264 + AAC MP4) with every picture passed through
/// `stage`; the sound is re-encoded unchanged. `opts.size` and `opts.fit` are the stage's
/// business and are ignored here. Returns the number of frames written.
pub fn process_video(
    input: &Path,
    output: &Path,
    opts: &TranscodeOptions,
    stage: &mut dyn PictureStage,
    progress: Progress<'_>,
) -> Result<u64> {
    let Source { mut source, video_index, video_tb, rate, duration, mut decoder, mut audio } = Source::open(input)?;
    let shape = ClipShape { width: decoder.width(), height: decoder.height(), frame_rate: f64::from(rate), duration };
    let failed = |message: String| Error::Frames { path: input.to_owned(), message };
    let (w, h) = stage.prepare(&shape).map_err(failed)?;
    let (w, h) = (w / 2 * 2, h / 2 * 2);
    if w == 0 || h == 0 {
        return Err(failed(format!("the picture stage chose an empty {w}x{h} output")));
    }
    let settings = VideoSettings {
        width: w,
        height: h,
        frame_rate: rate,
        preset: opts.preset.clone(),
        crf: opts.crf,
        gop: None,
        closed_gop: true,
    };
    let audio_settings = AudioSettings::default();
    let mut writer = Writer::create(output, Some(&settings), audio.as_ref().map(|_| &audio_settings))?;
    let mut chunker = Chunker::new(writer.audio_frame_size());
    let mut to_planar: Option<software::scaling::Context> = None;
    let mut decoded = frame::Video::empty();

    std::thread::scope(|scope| -> Result<u64> {
        // Made in here so that any early return drops `to_stage` before the scope joins
        // the stage's thread, which then sees the end of its input and stops.
        let (to_stage, stage_in) = mpsc::sync_channel::<(frame::Video, f64)>(RING);
        let (stage_out, from_stage) = mpsc::channel::<Processed>();
        scope.spawn(move || {
            for (picture, time) in stage_in {
                let mut out = frame::Video::new(format::Pixel::YUV420P, w, h);
                let done = stage.process(&picture, time, &mut out).map(|()| out);
                let stop = done.is_err();
                if stage_out.send(done).is_err() || stop {
                    break;
                }
            }
        });
        let mut sent = 0u64;
        let mut written = 0u64;
        // Once the stage stops taking pictures it has failed, and its error already waits
        // among its results (it sends the error before it stops).
        let stopped = || {
            from_stage
                .try_iter()
                .find_map(Result::err)
                .map_or_else(|| failed("the picture stage stopped".into()), failed)
        };
        // Writes what the stage has finished; with `all`, waits for every picture sent.
        let collect = |writer: &mut Writer, written: &mut u64, sent: u64, all: bool| -> Result<()> {
            while *written < sent {
                let next = if all {
                    from_stage.recv().map_err(|_| failed("the picture stage stopped".into()))?
                } else {
                    match from_stage.try_recv() {
                        Ok(next) => next,
                        Err(mpsc::TryRecvError::Empty) => return Ok(()),
                        Err(mpsc::TryRecvError::Disconnected) => {
                            return Err(failed("the picture stage stopped".into()));
                        }
                    }
                };
                let mut picture = next.map_err(failed)?;
                picture.set_pts(Some(*written as i64));
                writer.write_video(&picture)?;
                *written += 1;
            }
            Ok(())
        };
        let mut send = |decoded: &frame::Video, sent: &mut u64| -> Result<()> {
            let picture = match decoded.format() {
                format::Pixel::YUV420P | format::Pixel::NV12 => decoded.clone(),
                other => {
                    let scaler = match &mut to_planar {
                        Some(s) => s,
                        None => to_planar.insert(
                            software::scaling::Context::get(
                                other,
                                decoded.width(),
                                decoded.height(),
                                format::Pixel::YUV420P,
                                decoded.width(),
                                decoded.height(),
                                software::scaling::Flags::BICUBIC,
                            )
                            .map_err(Error::codec(input, "converting to YUV 4:2:0"))?,
                        ),
                    };
                    let mut planar = frame::Video::empty();
                    scaler.run(decoded, &mut planar).map_err(Error::codec(input, "converting to YUV 4:2:0"))?;
                    planar.set_color_space(decoded.color_space());
                    planar.set_color_range(decoded.color_range());
                    planar
                }
            };
            let time = *sent as f64 / f64::from(rate);
            to_stage.send((picture, time)).map_err(|_| stopped())?;
            *sent += 1;
            Ok(())
        };

        for (stream, packet) in source.packets() {
            if stream.index() == video_index {
                decoder.send_packet(&packet).map_err(Error::codec(input, "decoding video"))?;
                while decoder.receive_frame(&mut decoded).is_ok() {
                    send(&decoded, &mut sent)?;
                }
                collect(&mut writer, &mut written, sent, false)?;
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
            send(&decoded, &mut sent)?;
        }
        drop(to_stage);
        collect(&mut writer, &mut written, sent, true)?;
        chunker.finish(&mut writer)?;
        writer.finish()?;
        progress(1.0);
        Ok(written)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{SyntheticSpec, generate, read_markers};

    /// Halves the picture (keeping every other luma sample and chroma sample) and counts
    /// what it saw, so the test can tell the stage's output and order from the input's.
    struct Halve {
        times: Vec<f64>,
    }

    impl PictureStage for Halve {
        fn prepare(&mut self, shape: &ClipShape) -> std::result::Result<(u32, u32), String> {
            Ok((shape.width / 2, shape.height / 2))
        }
        fn process(
            &mut self,
            picture: &frame::Video,
            time: f64,
            out: &mut frame::Video,
        ) -> std::result::Result<(), String> {
            self.times.push(time);
            for plane in 0..3 {
                let (ow, oh) = (out.plane_width(plane) as usize, out.plane_height(plane) as usize);
                let (is, os) = (picture.stride(plane), out.stride(plane));
                let src = picture.data(plane).to_vec();
                let dst = out.data_mut(plane);
                for y in 0..oh {
                    for x in 0..ow {
                        dst[y * os + x] = src[2 * y * is + 2 * x];
                    }
                }
            }
            Ok(())
        }
    }

    #[test]
    fn a_stage_on_its_own_thread_sees_every_picture_in_order() {
        crate::init();
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.mp4");
        generate(&input, &SyntheticSpec { width: 640, height: 480, frames: 40, ..Default::default() }).unwrap();
        let output = dir.path().join("out.mp4");
        let mut stage = Halve { times: Vec::new() };
        let written = process_video(&input, &output, &TranscodeOptions::default(), &mut stage, &mut |_| true).unwrap();
        assert_eq!(written, 40);
        assert_eq!(stage.times.len(), 40);
        assert!(stage.times.windows(2).all(|t| t[1] > t[0]), "{:?}", stage.times);
        let info = crate::probe(&output, false).unwrap();
        let video = info.video().unwrap();
        assert_eq!((video.width, video.height), (Some(320), Some(240)));
        assert!(info.audio().is_some(), "the sound is kept");
        // The markers survive the halving (they are blocks, not single pixels) in order.
        assert_eq!(read_markers(&output).unwrap(), (0..40).collect::<Vec<u32>>());
    }

    #[test]
    fn a_failing_stage_fails_the_run_with_its_message_and_cancellation_stops_it() {
        struct Fails;
        impl PictureStage for Fails {
            fn prepare(&mut self, shape: &ClipShape) -> std::result::Result<(u32, u32), String> {
                Ok((shape.width, shape.height))
            }
            fn process(
                &mut self,
                _: &frame::Video,
                time: f64,
                _: &mut frame::Video,
            ) -> std::result::Result<(), String> {
                if time > 0.5 { Err("the kernel broke".into()) } else { Ok(()) }
            }
        }
        crate::init();
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.mp4");
        generate(&input, &SyntheticSpec { frames: 50, ..Default::default() }).unwrap();
        let opts = TranscodeOptions::default();
        let err = process_video(&input, &dir.path().join("o.mp4"), &opts, &mut Fails, &mut |_| true).unwrap_err();
        assert!(err.to_string().contains("the kernel broke") && err.to_string().contains("in.mp4"), "{err}");
        let mut halve = Halve { times: Vec::new() };
        let err = process_video(&input, &dir.path().join("c.mp4"), &opts, &mut halve, &mut |_| false).unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
    }
}
