//! `probe`: what a media file holds — container, duration, streams with codecs, exact frame
//! rates, sizes, rotation, audio layout — and optionally where its keyframes are.

use std::path::Path;

use ffmpeg_next as ffmpeg;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::open_input;

/// A rational number (`num/den`), as FFmpeg keeps time bases and frame rates: exact, so
/// `30000/1001` stays `30000/1001`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ratio {
    pub num: i32,
    pub den: i32,
}

impl Ratio {
    pub fn as_f64(self) -> f64 {
        if self.den == 0 { 0.0 } else { f64::from(self.num) / f64::from(self.den) }
    }
}

impl From<ffmpeg::Rational> for Ratio {
    fn from(r: ffmpeg::Rational) -> Self {
        Ratio { num: r.numerator(), den: r.denominator() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MediaInfo {
    /// The container (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, …).
    pub format: String,
    /// Seconds; 0 when unknown.
    pub duration: f64,
    pub bit_rate: i64,
    pub streams: Vec<StreamInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StreamInfo {
    pub index: usize,
    /// `video`, `audio`, `subtitle`, `data`, `attachment` or `unknown`.
    pub kind: String,
    /// Codec name (`h264`, `aac`, …).
    pub codec: String,
    pub time_base: Ratio,
    /// Seconds; 0 when the container does not say.
    pub duration: f64,
    /// Video: the stream's base frame rate, exact (`30000/1001`): FFmpeg's `r_frame_rate`,
    /// the rate every timestamp is a multiple of for constant-rate video.
    pub frame_rate: Option<Ratio>,
    /// Video: frames divided by duration, as the container reports it.
    pub avg_frame_rate: Option<Ratio>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Pixel format name (`yuv420p`).
    pub pixel_format: Option<String>,
    /// Clockwise degrees the picture must be turned for display (0, 90, 180, 270).
    pub rotation: Option<i32>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub bit_rate: i64,
    /// Presentation times (seconds) of the keyframes, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframes: Option<Vec<f64>>,
}

impl MediaInfo {
    pub fn video(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.kind == "video")
    }

    pub fn audio(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.kind == "audio")
    }
}

fn seconds(ts: i64, tb: ffmpeg::Rational) -> f64 {
    if ts == ffmpeg::ffi::AV_NOPTS_VALUE || tb.denominator() == 0 {
        return 0.0;
    }
    ts as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator())
}

/// Reads the file's headers (and, with `keyframes`, every packet header of the video
/// stream: no decoding).
pub fn probe(path: &Path, keyframes: bool) -> Result<MediaInfo> {
    let mut input = open_input(path)?;
    let mut streams = Vec::new();
    for stream in input.streams() {
        let params = stream.parameters();
        let kind = match params.medium() {
            ffmpeg::media::Type::Video => "video",
            ffmpeg::media::Type::Audio => "audio",
            ffmpeg::media::Type::Subtitle => "subtitle",
            ffmpeg::media::Type::Data => "data",
            ffmpeg::media::Type::Attachment => "attachment",
            ffmpeg::media::Type::Unknown => "unknown",
        };
        let codec_name = ffmpeg::decoder::find(params.id())
            .map_or_else(|| format!("{:?}", params.id()).to_lowercase(), |c| c.name().to_owned());
        let mut info = StreamInfo {
            index: stream.index(),
            kind: kind.to_owned(),
            codec: codec_name,
            time_base: stream.time_base().into(),
            duration: seconds(stream.duration(), stream.time_base()),
            frame_rate: None,
            avg_frame_rate: None,
            width: None,
            height: None,
            pixel_format: None,
            rotation: None,
            sample_rate: None,
            channels: None,
            bit_rate: params.bit_rate(),
            keyframes: None,
        };
        let context = ffmpeg::codec::context::Context::from_parameters(params)
            .map_err(Error::codec(path, "reading stream parameters"))?;
        match kind {
            "video" => {
                let (base, avg) = (stream.rate(), stream.avg_frame_rate());
                let known = |r: ffmpeg::Rational| r.numerator() > 0 && r.denominator() > 0;
                info.frame_rate = [base, avg].into_iter().find(|r| known(*r)).map(Ratio::from);
                info.avg_frame_rate = known(avg).then(|| avg.into());
                if let Ok(video) = context.decoder().video() {
                    info.width = Some(video.width());
                    info.height = Some(video.height());
                    info.pixel_format = video.format().descriptor().map(|d| d.name().to_owned());
                }
                info.rotation = Some(rotation(&stream));
            }
            "audio" => {
                if let Ok(audio) = context.decoder().audio() {
                    info.sample_rate = Some(audio.rate());
                    info.channels = Some(audio.channels());
                }
            }
            _ => {}
        }
        streams.push(info);
    }
    if keyframes && let Some(video) = streams.iter().position(|s| s.kind == "video") {
        let index = streams[video].index;
        let tb = input.stream(index).map(|s| s.time_base()).unwrap_or(ffmpeg::Rational(1, 1));
        let mut times = Vec::new();
        for (stream, packet) in input.packets() {
            if stream.index() == index && packet.is_key() {
                times.push(seconds(packet.pts().or(packet.dts()).unwrap_or(0), tb));
            }
        }
        times.sort_by(f64::total_cmp);
        streams[video].keyframes = Some(times);
    }
    let duration =
        if input.duration() > 0 { input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE) } else { 0.0 };
    Ok(MediaInfo { format: input.format().name().to_owned(), duration, bit_rate: input.bit_rate(), streams })
}

/// The display rotation from the stream's display matrix (clockwise degrees, 0–270).
fn rotation(stream: &ffmpeg::format::stream::Stream) -> i32 {
    for side in stream.side_data() {
        if side.kind() != ffmpeg::codec::packet::side_data::Type::DisplayMatrix {
            continue;
        }
        let data = side.data();
        if data.len() < 36 {
            continue;
        }
        // Nine 32-bit values; the first two rows hold the rotation in 16.16 fixed point.
        let m = |i: usize| {
            f64::from(i32::from_ne_bytes([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]])) / 65536.0
        };
        let (sx, sy) = ((m(0) * m(0) + m(3) * m(3)).sqrt(), (m(1) * m(1) + m(4) * m(4)).sqrt());
        if sx == 0.0 || sy == 0.0 {
            continue;
        }
        // FFmpeg's av_display_rotation_get returns the negation of this angle (it reports
        // counter-clockwise); this is the clockwise turn a player applies, as the old
        // `rotate` tag said.
        let clockwise = (m(1) / sy).atan2(m(0) / sx).to_degrees();
        let cw = (clockwise.round() as i32).rem_euclid(360);
        return (cw + 45) / 90 * 90 % 360;
    }
    0
}
