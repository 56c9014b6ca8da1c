//! Mixing audio tracks through FFmpeg's filter graph (libavfilter): per-track gain, music
//! ducked under speech (`sidechaincompress` keyed by the speech), fades, and EBU R128
//! loudness normalisation (`loudnorm`), streamed: tracks are decoded and fed packet by
//! packet in turn, and what the graph produces is encoded as it comes.

use std::path::{Path, PathBuf};

use ffmpeg::{filter, frame};
use ffmpeg_next as ffmpeg;

use crate::cut::{Progress, resample};
use crate::encode::{AudioSettings, Writer};
use crate::error::{Error, Result};
use crate::open_input;

/// What a track is, for ducking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrackRole {
    /// Dialogue: the key that ducks music.
    Speech,
    /// Ducked under speech.
    Music,
    /// Mixed as it is.
    #[default]
    Other,
}

#[derive(Clone, Debug)]
pub struct MixTrack {
    pub path: PathBuf,
    pub gain_db: f64,
    pub role: TrackRole,
}

#[derive(Clone, Debug, Default)]
pub struct MixOptions {
    /// How far music drops under speech, in dB (for example 12); `None`: no ducking.
    pub duck_db: Option<f64>,
    pub fade_in: f64,
    pub fade_out: f64,
    /// EBU R128 integrated loudness target (LUFS, for example -16 for web, -23 for broadcast).
    pub loudness: Option<f64>,
}

fn media_duration(path: &Path) -> Result<f64> {
    let input = open_input(path)?;
    Ok(if input.duration() > 0 { input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE) } else { 0.0 })
}

/// The filter graph text for `tracks` (inputs `in0`…, output `out`).
fn graph_spec(tracks: &[MixTrack], opts: &MixOptions, duration: f64) -> String {
    let mut parts = Vec::new();
    for (i, t) in tracks.iter().enumerate() {
        parts.push(format!("[in{i}]volume={:.3}dB[g{i}]", t.gain_db));
    }
    let speech: Vec<usize> =
        tracks.iter().enumerate().filter(|(_, t)| t.role == TrackRole::Speech).map(|(i, _)| i).collect();
    let music: Vec<usize> =
        tracks.iter().enumerate().filter(|(_, t)| t.role == TrackRole::Music).map(|(i, _)| i).collect();
    let mut mixed: Vec<String> = Vec::new();
    match opts.duck_db {
        Some(duck) if !speech.is_empty() && !music.is_empty() => {
            // The key: all speech together, split once for the mix and once per music track.
            let key = if speech.len() == 1 {
                format!("[g{}]", speech[0])
            } else {
                let ins: String = speech.iter().map(|i| format!("[g{i}]")).collect();
                parts.push(format!("{ins}amix=inputs={}:normalize=0:duration=longest[speech]", speech.len()));
                "[speech]".into()
            };
            let outs: String = (0..=music.len()).map(|k| format!("[key{k}]")).collect();
            parts.push(format!("{key}asplit={}{outs}", music.len() + 1));
            mixed.push("[key0]".into());
            // A ratio that takes loud speech down by about `duck` dB; fast attack, slow release.
            let ratio = (duck / 3.0).clamp(2.0, 20.0);
            for (k, m) in music.iter().enumerate() {
                parts.push(format!(
                    "[g{m}][key{}]sidechaincompress=threshold=0.015:ratio={ratio:.2}:attack=20:release=400:makeup=1[duck{m}]",
                    k + 1
                ));
                mixed.push(format!("[duck{m}]"));
            }
            for (i, t) in tracks.iter().enumerate() {
                if t.role == TrackRole::Other {
                    mixed.push(format!("[g{i}]"));
                }
            }
        }
        _ => mixed.extend((0..tracks.len()).map(|i| format!("[g{i}]"))),
    }
    let mut chain = if mixed.len() == 1 {
        format!("{}anull", mixed[0])
    } else {
        format!("{}amix=inputs={}:normalize=0:duration=longest", mixed.concat(), mixed.len())
    };
    if opts.fade_in > 0.0 {
        chain.push_str(&format!(",afade=t=in:st=0:d={:.3}", opts.fade_in));
    }
    if opts.fade_out > 0.0 && duration > opts.fade_out {
        chain.push_str(&format!(",afade=t=out:st={:.3}:d={:.3}", duration - opts.fade_out, opts.fade_out));
    }
    if let Some(lufs) = opts.loudness {
        // loudnorm works at 192 kHz internally; aresample brings it back.
        chain.push_str(&format!(",loudnorm=I={lufs:.1}:TP=-1.5:LRA=11,aresample=48000"));
    }
    chain.push_str(",aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo[out]");
    parts.push(chain);
    parts.join(";")
}

/// Mixes `tracks` into `output` (AAC in MP4/M4A). Returns the samples written per channel.
pub fn mix_audio(tracks: &[MixTrack], output: &Path, opts: &MixOptions, progress: Progress<'_>) -> Result<u64> {
    if tracks.is_empty() {
        return Err(Error::Unsupported { path: output.to_owned(), what: "a mix of no tracks".into() });
    }
    let settings = AudioSettings::default();
    let duration =
        tracks.iter().map(|t| media_duration(&t.path)).collect::<Result<Vec<_>>>()?.into_iter().fold(0.0, f64::max);
    let graph_err =
        |e: ffmpeg::Error| Error::Unsupported { path: output.to_owned(), what: format!("audio filter graph ({e})") };
    let mut graph = filter::Graph::new();
    let abuffer = filter::find("abuffer")
        .ok_or(Error::Unsupported { path: output.to_owned(), what: "libavfilter without abuffer".into() })?;
    let sink = filter::find("abuffersink")
        .ok_or(Error::Unsupported { path: output.to_owned(), what: "libavfilter without abuffersink".into() })?;
    let args = format!("time_base=1/{0}:sample_rate={0}:sample_fmt=fltp:channel_layout=stereo", settings.sample_rate);
    for i in 0..tracks.len() {
        graph.add(&abuffer, &format!("in{i}"), &args).map_err(graph_err)?;
    }
    graph.add(&sink, "out", "").map_err(graph_err)?;
    let spec = graph_spec(tracks, opts, duration);
    {
        let mut parser = graph.output("in0", 0).map_err(graph_err)?;
        for i in 1..tracks.len() {
            parser = parser.output(&format!("in{i}"), 0).map_err(graph_err)?;
        }
        parser.input("out", 0).map_err(graph_err)?.parse(&spec).map_err(graph_err)?;
    }
    graph.validate().map_err(graph_err)?;

    let mut writer = Writer::create(output, None, Some(&settings))?;
    let frame_size = writer.audio_frame_size() as u32;
    if let Some(mut out) = graph.get("out") {
        out.sink().set_frame_size(frame_size);
    }

    struct Feed {
        input: ffmpeg::format::context::Input,
        index: usize,
        decoder: ffmpeg::codec::decoder::Audio,
        resampler: Option<ffmpeg::software::resampling::Context>,
        pts: i64,
        done: bool,
        path: PathBuf,
    }
    let mut feeds = Vec::with_capacity(tracks.len());
    for t in tracks {
        let input = open_input(&t.path)?;
        let stream = input
            .streams()
            .best(ffmpeg::media::Type::Audio)
            .ok_or(Error::MissingStream { path: t.path.clone(), what: "no audio stream" })?;
        let index = stream.index();
        let decoder = crate::audio_decoder(stream.parameters(), &t.path)?;
        feeds.push(Feed { input, index, decoder, resampler: None, pts: 0, done: false, path: t.path.clone() });
    }

    let mut written = 0u64;
    let mut sound = frame::Audio::empty();
    let mut mixed = frame::Audio::empty();
    let mut drain = |graph: &mut filter::Graph, writer: &mut Writer, written: &mut u64| -> Result<()> {
        let Some(mut out) = graph.get("out") else { return Ok(()) };
        while out.sink().frame(&mut mixed).is_ok() {
            mixed.set_pts(Some(*written as i64));
            writer.write_audio(&mixed)?;
            *written += mixed.samples() as u64;
        }
        Ok(())
    };
    while feeds.iter().any(|f| !f.done) {
        for (i, feed) in feeds.iter_mut().enumerate() {
            if feed.done {
                continue;
            }
            // The next packet of this track's audio stream.
            let next = feed.input.packets().find(|(s, _)| s.index() == feed.index).map(|(_, p)| p);
            let name = format!("in{i}");
            match next {
                Some(packet) => {
                    feed.decoder.send_packet(&packet).map_err(Error::codec(&feed.path, "decoding audio"))?;
                }
                None => {
                    feed.decoder.send_eof().map_err(Error::codec(&feed.path, "decoding audio"))?;
                    feed.done = true;
                }
            }
            while feed.decoder.receive_frame(&mut sound).is_ok() {
                let mut chunk = resample(&feed.path, &mut feed.resampler, &sound, &settings)?;
                if chunk.samples() == 0 {
                    continue;
                }
                chunk.set_pts(Some(feed.pts));
                feed.pts += chunk.samples() as i64;
                if let Some(mut source) = graph.get(&name) {
                    source.source().add(&chunk).map_err(graph_err)?;
                }
            }
            if feed.done
                && let Some(mut source) = graph.get(&name)
            {
                source.source().flush().map_err(graph_err)?;
            }
        }
        drain(&mut graph, &mut writer, &mut written)?;
        let t = written as f64 / f64::from(settings.sample_rate);
        if !progress(if duration > 0.0 { (t / duration).min(1.0) as f32 } else { 0.0 }) {
            return Err(Error::Cancelled);
        }
    }
    drain(&mut graph, &mut writer, &mut written)?;
    writer.finish()?;
    progress(1.0);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphs_duck_music_under_speech_and_normalise() {
        let track = |role| MixTrack { path: "x".into(), gain_db: -3.0, role };
        let tracks = [track(TrackRole::Speech), track(TrackRole::Music), track(TrackRole::Other)];
        let opts = MixOptions { duck_db: Some(12.0), fade_in: 1.0, fade_out: 2.0, loudness: Some(-16.0) };
        let spec = graph_spec(&tracks, &opts, 10.0);
        assert!(spec.contains("[g0]asplit=2[key0][key1]"), "{spec}");
        assert!(spec.contains("[g1][key1]sidechaincompress"), "{spec}");
        assert!(spec.contains("[key0][duck1][g2]amix=inputs=3"), "{spec}");
        assert!(spec.contains("afade=t=out:st=8.000:d=2.000"), "{spec}");
        assert!(spec.contains("loudnorm=I=-16.0"), "{spec}");
        let plain = graph_spec(&[track(TrackRole::Music)], &MixOptions::default(), 10.0);
        assert!(plain.starts_with("[in0]volume=-3.000dB[g0];[g0]anull,aformat"), "{plain}");
    }
}
