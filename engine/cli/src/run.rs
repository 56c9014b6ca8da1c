//! `reelflow run`: bind inputs, run with progress bars (or JSON events), collect outputs.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use indexmap::IndexMap;
use reelflow_core::{ChannelSink, RunReport, RunRequest, RunStatus, Value, value_from_text};
use reelflow_runtime::Runtime;
use tokio_util::sync::CancellationToken;

use crate::progress::{EventPrinter, JsonLines, ProgressView};
use crate::{EXIT_CANCELLED, EXIT_FAILED, EXIT_INVALID};

#[derive(clap::Args)]
pub struct RunArgs {
    /// The workflow file (YAML or JSON).
    file: PathBuf,
    /// Set a workflow input: `--set name=value` (JSON for numbers, lists and objects).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Copy the outputs (files included) into this directory, with an `outputs.json`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Stream events as JSON lines on stdout instead of progress bars.
    #[arg(long)]
    json: bool,
    /// Neither read nor write the cache.
    #[arg(long)]
    no_cache: bool,
    /// Stop everything at the first failure.
    #[arg(long)]
    fail_fast: bool,
}

pub async fn run(runtime: &Runtime, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let plan = match runtime.load_file(&args.file) {
        Ok(plan) => Arc::new(plan),
        Err(reelflow_runtime::Error::Invalid(d)) => {
            eprint!("{}", d.render(std::io::stderr().is_terminal()));
            return Ok(ExitCode::from(EXIT_INVALID));
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };

    let mut given = IndexMap::new();
    let mut errors = Vec::new();
    for pair in &args.set {
        let Some((name, text)) = pair.split_once('=') else {
            errors.push(format!("`--set {pair}`: expected NAME=VALUE"));
            continue;
        };
        match plan.inputs.get(name) {
            Some(decl) => {
                given.insert(name.to_owned(), value_from_text(&decl.ty, text));
            }
            None => {
                // bind_inputs reports unknown names with the list of known ones.
                given.insert(name.to_owned(), Value::String(text.to_owned()));
            }
        }
    }
    let cwd = std::env::current_dir()?;
    let inputs = match plan.bind_inputs(given, &cwd) {
        Ok(inputs) if errors.is_empty() => inputs,
        Ok(_) => IndexMap::new(),
        Err(more) => {
            errors.extend(more);
            IndexMap::new()
        }
    };
    if !errors.is_empty() {
        for e in errors {
            eprintln!("error: {e}");
        }
        return Ok(ExitCode::from(EXIT_INVALID));
    }

    let run_id = reelflow_runtime::new_run_id();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let mut req = RunRequest::new(run_id.clone(), runtime.workspace_for(&run_id));
    req.inputs = inputs;
    req.events = Arc::new(ChannelSink(tx));
    req.cancel = cancel.clone();
    req.fail_fast = args.fail_fast;
    req.use_cache = !args.no_cache;

    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling…");
            on_ctrl_c.cancel();
        }
    });

    let mut printer: Box<dyn EventPrinter> =
        if args.json { Box::new(JsonLines) } else { Box::new(ProgressView::new(plan.nodes.len())) };
    let executor = runtime.executor().clone();
    let running = tokio::spawn(async move { executor.run(plan, req).await });
    // The channel closes when the run drops its event sink, i.e. when it is over.
    while let Some(event) = rx.recv().await {
        printer.event(&event);
    }
    let report = running.await.context("the run task failed")?;
    printer.finish();

    let outputs = match &args.out {
        Some(dir) => export_outputs(&report, dir)?,
        None => report.outputs.clone(),
    };
    if args.json {
        let line = serde_json::json!({ "type": "run_report", "report": report_json(&report, &outputs) });
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    } else {
        print_summary(&report, &outputs);
    }
    Ok(match report.status {
        RunStatus::Succeeded => ExitCode::SUCCESS,
        RunStatus::Failed => ExitCode::from(EXIT_FAILED),
        RunStatus::Cancelled => ExitCode::from(EXIT_CANCELLED),
    })
}

fn report_json(report: &RunReport, outputs: &IndexMap<String, Value>) -> serde_json::Value {
    let mut json = serde_json::to_value(report).unwrap_or_default();
    json["outputs"] = serde_json::to_value(outputs).unwrap_or_default();
    json
}

fn print_summary(report: &RunReport, outputs: &IndexMap<String, Value>) {
    let mut err = std::io::stderr().lock();
    for (id, node) in &report.nodes {
        if node.state == reelflow_core::NodeState::Failed {
            let chain = node.error.clone().unwrap_or_default();
            let _ = writeln!(err, "error: node `{id}` failed: {}", chain.first().map_or("", String::as_str));
            for cause in chain.iter().skip(1) {
                let _ = writeln!(err, "  caused by: {cause}");
            }
        }
    }
    let status = match report.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
    };
    let cached = report.nodes.values().filter(|n| n.state == reelflow_core::NodeState::Cached).count();
    let _ = writeln!(
        err,
        "run {} {status} in {} ms ({} nodes, {cached} from cache)",
        report.run_id,
        report.duration_ms,
        report.nodes.len()
    );
    drop(err);
    for (name, value) in outputs {
        let shown = match value {
            Value::String(s) => s.clone(),
            Value::File(f) => f.path.display().to_string(),
            other => other.to_json().to_string(),
        };
        let _ = writeln!(std::io::stdout().lock(), "{name} = {shown}");
    }
}

/// Copies file outputs into `dir` (named after their output) and writes `outputs.json`.
fn export_outputs(report: &RunReport, dir: &Path) -> anyhow::Result<IndexMap<String, Value>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut exported = IndexMap::new();
    for (name, value) in &report.outputs {
        let mut value = value.clone();
        let mut n = 0;
        let mut failure = None;
        value.map_files(&mut |f| {
            let ext = f.path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
            let target = dir.join(if n == 0 { format!("{name}{ext}") } else { format!("{name}-{n}{ext}") });
            n += 1;
            match std::fs::copy(&f.path, &target) {
                Ok(_) => f.path = target,
                Err(e) => failure = Some(anyhow::anyhow!("copying {} to {}: {e}", f.path.display(), target.display())),
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        exported.insert(name.clone(), value);
    }
    let json = serde_json::to_string_pretty(&exported)?;
    std::fs::write(dir.join("outputs.json"), json)
        .with_context(|| format!("writing {}/outputs.json", dir.display()))?;
    Ok(exported)
}
