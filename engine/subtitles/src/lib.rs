//! Subtitles for Reelflow: SRT, ASS/SSA and WebVTT, parsed and written.
//!
//! - Bytes in any common encoding are decoded first ([`decode`]): byte-order marks, UTF-16
//!   without one, UTF-8, then a statistical guess among GB18030/GBK, Big5, Shift-JIS,
//!   Windows-1252 and the rest (`chardetng`); the result names the encoding.
//! - The parsers tolerate real-world mess — missing blank lines, dot or comma milliseconds,
//!   missing or wrong indexes, overlapping cues, styling tags, a BOM — and record each as a
//!   located warning; [`ParseOptions::strict`] turns them into errors with line numbers.
//! - Files that are not subtitles (an image, a video, binary data, no cues) are a clear
//!   [`Error::NotSubtitles`].
//! - [`register`] adds the `subtitles` type and the `subtitles.parse` / `subtitles.write` ops.
//!
//! ```
//! use reelflow_subtitles::{ParseOptions, SubtitleFormat, parse, write};
//!
//! let srt = "1\n00:00:01,000 --> 00:00:02,500\n<i>你好</i>，世界\n\n2\n00:00:03.000 --> 00:00:04,000\nBye\n";
//! let subs = parse(srt.as_bytes(), None, ParseOptions::default())?;
//! assert_eq!(subs.cues[0].text, "你好，世界");
//! assert_eq!(subs.cues[1].start_ms, 3000);
//! assert_eq!(subs.warnings.len(), 1, "the dot before the milliseconds");
//! assert!(parse(srt.as_bytes(), None, ParseOptions { strict: true }).is_err());
//! assert!(write(&subs, SubtitleFormat::Vtt).starts_with("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n"));
//! # Ok::<(), reelflow_subtitles::Error>(())
//! ```

mod encoding;
mod error;
mod model;
mod ops;
mod parse;
mod write;

pub use encoding::decode;
pub use error::{Error, Problem, Result};
pub use model::{SubtitleCue, SubtitleFormat, Subtitles};
pub use ops::{SUBTITLES_TYPE, register};
pub use parse::{MAX_BYTES, MAX_CUES, ParseOptions, parse};
pub use write::write;
