//! Putting a soundtrack under a video: the video's packets are copied as they are, and the
//! audio is decoded and re-encoded (AAC) to exactly the video's length — cut if longer,
//! padded with silence if shorter — so they end together.

use std::path::Path;

use ffmpeg::frame;
use ffmpeg_next as ffmpeg;

use crate::cut::{AudioCutter, PlannedSegment, Progress, frame_rate, resample, seconds};
use crate::encode::{AudioSettings, Writer};
use crate::error::{Error, Result};
use crate::open_input;

/// Writes `video`'s picture with `audio`'s sound (its first audio stream) to `output`.
pub fn mux(video: &Path, audio: &Path, output: &Path, progress: Progress<'_>) -> Result<()> {
    let mut picture = open_input(video)?;
    let stream = picture
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or(Error::MissingStream { path: video.to_owned(), what: "no video stream" })?;
    let (index, params, tb, rate) = (stream.index(), stream.parameters(), stream.time_base(), frame_rate(&stream));
    // The container's frame count when it has one (MP4 does); else count packet headers.
    let frames = match stream.frames() {
        n if n > 0 => n,
        _ => {
            let counted = picture.packets().filter(|(s, _)| s.index() == index).count() as i64;
            picture = open_input(video)?;
            counted
        }
    };
    let settings = AudioSettings::default();
    let samples = {
        let num = i128::from(frames) * i128::from(settings.sample_rate) * i128::from(rate.denominator());
        let den = i128::from(rate.numerator()).max(1);
        ((num + den / 2) / den) as u64
    };
    let mut writer = Writer::create_copying(output, params, tb, Some(&settings))?;
    let mut audio_out = AudioCutter::new(&settings, writer.audio_frame_size());
    let fps = f64::from(rate.numerator()) / f64::from(rate.denominator());
    audio_out.begin(&PlannedSegment {
        first: 0,
        last: frames,
        start: 0.0,
        end: frames as f64 / fps,
        frames_before: 0,
        samples,
    });

    // Audio first into the encoder queue is fine: the muxer interleaves by time.
    let mut sound_in = open_input(audio)?;
    let a_stream = sound_in
        .streams()
        .best(ffmpeg::media::Type::Audio)
        .ok_or(Error::MissingStream { path: audio.to_owned(), what: "no audio stream" })?;
    let (a_index, a_tb) = (a_stream.index(), a_stream.time_base());
    let mut decoder = crate::audio_decoder(a_stream.parameters(), audio)?;
    let mut resampler = None;
    let mut sound = frame::Audio::empty();
    // The video's packets, read as the audio advances (memory holds about a second of
    // each), times shifted so the first frame shows at 0.
    let mut origin = None;
    let mut video_packets = picture
        .packets()
        .filter(|(s, _)| s.index() == index)
        .map(|(_, mut p)| {
            let shift = -*origin.get_or_insert(p.pts().unwrap_or(0));
            p.set_pts(p.pts().map(|t| t + shift));
            p.set_dts(p.dts().map(|t| t + shift));
            p
        })
        .peekable();
    let mut written_video = 0i64;
    for (s, packet) in sound_in.packets() {
        if s.index() != a_index || audio_out.segment_done() {
            continue;
        }
        decoder.send_packet(&packet).map_err(Error::codec(audio, "decoding audio"))?;
        while decoder.receive_frame(&mut sound).is_ok() {
            let t = seconds(sound.pts().or(sound.timestamp()), a_tb);
            let chunk = resample(audio, &mut resampler, &sound, &settings)?;
            audio_out.push(t, &chunk, &mut writer)?;
        }
        // Keep the video about level with the audio, so neither queue grows.
        let audio_time = seconds(packet.pts(), a_tb);
        while let Some(p) = video_packets.peek() {
            if seconds(p.pts(), tb) > audio_time + 1.0 {
                break;
            }
            let p = video_packets.next().expect("peeked");
            writer.write_video_packet(p)?;
            written_video += 1;
        }
        if !progress((written_video as f64 / frames.max(1) as f64).min(1.0) as f32) {
            return Err(Error::Cancelled);
        }
    }
    decoder.send_eof().map_err(Error::codec(audio, "decoding audio"))?;
    while decoder.receive_frame(&mut sound).is_ok() {
        let t = seconds(sound.pts().or(sound.timestamp()), a_tb);
        let chunk = resample(audio, &mut resampler, &sound, &settings)?;
        audio_out.push(t, &chunk, &mut writer)?;
    }
    audio_out.end_segment(&mut writer)?;
    for p in video_packets {
        writer.write_video_packet(p)?;
    }
    audio_out.finish(&mut writer)?;
    writer.finish()?;
    progress(1.0);
    Ok(())
}
