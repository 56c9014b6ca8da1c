//! One generation: messages in, text out, streamed token by token and cancellable.

use std::time::{Duration, Instant};

use either::Either;
use mistralrs::{Constraint, RequestBuilder, Response, TextMessageRole, TextMessages};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::LlmError;
use crate::metrics::LlmMetrics;
use crate::pool::ModelLease;

/// Who says a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message { role, content: content.into() }
    }
}

/// Sampling settings. Absent fields take the model's defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// 0 picks the most likely token every time.
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Most tokens to generate.
    #[serde(default)]
    pub max_tokens: Option<usize>,
    #[serde(default)]
    pub repetition_penalty: Option<f32>,
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub sampling: Sampling,
    /// Constrain the output to this JSON Schema (llguidance grammar inside mistral.rs).
    pub json_schema: Option<serde_json::Value>,
}

/// Token counts and speeds of one generation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub prompt_tokens_per_second: f64,
    pub decode_tokens_per_second: f64,
    pub prompt_seconds: f64,
    pub decode_seconds: f64,
}

/// A finished generation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatOutput {
    pub text: String,
    /// `stop` (the model ended), `length` (hit `max_tokens`), …
    pub finish_reason: String,
    pub usage: Usage,
    pub model: String,
    pub quant: String,
}

/// How often a generation reports that it is still reading its prompt.
pub const PROMPT_HEARTBEAT: Duration = Duration::from_secs(2);

/// Runs one generation on a leased model.
///
/// - `on_prompt` sees the prompt's length in tokens and how long the model has been reading
///   it: once when the request starts (with zero), then every [`PROMPT_HEARTBEAT`] until the
///   first token. On a CPU a long prompt takes minutes before any token, and a run should not
///   look stalled meanwhile.
/// - `on_token` sees the text so far and the number of tokens generated, once per streamed
///   chunk.
///
/// Cancelling `cancel` drops the stream, and mistral.rs stops the sequence at its next step.
pub async fn generate(
    model: &ModelLease,
    request: &ChatRequest,
    metrics: &LlmMetrics,
    cancel: &CancellationToken,
    mut on_prompt: impl FnMut(usize, Duration),
    mut on_token: impl FnMut(&str, usize),
) -> Result<ChatOutput, LlmError> {
    if request.messages.is_empty() {
        return Err(LlmError::Request("no messages".into()));
    }
    let mut builder = RequestBuilder::new();
    for m in &request.messages {
        builder = builder.add_message(role_of(m.role), &m.content);
    }
    builder = builder.set_sampling(sampling_params(&request.sampling)?);
    if let Some(schema) = &request.json_schema {
        builder = builder.set_constraint(Constraint::JsonSchema(schema.clone()));
    }

    let prompt_tokens = prompt_tokens(model, &request.messages).await;
    on_prompt(prompt_tokens, Duration::ZERO);
    let started = Instant::now();
    let mut first_token_at: Option<Instant> = None;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + PROMPT_HEARTBEAT, PROMPT_HEARTBEAT);
    let mut stream = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Err(LlmError::Cancelled),
        s = model.model.stream_chat_request(builder) => s.map_err(|e| LlmError::Request(e.to_string()))?,
    };
    let mut text = String::new();
    let mut tokens = 0usize;
    loop {
        let response = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(LlmError::Cancelled),
            r = stream.next() => r,
            // `next` only waits on a channel, so dropping it for a heartbeat loses nothing.
            _ = heartbeat.tick(), if first_token_at.is_none() => {
                on_prompt(prompt_tokens, started.elapsed());
                continue;
            }
        };
        let Some(response) = response else {
            if text.is_empty() {
                return Err(LlmError::Generation("the model stopped without an answer".into()));
            }
            // mistral.rs 0.8.1 sends no final chunk when the last token ends inside a
            // multi-byte character (its delta is held back as incomplete UTF-8), which is
            // how a CJK answer that runs into max_tokens ends: report it as cut off.
            let usage = measured_usage(prompt_tokens, tokens, started, first_token_at);
            return Ok(finished(model, metrics, text, "length", usage));
        };
        match response {
            Response::Chunk(chunk) => {
                let Some(choice) = chunk.choices.first() else { continue };
                if let Some(delta) = &choice.delta.content {
                    text.push_str(delta);
                }
                tokens += 1;
                first_token_at.get_or_insert_with(Instant::now);
                on_token(&text, tokens);
                if let Some(reason) = &choice.finish_reason {
                    let usage = chunk.usage.as_ref().map(usage_of).unwrap_or_default();
                    return Ok(finished(model, metrics, text, reason, usage));
                }
                // The grammar is satisfied once the JSON value closes, but the engine may not
                // recognise the grammar's end token as a stop token and would pad to
                // max_tokens: stop here (dropping the stream cancels the sequence).
                if request.json_schema.is_some() && json_complete(&text) {
                    drop(stream);
                    let usage = measured_usage(prompt_tokens, tokens, started, first_token_at);
                    return Ok(finished(model, metrics, text, "stop", usage));
                }
            }
            Response::ValidationError(e) => return Err(LlmError::Request(e.to_string())),
            Response::InternalError(e) => return Err(LlmError::Generation(e.to_string())),
            Response::ModelError(message, _) => return Err(LlmError::Generation(message)),
            other => {
                return Err(LlmError::Generation(format!(
                    "unexpected response from the engine: {}",
                    response_name(&other)
                )));
            }
        }
    }
}

/// The answer, with its usage recorded in the metrics.
fn finished(model: &ModelLease, metrics: &LlmMetrics, text: String, finish_reason: &str, usage: Usage) -> ChatOutput {
    metrics.record_usage(&model.id, &usage);
    ChatOutput { text, finish_reason: finish_reason.into(), usage, model: model.id.clone(), quant: model.quant.clone() }
}

/// A whole JSON object or array (a top-level scalar has no closing mark to stop at).
fn json_complete(text: &str) -> bool {
    let t = text.trim();
    (t.starts_with('{') && t.ends_with('}') || t.starts_with('[') && t.ends_with(']'))
        && serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()
}

/// The prompt's length in tokens, chat template included, as the model will read it (0 if the
/// tokenizer fails, which only makes progress and usage less informative).
async fn prompt_tokens(model: &ModelLease, messages: &[Message]) -> usize {
    let mut text = TextMessages::new();
    for m in messages {
        text = text.add_message(role_of(m.role), &m.content);
    }
    model.model.tokenize(Either::Left(text), None, true, true, None).await.map_or(0, |t| t.len())
}

/// Usage of a generation stopped before the engine reported it: the prompt as counted before
/// the request, the times measured here.
fn measured_usage(prompt_tokens: usize, tokens: usize, started: Instant, first_token_at: Option<Instant>) -> Usage {
    let first = first_token_at.unwrap_or_else(Instant::now);
    let prompt_seconds = first.duration_since(started).as_secs_f64();
    let decode_seconds = first.elapsed().as_secs_f64();
    let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    Usage {
        prompt_tokens,
        completion_tokens: tokens,
        prompt_tokens_per_second: rate(prompt_tokens, prompt_seconds),
        decode_tokens_per_second: rate(tokens.saturating_sub(1), decode_seconds),
        prompt_seconds,
        decode_seconds,
    }
}

fn role_of(role: Role) -> TextMessageRole {
    match role {
        Role::System => TextMessageRole::System,
        Role::User => TextMessageRole::User,
        Role::Assistant => TextMessageRole::Assistant,
    }
}

/// The request's sampling settings as mistral.rs params; temperature 0 means greedy.
fn sampling_params(s: &Sampling) -> Result<mistralrs::SamplingParams, LlmError> {
    let mut params = mistralrs::SamplingParams::neutral();
    match s.temperature {
        Some(t) if !(0.0..=2.0).contains(&t) => {
            return Err(LlmError::Request(format!("temperature {t} is outside 0–2")));
        }
        // mistral.rs samples by argmax below a temperature of 1e-7. (Left unset, the
        // temperature is 1.0, and `top_k: 1` alone would still pay for a softmax over the
        // vocabulary and a weighted draw on every token.)
        Some(0.0) => params.temperature = Some(0.0),
        t => {
            params.temperature = t;
            params.top_k = s.top_k;
            params.top_p = s.top_p;
        }
    }
    if s.max_tokens == Some(0) {
        return Err(LlmError::Request("max_tokens must be at least 1".into()));
    }
    params.max_len = s.max_tokens;
    params.repetition_penalty = s.repetition_penalty;
    Ok(params)
}

fn usage_of(u: &mistralrs::Usage) -> Usage {
    Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        prompt_tokens_per_second: f64::from(u.avg_prompt_tok_per_sec),
        decode_tokens_per_second: f64::from(u.avg_compl_tok_per_sec),
        prompt_seconds: f64::from(u.total_prompt_time_sec),
        decode_seconds: f64::from(u.total_completion_time_sec),
    }
}

fn response_name(r: &Response) -> &'static str {
    match r {
        Response::Done(_) => "done",
        Response::CompletionDone(_) | Response::CompletionChunk(_) | Response::CompletionModelError(..) => "completion",
        Response::ImageGeneration(_) => "image",
        Response::Speech { .. } => "speech",
        Response::Raw { .. } => "raw",
        Response::Embeddings { .. } => "embeddings",
        _ => "other",
    }
}
