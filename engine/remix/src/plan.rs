//! The clip-remix plan, without I/O: the planner prompt and its JSON Schema built from the
//! cues, then the model's picks turned into frame-exact segments that start and end at cue
//! edges (never mid-word), padded, snapped into nearby silence, merged, trimmed to the
//! duration budget by the model's own priority, with the preserved ranges always kept.

use serde::{Deserialize, Serialize};

/// A subtitle cue, in seconds. `index` is 1-based, as the planner sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cue {
    pub index: u32,
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// A time range in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Range {
    pub start: f64,
    pub end: f64,
}

impl Range {
    pub fn len(&self) -> f64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    fn overlaps(&self, other: &Range) -> bool {
        self.start < other.end && other.start < self.end
    }

    fn contains(&self, t: f64) -> bool {
        self.start <= t && t <= self.end
    }
}

/// What the planner is asked for.
#[derive(Clone, Debug, Default)]
pub struct PromptOptions {
    pub focus: Vec<String>,
    pub max_duration: Option<f64>,
    /// Most cues shown to the model (small models have small contexts); when there are more,
    /// those with focus keywords come first, then an even spread of the rest.
    pub max_cues: usize,
    /// `zh`, `en`: the language of the instructions.
    pub language: String,
    /// Estimated tokens the cue lines may take (0: no limit): a long episode's subtitles
    /// would overflow a small model's context, so fewer cues are shown (see
    /// [`estimate_tokens`]).
    pub max_tokens: usize,
}

/// A conservative token estimate for small models' tokenizers: a digit is a token, other
/// ASCII about a third of one, and a CJK (or other non-ASCII) character up to two and a
/// half, as byte-level BPE vocabularies trained mostly on English split them.
pub fn estimate_tokens(text: &str) -> f64 {
    text.chars()
        .map(|c| match c {
            '0'..='9' => 1.0,
            c if c.is_ascii() => 0.34,
            _ => 2.5,
        })
        .sum()
}

fn cue_line(c: &Cue) -> String {
    format!("{} [{}] {}", c.index, clock(c.start), c.text.replace('\n', " "))
}

/// The planner's prompt and the schema its answer must match.
#[derive(Clone, Debug, Serialize)]
pub struct PlannerPrompt {
    pub system: String,
    pub user: String,
    pub schema: serde_json::Value,
    /// Cue numbers shown, in order.
    pub shown: Vec<u32>,
}

/// How many moments the planner may pick.
const MAX_PICKS: usize = 12;
/// Longest reason the planner may give for a pick, in characters. A CJK character costs a
/// small model's tokenizer one to three tokens, so twelve reasons must stay short to fit
/// the plan's token budget (an answer cut off there keeps only its whole picks).
const MAX_REASON: usize = 48;

/// Builds the planner prompt. The schema bounds cue numbers to the cues that exist, so even
/// a small model's answer always names real cues.
pub fn planner_prompt(cues: &[Cue], opts: &PromptOptions) -> PlannerPrompt {
    // As many cues as the token budget holds, at the cues' mean estimated length.
    let fitting = if opts.max_tokens > 0 && !cues.is_empty() {
        let mean = cues.iter().map(|c| estimate_tokens(&cue_line(c)) + 1.0).sum::<f64>() / cues.len() as f64;
        (opts.max_tokens as f64 / mean).floor() as usize
    } else {
        usize::MAX
    };
    let shown = choose_shown(cues, &opts.focus, opts.max_cues.min(fitting).max(1));
    let lines: Vec<String> = shown.iter().filter_map(|&i| cues.get(i as usize - 1)).map(cue_line).collect();
    let focus = if opts.focus.is_empty() { None } else { Some(opts.focus.join(", ")) };
    let (system, user) = if opts.language == "zh" {
        let budget = opts.max_duration.map(|d| format!("选出的片段总长不超过 {d:.0} 秒。")).unwrap_or_default();
        let focus = focus.map(|f| format!("重点围绕：{f}。")).unwrap_or_default();
        (
            "你是短剧剪辑师。从字幕中挑出最能讲述一个扣人心弦故事的片段，按讲故事的顺序排列，最重要的放前面。"
                .to_string(),
            format!(
                "{focus}{budget}每个片段用起止字幕编号表示（first 到 last）。\n\n字幕（编号 [时间] 台词）：\n{}",
                lines.join("\n")
            ),
        )
    } else {
        let budget = opts
            .max_duration
            .map(|d| format!(" The picked moments together must last at most {d:.0} seconds."))
            .unwrap_or_default();
        let focus = focus.map(|f| format!(" Focus on: {f}.")).unwrap_or_default();
        (
            "You are a drama editor. From the subtitles, pick the moments that tell the most gripping story, \
             most important first."
                .to_string(),
            format!(
                "Pick moments as ranges of cue numbers (first to last).{focus}{budget}\n\nSubtitles (number [time] line):\n{}",
                lines.join("\n")
            ),
        )
    };
    let max_index = cues.len().max(1);
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "moments": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_PICKS,
                "items": {
                    "type": "object",
                    "properties": {
                        "first": {"type": "integer", "minimum": 1, "maximum": max_index},
                        "last": {"type": "integer", "minimum": 1, "maximum": max_index},
                        "why": {"type": "string", "maxLength": MAX_REASON}
                    },
                    "required": ["first", "last", "why"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["moments"],
        "additionalProperties": false
    });
    PlannerPrompt { system, user, schema, shown }
}

/// Cue numbers to show: all of them when they fit; otherwise cues with focus keywords first,
/// then an even spread, in time order.
fn choose_shown(cues: &[Cue], focus: &[String], max: usize) -> Vec<u32> {
    if cues.len() <= max {
        return cues.iter().map(|c| c.index).collect();
    }
    let mut picked: Vec<u32> =
        cues.iter().filter(|c| mentions(&c.text, focus) > 0).map(|c| c.index).take(max / 2).collect();
    let room = max - picked.len();
    let stride = cues.len() as f64 / room as f64;
    for k in 0..room {
        let i = ((k as f64 + 0.5) * stride) as usize;
        if let Some(c) = cues.get(i.min(cues.len() - 1)) {
            picked.push(c.index);
        }
    }
    picked.sort_unstable();
    picked.dedup();
    picked
}

/// How many of the focus keywords `text` mentions (case-insensitive).
fn mentions(text: &str, focus: &[String]) -> usize {
    let lower = text.to_lowercase();
    focus.iter().filter(|k| !k.trim().is_empty() && lower.contains(&k.trim().to_lowercase())).count()
}

fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// One moment the planner picked: cue numbers, in its order of importance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    pub first: u32,
    pub last: u32,
    #[serde(default)]
    pub why: String,
}

/// How picks become segments.
#[derive(Clone, Debug)]
pub struct AssembleOptions {
    /// The source's length, seconds.
    pub duration: f64,
    /// The source's frame rate, exact: segments start and end on frames.
    pub frame_rate: (i64, i64),
    pub max_duration: Option<f64>,
    /// Breathing room added around the cues, seconds (not into a neighbouring cue).
    pub pad: f64,
    /// How far a cut may move to land in a silence, seconds.
    pub snap: f64,
    /// Segments closer than this are joined, seconds.
    pub merge_gap: f64,
    pub focus: Vec<String>,
    /// `planned`: the planner's order; `chronological`: source order.
    pub chronological: bool,
}

/// Where a segment came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Planned,
    Preserved,
}

/// One cut of the remix, on the frame grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub start_frame: i64,
    pub end_frame: i64,
    pub origin: Origin,
    /// First and last cue inside, when any.
    pub cues: Option<(u32, u32)>,
    /// The planner's reasons for the moments in this segment.
    pub why: Vec<String>,
    /// The planner's rank of its most important moment (0 first); preserved ranges rank first.
    pub rank: usize,
}

/// Honest numbers about a remix, for the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    pub segments: usize,
    pub output_duration: f64,
    pub shortest_segment: f64,
    pub longest_segment: f64,
    pub mean_segment: f64,
    /// output / max_duration, when there is a budget.
    pub target_fit: Option<f64>,
    /// Share of focus keywords heard in the kept cues (None without keywords).
    pub focus_coverage: Option<f64>,
    pub focus_hits: Vec<(String, usize)>,
    /// Share of cut points (segment starts and ends) inside detected silence or at the
    /// source's ends.
    pub cuts_in_silence: f64,
    /// Share of cut points that fall inside a cue's speech (0 is the goal).
    pub cuts_mid_cue: f64,
    /// Every preserved range lies inside the output.
    pub preserved_kept: bool,
    /// Planned moments left out to stay within max_duration.
    pub dropped_for_duration: usize,
    /// Picks that named no real cue range.
    pub invalid_picks: usize,
    pub warnings: Vec<String>,
}

/// The planned remix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assembly {
    pub segments: Vec<Segment>,
    pub quality: Quality,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("the source has no length or frame rate")]
    NoSource,
    #[error("preserve range {start}..{end} is not inside the source (0..{duration})")]
    BadPreserve { start: f64, end: f64, duration: f64 },
    #[error("the plan selected nothing usable: {0}")]
    Empty(String),
}

/// Half a second past the end is rounding (subtitle times against the container's
/// duration); more is a range outside the video.
const PRESERVE_SLACK: f64 = 0.5;

/// Every preserved range must lie inside the source: refused before anything is planned.
pub fn check_preserve(preserve: &[Range], duration: f64) -> Result<(), PlanError> {
    match preserve
        .iter()
        .find(|p| !(p.start >= 0.0 && p.end > p.start && p.start < duration && p.end <= duration + PRESERVE_SLACK))
    {
        Some(p) => Err(PlanError::BadPreserve { start: p.start, end: p.end, duration }),
        None => Ok(()),
    }
}

/// Picks + preserved ranges → segments; see the module docs.
pub fn assemble(
    cues: &[Cue],
    picks: &[Pick],
    preserve: &[Range],
    silences: &[Range],
    opts: &AssembleOptions,
) -> Result<Assembly, PlanError> {
    let (num, den) = opts.frame_rate;
    if !(opts.duration > 0.0 && num > 0 && den > 0) {
        return Err(PlanError::NoSource);
    }
    let mut quality = Quality::default();
    // Candidate ranges with their priority rank (preserved first, then the planner's order).
    let mut wanted: Vec<(Range, Origin, usize, Vec<String>)> = Vec::new();
    check_preserve(preserve, opts.duration)?;
    for p in preserve {
        let r = widen_to_cues(Range { start: p.start, end: p.end.min(opts.duration) }, cues);
        wanted.push((r, Origin::Preserved, 0, vec!["preserved".into()]));
    }
    for (rank, pick) in picks.iter().enumerate() {
        let (a, b) = (pick.first.min(pick.last), pick.first.max(pick.last));
        let (Some(first), Some(last)) = (cue_by_index(cues, a), cue_by_index(cues, b)) else {
            quality.invalid_picks += 1;
            continue;
        };
        let r = Range { start: first.start, end: last.end.min(opts.duration) };
        if r.is_empty() {
            quality.invalid_picks += 1;
            continue;
        }
        wanted.push((
            r,
            Origin::Planned,
            rank + 1,
            vec![pick.why.clone()].into_iter().filter(|w| !w.is_empty()).collect(),
        ));
    }
    if wanted.is_empty() {
        return Err(PlanError::Empty(format!("{} picks, none naming real cues, and nothing to preserve", picks.len())));
    }

    // Fit the budget: drop whole planned moments, least important first, never preserved ones.
    let mut kept = wanted.clone();
    if let Some(max) = opts.max_duration {
        loop {
            let total = merged_length(&kept, cues, silences, opts);
            if total <= max + 1e-9 {
                break;
            }
            let Some(victim) = kept
                .iter()
                .enumerate()
                .filter(|(_, w)| w.1 == Origin::Planned)
                .max_by_key(|(_, w)| w.2)
                .map(|(i, _)| i)
            else {
                quality.warnings.push(format!(
                    "the preserved ranges alone last {total:.1} s, more than max_duration {max:.1} s; they are kept whole"
                ));
                break;
            };
            kept.remove(victim);
            quality.dropped_for_duration += 1;
        }
        if kept.is_empty() {
            // Even the best single moment is longer than the budget: keep its first cues.
            let (r, origin, rank, why) = wanted
                .iter()
                .filter(|w| w.1 == Origin::Planned)
                .min_by_key(|w| w.2)
                .cloned()
                .ok_or_else(|| PlanError::Empty("nothing fits max_duration".into()))?;
            let end = cues
                .iter()
                .filter(|c| c.start >= r.start && c.end <= r.start + max)
                .map(|c| c.end)
                .fold(r.start + max.min(r.len()), f64::min);
            kept.push((
                Range { start: r.start, end: end.max(r.start + 1.0 / (num as f64 / den as f64)) },
                origin,
                rank,
                why,
            ));
            quality
                .warnings
                .push("the most important moment alone exceeded max_duration; it was shortened at a cue edge".into());
        }
    }
    let mut segments = build_segments(&kept, cues, silences, opts);
    if !opts.chronological {
        segments.sort_by_key(|s| s.rank);
    }
    quality.segments = segments.len();
    measure(&mut quality, &segments, cues, preserve, silences, opts);
    Ok(Assembly { segments, quality })
}

fn cue_by_index(cues: &[Cue], index: u32) -> Option<&Cue> {
    cues.iter().find(|c| c.index == index)
}

/// Extends a range so it neither starts nor ends inside a cue.
fn widen_to_cues(mut r: Range, cues: &[Cue]) -> Range {
    for c in cues {
        if c.start < r.start && r.start < c.end {
            r.start = c.start;
        }
        if c.start < r.end && r.end < c.end {
            r.end = c.end;
        }
    }
    r
}

fn merged_length(
    kept: &[(Range, Origin, usize, Vec<String>)],
    cues: &[Cue],
    silences: &[Range],
    opts: &AssembleOptions,
) -> f64 {
    build_segments(kept, cues, silences, opts).iter().map(|s| s.end - s.start).sum()
}

/// Pads, snaps, aligns to frames and merges, in source order.
fn build_segments(
    kept: &[(Range, Origin, usize, Vec<String>)],
    cues: &[Cue],
    silences: &[Range],
    opts: &AssembleOptions,
) -> Vec<Segment> {
    let fps = opts.frame_rate.0 as f64 / opts.frame_rate.1 as f64;
    let mut ranges: Vec<(Range, Origin, usize, Vec<String>)> = kept
        .iter()
        .map(|(r, origin, rank, why)| {
            let r = widen_to_cues(*r, cues);
            // Pad, but not into the neighbouring cues' speech.
            let prev_end = cues.iter().filter(|c| c.end <= r.start + 1e-9).map(|c| c.end).fold(0.0, f64::max);
            let next_start =
                cues.iter().filter(|c| c.start >= r.end - 1e-9).map(|c| c.start).fold(opts.duration, f64::min);
            let mut start = (r.start - opts.pad).max(prev_end).max(0.0);
            let mut end = (r.end + opts.pad).min(next_start).min(opts.duration);
            // Snap into silence: the nearest silent point within reach that keeps the cues whole.
            if let Some(t) = nearest_silence(silences, start, opts.snap, prev_end, r.start) {
                start = t;
            }
            if let Some(t) = nearest_silence(silences, end, opts.snap, r.end, next_start) {
                end = t;
            }
            (Range { start, end }, *origin, *rank, why.clone())
        })
        .collect();
    ranges.sort_by(|a, b| a.0.start.total_cmp(&b.0.start));
    let mut merged: Vec<(Range, Origin, usize, Vec<String>)> = Vec::new();
    for (r, origin, rank, why) in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.0.end + opts.merge_gap => {
                last.0.end = last.0.end.max(r.end);
                if origin == Origin::Preserved {
                    last.1 = Origin::Preserved;
                }
                last.2 = last.2.min(rank);
                last.3.extend(why);
            }
            _ => merged.push((r, origin, rank, why)),
        }
    }
    let last_frame = (opts.duration * fps - 0.25).ceil().max(1.0) as i64;
    merged
        .into_iter()
        .filter_map(|(r, origin, rank, why)| {
            // Outward to whole frames, so no cue loses a frame.
            let start_frame = ((r.start * fps) + 1e-6).floor().max(0.0) as i64;
            let end_frame = ((r.end * fps) - 1e-6).ceil().min(last_frame as f64) as i64;
            (end_frame > start_frame).then(|| {
                let inside: Vec<u32> = cues
                    .iter()
                    .filter(|c| c.start >= r.start - 1e-6 && c.end <= r.end + 1e-6)
                    .map(|c| c.index)
                    .collect();
                Segment {
                    start: start_frame as f64 / fps,
                    end: end_frame as f64 / fps,
                    start_frame,
                    end_frame,
                    origin,
                    cues: inside.first().zip(inside.last()).map(|(a, b)| (*a, *b)),
                    why,
                    rank,
                }
            })
        })
        .collect()
}

/// A silent time within `reach` of `t` and inside `[lo, hi]`, the nearest to `t`.
fn nearest_silence(silences: &[Range], t: f64, reach: f64, lo: f64, hi: f64) -> Option<f64> {
    if lo > hi {
        return None;
    }
    silences
        .iter()
        .filter_map(|s| {
            let window = Range { start: s.start.max(lo).max(t - reach), end: s.end.min(hi).min(t + reach) };
            (!window.is_empty() || window.start == window.end && s.contains(window.start))
                .then(|| t.clamp(window.start, window.end))
        })
        .min_by(|a, b| (a - t).abs().total_cmp(&(b - t).abs()))
}

fn measure(
    q: &mut Quality,
    segments: &[Segment],
    cues: &[Cue],
    preserve: &[Range],
    silences: &[Range],
    opts: &AssembleOptions,
) {
    let lengths: Vec<f64> = segments.iter().map(|s| s.end - s.start).collect();
    q.output_duration = lengths.iter().sum();
    q.shortest_segment = lengths.iter().copied().fold(f64::INFINITY, f64::min);
    q.longest_segment = lengths.iter().copied().fold(0.0, f64::max);
    q.mean_segment = if lengths.is_empty() { 0.0 } else { q.output_duration / lengths.len() as f64 };
    q.target_fit = opts.max_duration.map(|m| q.output_duration / m);
    let frame = opts.frame_rate.1 as f64 / opts.frame_rate.0 as f64;
    let ranges: Vec<Range> = segments.iter().map(|s| Range { start: s.start, end: s.end }).collect();
    let kept_text: String = cues
        .iter()
        .filter(|c| ranges.iter().any(|r| r.overlaps(&Range { start: c.start, end: c.end })))
        .map(|c| c.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if !opts.focus.is_empty() {
        let lower = kept_text.to_lowercase();
        q.focus_hits =
            opts.focus.iter().map(|k| (k.clone(), lower.matches(&k.trim().to_lowercase()).count())).collect();
        q.focus_coverage = Some(q.focus_hits.iter().filter(|(_, n)| *n > 0).count() as f64 / opts.focus.len() as f64);
    }
    let cuts: Vec<f64> = segments.iter().flat_map(|s| [s.start, s.end]).collect();
    if !cuts.is_empty() {
        let quiet = |t: f64| {
            t <= frame
                || t >= opts.duration - frame
                || silences.iter().any(|s| s.start - frame <= t && t <= s.end + frame)
        };
        let mid_cue = |t: f64| cues.iter().any(|c| c.start + frame < t && t < c.end - frame);
        q.cuts_in_silence = cuts.iter().filter(|&&t| quiet(t)).count() as f64 / cuts.len() as f64;
        q.cuts_mid_cue = cuts.iter().filter(|&&t| mid_cue(t)).count() as f64 / cuts.len() as f64;
    }
    q.preserved_kept = preserve.iter().all(|p| {
        let p_end = p.end.min(opts.duration);
        ranges.iter().any(|r| r.start <= p.start + 1e-6 && p_end <= r.end + 1e-6)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cues() -> Vec<Cue> {
        // Ten cues of 2 s speech with 1 s pauses: cue i speaks [3i, 3i+2).
        (0..10)
            .map(|i| Cue {
                index: i + 1,
                start: 3.0 * i as f64,
                end: 3.0 * i as f64 + 2.0,
                text: if i % 3 == 0 { format!("line {i}: the secret betrayal") } else { format!("line {i}") },
            })
            .collect()
    }

    fn silences() -> Vec<Range> {
        (0..10).map(|i| Range { start: 3.0 * i as f64 + 2.1, end: 3.0 * i as f64 + 2.9 }).collect()
    }

    fn opts() -> AssembleOptions {
        AssembleOptions {
            duration: 30.0,
            frame_rate: (25, 1),
            max_duration: None,
            pad: 0.2,
            snap: 0.5,
            merge_gap: 0.3,
            focus: vec!["betrayal".into(), "treasure".into()],
            chronological: true,
        }
    }

    fn pick(first: u32, last: u32) -> Pick {
        Pick { first, last, why: String::new() }
    }

    #[test]
    fn picks_become_frame_exact_segments_that_cut_in_silence() {
        let a = assemble(&cues(), &[pick(4, 5), pick(1, 1)], &[], &silences(), &opts()).unwrap();
        assert_eq!(a.segments.len(), 2);
        let s = &a.segments[0];
        // Cue 1 speaks 0..2: the end is padded into the pause and lands in silence.
        assert_eq!(s.start_frame, 0);
        assert!(s.end >= 2.0 && s.end <= 2.9, "{s:?}");
        assert_eq!(a.segments[1].cues, Some((4, 5)));
        for s in &a.segments {
            assert!((s.start * 25.0 - s.start_frame as f64).abs() < 1e-9);
            assert!((s.end * 25.0 - s.end_frame as f64).abs() < 1e-9);
        }
        assert_eq!(a.quality.cuts_mid_cue, 0.0);
        assert_eq!(a.quality.cuts_in_silence, 1.0);
        assert_eq!(a.quality.focus_coverage, Some(0.5));
    }

    #[test]
    fn the_budget_drops_the_least_important_moments_and_never_preserved_ones() {
        let mut o = opts();
        o.max_duration = Some(9.0);
        let preserve = [Range { start: 27.5, end: 28.0 }];
        let picks = [pick(1, 2), pick(5, 5), pick(7, 8)];
        let a = assemble(&cues(), &picks, &preserve, &silences(), &o).unwrap();
        assert!(a.quality.output_duration <= 9.0 + 1e-9, "{:?}", a.quality);
        assert!(a.quality.preserved_kept);
        // The preserved range was widened to its whole cue (27..29).
        assert!(a.segments.iter().any(|s| s.origin == Origin::Preserved && s.start <= 27.0 && s.end >= 29.0));
        assert!(a.segments.iter().any(|s| s.cues == Some((1, 2))), "the top pick stays: {:?}", a.segments);
        assert!(a.quality.dropped_for_duration >= 1);
    }

    #[test]
    fn overlapping_and_adjacent_picks_merge_and_bad_picks_are_counted() {
        let a = assemble(&cues(), &[pick(2, 3), pick(3, 4), pick(40, 41)], &[], &silences(), &opts()).unwrap();
        assert_eq!(a.segments.len(), 1, "{:?}", a.segments);
        assert_eq!(a.segments[0].cues, Some((2, 4)));
        assert_eq!(a.quality.invalid_picks, 1);
        assert_eq!(
            assemble(&cues(), &[pick(40, 41)], &[], &silences(), &opts()).unwrap_err(),
            PlanError::Empty("1 picks, none naming real cues, and nothing to preserve".into())
        );
    }

    #[test]
    fn planned_order_is_kept_when_asked() {
        let mut o = opts();
        o.chronological = false;
        let a = assemble(&cues(), &[pick(8, 8), pick(2, 2)], &[], &silences(), &o).unwrap();
        assert_eq!(a.segments.iter().map(|s| s.cues).collect::<Vec<_>>(), vec![Some((8, 8)), Some((2, 2))]);
    }

    #[test]
    fn the_prompt_bounds_cue_numbers_and_shows_focus_cues_first_when_cut_short() {
        let cues = cues();
        let p = planner_prompt(
            &cues,
            &PromptOptions {
                focus: vec!["betrayal".into()],
                max_duration: Some(60.0),
                max_cues: 4,
                language: "en".into(),
                max_tokens: 0,
            },
        );
        assert_eq!(p.schema["properties"]["moments"]["items"]["properties"]["first"]["maximum"], 10);
        assert!(p.shown.len() <= 4 + 1 && p.shown.contains(&1) && p.shown.contains(&4), "{:?}", p.shown);
        assert!(p.user.contains("betrayal") && p.user.contains("60 seconds"));
        let zh = planner_prompt(&cues, &PromptOptions { max_cues: 100, language: "zh".into(), ..Default::default() });
        assert_eq!(zh.shown.len(), 10);
        assert!(zh.system.contains("剪辑"));
    }

    #[test]
    fn a_long_episode_is_thinned_to_the_token_budget() {
        let cues: Vec<Cue> = (0..400)
            .map(|i| Cue {
                index: i + 1,
                start: 3.0 * f64::from(i),
                end: 3.0 * f64::from(i) + 2.0,
                text: if i % 7 == 0 {
                    "你偷看我的短信？这是背叛！".into()
                } else {
                    "我说过了，我在公司加班。".into()
                },
            })
            .collect();
        let opts = PromptOptions {
            focus: vec!["背叛".into()],
            max_cues: 300,
            language: "zh".into(),
            max_tokens: 5000,
            ..Default::default()
        };
        let p = planner_prompt(&cues, &opts);
        let estimated: f64 = p.shown.iter().map(|&i| estimate_tokens(&cue_line(&cues[i as usize - 1])) + 1.0).sum();
        assert!(p.shown.len() < 300 && estimated <= 5000.0 * 1.05, "{} cues, ~{estimated} tokens", p.shown.len());
        // The cues with the focus keyword are the ones kept first.
        assert!(p.shown.iter().filter(|&&i| (i - 1) % 7 == 0).count() >= 50, "{:?}", p.shown);
        let unlimited = planner_prompt(&cues, &PromptOptions { max_tokens: 0, ..opts });
        assert!(unlimited.shown.len() > p.shown.len() + 50, "{} vs {}", unlimited.shown.len(), p.shown.len());
    }

    #[test]
    fn bad_preserve_ranges_are_refused() {
        let err = assemble(&cues(), &[pick(1, 1)], &[Range { start: 40.0, end: 45.0 }], &[], &opts()).unwrap_err();
        assert!(matches!(err, PlanError::BadPreserve { .. }));
        let duration = opts().duration;
        for (start, end) in [(-1.0, 2.0), (3.0, 3.0), (5.0, 4.0), (duration - 1.0, duration + 2.0), (f64::NAN, 1.0)] {
            assert!(check_preserve(&[Range { start, end }], duration).is_err(), "{start}..{end}");
        }
        check_preserve(&[Range { start: 0.0, end: duration + 0.2 }], duration).expect("rounding past the end");
    }
}
