//! Stills: the frames at given times, as JPEG or PNG files (each image is a single packet of
//! FFmpeg's `mjpeg` or `png` encoder, written as it is).

use std::path::{Path, PathBuf};

use ffmpeg::{Packet, codec, format, frame, software};
use ffmpeg_next as ffmpeg;

use crate::cut::{Progress, seconds};
use crate::error::{Error, Result};
use crate::frames::RgbaFrame;
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
        let mut decoder = crate::video_decoder(params.clone(), input)?;
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

/// Decodes one image file (JPEG, PNG, anything FFmpeg reads as a picture).
fn read_image(path: &Path) -> Result<frame::Video> {
    let mut input = open_input(path)?;
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or(Error::MissingStream { path: path.to_owned(), what: "no picture" })?;
    let index = stream.index();
    let mut decoder = crate::video_decoder(stream.parameters(), path)?;
    let mut picture = frame::Video::empty();
    for (s, packet) in input.packets() {
        if s.index() != index {
            continue;
        }
        decoder.send_packet(&packet).map_err(Error::codec(path, "decoding the image"))?;
        if decoder.receive_frame(&mut picture).is_ok() {
            return Ok(picture);
        }
    }
    decoder.send_eof().map_err(Error::codec(path, "decoding the image"))?;
    decoder
        .receive_frame(&mut picture)
        .map_err(|_| Error::Unreadable { path: path.to_owned(), reason: "no picture in the file".into() })?;
    Ok(picture)
}

/// An image file (PNG, JPEG, WebP… whatever FFmpeg decodes) as RGBA, alpha kept: logos and
/// watermarks for compositing, stills for Ken Burns moves.
pub fn read_image_rgba(path: &Path) -> Result<RgbaFrame> {
    let picture = read_image(path)?;
    let (w, h) = (picture.width(), picture.height());
    let mut scaler = software::scaling::Context::get(
        picture.format(),
        w,
        h,
        format::Pixel::RGBA,
        w,
        h,
        software::scaling::Flags::BICUBIC | software::scaling::Flags::ACCURATE_RND,
    )
    .map_err(Error::codec(path, "converting the image to RGBA"))?;
    let mut rgba = frame::Video::empty();
    scaler.run(&picture, &mut rgba).map_err(Error::codec(path, "converting the image to RGBA"))?;
    let (stride, row) = (rgba.stride(0), w as usize * 4);
    let mut data = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        data.extend_from_slice(&rgba.data(0)[y * stride..y * stride + row]);
    }
    Ok(RgbaFrame { width: w, height: h, data })
}

/// A video from still images: each shown for `seconds_each` at `fps`, scaled to `size`
/// (default: the first image's size, made even) keeping their aspect inside it, with a
/// silent stereo track so it joins and mixes like any other clip. One image and a long
/// `seconds_each` is a held still; many images at `1/fps` each is an image sequence.
pub fn images_to_video(
    images: &[&Path],
    seconds_each: f64,
    fps: ffmpeg::Rational,
    size: Option<(u32, u32)>,
    output: &Path,
    progress: Progress<'_>,
) -> Result<u64> {
    let Some(first) = images.first() else {
        return Err(Error::Unsupported { path: output.to_owned(), what: "a video of no images".into() });
    };
    let rate = f64::from(fps.numerator()) / f64::from(fps.denominator().max(1));
    if !(seconds_each > 0.0 && seconds_each.is_finite() && rate > 0.0) {
        return Err(Error::Unsupported {
            path: output.to_owned(),
            what: format!("{seconds_each} s per image at {rate} fps"),
        });
    }
    let first_picture = read_image(first)?;
    let (w, h) = size.unwrap_or((first_picture.width(), first_picture.height()));
    let (w, h) = ((w / 2 * 2).max(2), (h / 2 * 2).max(2));
    let video = crate::VideoSettings {
        width: w,
        height: h,
        frame_rate: fps,
        preset: "veryfast".into(),
        crf: 20,
        gop: None,
        closed_gop: true,
    };
    let audio = crate::AudioSettings::default();
    let mut writer = crate::Writer::create(output, Some(&video), Some(&audio))?;
    let mut frame_no = 0i64;
    let mut samples_written = 0u64;
    let frame_size = writer.audio_frame_size() as u64;
    let mut canvas = frame::Video::new(format::Pixel::YUV420P, w, h);
    for (k, path) in images.iter().enumerate() {
        let picture = if k == 0 { first_picture.clone() } else { read_image(path)? };
        let ((sw, sh), offset) =
            crate::transcode::layout((picture.width(), picture.height()), (w, h), crate::Fit::Contain);
        let mut scaler = software::scaling::Context::get(
            picture.format(),
            picture.width(),
            picture.height(),
            format::Pixel::YUV420P,
            sw,
            sh,
            software::scaling::Flags::BICUBIC,
        )
        .map_err(Error::codec(path, "scaling"))?;
        let mut scaled = frame::Video::empty();
        scaler.run(&picture, &mut scaled).map_err(Error::codec(path, "scaling"))?;
        crate::transcode::place(&scaled, (w, h), offset, &mut canvas);
        // Frames up to the exact end of this image's time, so many images never drift.
        // At least one frame per image, however short its time.
        let until = ((((k + 1) as f64 * seconds_each) * rate).round() as i64).max(frame_no + 1);
        while frame_no < until {
            canvas.set_pts(Some(frame_no));
            writer.write_video(&canvas)?;
            frame_no += 1;
            let samples_until = (frame_no as f64 / rate * f64::from(audio.sample_rate)).round() as u64;
            while samples_written < samples_until {
                let count = frame_size.min(samples_until - samples_written) as usize;
                let mut silence = frame::Audio::new(
                    format::Sample::F32(format::sample::Type::Planar),
                    count,
                    ffmpeg::ChannelLayout::default(i32::from(audio.channels)),
                );
                silence.set_rate(audio.sample_rate);
                silence.set_pts(Some(samples_written as i64));
                for ch in 0..usize::from(audio.channels) {
                    silence.plane_mut::<f32>(ch)[..count].fill(0.0);
                }
                writer.write_audio(&silence)?;
                samples_written += count as u64;
            }
        }
        if !progress((k + 1) as f32 / images.len() as f32) {
            return Err(Error::Cancelled);
        }
    }
    writer.finish()?;
    Ok(frame_no as u64)
}
