//! Reelflow's editing timeline: tracks of clips, gaps and transitions in exact rational time,
//! and its exports to Final Cut Pro XML (1.10 and 1.11), OpenTimelineIO and CMX3600 EDL.
//!
//! - [`RationalTime`] is exact seconds (a reduced `i64` fraction; `i128` inside, overflow is an
//!   error). NTSC frames (`1001/30000s`) add up without drift, so a thousand-clip edit ends on
//!   exactly the frame it should. [`Rational`] is a frame rate.
//! - [`Timeline`] › [`Track`] › [`TrackItem`] ([`Clip`], [`Gap`], [`Transition`]) is the model,
//!   serde + JSON Schema, validated by [`Timeline::validate`]. [`Timeline`] states the rules
//!   every export follows; notably a transition is centred on the cut between two clips and
//!   takes no track time.
//! - [`to_fcpxml`], [`to_otio`] and [`to_edl`] are pure functions from a timeline to the text
//!   of a file; the frame-based ones (FCPXML, EDL) snap every cut to the nearest frame from its
//!   exact position.
//! - [`register`] adds the `timeline` workflow type and the `timeline.export` op.
//!
//! ```
//! use reelflow_timeline::{
//!     Clip, EdlOptions, FcpxmlVersion, MediaRef, Rational, RationalTime, Timeline, Track, TrackItem,
//!     TransitionKind, to_edl, to_fcpxml, to_otio,
//! };
//!
//! let s = RationalTime::from_seconds;
//! let interview = MediaRef::new("/media/interview.mov", s(60), true, true);
//! let mut timeline = Timeline::new("Promo", Rational::FPS_25, 1920, 1080);
//! timeline.tracks.push(Track::video(vec![
//!     TrackItem::clip(Clip::new("Hello", interview.clone(), s(10), s(15))),
//!     TrackItem::transition(TransitionKind::CrossDissolve, s(1)),
//!     TrackItem::clip(Clip::new("World", interview, s(30), s(34))),
//! ]));
//! assert_eq!(timeline.duration()?, s(9));
//!
//! let fcpxml = to_fcpxml(&timeline, FcpxmlVersion::V1_11)?;
//! assert!(fcpxml.contains(r#"<transition name="Cross Dissolve" offset="113/25s" duration="1s">"#));
//! assert!(to_otio(&timeline)?.contains("\"OTIO_SCHEMA\": \"Timeline.1\""));
//! let edl = to_edl(&timeline, &EdlOptions::default())?;
//! assert!(edl.contains("002  intervie V     D    025 00:00:29:13 00:00:34:00 00:00:04:13 00:00:09:00"));
//! # Ok::<(), reelflow_timeline::Error>(())
//! ```

mod edl;
mod error;
mod fcpxml;
mod model;
mod ops;
mod otio;
mod time;

pub use edl::{EdlOptions, to_edl};
pub use error::{Error, Result};
pub use fcpxml::{FcpxmlOptions, FcpxmlVersion, to_fcpxml, to_fcpxml_with};
pub use model::{
    Clip, Gap, Marker, MediaRef, Placement, Timeline, Track, TrackItem, TrackKind, Transition, TransitionKind,
    file_url, timeline_json_schema,
};
pub use ops::{TIMELINE_TYPE, register};
pub use otio::{to_otio, to_otio_value};
pub use time::{Rational, RationalTime, Rounding, format_timecode};
