//! Exact rational time: [`RationalTime`] (seconds), [`Rational`] (frame rates), frame-grid
//! snapping and SMPTE timecode.
//!
//! Every value is a reduced fraction of two `i64`s with a positive denominator. Arithmetic runs
//! in `i128` and narrows back, so intermediate products never wrap; a result that does not fit
//! is [`Error::Overflow`], never a panic. There are no floats anywhere: edit decisions summed
//! over thousands of NTSC frames stay exact.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// How a value that falls between two grid points (frames, milliseconds) is brought onto the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Rounding {
    /// Toward negative infinity (floor).
    Down,
    /// Toward positive infinity (ceiling).
    Up,
    /// To the nearest grid point; an exact half goes up, to the later point. Ties going one
    /// fixed way (rather than to even) keeps snapping monotonic, so snapped cuts never cross.
    #[default]
    Nearest,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `num/den` in lowest terms with a positive denominator, narrowed to `i64`.
fn reduce(num: i128, den: i128) -> Result<(i64, i64)> {
    if den == 0 {
        return Err(Error::ZeroDenominator);
    }
    let negative = (num < 0) != (den < 0);
    // Work on magnitudes in u128: `i128::MIN.abs()` would not fit an i128.
    let (un, ud) = (num.unsigned_abs(), den.unsigned_abs());
    let g = gcd(un, ud).max(1);
    let (un, ud) = (un / g, ud / g);
    let den = i64::try_from(ud).map_err(|_| Error::Overflow)?;
    let mag = i128::try_from(un).map_err(|_| Error::Overflow)?;
    let num = i64::try_from(if negative { -mag } else { mag }).map_err(|_| Error::Overflow)?;
    Ok((num, den))
}

/// `n / d` rounded as asked; `d` must be positive.
fn div_round(n: i128, d: i128, rounding: Rounding) -> i128 {
    let (q, r) = (n.div_euclid(d), n.rem_euclid(d));
    match rounding {
        Rounding::Down => q,
        Rounding::Up => q + i128::from(r != 0),
        // `r >= d - r` is `2r >= d` without the doubling that could overflow.
        Rounding::Nearest => q + i128::from(r != 0 && r >= d - r),
    }
}

fn narrow(v: i128) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Overflow)
}

/// A point in time or a duration, in exact rational seconds.
///
/// Always reduced with a positive denominator, so `==` and `Hash` compare values. Written in
/// FCPXML syntax (`0s`, `5s`, `1001/30000s`) by [`Display`](fmt::Display), [`to_fcpxml`](Self::to_fcpxml)
/// and serde; read back by [`FromStr`], which also accepts exact decimals (`1.5s`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RationalTime {
    num: i64,
    den: i64,
}

impl RationalTime {
    /// Zero seconds.
    pub const ZERO: RationalTime = RationalTime { num: 0, den: 1 };

    /// `num/den` seconds; reduced. Fails on a zero denominator or when the reduced value does
    /// not fit (`i64::MIN / -1`).
    pub fn new(num: i64, den: i64) -> Result<Self> {
        let (num, den) = reduce(i128::from(num), i128::from(den))?;
        Ok(RationalTime { num, den })
    }

    fn from_i128(num: i128, den: i128) -> Result<Self> {
        let (num, den) = reduce(num, den)?;
        Ok(RationalTime { num, den })
    }

    /// Whole seconds.
    pub const fn from_seconds(seconds: i64) -> Self {
        RationalTime { num: seconds, den: 1 }
    }

    /// Milliseconds, exactly (`1001 ms` is `1001/1000s`).
    pub fn from_millis(ms: i64) -> Self {
        // A reduced ms/1000 always fits: the magnitudes only shrink.
        let g = gcd(ms.unsigned_abs().into(), 1000) as i64;
        RationalTime { num: ms / g, den: 1000 / g }
    }

    /// The time of frame `frames` at `rate` (frame 0 is at 0s): `frames × rate.den / rate.num`.
    pub fn from_frames(frames: i64, rate: Rational) -> Result<Self> {
        let num = i128::from(frames) * i128::from(rate.den);
        Self::from_i128(num, i128::from(rate.num))
    }

    /// Numerator of the reduced fraction.
    pub const fn num(self) -> i64 {
        self.num
    }

    /// Denominator of the reduced fraction (always positive).
    pub const fn den(self) -> i64 {
        self.den
    }

    pub const fn is_zero(self) -> bool {
        self.num == 0
    }

    pub const fn is_negative(self) -> bool {
        self.num < 0
    }

    pub const fn is_positive(self) -> bool {
        self.num > 0
    }

    /// `self + other`, or [`Error::Overflow`].
    pub fn checked_add(self, other: RationalTime) -> Result<Self> {
        let (a, b) = (i128::from(self.num), i128::from(self.den));
        let (c, d) = (i128::from(other.num), i128::from(other.den));
        // Each product is below 2^126, so the sum fits in i128; only the narrowing can fail.
        Self::from_i128(a * d + c * b, b * d)
    }

    /// `self - other`, or [`Error::Overflow`].
    pub fn checked_sub(self, other: RationalTime) -> Result<Self> {
        let (a, b) = (i128::from(self.num), i128::from(self.den));
        let (c, d) = (i128::from(other.num), i128::from(other.den));
        Self::from_i128(a * d - c * b, b * d)
    }

    /// `self × k`, or [`Error::Overflow`].
    pub fn checked_mul(self, k: i64) -> Result<Self> {
        Self::from_i128(i128::from(self.num) * i128::from(k), i128::from(self.den))
    }

    /// `self / k`, or [`Error::ZeroDenominator`] / [`Error::Overflow`].
    pub fn checked_div(self, k: i64) -> Result<Self> {
        Self::from_i128(i128::from(self.num), i128::from(self.den) * i128::from(k))
    }

    /// `-self`, or [`Error::Overflow`] for the one value whose negation does not fit.
    pub fn checked_neg(self) -> Result<Self> {
        Ok(RationalTime { num: self.num.checked_neg().ok_or(Error::Overflow)?, den: self.den })
    }

    /// The exact sum of `times`, or [`Error::Overflow`].
    pub fn sum(times: impl IntoIterator<Item = RationalTime>) -> Result<Self> {
        times.into_iter().try_fold(RationalTime::ZERO, RationalTime::checked_add)
    }

    /// The smaller of two times.
    pub fn min(self, other: RationalTime) -> Self {
        if other < self { other } else { self }
    }

    /// The larger of two times.
    pub fn max(self, other: RationalTime) -> Self {
        if other > self { other } else { self }
    }

    /// The frame index at `rate` this time falls on, rounded as asked when it lies between frames.
    pub fn to_frames(self, rate: Rational, rounding: Rounding) -> Result<i64> {
        let n = i128::from(self.num) * i128::from(rate.num);
        let d = i128::from(self.den) * i128::from(rate.den);
        narrow(div_round(n, d, rounding))
    }

    /// This time moved onto the frame grid of `rate` (see [`Rounding`]).
    pub fn snap(self, rate: Rational, rounding: Rounding) -> Result<Self> {
        Self::from_frames(self.to_frames(rate, rounding)?, rate)
    }

    /// Whether this time is exactly on a frame boundary at `rate`.
    pub fn is_on_grid(self, rate: Rational) -> bool {
        let n = i128::from(self.num) * i128::from(rate.num);
        let d = i128::from(self.den) * i128::from(rate.den);
        n % d == 0
    }

    /// Whole milliseconds, rounded as asked when the time is not a whole number of them
    /// ([`Rounding::Nearest`] rounds `0.5 ms` up). Exact for any time made by [`Self::from_millis`].
    pub fn to_millis(self, rounding: Rounding) -> Result<i64> {
        narrow(div_round(i128::from(self.num) * 1000, i128::from(self.den), rounding))
    }

    /// The time in the FCPXML time syntax: `0s`, `5s`, `-2s`, `1001/30000s`.
    pub fn to_fcpxml(self) -> String {
        self.to_string()
    }

    /// Reads the strict FCPXML syntax: an integer or `n/d`, followed by `s`.
    pub fn parse_fcpxml(text: &str) -> Result<Self> {
        let body =
            text.strip_suffix('s').ok_or_else(|| Error::parse(text, "FCPXML time", "it does not end with `s`"))?;
        if body.contains('.') {
            return Err(Error::parse(text, "FCPXML time", "FCPXML times are integers or fractions"));
        }
        parse_fraction(body).map_err(|reason| Error::parse(text, "FCPXML time", reason))
    }

    /// The time as floating-point seconds. Lossy: for display and for formats that store floats
    /// (OpenTimelineIO); never feed it back into the model.
    pub fn to_seconds_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl Default for RationalTime {
    fn default() -> Self {
        RationalTime::ZERO
    }
}

impl Ord for RationalTime {
    fn cmp(&self, other: &Self) -> Ordering {
        // Denominators are positive, so cross-multiplying keeps the order; i128 cannot overflow.
        (i128::from(self.num) * i128::from(other.den)).cmp(&(i128::from(other.num) * i128::from(self.den)))
    }
}

impl PartialOrd for RationalTime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for RationalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 { write!(f, "{}s", self.num) } else { write!(f, "{}/{}s", self.num, self.den) }
    }
}

impl fmt::Debug for RationalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RationalTime({self})")
    }
}

/// Parses `n`, `n/d` or an exact decimal `i.f` (signed); `d` must be positive.
fn parse_fraction(body: &str) -> std::result::Result<RationalTime, String> {
    let body = body.trim();
    if let Some((n, d)) = body.split_once('/') {
        let n: i64 = parse_int(n)?;
        let d: i64 = parse_int(d)?;
        if d <= 0 {
            return Err("the denominator must be positive".into());
        }
        return RationalTime::new(n, d).map_err(|e| e.to_string());
    }
    let (negative, digits) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body.strip_prefix('+').unwrap_or(body)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return Err("no digits".into());
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err("expected a number such as `5`, `1.5` or `1001/30000`".into());
    }
    if frac.len() > 18 {
        return Err("more than 18 decimal places".into());
    }
    // Both parts are plain digit strings now; i128 holds the scaled value of any i64 input.
    let scale = 10i128.pow(frac.len() as u32);
    let int_part: i128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| "number too large".to_string())? };
    let frac_part: i128 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| "number too large".to_string())? };
    let mag = int_part.checked_mul(scale).and_then(|v| v.checked_add(frac_part)).ok_or("number too large")?;
    RationalTime::from_i128(if negative { -mag } else { mag }, scale).map_err(|e| e.to_string())
}

fn parse_int(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim();
    t.strip_prefix('+').unwrap_or(t).parse().map_err(|_| format!("`{t}` is not an integer"))
}

impl FromStr for RationalTime {
    type Err = Error;

    /// Accepts the FCPXML forms (`5s`, `1001/30000s`), the same without the `s`, and exact
    /// decimals (`1.5s`, `0.040`).
    fn from_str(text: &str) -> Result<Self> {
        let t = text.trim();
        let body = t.strip_suffix('s').unwrap_or(t);
        parse_fraction(body).map_err(|reason| Error::parse(text, "time", reason))
    }
}

impl Serialize for RationalTime {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RationalTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(FractionVisitor { what: "a time (\"1001/30000s\", \"1.5s\", 5 or {num, den})" })
            .and_then(|(num, den)| RationalTime::new(num, den).map_err(de::Error::custom))
    }
}

impl JsonSchema for RationalTime {
    fn schema_name() -> Cow<'static, str> {
        "RationalTime".into()
    }

    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::RationalTime").into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": concat!(
                "Exact seconds: \"1001/30000s\", \"5s\", \"1.5s\" (an exact decimal), ",
                "an integer number of seconds, or {\"num\", \"den\"}."
            ),
            "oneOf": [
                {"type": "string", "pattern": "^\\s*[+-]?(\\d+(/\\d+)?|\\d*\\.\\d+|\\d+\\.\\d*)s?\\s*$"},
                {"type": "integer"},
                {
                    "type": "object",
                    "properties": {"num": {"type": "integer"}, "den": {"type": "integer", "minimum": 1}},
                    "required": ["num", "den"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// Reads a fraction from a string (via `FromStr` of `T`), an integer, or `{num, den}`.
struct FractionVisitor {
    what: &'static str,
}

impl<'de> Visitor<'de> for FractionVisitor {
    type Value = (i64, i64);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
        Ok((v, 1))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
        Ok((i64::try_from(v).map_err(|_| E::custom("number too large"))?, 1))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
        // Floats are what make times drift; ask for the exact spelling instead.
        Err(E::custom(format!("{v} is a float; write it as a string such as \"{v}s\" or as a fraction")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        let t = v.trim();
        let body = t.strip_suffix('s').unwrap_or(t);
        let r = parse_fraction(body).map_err(|reason| E::custom(format!("`{v}`: {reason}")))?;
        Ok((r.num, r.den))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let (mut num, mut den) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "num" => num = Some(map.next_value::<i64>()?),
                "den" => den = Some(map.next_value::<i64>()?),
                other => return Err(de::Error::unknown_field(other, &["num", "den"])),
            }
        }
        Ok((num.ok_or_else(|| de::Error::missing_field("num"))?, den.ok_or_else(|| de::Error::missing_field("den"))?))
    }
}

/// A positive exact rational, used for frame rates: `30000/1001` (29.97), `25/1`.
///
/// Written as `"30000/1001"` or `"25"`. Reading also accepts an integer, `{num, den}`, and
/// decimals: the NTSC spellings `23.976`, `23.98`, `29.97`, `47.952`, `59.94` and `119.88`
/// mean the exact `n×1000/1001` rates, as in every editor; any other decimal is taken exactly
/// (`12.5` is `25/2`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i64,
    den: i64,
}

impl Rational {
    pub const FPS_23_976: Rational = Rational { num: 24000, den: 1001 };
    pub const FPS_24: Rational = Rational { num: 24, den: 1 };
    pub const FPS_25: Rational = Rational { num: 25, den: 1 };
    pub const FPS_29_97: Rational = Rational { num: 30000, den: 1001 };
    pub const FPS_30: Rational = Rational { num: 30, den: 1 };
    pub const FPS_50: Rational = Rational { num: 50, den: 1 };
    pub const FPS_59_94: Rational = Rational { num: 60000, den: 1001 };
    pub const FPS_60: Rational = Rational { num: 60, den: 1 };

    /// `num/den`, reduced; both must make a positive value.
    pub fn new(num: i64, den: i64) -> Result<Self> {
        let (num, den) = reduce(i128::from(num), i128::from(den))?;
        if num <= 0 {
            return Err(Error::FrameRate(format!("{num}/{den}")));
        }
        Ok(Rational { num, den })
    }

    pub const fn num(self) -> i64 {
        self.num
    }

    pub const fn den(self) -> i64 {
        self.den
    }

    /// The duration of one frame (`1001/30000s` at 29.97).
    pub const fn frame_duration(self) -> RationalTime {
        // Already reduced: num and den are coprime and num is positive.
        RationalTime { num: self.den, den: self.num }
    }

    /// Whether the rate is a whole number of frames per second.
    pub const fn is_integer(self) -> bool {
        self.den == 1
    }

    /// Whether the rate is an NTSC rate `n×1000/1001` (23.976, 29.97, 59.94 ...).
    pub const fn is_ntsc(self) -> bool {
        self.den == 1001 && self.num % 1000 == 0
    }

    /// Frames counted per timecode second: the rate itself for whole rates, the rounded-up
    /// nominal rate for NTSC (30 for 29.97). `None` for rates timecode cannot count (12.5).
    pub const fn timecode_base(self) -> Option<i64> {
        if self.is_integer() {
            Some(self.num)
        } else if self.is_ntsc() {
            Some(self.num / 1000)
        } else {
            None
        }
    }

    /// Whether SMPTE drop-frame timecode exists for this rate (29.97 and 59.94).
    pub fn supports_drop_frame(self) -> bool {
        self == Rational::FPS_29_97 || self == Rational::FPS_59_94
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 { write!(f, "{}", self.num) } else { write!(f, "{}/{}", self.num, self.den) }
    }
}

impl fmt::Debug for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rational({self})")
    }
}

/// The decimal spellings of NTSC rates, which stand for the exact `n×1000/1001` rates.
const NTSC_ALIASES: [(&str, i64); 6] =
    [("23.976", 24000), ("23.98", 24000), ("29.97", 30000), ("47.952", 48000), ("59.94", 60000), ("119.88", 120000)];

impl FromStr for Rational {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let t = text.trim();
        if let Some((_, num)) = NTSC_ALIASES.iter().find(|(alias, _)| *alias == t) {
            return Rational::new(*num, 1001);
        }
        let r = parse_fraction(t).map_err(|reason| Error::parse(text, "frame rate", reason))?;
        Rational::new(r.num, r.den)
    }
}

impl Serialize for Rational {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rational {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct RateVisitor;
        impl<'de> Visitor<'de> for RateVisitor {
            type Value = Rational;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a frame rate (\"30000/1001\", \"29.97\", 25 or {num, den})")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Rational, E> {
                Rational::new(v, 1).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Rational, E> {
                Rational::new(i64::try_from(v).map_err(|_| E::custom("frame rate too large"))?, 1).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Rational, E> {
                Err(E::custom(format!("{v} is a float; write the rate as a string (\"{v}\") or a fraction")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Rational, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Rational, A::Error> {
                let (num, den) = FractionVisitor { what: "{num, den}" }.visit_map(map)?;
                Rational::new(num, den).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(RateVisitor)
    }
}

impl JsonSchema for Rational {
    fn schema_name() -> Cow<'static, str> {
        "Rational".into()
    }

    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::Rational").into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": concat!(
                "A positive frame rate: \"30000/1001\", \"25\", \"29.97\" (NTSC spellings mean n*1000/1001), ",
                "an integer, or {\"num\", \"den\"}."
            ),
            "oneOf": [
                {"type": "string", "pattern": "^\\s*\\+?(\\d+(/\\d+)?|\\d*\\.\\d+|\\d+\\.\\d*)\\s*$"},
                {"type": "integer", "minimum": 1},
                {
                    "type": "object",
                    "properties": {"num": {"type": "integer", "minimum": 1}, "den": {"type": "integer", "minimum": 1}},
                    "required": ["num", "den"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// Formats frame index `frames` as SMPTE timecode at `rate`: `HH:MM:SS:FF`, or `HH:MM:SS;FF`
/// with drop-frame numbering (29.97 and 59.94 only).
///
/// Non-drop timecode at NTSC rates counts frames at the nominal rate (30 for 29.97), so it runs
/// slow against the clock by 0.1%, as it does in every editor. Timecode past `23:59:59:FF` is an
/// error rather than wrapping to `00`, which would reorder events.
pub fn format_timecode(frames: i64, rate: Rational, drop_frame: bool) -> Result<String> {
    let base = rate.timecode_base().ok_or_else(|| {
        Error::unsupported("timecode", format!("{rate} fps has no timecode (not a whole or NTSC rate)"))
    })?;
    if frames < 0 {
        return Err(Error::unsupported("timecode", format!("frame {frames} is before 00:00:00:00")));
    }
    let mut n = frames;
    if drop_frame {
        if !rate.supports_drop_frame() {
            return Err(Error::unsupported("timecode", format!("drop-frame timecode does not exist at {rate} fps")));
        }
        // SMPTE 12M: skip frame numbers 0 and 1 (0-3 at 59.94) of every minute except each
        // tenth; add the skipped numbers back to turn a frame count into a label.
        let drop = base / 15;
        let per_10_min = base * 600 - drop * 9;
        let per_min = base * 60 - drop;
        let (tens, rem) = (n / per_10_min, n % per_10_min);
        n += drop * 9 * tens;
        if rem > drop {
            n += drop * ((rem - drop) / per_min);
        }
    }
    let ff = n % base;
    let total_seconds = n / base;
    let (hh, mm, ss) = (total_seconds / 3600, total_seconds / 60 % 60, total_seconds % 60);
    if hh >= 24 {
        return Err(Error::unsupported("timecode", format!("frame {frames} is past 23:59:59 at {rate} fps")));
    }
    let sep = if drop_frame { ';' } else { ':' };
    Ok(format!("{hh:02}:{mm:02}:{ss:02}{sep}{ff:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(num: i64, den: i64) -> RationalTime {
        RationalTime::new(num, den).unwrap()
    }

    #[test]
    fn values_are_reduced_with_positive_denominators() {
        assert_eq!(t(2002, 60000), t(1001, 30000));
        assert_eq!((t(3, -6).num(), t(3, -6).den()), (-1, 2));
        assert!(matches!(RationalTime::new(1, 0), Err(Error::ZeroDenominator)));
        assert!(matches!(RationalTime::new(i64::MIN, -1), Err(Error::Overflow)));
        assert_eq!(RationalTime::new(i64::MIN, 2).unwrap().num(), i64::MIN / 2);
    }

    #[test]
    fn arithmetic_is_exact_and_overflow_is_an_error() {
        let frame = Rational::FPS_29_97.frame_duration();
        assert_eq!(frame.checked_add(frame).unwrap(), t(1001, 15000));
        assert_eq!(frame.checked_mul(30000).unwrap(), RationalTime::from_seconds(1001));
        assert_eq!(t(1, 3).checked_sub(t(1, 2)).unwrap(), t(-1, 6));
        assert_eq!(t(3, 2).checked_div(3).unwrap(), t(1, 2));
        assert!(matches!(RationalTime::from_seconds(i64::MAX).checked_add(t(1, 1)), Err(Error::Overflow)));
        assert!(matches!(t(1, i64::MAX).checked_add(t(1, i64::MAX - 1)), Err(Error::Overflow)));
        assert!(matches!(RationalTime::from_seconds(i64::MAX).checked_mul(2), Err(Error::Overflow)));
        assert!(matches!(t(1, 2).checked_div(0), Err(Error::ZeroDenominator)));
        assert!(matches!(RationalTime::from_seconds(i64::MIN).checked_neg(), Err(Error::Overflow)));
        assert_eq!(RationalTime::sum([t(1, 3), t(1, 3), t(1, 3)]).unwrap(), RationalTime::from_seconds(1));
    }

    #[test]
    fn ordering_compares_values() {
        assert!(t(1001, 30000) < t(1, 29));
        assert!(t(-1, 2) < RationalTime::ZERO);
        assert!(RationalTime::from_seconds(i64::MAX) > t(i64::MAX - 1, 1));
        assert_eq!(t(1, 3).max(t(1, 2)), t(1, 2));
        assert_eq!(t(1, 3).min(t(1, 2)), t(1, 3));
    }

    #[test]
    fn frames_convert_both_ways() {
        let ntsc = Rational::FPS_29_97;
        assert_eq!(RationalTime::from_frames(30, ntsc).unwrap(), t(1001, 1000));
        assert_eq!(t(1001, 1000).to_frames(ntsc, Rounding::Down).unwrap(), 30);
        // 1s at 29.97 is 29.97 frames.
        let one = RationalTime::from_seconds(1);
        assert_eq!(one.to_frames(ntsc, Rounding::Down).unwrap(), 29);
        assert_eq!(one.to_frames(ntsc, Rounding::Up).unwrap(), 30);
        assert_eq!(one.to_frames(ntsc, Rounding::Nearest).unwrap(), 30);
        assert_eq!(t(-1, 50).to_frames(Rational::FPS_25, Rounding::Down).unwrap(), -1);
        assert_eq!(t(-1, 50).to_frames(Rational::FPS_25, Rounding::Nearest).unwrap(), 0);
        assert_eq!(t(1, 50).to_frames(Rational::FPS_25, Rounding::Nearest).unwrap(), 1, "ties go up");
        assert_eq!(one.snap(ntsc, Rounding::Nearest).unwrap(), t(1001, 1000));
        assert!(t(1001, 1000).is_on_grid(ntsc));
        assert!(!one.is_on_grid(ntsc));
        assert!(one.is_on_grid(Rational::FPS_25));
    }

    #[test]
    fn millis_are_exact_and_rounding_is_explicit() {
        assert_eq!(RationalTime::from_millis(1500), t(3, 2));
        assert_eq!(RationalTime::from_millis(-40), t(-1, 25));
        for ms in [-5001, -1, 0, 1, 999, 1001, 123_456_789] {
            assert_eq!(RationalTime::from_millis(ms).to_millis(Rounding::Down).unwrap(), ms);
        }
        let frame = Rational::FPS_29_97.frame_duration(); // 33.3667 ms
        assert_eq!(frame.to_millis(Rounding::Down).unwrap(), 33);
        assert_eq!(frame.to_millis(Rounding::Up).unwrap(), 34);
        assert_eq!(frame.to_millis(Rounding::Nearest).unwrap(), 33);
        assert_eq!(t(1, 2000).to_millis(Rounding::Nearest).unwrap(), 1);
    }

    #[test]
    fn fcpxml_syntax_round_trips() {
        assert_eq!(RationalTime::ZERO.to_fcpxml(), "0s");
        assert_eq!(RationalTime::from_seconds(5).to_fcpxml(), "5s");
        assert_eq!(t(1001, 30000).to_fcpxml(), "1001/30000s");
        assert_eq!(t(-3, 2).to_fcpxml(), "-3/2s");
        for s in ["0s", "5s", "1001/30000s", "-3/2s", "3600s"] {
            assert_eq!(RationalTime::parse_fcpxml(s).unwrap().to_fcpxml(), s);
        }
        assert_eq!(RationalTime::parse_fcpxml("100/2500s").unwrap(), t(1, 25));
        for bad in ["5", "1.5s", "1/0s", "1/-2s", "s", "abc s", ""] {
            assert!(RationalTime::parse_fcpxml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lenient_parsing_takes_decimals_exactly() {
        assert_eq!("1.5s".parse::<RationalTime>().unwrap(), t(3, 2));
        assert_eq!("0.040".parse::<RationalTime>().unwrap(), t(1, 25));
        assert_eq!("-.5".parse::<RationalTime>().unwrap(), t(-1, 2));
        assert_eq!(" 1001/30000 ".parse::<RationalTime>().unwrap(), t(1001, 30000));
        assert_eq!("7".parse::<RationalTime>().unwrap(), RationalTime::from_seconds(7));
        for bad in ["", ".", "1e3", "1..2", "--1", "0.1234567890123456789", "99999999999999999999"] {
            assert!(bad.parse::<RationalTime>().is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_accepts_strings_integers_and_objects_but_not_floats() {
        let v: Vec<RationalTime> = serde_json::from_str(r#"["1001/30000s", 5, {"num": 2, "den": 4}, "2.5"]"#).unwrap();
        assert_eq!(v, [t(1001, 30000), t(5, 1), t(1, 2), t(5, 2)]);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"["1001/30000s","5s","1/2s","5/2s"]"#);
        let err = serde_json::from_str::<RationalTime>("1.5").unwrap_err().to_string();
        assert!(err.contains("float"), "{err}");
        assert!(serde_json::from_str::<RationalTime>(r#"{"num": 1, "den": 0}"#).is_err());
        assert!(serde_json::from_str::<RationalTime>(r#"{"num": 1, "den": 2, "x": 1}"#).is_err());
    }

    #[test]
    fn frame_rates_parse_with_ntsc_aliases() {
        assert_eq!("29.97".parse::<Rational>().unwrap(), Rational::FPS_29_97);
        assert_eq!("23.976".parse::<Rational>().unwrap(), Rational::FPS_23_976);
        assert_eq!("30000/1001".parse::<Rational>().unwrap(), Rational::FPS_29_97);
        assert_eq!("50/2".parse::<Rational>().unwrap(), Rational::FPS_25);
        assert_eq!("12.5".parse::<Rational>().unwrap(), Rational::new(25, 2).unwrap());
        assert!("0".parse::<Rational>().is_err());
        assert!("-25".parse::<Rational>().is_err());
        assert!(Rational::new(25, 0).is_err());
        let rates: Vec<Rational> = serde_json::from_str(r#"["30000/1001", 25, {"num": 60000, "den": 1001}]"#).unwrap();
        assert_eq!(rates, [Rational::FPS_29_97, Rational::FPS_25, Rational::FPS_59_94]);
        assert_eq!(serde_json::to_string(&rates).unwrap(), r#"["30000/1001","25","60000/1001"]"#);
        assert_eq!(Rational::FPS_29_97.timecode_base(), Some(30));
        assert_eq!(Rational::new(25, 2).unwrap().timecode_base(), None);
    }

    fn any_time() -> impl proptest::strategy::Strategy<Value = RationalTime> {
        use proptest::prelude::*;
        (-1_000_000_000i64..1_000_000_000, 1i64..1_000_000).prop_map(|(n, d)| t(n, d))
    }

    proptest::proptest! {
        #[test]
        fn addition_and_subtraction_are_inverse(a in any_time(), b in any_time()) {
            let sum = a.checked_add(b).unwrap();
            proptest::prop_assert_eq!(sum.checked_sub(b).unwrap(), a);
            proptest::prop_assert_eq!(sum, b.checked_add(a).unwrap());
            proptest::prop_assert_eq!(a.cmp(&b), a.checked_sub(b).unwrap().num().cmp(&0));
        }

        #[test]
        fn snapping_lands_on_the_grid_within_half_a_frame(a in any_time(), rate in proptest::sample::select(vec![
            Rational::FPS_23_976, Rational::FPS_25, Rational::FPS_29_97, Rational::FPS_59_94,
        ])) {
            let snapped = a.snap(rate, Rounding::Nearest).unwrap();
            proptest::prop_assert!(snapped.is_on_grid(rate));
            proptest::prop_assert_eq!(snapped.snap(rate, Rounding::Nearest).unwrap(), snapped);
            let half = rate.frame_duration().checked_div(2).unwrap();
            let off = snapped.checked_sub(a).unwrap();
            proptest::prop_assert!(off <= half && off.checked_neg().unwrap() < half, "{off:?}");
            let (down, up) = (a.snap(rate, Rounding::Down).unwrap(), a.snap(rate, Rounding::Up).unwrap());
            proptest::prop_assert!(down <= a && a <= up);
            proptest::prop_assert!(up.checked_sub(down).unwrap() <= rate.frame_duration());
        }

        #[test]
        fn text_forms_round_trip(a in any_time(), ms in -10_000_000_000i64..10_000_000_000) {
            proptest::prop_assert_eq!(RationalTime::parse_fcpxml(&a.to_fcpxml()).unwrap(), a);
            proptest::prop_assert_eq!(a.to_string().parse::<RationalTime>().unwrap(), a);
            let m = RationalTime::from_millis(ms);
            proptest::prop_assert_eq!(m.to_millis(Rounding::Nearest).unwrap(), ms);
        }
    }

    #[test]
    fn timecode_counts_frames_non_drop_and_drop() {
        let tc = |f, r, df| format_timecode(f, r, df).unwrap();
        assert_eq!(tc(0, Rational::FPS_25, false), "00:00:00:00");
        assert_eq!(tc(125, Rational::FPS_25, false), "00:00:05:00");
        assert_eq!(tc(90_000 - 1, Rational::FPS_25, false), "00:59:59:24");
        assert_eq!(tc(150, Rational::FPS_29_97, false), "00:00:05:00");
        // Drop frame: the label after 00:00:59;29 is 00:01:00;02.
        assert_eq!(tc(1799, Rational::FPS_29_97, true), "00:00:59;29");
        assert_eq!(tc(1800, Rational::FPS_29_97, true), "00:01:00;02");
        assert_eq!(tc(17982, Rational::FPS_29_97, true), "00:10:00;00");
        assert_eq!(tc(107_892, Rational::FPS_29_97, true), "01:00:00;00");
        assert_eq!(tc(3600, Rational::FPS_59_94, true), "00:01:00;04");
        assert!(format_timecode(1, Rational::FPS_25, true).is_err());
        assert!(format_timecode(-1, Rational::FPS_25, false).is_err());
        assert!(format_timecode(24 * 3600 * 25, Rational::FPS_25, false).is_err());
        assert!(format_timecode(1, Rational::new(25, 2).unwrap(), false).is_err());
    }
}
