//! Encoding: H.264 (libx264) video and AAC audio into an MP4 (or any container FFmpeg
//! writes), with `+faststart` so players can start before the whole file arrives.

use std::path::{Path, PathBuf};

use ffmpeg::{ChannelLayout, Dictionary, Packet, Rational, codec, format, frame};
use ffmpeg_next as ffmpeg;

use crate::error::{Error, Result};

/// How to encode video.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoSettings {
    pub width: u32,
    pub height: u32,
    /// Frames per second as a fraction (`30000/1001`).
    pub frame_rate: Rational,
    /// libx264 preset (`ultrafast` … `veryslow`).
    pub preset: String,
    /// Constant rate factor: 0 lossless, 18 visually lossless, 23 default, 51 worst.
    pub crf: u8,
    /// Frames between keyframes (the GOP length); `None`: libx264's default.
    pub gop: Option<u32>,
    /// Every keyframe an IDR that nothing after it reaches behind (the default), so whole
    /// GOPs can later be stream-copied by a smart cut. Open GOPs compress slightly better.
    pub closed_gop: bool,
}

/// How to encode audio (AAC, planar float).
#[derive(Clone, Debug, PartialEq)]
pub struct AudioSettings {
    pub sample_rate: u32,
    pub channels: u16,
    pub bit_rate: usize,
}

impl Default for AudioSettings {
    fn default() -> Self {
        AudioSettings { sample_rate: 48_000, channels: 2, bit_rate: 160_000 }
    }
}

/// An output file with up to one video and one audio stream. Frames go in with `pts` in
/// the encoder's time base (video: 1/frame rate; audio: 1/sample rate).
pub struct Writer {
    path: PathBuf,
    output: format::context::Output,
    /// A video stream written with already-encoded packets (stream copy): its index and
    /// the time base of the packets given to it.
    copied_video: Option<(usize, Rational)>,
    video: Option<StreamEncoder<codec::encoder::video::Encoder>>,
    audio: Option<StreamEncoder<codec::encoder::audio::Encoder>>,
    header_written: bool,
}

pub(crate) struct StreamEncoder<E> {
    encoder: E,
    index: usize,
    time_base: Rational,
    /// A packet's duration when the encoder leaves it unset (libx264 does): one frame.
    /// Without it the muxer cannot know how long the last frame lasts, and the stream
    /// comes out one frame short.
    packet_duration: i64,
}

impl<E> StreamEncoder<E> {
    /// Where its packets go: stream index, encoder time base, default packet duration.
    fn target(&self) -> (usize, Rational, i64) {
        (self.index, self.time_base, self.packet_duration)
    }
}

impl Writer {
    /// Creates the file and opens the encoders; the header is written with the first frame.
    pub fn create(path: &Path, video: Option<&VideoSettings>, audio: Option<&AudioSettings>) -> Result<Writer> {
        crate::init();
        let mut output = format::output(path)
            .map_err(|e| Error::Unsupported { path: path.to_owned(), what: format!("output format ({e})") })?;
        let global_header = output.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let video = match video {
            Some(settings) => Some(open_video(path, &mut output, settings, global_header)?),
            None => None,
        };
        let audio = match audio {
            Some(settings) => Some(open_audio(path, &mut output, settings, global_header)?),
            None => None,
        };
        Ok(Writer { path: path.to_owned(), output, copied_video: None, video, audio, header_written: false })
    }

    /// Creates a file whose video stream takes encoded packets as they are (codec
    /// parameters from the source stream, packet times in `time_base`), with an optional
    /// AAC audio stream.
    pub fn create_copying(
        path: &Path,
        video: codec::Parameters,
        time_base: Rational,
        audio: Option<&AudioSettings>,
    ) -> Result<Writer> {
        crate::init();
        let mut output = format::output(path)
            .map_err(|e| Error::Unsupported { path: path.to_owned(), what: format!("output format ({e})") })?;
        let global_header = output.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let mut stream = output
            .add_stream(ffmpeg::encoder::find(codec::Id::None))
            .map_err(Error::codec(path, "adding a video stream"))?;
        stream.set_parameters(video);
        stream.set_time_base(time_base);
        let index = stream.index();
        let audio = match audio {
            Some(settings) => Some(open_audio(path, &mut output, settings, global_header)?),
            None => None,
        };
        Ok(Writer {
            path: path.to_owned(),
            output,
            copied_video: Some((index, time_base)),
            video: None,
            audio,
            header_written: false,
        })
    }

    /// Writes an encoded video packet to the copying stream (times in its time base).
    pub fn write_video_packet(&mut self, mut packet: Packet) -> Result<()> {
        self.ensure_header()?;
        let path = self.path.clone();
        let (index, time_base) =
            self.copied_video.ok_or(Error::MissingStream { path: path.clone(), what: "no copying video stream" })?;
        let stream_tb = self.output.stream(index).map_or(time_base, |s| s.time_base());
        packet.set_stream(index);
        packet.set_position(-1);
        packet.rescale_ts(time_base, stream_tb);
        packet.write_interleaved(&mut self.output).map_err(Error::codec(&path, "writing a packet"))
    }

    fn ensure_header(&mut self) -> Result<()> {
        if !self.header_written {
            let mut options = Dictionary::new();
            // The index goes at the front: players and browsers start at once.
            options.set("movflags", "+faststart");
            self.output.write_header_with(options).map_err(Error::codec(&self.path, "writing the header"))?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Audio frames must hold exactly this many samples (AAC: 1024), except the last.
    pub fn audio_frame_size(&self) -> usize {
        self.audio.as_ref().map_or(1024, |a| a.encoder.frame_size() as usize).max(1)
    }

    pub fn write_video(&mut self, frame: &frame::Video) -> Result<()> {
        self.ensure_header()?;
        let path = self.path.clone();
        let enc = self
            .video
            .as_mut()
            .ok_or(Error::MissingStream { path: path.clone(), what: "no video stream to write to" })?;
        enc.encoder.send_frame(frame).map_err(Error::codec(&path, "encoding video"))?;
        drain(&path, &mut self.output, enc.target(), |p| enc.encoder.receive_packet(p).is_ok())
    }

    pub fn write_audio(&mut self, frame: &frame::Audio) -> Result<()> {
        self.ensure_header()?;
        let path = self.path.clone();
        let enc = self
            .audio
            .as_mut()
            .ok_or(Error::MissingStream { path: path.clone(), what: "no audio stream to write to" })?;
        enc.encoder.send_frame(frame).map_err(Error::codec(&path, "encoding audio"))?;
        drain(&path, &mut self.output, enc.target(), |p| enc.encoder.receive_packet(p).is_ok())
    }

    /// Flushes the encoders and writes the trailer.
    pub fn finish(mut self) -> Result<()> {
        self.ensure_header()?;
        let path = self.path.clone();
        if let Some(enc) = self.video.as_mut() {
            enc.encoder.send_eof().map_err(Error::codec(&path, "flushing video"))?;
            drain(&path, &mut self.output, enc.target(), |p| enc.encoder.receive_packet(p).is_ok())?;
        }
        if let Some(enc) = self.audio.as_mut() {
            enc.encoder.send_eof().map_err(Error::codec(&path, "flushing audio"))?;
            drain(&path, &mut self.output, enc.target(), |p| enc.encoder.receive_packet(p).is_ok())?;
        }
        self.output.write_trailer().map_err(Error::codec(&path, "writing the trailer"))
    }
}

/// Moves every finished packet from the encoder into the file.
fn drain(
    path: &Path,
    output: &mut format::context::Output,
    (index, time_base, packet_duration): (usize, Rational, i64),
    mut receive: impl FnMut(&mut Packet) -> bool,
) -> Result<()> {
    let mut packet = Packet::empty();
    while receive(&mut packet) {
        if packet.duration() <= 0 {
            packet.set_duration(packet_duration);
        }
        let stream_tb = output.stream(index).map_or(time_base, |s| s.time_base());
        packet.set_stream(index);
        packet.rescale_ts(time_base, stream_tb);
        packet.write_interleaved(output).map_err(Error::codec(path, "writing a packet"))?;
    }
    Ok(())
}

fn open_video(
    path: &Path,
    output: &mut format::context::Output,
    settings: &VideoSettings,
    global_header: bool,
) -> Result<StreamEncoder<codec::encoder::video::Encoder>> {
    let unsupported = |what: &str| Error::Unsupported { path: path.to_owned(), what: what.to_owned() };
    let codec = ffmpeg::encoder::find_by_name("libx264")
        .or_else(|| ffmpeg::encoder::find(codec::Id::H264))
        .ok_or_else(|| unsupported("video encoder: this FFmpeg has no H.264 encoder"))?;
    let mut stream = output.add_stream(codec).map_err(Error::codec(path, "adding a video stream"))?;
    let index = stream.index();
    let mut encoder = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(Error::codec(path, "creating the video encoder"))?;
    let time_base = settings.frame_rate.invert();
    encoder.set_width(settings.width);
    encoder.set_height(settings.height);
    encoder.set_format(format::Pixel::YUV420P);
    encoder.set_time_base(time_base);
    encoder.set_frame_rate(Some(settings.frame_rate));
    if let Some(gop) = settings.gop {
        encoder.set_gop(gop);
    }
    let mut flags = if settings.closed_gop { codec::Flags::CLOSED_GOP } else { codec::Flags::empty() };
    if global_header {
        flags |= codec::Flags::GLOBAL_HEADER;
    }
    encoder.set_flags(flags);
    let mut options = Dictionary::new();
    options.set("preset", &settings.preset);
    options.set("crf", &settings.crf.to_string());
    if let Some(gop) = settings.gop {
        // A fixed GOP: scene-cut keyframes would make the GOP length unpredictable.
        options.set("x264-params", &format!("keyint={gop}:min-keyint={gop}:scenecut=0"));
    }
    let encoder = encoder.open_as_with(codec, options).map_err(Error::codec(path, "opening the H.264 encoder"))?;
    stream.set_parameters(&encoder);
    stream.set_time_base(time_base);
    Ok(StreamEncoder { encoder, index, time_base, packet_duration: 1 })
}

pub(crate) fn open_audio(
    path: &Path,
    output: &mut format::context::Output,
    settings: &AudioSettings,
    global_header: bool,
) -> Result<StreamEncoder<codec::encoder::audio::Encoder>> {
    let codec = ffmpeg::encoder::find(codec::Id::AAC).ok_or_else(|| Error::Unsupported {
        path: path.to_owned(),
        what: "audio encoder: this FFmpeg has no AAC encoder".into(),
    })?;
    let mut stream = output.add_stream(codec).map_err(Error::codec(path, "adding an audio stream"))?;
    let index = stream.index();
    let mut encoder = codec::context::Context::new_with_codec(codec)
        .encoder()
        .audio()
        .map_err(Error::codec(path, "creating the audio encoder"))?;
    let time_base = Rational(1, settings.sample_rate as i32);
    encoder.set_rate(settings.sample_rate as i32);
    encoder.set_channel_layout(ChannelLayout::default(i32::from(settings.channels)));
    encoder.set_format(format::Sample::F32(format::sample::Type::Planar));
    encoder.set_bit_rate(settings.bit_rate);
    encoder.set_time_base(time_base);
    if global_header {
        encoder.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let encoder = encoder.open_as(codec).map_err(Error::codec(path, "opening the AAC encoder"))?;
    stream.set_parameters(&encoder);
    stream.set_time_base(time_base);
    let packet_duration = i64::from(encoder.frame_size().max(1));
    Ok(StreamEncoder { encoder, index, time_base, packet_duration })
}
