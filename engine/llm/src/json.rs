//! JSON that matches a schema: generation constrained by the schema's grammar, then checked
//! with a JSON Schema validator (the grammar covers structure, not every keyword), with one
//! repair round that shows the model its mistakes.

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::chat::{ChatOutput, ChatRequest, Message, Role, Sampling, Usage, generate};
use crate::error::LlmError;
use crate::metrics::LlmMetrics;
use crate::pool::ModelLease;

/// A schema-valid answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonOutput {
    pub value: serde_json::Value,
    pub text: String,
    /// 1, or 2 when the repair round was needed.
    pub attempts: u32,
    /// The answer was cut off at max_tokens and this is its longest valid prefix: the
    /// trailing, unfinished array items are dropped and the brackets closed.
    #[serde(default)]
    pub salvaged: bool,
    /// Summed over the attempts.
    pub usage: Usage,
    pub model: String,
    pub quant: String,
}

/// Generates JSON valid against `schema`. The schema is also shown to the model in the
/// system prompt, so field names and descriptions guide what it writes. `on_prompt` and
/// `on_token` report as in [`generate`], for each attempt.
#[allow(clippy::too_many_arguments, reason = "the request's three parts, then generate's own four and its two reports")]
pub async fn generate_json(
    model: &ModelLease,
    messages: &[Message],
    sampling: &Sampling,
    schema: &serde_json::Value,
    metrics: &LlmMetrics,
    cancel: &CancellationToken,
    mut on_prompt: impl FnMut(usize, std::time::Duration),
    mut on_token: impl FnMut(&str, usize),
) -> Result<JsonOutput, LlmError> {
    let validator =
        jsonschema::validator_for(schema).map_err(|e| LlmError::Request(format!("the JSON Schema is invalid: {e}")))?;
    let mut conversation = with_schema_instructions(messages, schema);
    let grammar = compact_grammar(schema);
    let mut usage = Usage::default();
    let mut last_problem = String::new();
    for attempt in 1..=2u32 {
        let request = ChatRequest {
            messages: conversation.clone(),
            sampling: sampling.clone(),
            json_schema: Some(grammar.clone()),
        };
        let output: ChatOutput = generate(model, &request, metrics, cancel, &mut on_prompt, &mut on_token).await?;
        add_usage(&mut usage, &output.usage);
        let accept = |value: serde_json::Value, text: String, salvaged: bool, usage: Usage| JsonOutput {
            value,
            text,
            attempts: attempt,
            salvaged,
            usage,
            model: output.model.clone(),
            quant: output.quant.clone(),
        };
        let problem = match serde_json::from_str::<serde_json::Value>(output.text.trim()) {
            Ok(value) => {
                let errors: Vec<String> = validator
                    .iter_errors(&value)
                    .take(8)
                    .map(|e| {
                        let at = e.instance_path().as_str().to_string();
                        if at.is_empty() { e.to_string() } else { format!("at {at}: {e}") }
                    })
                    .collect();
                if errors.is_empty() {
                    return Ok(accept(value, output.text.clone(), false, usage));
                }
                errors.join("; ")
            }
            Err(e) if output.finish_reason == "length" => {
                // The grammar kept every token valid, so the text is a prefix of valid JSON:
                // a list cut short usually still says enough (a planner's first picks).
                if let Some((value, text)) = salvage(output.text.trim(), &validator) {
                    tracing::warn!("JSON answer cut off at max_tokens; kept its complete items");
                    return Ok(accept(value, text, true, usage));
                }
                format!("the answer was cut off at max_tokens before the JSON ended ({e})")
            }
            Err(e) => format!("not JSON: {e}"),
        };
        tracing::debug!(attempt, problem = %problem, "JSON answer rejected");
        conversation.push(Message::new(Role::Assistant, output.text));
        conversation.push(Message::new(
            Role::User,
            format!("That answer is not valid: {problem}. Reply again with only the corrected JSON."),
        ));
        last_problem = problem;
    }
    Err(LlmError::Schema(format!("{last_problem} (after a repair attempt)")))
}

/// The longest schema-valid JSON value that a cut-off `text` (a prefix of JSON) starts with:
/// cut just after a completed array item, or before an object member, and close the open
/// brackets. Tried from the longest cut down.
fn salvage(text: &str, validator: &jsonschema::Validator) -> Option<(serde_json::Value, String)> {
    // (byte offset, the closers needed there), at each point where cutting keeps whole items.
    let mut cuts: Vec<(usize, String)> = Vec::new();
    let mut stack: Vec<u8> = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    let closers = |stack: &[u8]| -> String { stack.iter().rev().map(|&c| c as char).collect() };
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => stack.push(b'}'),
            b'[' => stack.push(b']'),
            b'}' | b']' => {
                stack.pop();
                // A container just closed: inside an array it was a whole item.
                if stack.last() == Some(&b']') {
                    cuts.push((i + 1, closers(&stack)));
                }
            }
            // Before the separator of the next item or member: what precedes is whole.
            b',' => cuts.push((i, closers(&stack))),
            _ => {}
        }
    }
    cuts.into_iter().rev().find_map(|(at, close)| {
        let candidate = format!("{}{close}", text[..at].trim_end());
        let value: serde_json::Value = serde_json::from_str(&candidate).ok()?;
        validator.is_valid(&value).then_some((value, candidate))
    })
}

/// The schema as the grammar engine gets it: JSON on one line, `", "` and `": "` between
/// items, no other whitespace. With whitespace allowed anywhere, small models happily emit
/// newlines until `max_tokens`. A schema that sets its own `x-guidance` keeps it.
fn compact_grammar(schema: &serde_json::Value) -> serde_json::Value {
    let mut grammar = schema.clone();
    if let Some(obj) = grammar.as_object_mut()
        && !obj.contains_key("x-guidance")
    {
        obj.insert(
            "x-guidance".into(),
            serde_json::json!({"whitespace_flexible": false, "item_separator": ", ", "key_separator": ": "}),
        );
    }
    grammar
}

/// The caller's messages with the schema added to the system prompt (a new system message
/// when there is none).
fn with_schema_instructions(messages: &[Message], schema: &serde_json::Value) -> Vec<Message> {
    let instructions = format!(
        "Answer with a single JSON value and nothing else. It must match this JSON Schema:\n{}",
        serde_json::to_string(schema).unwrap_or_default()
    );
    let mut out = messages.to_vec();
    match out.iter_mut().find(|m| m.role == Role::System) {
        Some(system) => {
            system.content.push_str("\n\n");
            system.content.push_str(&instructions);
        }
        None => out.insert(0, Message::new(Role::System, instructions)),
    }
    out
}

fn add_usage(total: &mut Usage, more: &Usage) {
    let seconds = |tokens: usize, rate: f64| if rate > 0.0 { tokens as f64 / rate } else { 0.0 };
    total.prompt_tokens += more.prompt_tokens;
    total.completion_tokens += more.completion_tokens;
    total.prompt_seconds += more.prompt_seconds.max(seconds(more.prompt_tokens, more.prompt_tokens_per_second));
    total.decode_seconds += more.decode_seconds.max(seconds(more.completion_tokens, more.decode_tokens_per_second));
    total.prompt_tokens_per_second =
        if total.prompt_seconds > 0.0 { total.prompt_tokens as f64 / total.prompt_seconds } else { 0.0 };
    total.decode_tokens_per_second =
        if total.decode_seconds > 0.0 { total.completion_tokens as f64 / total.decode_seconds } else { 0.0 };
}

#[cfg(test)]
mod tests {
    use super::salvage;

    fn planner_schema() -> jsonschema::Validator {
        jsonschema::validator_for(&serde_json::json!({
            "type": "object",
            "properties": {"moments": {"type": "array", "items": {
                "type": "object",
                "properties": {"first": {"type": "integer"}, "last": {"type": "integer"}, "why": {"type": "string"}},
                "required": ["first", "last", "why"]
            }}},
            "required": ["moments"]
        }))
        .unwrap()
    }

    #[test]
    fn a_cut_off_list_keeps_its_whole_items() {
        let v = planner_schema();
        let cut =
            r#"{"moments": [{"first": 1, "last": 2, "why": "他说, \"背叛]}\""}, {"first": 4, "last": 5, "why": "信"#;
        let (value, text) = salvage(cut, &v).expect("one whole item");
        assert_eq!(value["moments"].as_array().unwrap().len(), 1, "{text}");
        assert_eq!(value["moments"][0]["why"], "他说, \"背叛]}\"");
        // Two whole items, the third cut inside a key.
        let cut = r#"{"moments": [{"first": 1, "last": 2, "why": "a"}, {"first": 4, "last": 5, "why": "b"}, {"fir"#;
        assert_eq!(salvage(cut, &v).unwrap().0["moments"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn nothing_whole_or_nothing_valid_is_not_salvaged() {
        let v = planner_schema();
        assert!(
            salvage(r#"{"moments": [{"first": 1, "la"#, &v)
                .is_none_or(|(value, _)| value["moments"] == serde_json::json!([]))
        );
        assert!(salvage(r#"{"mom"#, &v).is_none());
        assert!(salvage("", &v).is_none());
    }
}
