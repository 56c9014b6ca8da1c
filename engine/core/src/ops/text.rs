//! `text.template`, `text.read`, `text.write`, `text.split`.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{PureOp, one};
use crate::node::{Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs, ResourceClass};
use crate::value::{FileKind, FileRef, Value, ValueType};

/// The largest text file `text.read` loads.
const MAX_TEXT_BYTES: u64 = 64 * 1024 * 1024;

pub(super) fn nodes() -> Vec<Arc<dyn Node>> {
    vec![
        PureOp::arc(
            NodeSpec::new(
                "text.template",
                1,
                "Fills `{{name}}` / `{{name.field}}` / `{{name[0]}}` placeholders from the wired inputs. `{{{{` writes a literal `{{`.",
            )
            .variadic()
            .output("text", ValueType::String, "The filled template.")
            .params::<TemplateParams>(),
            template,
        ),
        Arc::new(ReadText {
            spec: NodeSpec::new("text.read", 1, "Reads a UTF-8 text file (at most 64 MiB).")
                .input("file", ValueType::File(FileKind::File), "The file to read.")
                .output("text", ValueType::String, "Its content.")
                .resource(ResourceClass::Io),
        }),
        Arc::new(WriteText {
            spec: NodeSpec::new("text.write", 1, "Writes text to a file in the run's workspace.")
                .input("text", ValueType::String, "What to write.")
                .output("file", ValueType::File(FileKind::Text), "The written file.")
                .params::<WriteParams>()
                .resource(ResourceClass::Io),
        }),
        PureOp::arc(
            NodeSpec::new("text.split", 1, "Splits text at `separator` (default: newline).")
                .input("text", ValueType::String, "The text to split.")
                .output("items", ValueType::List(Box::new(ValueType::String)), "The pieces.")
                .params::<SplitParams>(),
            split,
        ),
    ]
}

/// Params of `text.template`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TemplateParams {
    template: String,
}

/// Params of `text.write`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WriteParams {
    /// File name inside the node's workspace (no directories).
    #[serde(default = "default_name")]
    name: String,
}

fn default_name() -> String {
    "out.txt".into()
}

/// Params of `text.split`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SplitParams {
    #[serde(default = "newline")]
    separator: String,
    /// Drop empty pieces.
    #[serde(default)]
    skip_empty: bool,
}

fn newline() -> String {
    "\n".into()
}

/// Renders `template`, resolving each placeholder against `values`.
pub(crate) fn render_template(template: &str, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        if let Some(stripped) = after.strip_prefix("{{") {
            out.push_str("{{");
            rest = stripped;
            continue;
        }
        let end = after.find("}}").ok_or_else(|| format!("unclosed `{{{{` at byte {start}"))?;
        let name = after[..end].trim();
        let value = lookup(name).ok_or_else(|| format!("unknown placeholder `{{{{{name}}}}}`"))?;
        match value {
            Value::String(s) => out.push_str(&s),
            Value::Null => {}
            other => out.push_str(&other.to_json().to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup_path(inputs: &NodeInputs, path: &str) -> Option<Value> {
    let (head, tail) = match path.find(['.', '[']) {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, ""),
    };
    let mut here = inputs.values.get(head)?.to_json();
    let tail = tail.replace('[', ".").replace(']', "");
    for part in tail.split('.').filter(|p| !p.is_empty()) {
        here = match part.parse::<usize>() {
            Ok(i) if here.is_array() => here.get(i)?.clone(),
            _ => here.get(part)?.clone(),
        };
    }
    Some(Value::from_json(&here))
}

fn template(inputs: &NodeInputs) -> Result<Outputs, NodeError> {
    let p: TemplateParams = inputs.params()?;
    let text = render_template(&p.template, &|name| lookup_path(inputs, name)).map_err(NodeError::Params)?;
    Ok(one("text", text))
}

fn split(inputs: &NodeInputs) -> Result<Outputs, NodeError> {
    let p: SplitParams = inputs.params()?;
    if p.separator.is_empty() {
        return Err(NodeError::Params("separator must not be empty".into()));
    }
    let text = inputs.require("text")?.as_str().unwrap_or_default();
    let items = text
        .split(p.separator.as_str())
        .filter(|s| !(p.skip_empty && s.is_empty()))
        .map(|s| Value::String(s.to_owned()))
        .collect();
    Ok(one("items", Value::List(items)))
}

struct ReadText {
    spec: NodeSpec,
}

#[async_trait]
impl Node for ReadText {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, _ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let Value::File(file) = inputs.require("file")? else {
            return Err(NodeError::Input { port: "file".into(), message: "not a file".into() });
        };
        let path = file.path.clone();
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| NodeError::context(format!("reading {}", path.display()), e))?;
        if meta.len() > MAX_TEXT_BYTES {
            return Err(NodeError::failed(format!(
                "{} is {} bytes; text.read reads at most {MAX_TEXT_BYTES}",
                path.display(),
                meta.len()
            )));
        }
        let bytes =
            tokio::fs::read(&path).await.map_err(|e| NodeError::context(format!("reading {}", path.display()), e))?;
        let text =
            String::from_utf8(bytes).map_err(|_| NodeError::failed(format!("{} is not UTF-8 text", path.display())))?;
        Ok(one("text", text))
    }
}

struct WriteText {
    spec: NodeSpec,
}

#[async_trait]
impl Node for WriteText {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let p: WriteParams = inputs.params()?;
        if p.name.is_empty() || p.name.contains(['/', '\\']) || p.name == "." || p.name == ".." {
            return Err(NodeError::Params(format!("`{}` is not a plain file name", p.name)));
        }
        let text = inputs.require("text")?.as_str().unwrap_or_default().to_owned();
        let path = ctx.workspace()?.join(&p.name);
        tokio::fs::write(&path, text)
            .await
            .map_err(|e| NodeError::context(format!("writing {}", path.display()), e))?;
        Ok(one("file", Value::File(FileRef::new(path, FileKind::Text))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_paths_and_escape() {
        let lookup = |n: &str| match n {
            "name" => Some(Value::from("Ada")),
            "n" => Some(Value::Int(3)),
            _ => None,
        };
        assert_eq!(render_template("Hi {{ name }}, {{n}}! {{{{x}}", &lookup).unwrap(), "Hi Ada, 3! {{x}}");
        assert!(render_template("{{missing}}", &lookup).unwrap_err().contains("unknown placeholder"));
        assert!(render_template("{{name", &lookup).unwrap_err().contains("unclosed"));
    }
}
