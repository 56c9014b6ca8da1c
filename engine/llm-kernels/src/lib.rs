//! CPU kernels for the LLM stack, patched into mistral.rs where its own are slow.
//!
//! mistral.rs 0.8.1 is vendored under `engine/vendor/mistralrs-core` with one change: its
//! CPU attention calls [`attention::attention`] for `f32` tensors. The kernels live here, in
//! a crate of ours with its own tests, so that the vendored copy differs from upstream by a
//! few lines (`engine/vendor/README.md` lists them).

pub mod attention;
pub mod exp;

pub use attention::{Mask, Operand, Scaling, Shape, ShapeError, Strides, attention};
