//! Subtitles for Reelflow: SRT, ASS/SSA and WebVTT, parsed and written.
//!
//! - [`parse`] takes bytes in any common encoding ([`decode`]: byte-order marks, UTF-16
//!   without one, UTF-8, then a statistical guess among GB18030/GBK, Big5, Shift-JIS,
//!   Windows-1252 and the rest) and detects the format from the content
//!   ([`detect_format`]) unless given a hint.
//! - Parsing is tolerant: missing blank lines, dot or comma milliseconds, missing or wrong
//!   numbers, overlapping cues, styling tags, a BOM, stray lines each cost a located
//!   warning in [`Subtitles::warnings`]. [`ParseOptions::strict`] turns every such
//!   deviation into an [`Error::Strict`] listing each problem with its line number.
//! - Input that is not subtitles (empty, an image or video, binary data, text without
//!   cues) is an error for which [`Error::is_unsupported_format`] holds. Input over
//!   [`MAX_BYTES`] or with more than [`MAX_CUES`] cues is refused. No input panics.
//! - [`write()`] produces SRT, ASS or WebVTT; parsing what it wrote gives back the same cue
//!   times and text.
//! - [`register`] adds the `subtitles` workflow type and the `subtitles.parse` and
//!   `subtitles.write` ops.
//!
//! Known limits, on purpose or for now:
//! - Encoding detection is statistical for legacy encodings: a short text (a line or two)
//!   can be taken for a neighbour (GBK ↔ Big5, Windows-1252 ↔ other Latin code pages).
//!   Real subtitle files are long enough; tests use files of a few hundred characters.
//! - Converting between formats writes the plain text: styling is not translated
//!   (`<i>` does not become `{\i1}`). Writing back to the source format keeps the tags.
//! - ASS times are centiseconds (milliseconds are rounded when writing ASS). ASS
//!   `Comment:` events and the `[Fonts]`/`[Graphics]` sections are not kept; SSA (v4)
//!   input is written as ASS (v4.00+) with its style fields unchanged.
//! - At most [`MAX_PROBLEMS`] warnings or strict-mode problems are kept per file.
//!
//! ```
//! use reelflow_subtitles::{ParseOptions, SubtitleFormat, parse, write};
//!
//! let srt = "1\n00:00:01,000 --> 00:00:02,500\n<i>你好</i>，世界\n\n2\n00:00:03.000 --> 00:00:04,000\nBye\n";
//! let subs = parse(srt.as_bytes(), None, ParseOptions::default())?;
//! assert_eq!(subs.format, SubtitleFormat::Srt);
//! assert_eq!(subs.cues[0].text, "你好，世界");
//! assert_eq!(subs.cues[0].raw, "<i>你好</i>，世界");
//! assert_eq!(subs.cues[1].start_ms, 3000);
//! assert_eq!(subs.warnings, ["line 6: milliseconds after a dot; SRT uses a comma"]);
//!
//! // Strict mode refuses the same file, naming the line.
//! let err = parse(srt.as_bytes(), None, ParseOptions { strict: true }).unwrap_err();
//! assert!(err.to_string().contains("line 6: milliseconds after a dot"));
//!
//! let vtt = write(&subs, SubtitleFormat::Vtt);
//! assert!(vtt.starts_with("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n你好，世界\n"));
//! assert_eq!(parse(vtt.as_bytes(), None, ParseOptions { strict: true })?.cues[1].text, "Bye");
//! # Ok::<(), reelflow_subtitles::Error>(())
//! ```

mod ass;
mod codec;
mod encoding;
mod error;
mod model;
mod ops;
mod srt;
mod vtt;

pub use codec::{MAX_BYTES, MAX_CUES, ParseOptions, detect_format, parse, write};
pub use encoding::{Decoded, decode};
pub use error::{Error, MAX_PROBLEMS, Problem, Result};
pub use model::{AssStyle, SubtitleCue, SubtitleFormat, Subtitles};
pub use ops::{SUBTITLES_TYPE, register};
