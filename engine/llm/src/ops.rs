//! The workflow ops `llm.chat` and `llm.json`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reelflow_core::{
    Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs, Registry, ResourceClass, Value, ValueType,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::chat::{ChatRequest, Message, Role, Sampling, generate};
use crate::json::generate_json;
use crate::registry::ModelSelector;
use crate::{Llm, ModelLease};

/// Registers `llm.chat` and `llm.json`, both served by `llm`'s model pool.
pub fn register(reg: &mut Registry, llm: Arc<Llm>) -> reelflow_core::Result<()> {
    reg.register(Arc::new(ChatOp::new(llm.clone())))?;
    reg.register(Arc::new(JsonOp::new(llm)))
}

/// How much generated text a progress event carries (its tail).
const PROGRESS_TEXT_CHARS: usize = 4000;
/// `max_tokens` when a request names none: bounds a run and gives progress a scale.
const DEFAULT_MAX_TOKENS: usize = 512;

/// Params both ops share.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LlmParams {
    /// A model id from `models/models.yaml`; overrides `language`.
    #[serde(default)]
    model: Option<String>,
    /// `zh`, `en`, …: the model the active-model config names for it (default: its default language).
    #[serde(default)]
    language: Option<String>,
    /// Quantization level (`Q2_K`, `Q4_K_M`, `Q5_K_M`, `Q8_0`, or whatever the model offers).
    #[serde(default)]
    quant: Option<String>,
    /// 0 is greedy; default: the model's.
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    top_k: Option<usize>,
    /// Most tokens to generate (default 512 for llm.chat, 1024 for llm.json).
    #[serde(default)]
    max_tokens: Option<usize>,
    #[serde(default)]
    repetition_penalty: Option<f32>,
    /// A system prompt, placed before the messages.
    #[serde(default)]
    system: Option<String>,
    /// The conversation so far; the `prompt` input, when wired, is added as the last user message.
    #[serde(default)]
    messages: Vec<Message>,
    /// `llm.json` only: the JSON Schema the answer must match (the `schema` input wins).
    #[serde(default)]
    schema: Option<serde_json::Value>,
}

impl LlmParams {
    fn selector(&self) -> ModelSelector {
        ModelSelector { model: self.model.clone(), language: self.language.clone(), quant: self.quant.clone() }
    }

    fn sampling(&self, default_max_tokens: usize) -> Sampling {
        Sampling {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            max_tokens: Some(self.max_tokens.unwrap_or(default_max_tokens)),
            repetition_penalty: self.repetition_penalty,
        }
    }
}

fn describe(spec: NodeSpec) -> NodeSpec {
    spec.optional_input("prompt", ValueType::String, "The user's message (added after `messages`).")
        .optional_input("messages", ValueType::Json, "Messages `[{role, content}]`, before `prompt`.")
        .resource(ResourceClass::Llm)
}

/// The conversation from params and inputs: system, messages, then the prompt.
fn conversation(params: &LlmParams, inputs: &NodeInputs) -> Result<Vec<Message>, NodeError> {
    let mut messages = Vec::new();
    if let Some(system) = &params.system {
        messages.push(Message::new(Role::System, system.clone()));
    }
    messages.extend(params.messages.iter().cloned());
    if let Some(value) = inputs.get("messages") {
        let extra: Vec<Message> = serde_json::from_value(value.to_json()).map_err(|e| NodeError::Input {
            port: "messages".into(),
            message: format!("not a list of {{role, content}} messages: {e}"),
        })?;
        messages.extend(extra);
    }
    match inputs.get("prompt") {
        Some(Value::String(prompt)) => messages.push(Message::new(Role::User, prompt.clone())),
        Some(other) => {
            return Err(NodeError::Input {
                port: "prompt".into(),
                message: format!("not text: {}", other.type_name()),
            });
        }
        None => {}
    }
    if !messages.iter().any(|m| m.role == Role::User) {
        return Err(NodeError::Params("nothing to answer: give a `prompt` input or a user message".into()));
    }
    Ok(messages)
}

/// How the progress messages of `llm.chat` and `llm.json` begin while the model reads the
/// prompt (before any token); adapters look for it to show that phase.
pub const READING_PROMPT: &str = "reading the prompt";

/// Progress while the model reads the prompt (before any token): its size, then how long it
/// has been reading. The first report also says which model is answering.
fn report_prompt<'a>(ctx: &'a NodeCtx, lease: &ModelLease) -> impl FnMut(usize, Duration) + 'a {
    let model = format!("{} ({})", lease.id, lease.quant);
    move |tokens: usize, reading: Duration| {
        let message = if reading.is_zero() {
            format!("{model} ready; {READING_PROMPT} ({tokens} tokens)")
        } else {
            format!("{READING_PROMPT} ({tokens} tokens): {} s", reading.as_secs())
        };
        ctx.progress(0.0, message);
    }
}

/// Progress as tokens / max_tokens, with the tail of the text so far as the message.
fn report_progress(ctx: &NodeCtx, max_tokens: usize) -> impl FnMut(&str, usize) + '_ {
    move |text: &str, tokens: usize| {
        let tail = match text.char_indices().rev().nth(PROGRESS_TEXT_CHARS) {
            Some((cut, _)) => format!("…{}", &text[cut..]),
            None => text.to_string(),
        };
        ctx.progress((tokens as f32 / max_tokens as f32).min(0.99), tail);
    }
}

struct ChatOp {
    spec: NodeSpec,
    llm: Arc<Llm>,
}

impl ChatOp {
    fn new(llm: Arc<Llm>) -> Self {
        let spec = NodeSpec::new(
            "llm.chat",
            1,
            "Chat with a local model (mistral.rs, GGUF from models/): messages and sampling params in, text out. \
             Progress events carry the text generated so far. The model is picked by `model`, or by `language` \
             through the active-model config; a missing model fails naming the file.",
        );
        ChatOp {
            spec: describe(spec)
                .output("text", ValueType::String, "The answer.")
                .output("usage", ValueType::Json, "Tokens and tokens/s of prompt processing and generation, the model.")
                .params::<LlmParams>(),
            llm,
        }
    }
}

#[async_trait]
impl Node for ChatOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: LlmParams = inputs.params()?;
        if params.schema.is_some() {
            return Err(NodeError::Params("`schema` belongs to llm.json".into()));
        }
        let messages = conversation(&params, &inputs)?;
        let sampling = params.sampling(DEFAULT_MAX_TOKENS);
        let max_tokens = sampling.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
        let lease = self.llm.lease(&params.selector()).await?;
        let request = ChatRequest { messages, sampling, json_schema: None };
        let out = generate(
            &lease,
            &request,
            self.llm.metrics(),
            &ctx.cancel_token(),
            report_prompt(ctx, &lease),
            report_progress(ctx, max_tokens),
        )
        .await?;
        ctx.progress(1.0, out.text.clone());
        let mut outputs = Outputs::default();
        outputs.insert("text".into(), Value::String(out.text.clone()));
        outputs.insert(
            "usage".into(),
            Value::from_json(&usage_json(&out.model, &out.quant, &out.finish_reason, &out.usage, 1)),
        );
        Ok(outputs)
    }
}

struct JsonOp {
    spec: NodeSpec,
    llm: Arc<Llm>,
}

impl JsonOp {
    fn new(llm: Arc<Llm>) -> Self {
        let spec = NodeSpec::new(
            "llm.json",
            1,
            "JSON from a local model that matches a JSON Schema: generation is constrained by the schema's grammar, \
             the result is validated, and one repair round shows the model its mistakes.",
        );
        JsonOp {
            spec: describe(spec)
                .optional_input("schema", ValueType::Json, "The JSON Schema (instead of the `schema` param).")
                .output("value", ValueType::Json, "The answer, valid against the schema.")
                .output("usage", ValueType::Json, "Tokens, tokens/s, attempts, the model.")
                .params::<LlmParams>(),
            llm,
        }
    }
}

#[async_trait]
impl Node for JsonOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: LlmParams = inputs.params()?;
        let schema = match inputs.get("schema") {
            Some(v) => v.to_json(),
            None => params.schema.clone().ok_or_else(|| NodeError::Params("no JSON Schema: set `schema`".into()))?,
        };
        let messages = conversation(&params, &inputs)?;
        let sampling = params.sampling(DEFAULT_MAX_TOKENS * 2);
        let max_tokens = sampling.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS * 2);
        let lease = self.llm.lease(&params.selector()).await?;
        let out = generate_json(
            &lease,
            &messages,
            &sampling,
            &schema,
            self.llm.metrics(),
            &ctx.cancel_token(),
            report_prompt(ctx, &lease),
            report_progress(ctx, max_tokens),
        )
        .await?;
        ctx.progress(1.0, out.text.clone());
        // A salvaged answer ran into max_tokens: its finish reason says so.
        let finish = if out.salvaged {
            ctx.log(
                reelflow_core::LogLevel::Warn,
                format!("the answer ran into max_tokens ({max_tokens}); its complete items were kept"),
            );
            "length"
        } else {
            "stop"
        };
        let mut outputs = Outputs::default();
        outputs.insert("value".into(), Value::from_json(&out.value));
        outputs.insert(
            "usage".into(),
            Value::from_json(&usage_json(&out.model, &out.quant, finish, &out.usage, out.attempts)),
        );
        Ok(outputs)
    }
}

fn usage_json(model: &str, quant: &str, finish: &str, usage: &crate::chat::Usage, attempts: u32) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "quant": quant,
        "finish_reason": finish,
        "attempts": attempts,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "prompt_tokens_per_second": usage.prompt_tokens_per_second,
        "decode_tokens_per_second": usage.decode_tokens_per_second,
    })
}
