//! Stills: the frames at given times, as JPEG or PNG files (each image is a single packet of
//! FFmpeg's `mjpeg` or `png` encoder, written as it is).

use std::path::{Path, PathBuf};

use ffmpeg::{Packet, codec, format, frame, software};
use ffmpeg_next as ffmpeg;

use crate::cut::{Progress, seconds};
use crate::error::{Error, Result};
use crate::open_input;

/// Image format of a still.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    #[default]
    Jpg,
    Png,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpg => "jpg",
            ImageFormat::Png => "png",
        }
    }
}

/// Writes the frame shown at each time (the first frame starting at or after it) to
/// `dir/<stem>-<n>.<ext>`, scaled to `width` (keeping the aspect) when given. Returns the
/// files in the order of `times`.
pub fn thumbnails(
    input: &Path,
    times: &[f64],
    width: Option<u32>,
    image: ImageFormat,
    dir: &Path,
    stem: &str,
    progress: Progress<'_>,
) -> Result<Vec<PathBuf>> {
    let mut source = open_input(input)?;
    let stream = source
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or(Error::MissingStream { path: input.to_owned(), what: "no video stream" })?;
    let (index, tb, params) = (stream.index(), stream.time_base(), stream.parameters());
    let mut files = Vec::with_capacity(times.len());
    for (n, &time) in times.iter().enumerate() {
        if !(time >= 0.0 && time.is_finite()) {
            return Err(Error::Unsupported { path: input.to_owned(), what: format!("thumbnail time {time}") });
        }
        let mut decoder = ffmpeg::codec::context::Context::from_parameters(params.clone())
            .and_then(|c| c.decoder().video())
            .map_err(Error::codec(input, "opening the video decoder"))?;
        let target = (time * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
        source.seek(target, ..target + 1).map_err(Error::codec(input, "seeking"))?;
        let mut decoded = frame::Video::empty();
        let mut last: Option<frame::Video> = None;
        let mut found = None;
        'packets: for (s, packet) in source.packets() {
            if s.index() != index {
                continue;
            }
            decoder.send_packet(&packet).map_err(Error::codec(input, "decoding video"))?;
            while decoder.receive_frame(&mut decoded).is_ok() {
                if seconds(decoded.pts().or(decoded.timestamp()), tb) >= time - 1e-6 {
                    found = Some(decoded.clone());
                    break 'packets;
                }
                last = Some(decoded.clone());
            }
        }
        if found.is_none() {
            decoder.send_eof().map_err(Error::codec(input, "decoding video"))?;
            while decoder.receive_frame(&mut decoded).is_ok() {
                if seconds(decoded.pts().or(decoded.timestamp()), tb) >= time - 1e-6 {
                    found = Some(decoded.clone());
                    break;
                }
                last = Some(decoded.clone());
            }
        }
        // Past the end: the last frame.
        let picture = found
            .or(last)
            .ok_or(Error::Unreadable { path: input.to_owned(), reason: format!("no frame at {time} s") })?;
        let path = dir.join(format!("{stem}-{}.{}", n + 1, image.extension()));
        encode_still(input, &picture, width, image, &path)?;
        files.push(path);
        if !progress((n + 1) as f32 / times.len() as f32) {
            return Err(Error::Cancelled);
        }
    }
    Ok(files)
}

fn encode_still(
    input: &Path,
    picture: &frame::Video,
    width: Option<u32>,
    image: ImageFormat,
    path: &Path,
) -> Result<()> {
    let (w, h) = match width {
        Some(w) => {
            let h = (f64::from(picture.height()) * f64::from(w) / f64::from(picture.width().max(1))).round() as u32;
            (w.max(2) / 2 * 2, h.max(2) / 2 * 2)
        }
        None => (picture.width(), picture.height()),
    };
    let (codec_id, pixel) = match image {
        // Full-range 4:2:0, as JPEG files are.
        ImageFormat::Jpg => (codec::Id::MJPEG, format::Pixel::YUVJ420P),
        ImageFormat::Png => (codec::Id::PNG, format::Pixel::RGB24),
    };
    let mut scaler = software::scaling::Context::get(
        picture.format(),
        picture.width(),
        picture.height(),
        pixel,
        w,
        h,
        software::scaling::Flags::BICUBIC,
    )
    .map_err(Error::codec(input, "scaling a still"))?;
    let mut scaled = frame::Video::empty();
    scaler.run(picture, &mut scaled).map_err(Error::codec(input, "scaling a still"))?;
    scaled.set_pts(Some(0));
    let codec = ffmpeg::encoder::find(codec_id)
        .ok_or(Error::Unsupported { path: path.to_owned(), what: format!("{codec_id:?} encoder") })?;
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(Error::codec(path, "creating the image encoder"))?;
    enc.set_width(w);
    enc.set_height(h);
    enc.set_format(pixel);
    enc.set_time_base(ffmpeg::Rational(1, 25));
    if image == ImageFormat::Jpg {
        // A fixed quantiser (2, of 2–31: sharp) instead of rate control, which would
        // starve a single frame. 118 is FFmpeg's FF_QP2LAMBDA.
        enc.set_flags(codec::Flags::QSCALE);
        enc.set_global_quality(2 * 118);
    }
    let mut enc = enc.open_as(codec).map_err(Error::codec(path, "opening the image encoder"))?;
    enc.send_frame(&scaled).map_err(Error::codec(path, "encoding a still"))?;
    enc.send_eof().map_err(Error::codec(path, "encoding a still"))?;
    let mut packet = Packet::empty();
    let mut bytes = Vec::new();
    while enc.receive_packet(&mut packet).is_ok() {
        bytes.extend_from_slice(packet.data().unwrap_or_default());
    }
    std::fs::write(path, bytes).map_err(|source| Error::Io { path: path.to_owned(), source })
}
