//! `reelflow bench llm`: prompt-processing and decode tokens/s of a GGUF model on mistral.rs
//! (the engine's `llm.*` path), against llama.cpp (through `llama-cpp-python`) on the same
//! file, prompts, greedy sampling and thread count, in the same run. Load time and RSS too.
//!
//! Both sides are timed the same way from outside: prompt speed is prompt tokens over the
//! time to the first streamed token; decode speed is the tokens after the first over the
//! time from the first to the last. Every run's prompt starts differently, so neither side
//! can answer from a prefix cache.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};
use reelflow_llm::{ChatRequest, Llm, LlmConfig, Message, ModelSelector, Role, Sampling, generate};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct LlmBenchArgs {
    /// Model id from the manifest.
    #[arg(long, default_value = "smollm2-135m-instruct")]
    model: String,
    #[arg(long, default_value = "models")]
    models_dir: PathBuf,
    /// Words of filler in each prompt (about 1.3 tokens per word).
    #[arg(long, default_value_t = 300)]
    prompt_words: usize,
    /// Tokens to generate per run (fewer if the model stops).
    #[arg(long, default_value_t = 128)]
    gen_tokens: usize,
    /// Timed runs per engine after one warm-up; medians are reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Python with `llama_cpp` importable (`pip install llama-cpp-python`).
    #[arg(long, env = "REELFLOW_LLAMA_PYTHON")]
    llama_python: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Sample {
    prompt_tokens: usize,
    completion_tokens: usize,
    ttft_s: f64,
    decode_s: f64,
}

impl Sample {
    fn prompt_rate(&self) -> f64 {
        self.prompt_tokens as f64 / self.ttft_s
    }
    fn decode_rate(&self) -> f64 {
        self.completion_tokens.saturating_sub(1) as f64 / self.decode_s
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct EngineResult {
    engine: String,
    load_s: f64,
    rss_mb: f64,
    threads: usize,
    samples: Vec<Sample>,
}

impl EngineResult {
    fn median(&self, f: impl Fn(&Sample) -> f64) -> f64 {
        let mut v: Vec<f64> = self.samples.iter().map(f).filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

fn prompt(run: usize, words: usize) -> String {
    let filler =
        "The old ferry crossed the grey river at dawn while the town slept and the gulls argued over the pier. ";
    let body: String = filler.split(' ').cycle().take(words).collect::<Vec<_>>().join(" ");
    format!("Run {run}. Read this passage and then continue the story at length.\n\n{body}")
}

fn rss_mb() -> f64 {
    reelflow_core::sysinfo::rss_bytes() as f64 / (1024.0 * 1024.0)
}

/// Threads candle's CPU kernels use: rayon's global pool, sized by RAYON_NUM_THREADS or the cores.
fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

async fn bench_mistralrs(args: &LlmBenchArgs) -> anyhow::Result<(EngineResult, PathBuf)> {
    let llm = Llm::new(LlmConfig {
        models_dir: args.models_dir.clone(),
        active_config: args.models_dir.join("no-operator-config.yaml"),
        memory_budget_mb: u64::MAX / 2,
        max_concurrent: 1,
    });
    let selector = ModelSelector { model: Some(args.model.clone()), ..Default::default() };
    let resolved = llm.registry().resolve(&selector)?;
    let rss_before = rss_mb();
    let started = Instant::now();
    let lease = llm.lease(&selector).await?;
    let load_s = started.elapsed().as_secs_f64();
    let mut result =
        EngineResult { engine: "mistral.rs".into(), load_s, rss_mb: 0.0, threads: threads(), samples: Vec::new() };
    for run in 0..=args.runs {
        let request = ChatRequest {
            messages: vec![Message::new(Role::User, prompt(run, args.prompt_words))],
            sampling: Sampling { temperature: Some(0.0), max_tokens: Some(args.gen_tokens), ..Default::default() },
            json_schema: None,
        };
        let t0 = Instant::now();
        let mut first = None;
        // Like llama.cpp's time to the first token, this one includes tokenizing the prompt.
        let out = generate(
            &lease,
            &request,
            llm.metrics(),
            &CancellationToken::new(),
            |_, _| {},
            |_, n| {
                if n == 1 {
                    first = Some(t0.elapsed().as_secs_f64());
                }
            },
        )
        .await?;
        let total = t0.elapsed().as_secs_f64();
        let ttft = first.context("no token was generated")?;
        if run > 0 {
            result.samples.push(Sample {
                prompt_tokens: out.usage.prompt_tokens,
                completion_tokens: out.usage.completion_tokens,
                ttft_s: ttft,
                decode_s: total - ttft,
            });
        }
    }
    result.rss_mb = rss_mb() - rss_before;
    Ok((result, resolved.path))
}

const LLAMA_CPP_SCRIPT: &str = r#"
import json, os, sys, time
from llama_cpp import Llama

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")

path, threads, gen, prompts, n_ctx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5])
before = rss_mb()
t = time.perf_counter()
llm = Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=n_ctx, verbose=False)
load_s = time.perf_counter() - t
samples = []
for i, p in enumerate(prompts):
    t0 = time.perf_counter()
    first, n, usage = None, 0, None
    for chunk in llm.create_chat_completion(messages=[{"role": "user", "content": p}], temperature=0.0,
                                            max_tokens=gen, stream=True):
        delta = chunk["choices"][0]["delta"]
        if delta.get("content"):
            n += 1
            if first is None:
                first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    if i > 0:
        samples.append({"prompt_tokens": 0, "completion_tokens": n, "ttft_s": first, "decode_s": total - first})
# Prompt token counts: tokenize the same chat-formatted prompt the model saw.
from llama_cpp.llama_chat_format import format_chatml
for s, p in zip(samples, prompts[1:]):
    text = format_chatml([{"role": "user", "content": p}]).prompt
    s["prompt_tokens"] = len(llm.tokenize(text.encode(), add_bos=False, special=True))
print(json.dumps({"engine": "llama.cpp", "load_s": load_s, "rss_mb": rss_mb() - before, "threads": threads,
                  "samples": samples}))
"#;

/// llama.cpp's context window for the benchmark: 2048 tokens (the default prompt's size
/// class, so its RSS stays comparable between runs), or enough for a longer prompt. The
/// filler is about 1.3 tokens a word; two a word plus the chat template's few leaves room.
fn llama_context_tokens(prompt_words: usize, gen_tokens: usize) -> usize {
    (prompt_words * 2 + gen_tokens + 256).next_multiple_of(256).max(2048)
}

fn bench_llama_cpp(args: &LlmBenchArgs, model: &std::path::Path, threads: usize) -> anyhow::Result<EngineResult> {
    let python = args.llama_python.clone().unwrap_or_else(|| PathBuf::from("python3"));
    let prompts: Vec<String> = (0..=args.runs).map(|run| prompt(run, args.prompt_words)).collect();
    let output = Command::new(&python)
        .arg("-c")
        .arg(LLAMA_CPP_SCRIPT)
        .arg(model)
        .arg(threads.to_string())
        .arg(args.gen_tokens.to_string())
        .arg(serde_json::to_string(&prompts)?)
        .arg(llama_context_tokens(args.prompt_words, args.gen_tokens).to_string())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "llama.cpp (via {}) failed: {}\ninstall the reference with `python3 -m venv ~/.cache/reelflow-bench/venv && \
             ~/.cache/reelflow-bench/venv/bin/pip install llama-cpp-python` and pass --llama-python",
            python.display(),
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("")
        );
    }
    serde_json::from_slice(&output.stdout).context("reading llama.cpp's results")
}

pub fn bench_llm(args: &LlmBenchArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    let (ours, model_path) = rt.block_on(bench_mistralrs(args))?;
    let reference = bench_llama_cpp(args, &model_path, ours.threads)?;
    let pp = ours.median(Sample::prompt_rate) / reference.median(Sample::prompt_rate);
    let tg = ours.median(Sample::decode_rate) / reference.median(Sample::decode_rate);
    if args.json {
        let out = serde_json::json!({
            "model": model_path, "results": [ours, reference],
            "prompt_ratio": pp, "decode_ratio": tg,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("model {} ({} threads, {} timed runs, medians)", model_path.display(), ours.threads, args.runs);
    println!(
        "{:<11} {:>8} {:>9} {:>13} {:>13} {:>12}",
        "engine", "load s", "RSS MB", "prompt tok", "prompt tok/s", "decode tok/s"
    );
    for r in [&ours, &reference] {
        println!(
            "{:<11} {:>8.2} {:>9.0} {:>13.0} {:>13.1} {:>12.1}",
            r.engine,
            r.load_s,
            r.rss_mb,
            r.median(|s| s.prompt_tokens as f64),
            r.median(Sample::prompt_rate),
            r.median(Sample::decode_rate)
        );
    }
    println!("mistral.rs / llama.cpp: prompt {pp:.2}×, decode {tg:.2}× (target ≥ 0.9×)");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::llama_context_tokens;

    #[test]
    fn llama_gets_a_context_that_holds_the_prompt_and_the_answer() {
        // The default run keeps the 2048-token window its RSS figures were taken with.
        assert_eq!(llama_context_tokens(300, 128), 2048);
        // A 3,600-word prompt is about 4,700 tokens; 2048 made llama.cpp refuse it.
        let n = llama_context_tokens(3600, 64);
        assert!(n >= 3600 * 13 / 10 + 64 + 64, "{n}");
        assert_eq!(n % 256, 0);
    }
}
