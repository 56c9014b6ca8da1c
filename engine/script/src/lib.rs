//! rhai for Reelflow: the language of `${{ }}` params and `when` conditions, and the
//! `script` operator.
//!
//! - [`RhaiExpressions`] is the core's [`ExpressionEngine`](reelflow_core::ExpressionEngine):
//!   hand it to [`load_workflow`](reelflow_core::load_workflow). Expressions see `inputs`
//!   (the workflow inputs) and `nodes` (`nodes.split.items`, `nodes["two-words"].text`).
//! - [`register`] adds the `script` op ([`ScriptOp`]) to a [`Registry`](reelflow_core::Registry).
//!   Wired inputs become variables named after their ports (and entries of the map
//!   `inputs`); the script's last value is its output, or a map of its declared `outputs`.
//! - Both run on [`sandboxed_engine`]: no I/O, no modules, no `eval`, and [`ScriptLimits`]
//!   on operations, recursion and data size, so a hostile script fails its node with an
//!   error instead of hanging or crashing the engine. Script nodes also stop when the run
//!   is cancelled.
//!
//! Values cross over as JSON: rhai sees integers, floats, strings, arrays and object maps;
//! a file is a map with a `"$file"` key, and such a map in a result is a file again.
//!
//! ```
//! use std::sync::Arc;
//! use reelflow_core::{Executor, Registry, RunRequest, SourceFile, load_workflow};
//! use reelflow_script::RhaiExpressions;
//!
//! let src = SourceFile::new("calc.yaml", r#"
//! reelflow: 1
//! inputs:
//!   n: {type: int, default: 4}
//! nodes:
//!   calc:
//!     op: script
//!     inputs: {n: inputs.n}
//!     params:
//!       source: |
//!         let squares = [];
//!         for i in 1..=n { squares.push(i * i); }
//!         #{ total: squares.reduce(|sum, x| sum + x, 0), squares: squares }
//!       outputs: {total: int, squares: list<int>}
//!   big:
//!     op: const
//!     params: {value: "${{ nodes.calc.total > 20 }}"}
//! outputs:
//!   total: calc.total
//!   big: big.value
//! "#);
//! let mut registry = Registry::with_builtins();
//! reelflow_script::register(&mut registry).unwrap();
//! let plan = Arc::new(load_workflow(src, &registry, &RhaiExpressions::new()).unwrap());
//! let inputs = plan.bind_inputs(Default::default(), std::path::Path::new(".")).unwrap();
//! let mut req = RunRequest::new("demo", std::env::temp_dir().join("reelflow-script-doc"));
//! req.inputs = inputs;
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let report = rt.block_on(Executor::new(Default::default(), None).run(plan, req));
//! assert_eq!(report.outputs["total"].as_i64(), Some(30));
//! assert_eq!(report.outputs["big"], true.into());
//! ```

mod engine;
mod error;
mod expressions;
mod script_op;

pub use engine::{ScriptLimits, sandboxed_engine};
pub use error::{Error, Limit, Result};
pub use expressions::RhaiExpressions;
pub use script_op::{MAX_SCRIPT_FILE_BYTES, SCRIPT_OP, ScriptOp, check_script, register};
