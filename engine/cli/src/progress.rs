//! Showing a run: indicatif bars (overall + one per running node) or JSON lines.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use reelflow_core::{Event, EventKind};

pub trait EventPrinter {
    fn event(&mut self, event: &Event);
    fn finish(&mut self) {}
}

/// One JSON object per event on stdout.
pub struct JsonLines;

impl EventPrinter for JsonLines {
    fn event(&mut self, event: &Event) {
        // A closed stdout (`| head`) must not panic the run; the run goes on regardless.
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
}

/// Bars on a terminal; plain lines on stderr otherwise (CI logs, pipes).
pub struct ProgressView {
    multi: MultiProgress,
    overall: ProgressBar,
    nodes: HashMap<String, ProgressBar>,
    tty: bool,
}

/// Nodes inside map bodies are `map[3].inner`; only top-level nodes count toward the total.
fn is_top_level(node: &str) -> bool {
    !node.contains('[')
}

impl ProgressView {
    pub fn new(total: usize) -> Self {
        let tty = std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if tty {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        });
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "{spinner:.green} [{elapsed_precise}] {bar:32.cyan/blue} {pos}/{len} nodes {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        overall.enable_steady_tick(Duration::from_millis(120));
        ProgressView { multi, overall, nodes: HashMap::new(), tty }
    }

    fn line(&self, text: String) {
        if self.tty {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    fn done(&mut self, node: &str) {
        if let Some(bar) = self.nodes.remove(node) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        if is_top_level(node) {
            self.overall.inc(1);
        }
    }
}

impl EventPrinter for ProgressView {
    fn event(&mut self, event: &Event) {
        match &event.kind {
            EventKind::NodeStarted { node, op, attempt } => {
                let bar = self.multi.add(ProgressBar::new(1000));
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {prefix:24.bold} {bar:20} {percent:>3}% {msg}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                let retry = if *attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
                bar.set_prefix(node.clone());
                bar.set_message(format!("{op}{retry}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Some(old) = self.nodes.insert(node.clone(), bar) {
                    old.finish_and_clear();
                }
            }
            EventKind::NodeProgress { node, fraction, message } => {
                if let Some(bar) = self.nodes.get(node) {
                    bar.set_position((fraction * 1000.0) as u64);
                    bar.set_message(message.clone());
                }
            }
            EventKind::NodeLog { node, level, message } => self.line(format!("[{node}] {level:?}: {message}")),
            EventKind::NodeCached { node } => {
                self.line(format!("↺ {node} (cached)"));
                self.done(node);
            }
            EventKind::NodeFinished { node, duration_ms } => {
                if !self.tty || is_top_level(node) {
                    self.line(format!("✓ {node} ({duration_ms} ms)"));
                }
                self.done(node);
            }
            EventKind::NodeFailed { node, error, attempt, will_retry, .. } => {
                let first = error.first().map_or("", String::as_str);
                if *will_retry {
                    self.line(format!("↻ {node} attempt {attempt} failed: {first}; retrying"));
                } else {
                    self.line(format!("✗ {node} failed: {first}"));
                    self.done(node);
                }
            }
            EventKind::NodeSkipped { node, reason } => {
                self.line(format!("- {node} skipped: {reason}"));
                self.done(node);
            }
            EventKind::NodeCancelled { node } => {
                self.line(format!("⊘ {node} cancelled"));
                self.done(node);
            }
            EventKind::RunStarted { .. } | EventKind::RunFinished { .. } => {}
            _ => {}
        }
    }

    fn finish(&mut self) {
        for (_, bar) in self.nodes.drain() {
            bar.finish_and_clear();
        }
        self.overall.finish_and_clear();
    }
}
