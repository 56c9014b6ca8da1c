//! Reelflow's media operators on the FFmpeg libraries (through `ffmpeg-next`; never the
//! `ffmpeg` command): probing, encoding, and synthetic media for tests and benchmarks.
//!
//! ```no_run
//! use std::path::Path;
//! let info = reelflow_media::probe(Path::new("clip.mp4"), true)?;
//! let video = info.video().expect("a video stream");
//! println!("{}x{} at {:?}, keyframes at {:?}", video.width.unwrap_or(0), video.height.unwrap_or(0),
//!     video.frame_rate, video.keyframes);
//! # Ok::<(), reelflow_media::Error>(())
//! ```

mod audio;
mod blend;
mod concat;
mod cut;
mod encode;
mod error;
mod frames;
mod mix;
mod mux;
mod ops;
mod probe;
mod render;
mod smart;
mod staged;
mod stills;
mod transcode;

pub mod synthetic;

use std::path::Path;
use std::sync::Once;

pub use audio::{AudioFormat, Silence, SilenceOptions, detect_silence, extract_audio};
pub use blend::{CpuBlender, PictureBlender};
pub use concat::{ConcatReport, concat};
pub use cut::{CutOptions, Progress, Span, cut_reencode, cut_reencode_spans};
pub use encode::{AudioSettings, VideoSettings, Writer};
pub use error::{Error, Result};
pub use frames::{ClipShape, FrameEffect, GeneratedClip, RgbaFrame, SoundSource, filter_video, generate_video};
pub use mix::{MixOptions, MixTrack, TrackRole, mix_audio};
pub use mux::mux;
pub use ops::{media_path, output_name, register, with_progress};
pub use probe::{MediaInfo, Ratio, StreamInfo, probe};
pub use render::{RenderReport, render_timeline, render_timeline_with};
pub use smart::{SmartCutReport, smart_cut, smart_cut_spans};
pub use staged::{PictureStage, process_video};
pub use stills::{ImageFormat, images_to_video, read_image_rgba, thumbnails};
pub use transcode::{Fit, TranscodeOptions, preset_size, transcode};

/// FFmpeg's global set-up, once per process. Its own log is silenced except for fatal
/// errors: every failure reaches the caller as an [`Error`] naming the file, and FFmpeg's
/// lines would otherwise break up progress bars.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Registration cannot fail on FFmpeg ≥ 4; an error here would resurface on open.
        let _ = ffmpeg_next::init();
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
    });
}

/// A decoder for a video stream's parameters, with an error naming the file.
pub(crate) fn video_decoder(
    params: ffmpeg_next::codec::Parameters,
    path: &Path,
) -> Result<ffmpeg_next::codec::decoder::Video> {
    ffmpeg_next::codec::context::Context::from_parameters(params)
        .and_then(|c| c.decoder().video())
        .map_err(Error::codec(path, "opening the video decoder"))
}

/// A decoder for an audio stream's parameters, with an error naming the file.
pub(crate) fn audio_decoder(
    params: ffmpeg_next::codec::Parameters,
    path: &Path,
) -> Result<ffmpeg_next::codec::decoder::Audio> {
    ffmpeg_next::codec::context::Context::from_parameters(params)
        .and_then(|c| c.decoder().audio())
        .map_err(Error::codec(path, "opening the audio decoder"))
}

/// Opens a media file for reading, with errors that say what is wrong with which file.
pub(crate) fn open_input(path: &Path) -> Result<ffmpeg_next::format::context::Input> {
    init();
    let meta = std::fs::metadata(path).map_err(|_| Error::NotFound { path: path.to_owned() })?;
    if meta.len() == 0 {
        return Err(Error::Unreadable { path: path.to_owned(), reason: "the file is empty".into() });
    }
    ffmpeg_next::format::input(path).map_err(|e| Error::Unreadable { path: path.to_owned(), reason: e.to_string() })
}
