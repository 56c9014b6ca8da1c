//! Located validation errors, rendered like a compiler's (via miette) or as JSON.

use std::fmt;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;

use crate::source::{SourceFile, Span};

/// One problem found in a workflow file.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Stable machine-readable kind: `unknown-op`, `cycle`, `type-mismatch`, ...
    pub code: &'static str,
    pub message: String,
    /// The node the problem is in, when there is one.
    pub node: Option<String>,
    pub span: Option<Span>,
    /// Short text under the underlined source.
    pub label: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic { code, message: message.into(), node: None, span: None, label: String::new(), help: None }
    }

    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.span = Some(span);
        self.label = label.into();
        self
    }

    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Every problem found in one file, reported together.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    pub file: Arc<SourceFile>,
    pub items: Vec<Diagnostic>,
}

/// A diagnostic as sent over the API (`422`) and printed by `validate --json`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LocatedError {
    pub code: String,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostics {
    pub fn located(&self) -> Vec<LocatedError> {
        self.items
            .iter()
            .map(|d| {
                let (line, column) = d.span.map_or((1, 1), |s| self.file.line_col(s.offset));
                LocatedError {
                    code: d.code.into(),
                    message: d.message.clone(),
                    file: self.file.name.clone(),
                    line,
                    column,
                    node: d.node.clone(),
                    help: d.help.clone(),
                }
            })
            .collect()
    }

    /// Compiler-style rendering with source excerpts. `color` selects ANSI colours.
    pub fn render(&self, color: bool) -> String {
        let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
        let source = NamedSource::new(self.file.name.clone(), self.file.text.clone());
        let mut out = String::new();
        for item in &self.items {
            let report = Rendered { item, source: &source, file: &self.file };
            if handler.render_report(&mut out, &report).is_err() {
                out.push_str(&format!("error: {}\n", item.message));
            }
        }
        let n = self.items.len();
        out.push_str(&format!("{} error{} in {}\n", n, if n == 1 { "" } else { "s" }, self.file.name));
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in self.located() {
            let node = e.node.map(|n| format!(" (node `{n}`)")).unwrap_or_default();
            writeln!(f, "{}:{}:{}: {}{node}", e.file, e.line, e.column, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

struct Rendered<'a> {
    item: &'a Diagnostic,
    source: &'a NamedSource<String>,
    file: &'a SourceFile,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.item.message)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.item.node {
            Some(node) => write!(f, "{} (node `{node}`)", self.item.message),
            None => f.write_str(&self.item.message),
        }
    }
}

impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(format!("reelflow::{}", self.item.code)))
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.item.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.item.span.map(|_| self.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.item.span?;
        let len = span.len.min(self.file.text.len().saturating_sub(span.offset));
        let label = if self.item.label.is_empty() { None } else { Some(self.item.label.clone()) };
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(label, SourceSpan::new(span.offset.into(), len)))))
    }
}
