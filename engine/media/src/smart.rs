//! Smart cut: copy the whole GOPs inside the range untouched, re-encode only the partial
//! GOPs at its edges. The output shows exactly the frames of `[start, end)`, like a full
//! re-encode, at a fraction of the cost.
//!
//! One pass over the source, from the keyframe before `start`:
//! - **head**: frames of the GOP that contains `start`, from `start` up to the next
//!   keyframe, are decoded and re-encoded;
//! - **middle**: each following GOP is buffered (its packets only) until the next keyframe
//!   shows where it ends; a GOP that ends by `end` is copied as it is;
//! - **tail**: the GOP that contains `end` is decoded and re-encoded up to `end`.
//!
//! The re-encoded edges are H.264 with their parameter sets (SPS/PPS) in-band, converted to
//! the MP4's length-prefixed NAL units; the first copied packet after a re-encoded head gets
//! the source's parameter sets in-band again, so a decoder switches back. Edges are encoded
//! with the source's reorder depth, and their decode times shifted to the source's reorder
//! delay, so decode times stay increasing across the joins. Audio is decoded and re-encoded over the exact
//! range (it is cheap), so it stays in sync.
//!
//! Requires H.264 in an MP4-style (`avcC`) stream with closed GOPs (IDR keyframes, as
//! libx264 writes by default); anything else takes the plain re-encode path.

use std::path::Path;

use ffmpeg::{Dictionary, Packet, Rational, codec, format, frame};
use ffmpeg_next as ffmpeg;

use crate::cut::{AudioCutter, CutOptions, Progress, Span, cut_reencode_spans, frame_rate, plan, resample, seconds};
use crate::encode::{AudioSettings, Writer};
use crate::error::{Error, Result};
use crate::open_input;

/// What a smart cut did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmartCutReport {
    /// Frames decoded and re-encoded at the edges.
    pub reencoded_frames: u64,
    /// Packets copied as they were.
    pub copied_packets: u64,
    /// True when the source could not be smart-cut and was re-encoded whole.
    pub fell_back: bool,
}

/// Cuts `[start, end)` seconds of `input` into `output`, copying whole GOPs.
pub fn smart_cut(
    input: &Path,
    output: &Path,
    start: f64,
    end: f64,
    opts: &CutOptions,
    progress: Progress<'_>,
) -> Result<SmartCutReport> {
    smart_cut_spans(input, output, &[Span { start, end }], opts, progress)
}

/// Cuts the spans of `input` and joins them, in order, into `output`, copying whole GOPs
/// and re-encoding only GOP edges. A source the smart path cannot join (another codec,
/// Annex B, open GOPs, a reorder depth libx264 cannot match) is re-encoded whole instead,
/// and the report says so.
pub fn smart_cut_spans(
    input: &Path,
    output: &Path,
    spans: &[Span],
    opts: &CutOptions,
    progress: Progress<'_>,
) -> Result<SmartCutReport> {
    match smart_or_refuse(input, output, spans, opts, progress) {
        Err(Error::Unsupported { what, .. }) if !what.starts_with("cut range") => {
            let _ = std::fs::remove_file(output);
            let frames = cut_reencode_spans(input, output, spans, opts, progress)?;
            Ok(SmartCutReport { reencoded_frames: frames, copied_packets: 0, fell_back: true })
        }
        other => other,
    }
}

fn smart_or_refuse(
    input: &Path,
    output: &Path,
    spans: &[Span],
    opts: &CutOptions,
    progress: Progress<'_>,
) -> Result<SmartCutReport> {
    let mut source = open_input(input)?;
    let stream = source
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or(Error::MissingStream { path: input.to_owned(), what: "no video stream" })?;
    let params = stream.parameters();
    let (index, tb) = (stream.index(), stream.time_base());
    let rate = frame_rate(&stream);
    let audio_settings = AudioSettings::default();
    let segments = plan(input, spans, rate, audio_settings.sample_rate)?;
    let parameter_sets = avcc_parameter_sets(&params);
    let probe_decoder = crate::video_decoder(params.clone(), input)?;
    let eligible =
        params.id() == codec::Id::H264 && parameter_sets.is_some() && probe_decoder.format() == format::Pixel::YUV420P;
    let Some((nal_length, source_sets)) = parameter_sets.filter(|_| eligible) else {
        return Err(Error::Unsupported {
            path: input.to_owned(),
            what: "stream for smart cut (not H.264 avcC yuv420p)".into(),
        });
    };
    let (width, height) = (probe_decoder.width(), probe_decoder.height());
    drop(probe_decoder);
    let audio = source.streams().best(ffmpeg::media::Type::Audio).map(|s| (s.index(), s.time_base(), s.parameters()));

    let ticks = |seconds: f64| (seconds * f64::from(tb.denominator()) / f64::from(tb.numerator())).round() as i64;
    let frame_ticks = (i64::from(tb.denominator()) * i64::from(rate.denominator()))
        / (i64::from(tb.numerator()) * i64::from(rate.numerator())).max(1);
    let mut writer = Writer::create_copying(output, params.clone(), tb, audio.as_ref().map(|_| &audio_settings))?;
    let mut audio_out = AudioCutter::new(&audio_settings, writer.audio_frame_size());
    let mut cut = Joiner {
        input,
        reorder_depth: video_delay(&params),
        params,
        tb,
        rate,
        width,
        height,
        opts,
        nal_length,
        source_sets,
        origin: None,
        base: 0,
        delay: None,
        report: SmartCutReport::default(),
        last_dts: None,
        need_source_sets: false,
    };
    let total: f64 = segments.iter().map(|s| s.end - s.start).sum();
    let mut done_before = 0.0;

    for segment in &segments {
        // A quarter frame of tolerance, as in the plan.
        let (start_ts, end_ts) = (ticks(segment.start) - frame_ticks / 4, ticks(segment.end) - frame_ticks / 4);
        cut.origin = None;
        cut.base = segment.frames_before * frame_ticks;
        audio_out.begin(segment);
        let mut audio_decoder = match &audio {
            Some((_, _, p)) => Some(crate::audio_decoder(p.clone(), input)?),
            None => None,
        };
        let mut resampler = None;
        let target = (segment.start * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
        source.seek(target, ..target + 1).map_err(Error::codec(input, "seeking"))?;

        // Packets of the GOP being looked at, in decode order.
        let mut gop: Vec<Packet> = Vec::new();
        let mut first_gop = true;
        let mut video_done = false;
        // Where the source's picture has been read up to: a file that stops inside the
        // segment is truncated or damaged, and must not give a silently shorter cut.
        let mut reached = i64::MIN;
        let mut sound = frame::Audio::empty();
        for (stream, packet) in source.packets() {
            if stream.index() == index && !video_done {
                reached = reached.max(packet.pts().map_or(i64::MIN, |p| p.saturating_add(frame_ticks)));
                if packet.is_key() && !gop.is_empty() {
                    let next_key = packet.pts().unwrap_or(i64::MAX);
                    cut.observe_keyframe(&packet);
                    video_done =
                        cut.close_gop(std::mem::take(&mut gop), first_gop, next_key, start_ts, end_ts, &mut writer)?;
                    first_gop = false;
                    let here = (seconds(Some(next_key), tb) - segment.start).clamp(0.0, segment.end - segment.start);
                    if !progress(((done_before + here) / total.max(1e-9)).min(1.0) as f32) {
                        return Err(Error::Cancelled);
                    }
                }
                if !video_done {
                    gop.push(packet);
                }
            } else if let (Some((a_index, a_tb, _)), Some(decoder)) = (&audio, audio_decoder.as_mut())
                && stream.index() == *a_index
                && !audio_out.segment_done()
                // A partial packet where a file breaks off: the picture check names the break.
                && !packet.is_corrupt()
            {
                decoder.send_packet(&packet).map_err(Error::codec(input, "decoding audio"))?;
                while decoder.receive_frame(&mut sound).is_ok() {
                    let t = seconds(sound.timestamp().or(sound.pts()), *a_tb);
                    let resampled = resample(input, &mut resampler, &sound, &audio_settings)?;
                    audio_out.push(t, &resampled, &mut writer)?;
                }
            }
            if video_done && (audio.is_none() || audio_out.segment_done()) {
                break;
            }
        }
        if !video_done && !gop.is_empty() {
            // The last GOP ends after its last frame.
            let after_last = gop.iter().filter_map(Packet::pts).max().map_or(i64::MAX, |p| p + frame_ticks);
            cut.close_gop(gop, first_gop, after_last, start_ts, end_ts, &mut writer)?;
        }
        if !video_done {
            crate::cut::check_reached(input, seconds(Some(reached), tb), segment, rate)?;
        }
        if audio.is_some() {
            audio_out.end_segment(&mut writer)?;
        }
        done_before += segment.end - segment.start;
    }
    audio_out.finish(&mut writer)?;
    writer.finish()?;
    progress(1.0);
    Ok(cut.report)
}

/// Joins re-encoded edges and copied GOPs into one stream.
struct Joiner<'a> {
    input: &'a Path,
    params: codec::Parameters,
    /// Frames a decoder holds back for reordering (the stream's `video_delay`).
    reorder_depth: i32,
    tb: Rational,
    rate: Rational,
    width: u32,
    height: u32,
    opts: &'a CutOptions,
    nal_length: usize,
    /// The source's SPS and PPS NAL units.
    source_sets: Vec<Vec<u8>>,
    /// Source time of the current segment's first kept frame.
    origin: Option<i64>,
    /// Output time where the current segment begins.
    base: i64,
    /// The source's reorder delay (pts − dts of a keyframe), kept by every packet written.
    delay: Option<i64>,
    report: SmartCutReport,
    last_dts: Option<i64>,
    /// The next copied packet must carry the source's parameter sets (an edge was encoded).
    need_source_sets: bool,
}

impl Joiner<'_> {
    /// Handles one whole GOP (`packets`, from its keyframe up to the next keyframe at
    /// `next_key`). Returns true when the cut is complete.
    fn close_gop(
        &mut self,
        packets: Vec<Packet>,
        first: bool,
        next_key: i64,
        start: i64,
        end: i64,
        writer: &mut Writer,
    ) -> Result<bool> {
        let key_pts = packets.first().and_then(Packet::pts).unwrap_or(0);
        if let Some(key) = packets.first() {
            self.observe_keyframe(key);
        }
        // An open GOP: frames decoded after the keyframe that show before it reference the
        // previous GOP, so the GOP cannot stand alone.
        if packets.iter().skip(1).any(|p| p.pts().is_some_and(|p| p < key_pts)) {
            return Err(Error::Unsupported { path: self.input.to_owned(), what: "open GOPs".into() });
        }
        let last_frame = next_key.saturating_sub(self.frame_ticks());
        if last_frame < start {
            return Ok(false); // Entirely before the cut (the seek may land early).
        }
        let inside = key_pts >= start && last_frame < end;
        if first && key_pts < start || !inside {
            // Partial: keep the frames in [start, end) by re-encoding.
            self.reencode(&packets, start, end, writer)?;
            return Ok(next_key >= end);
        }
        self.origin.get_or_insert(key_pts);
        for (i, mut packet) in packets.into_iter().enumerate() {
            if i == 0 && self.need_source_sets {
                packet = prepend_nals(&packet, &self.source_sets, self.nal_length);
                self.need_source_sets = false;
            }
            self.write(packet, writer)?;
            self.report.copied_packets += 1;
        }
        Ok(next_key >= end)
    }

    /// Keeps the largest reorder lag (pts − dts) of the keyframes seen before anything is
    /// written: a stream's first keyframe lags less than those in mid-stream (x264 with
    /// B-pyramid: 2 frames, then 3), and every packet written keeps the larger lag so decode
    /// times can continue across joins. A larger lag showing up later makes the join fail
    /// the increasing-dts check, and the cut falls back to re-encoding.
    fn observe_keyframe(&mut self, key: &Packet) {
        if self.last_dts.is_some() {
            return;
        }
        let lag = key.pts().zip(key.dts()).map_or(0, |(p, d)| p - d).max(0);
        self.delay = Some(self.delay.unwrap_or(0).max(lag));
    }

    fn frame_ticks(&self) -> i64 {
        (i64::from(self.tb.denominator()) * i64::from(self.rate.denominator()))
            / (i64::from(self.tb.numerator()) * i64::from(self.rate.numerator())).max(1)
    }

    /// Shifts a packet to output time and writes it.
    fn write(&mut self, mut packet: Packet, writer: &mut Writer) -> Result<()> {
        let shift = self.base - self.origin.unwrap_or(0);
        let pts = packet.pts().map(|p| p + shift);
        let dts = packet.dts().map(|d| d + shift);
        packet.set_pts(pts);
        packet.set_dts(dts);
        if let Some(d) = dts {
            if self.last_dts.is_some_and(|last| d <= last) {
                return Err(Error::Unsupported {
                    path: self.input.to_owned(),
                    what: "GOP structure (open GOPs or timestamps that do not join); use the re-encode path".into(),
                });
            }
            self.last_dts = Some(d);
        }
        writer.write_video_packet(packet)
    }

    /// Decodes `packets` (one GOP) and re-encodes the frames in `[start, end)`.
    fn reencode(&mut self, packets: &[Packet], start: i64, end: i64, writer: &mut Writer) -> Result<()> {
        let input = self.input;
        // A fresh decoder per GOP, from the stream's parameters (its avcC tells it the NAL
        // format and holds the parameter sets).
        let mut decoder = crate::video_decoder(self.params.clone(), input)?;
        // Frames go to the encoder as they are decoded (in display order), so memory holds
        // a few frames, not the GOP; only the (small) encoded packets are collected.
        let mut encoder: Option<codec::encoder::video::Encoder> = None;
        let mut out = Vec::new();
        let mut packet = Packet::empty();
        let mut decoded = frame::Video::empty();
        let mut feed = |decoded: &mut frame::Video, this: &mut Self, out: &mut Vec<Packet>| -> Result<()> {
            let Some(t) = decoded.pts().or(decoded.timestamp()) else { return Ok(()) };
            if t < start || t >= end {
                return Ok(());
            }
            let enc = match &mut encoder {
                Some(enc) => enc,
                None => {
                    this.origin.get_or_insert(t);
                    encoder.insert(this.edge_encoder()?)
                }
            };
            decoded.set_pts(Some(t));
            decoded.set_kind(ffmpeg::picture::Type::None);
            enc.send_frame(decoded).map_err(Error::codec(input, "encoding video"))?;
            while enc.receive_packet(&mut packet).is_ok() {
                out.push(packet.clone());
            }
            this.report.reencoded_frames += 1;
            Ok(())
        };
        for source_packet in packets {
            decoder.send_packet(source_packet).map_err(Error::codec(input, "decoding video"))?;
            while decoder.receive_frame(&mut decoded).is_ok() {
                feed(&mut decoded, self, &mut out)?;
            }
        }
        decoder.send_eof().map_err(Error::codec(input, "decoding video"))?;
        while decoder.receive_frame(&mut decoded).is_ok() {
            feed(&mut decoded, self, &mut out)?;
        }
        let Some(mut encoder) = encoder else { return Ok(()) };
        encoder.send_eof().map_err(Error::codec(input, "encoding video"))?;
        let mut packet = Packet::empty();
        while encoder.receive_packet(&mut packet).is_ok() {
            out.push(packet.clone());
        }
        let delay = self.delay.unwrap_or(0);
        // The edge's own reorder delay (its keyframe comes out first); its decode times are
        // pushed back to the source's delay so they keep increasing across the joins.
        let edge_delay = out.first().map_or(0, |p| p.pts().unwrap_or(0) - p.dts().unwrap_or(0));
        if edge_delay > delay {
            return Err(Error::Unsupported {
                path: input.to_owned(),
                what: format!("reorder delay {delay} (edges need {edge_delay})"),
            });
        }
        for p in out {
            let (pts, dts) = (p.pts(), p.dts());
            let mut converted = annexb_to_length_prefixed(&p, self.nal_length);
            converted.set_pts(pts);
            converted.set_dts(dts.map(|t| t + edge_delay - delay));
            converted.set_flags(p.flags());
            // libx264 leaves durations unset; without one the muxer's edit list ends before
            // the last frame and players drop it.
            if converted.duration() <= 0 {
                converted.set_duration(self.frame_ticks());
            }
            self.write(converted, writer)?;
        }
        self.need_source_sets = true;
        Ok(())
    }

    /// An H.264 encoder for edges: parameter sets in-band (no global header), in the
    /// source's time base so frames keep their source times.
    fn edge_encoder(&self) -> Result<codec::encoder::video::Encoder> {
        let input = self.input;
        let codec = ffmpeg::encoder::find_by_name("libx264").ok_or(Error::Unsupported {
            path: input.to_owned(),
            what: "video encoder: no libx264 in this FFmpeg".into(),
        })?;
        let mut enc = codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(Error::codec(input, "creating the edge encoder"))?;
        enc.set_width(self.width);
        enc.set_height(self.height);
        enc.set_format(format::Pixel::YUV420P);
        enc.set_time_base(self.tb);
        enc.set_frame_rate(Some(self.rate));
        enc.set_flags(codec::Flags::CLOSED_GOP);
        let mut options = Dictionary::new();
        options.set("preset", &self.opts.preset);
        options.set("crf", &self.opts.crf.to_string());
        // The same reorder depth as the source (libx264: 2 with B-pyramid, 1 with plain
        // B-frames, 0 without), so a decoder's reorder buffer need not change at a join.
        let b_frames = match self.reorder_depth {
            0 => "bframes=0",
            1 => "bframes=3:b-pyramid=none",
            2 => "bframes=3:b-pyramid=normal",
            depth => return Err(Error::Unsupported { path: input.to_owned(), what: format!("reorder depth {depth}") }),
        };
        options.set("x264-params", &format!("{b_frames}:repeat-headers=1"));
        enc.open_as_with(codec, options).map_err(Error::codec(input, "opening the edge encoder"))
    }
}

/// The NAL length size and the SPS/PPS NAL units of an `avcC` record, or `None` when the
/// stream's extradata is not one (Annex B streams, other codecs).
fn avcc_parameter_sets(params: &codec::Parameters) -> Option<(usize, Vec<Vec<u8>>)> {
    let data = extradata(params)?;
    if data.len() < 7 || data[0] != 1 {
        return None;
    }
    let nal_length = usize::from(data[4] & 3) + 1;
    let mut sets = Vec::new();
    let mut at = 5;
    let sps_count = usize::from(data[at] & 0x1f);
    at += 1;
    for _ in 0..sps_count {
        let len = usize::from(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]));
        sets.push(data.get(at + 2..at + 2 + len)?.to_vec());
        at += 2 + len;
    }
    let pps_count = usize::from(*data.get(at)?);
    at += 1;
    for _ in 0..pps_count {
        let len = usize::from(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]));
        sets.push(data.get(at + 2..at + 2 + len)?.to_vec());
        at += 2 + len;
    }
    Some((nal_length, sets))
}

/// Frames the stream's decoder holds back for reordering (`AVCodecParameters.video_delay`).
#[expect(unsafe_code, reason = "reading AVCodecParameters.video_delay, which ffmpeg-next does not expose")]
fn video_delay(params: &codec::Parameters) -> i32 {
    // SAFETY: `params` owns a valid AVCodecParameters for as long as this borrow lasts.
    unsafe { (*params.as_ptr()).video_delay }
}

/// The codec parameters' extradata. ffmpeg-next exposes no safe accessor.
#[expect(unsafe_code, reason = "reading AVCodecParameters.extradata, which ffmpeg-next does not expose")]
pub(crate) fn extradata(params: &codec::Parameters) -> Option<Vec<u8>> {
    // SAFETY: `params` owns a valid AVCodecParameters; extradata is either null or
    // `extradata_size` readable bytes, and we copy them out before `params` can change.
    unsafe {
        let raw = params.as_ptr();
        let (ptr, len) = ((*raw).extradata, (*raw).extradata_size);
        if ptr.is_null() || len <= 0 {
            return None;
        }
        Some(std::slice::from_raw_parts(ptr, len as usize).to_vec())
    }
}

fn length_prefix(nal: &[u8], size: usize) -> Vec<u8> {
    let len = nal.len() as u32;
    len.to_be_bytes()[4 - size..].to_vec()
}

/// A copy of `packet` with `nals` (raw NAL units) in front, length-prefixed.
fn prepend_nals(packet: &Packet, nals: &[Vec<u8>], nal_length: usize) -> Packet {
    let mut data = Vec::new();
    for nal in nals {
        data.extend(length_prefix(nal, nal_length));
        data.extend_from_slice(nal);
    }
    data.extend_from_slice(packet.data().unwrap_or_default());
    let mut out = Packet::copy(&data);
    out.set_pts(packet.pts());
    out.set_dts(packet.dts());
    out.set_flags(packet.flags());
    out.set_duration(packet.duration());
    out
}

/// Annex B (start codes) to length-prefixed NAL units, as MP4 stores them.
fn annexb_to_length_prefixed(packet: &Packet, nal_length: usize) -> Packet {
    let data = packet.data().unwrap_or_default();
    let mut out = Vec::with_capacity(data.len() + 16);
    for nal in split_annexb(data) {
        out.extend(length_prefix(nal, nal_length));
        out.extend_from_slice(nal);
    }
    let mut p = Packet::copy(&out);
    p.set_duration(packet.duration());
    p
}

/// The NAL units of an Annex B byte stream (between `00 00 01` / `00 00 00 01` start codes).
fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 2 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut e = starts.get(k + 1).map_or(data.len(), |&next| next - 3);
        // A four-byte start code leaves a zero before the three-byte one; trailing zeros
        // belong to no NAL unit.
        while e > s && data[e - 1] == 0 {
            e -= 1;
        }
        if e > s {
            nals.push(&data[s..e]);
        }
    }
    nals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annexb_splits_on_both_start_code_lengths() {
        let data = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5, 0];
        let nals = split_annexb(&data);
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]);
        assert_eq!(length_prefix(&[1, 2, 3], 4), vec![0, 0, 0, 3]);
        assert_eq!(length_prefix(&[1, 2, 3], 2), vec![0, 3]);
    }
}
