//! Clip-remix planning: the part of the clip-remix product between the parsed subtitles and
//! the cut. [`planner_prompt`] shows a model the numbered cues and bounds its answer;
//! [`assemble`] turns the model's picks into segments a viewer will not notice were cut:
//! whole cues, cuts moved into nearby silence, on the frame grid, within the duration budget,
//! with the ranges the user asked to keep always kept.

mod ops;
mod plan;

pub use ops::register;
pub use plan::{
    AssembleOptions, Assembly, Cue, Origin, Pick, PlanError, PlannerPrompt, PromptOptions, Quality, Range, Segment,
    assemble, planner_prompt,
};
