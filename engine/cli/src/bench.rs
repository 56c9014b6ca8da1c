//! `reelflow bench engine`: the executor's own cost per node on no-op graphs (a 10,000-node
//! chain, a 10,000-wide fan-out, a 100×100 lattice), and the cost of a cache hit.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reelflow_core::{
    Cache, Executor, NoExpressions, Plan, Registry, RunRequest, RunStatus, SourceFile, benchmark, load_workflow,
};

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Scheduling overhead per node and cache lookup time.
    Engine {
        /// Nodes per shape (the lattice is √n × √n).
        #[arg(long, default_value_t = 10_000)]
        nodes: usize,
        /// Timed runs per shape; the best is reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Load on the HTTP API: concurrent submissions and status polling.
    Api(crate::bench_api::ApiBenchArgs),
    /// Smart cut and join against the `ffmpeg` command re-encoding the same segments.
    Media(crate::bench_media::MediaBenchArgs),
    /// LLM prompt and decode tokens/s on mistral.rs against llama.cpp on the same GGUF.
    Llm(crate::bench_llm::LlmBenchArgs),
    /// WASM plugins: cold start with and without the compiled cache, per-call overhead, a
    /// 1080p per-frame effect in the sandbox against the same code native.
    Plugins(crate::bench_plugins::PluginBenchArgs),
    /// GPU kernels at 1080p (crossfade, blur, resize) against the `ffmpeg` CLI's CPU filters.
    Gpu(crate::bench_gpu::GpuBenchArgs),
}

#[derive(serde::Serialize)]
struct ShapeResult {
    shape: String,
    nodes: usize,
    validate_ms: f64,
    run_ms: f64,
    us_per_node: f64,
}

pub fn bench(what: &BenchCommand) -> anyhow::Result<ExitCode> {
    let (nodes, runs, json) = match what {
        BenchCommand::Engine { nodes, runs, json } => (nodes, runs, json),
        BenchCommand::Api(args) => return crate::bench_api::bench_api(args),
        BenchCommand::Media(args) => return crate::bench_media::bench_media(args),
        BenchCommand::Llm(args) => return crate::bench_llm::bench_llm(args),
        BenchCommand::Plugins(args) => return crate::bench_plugins::bench_plugins(args),
        BenchCommand::Gpu(args) => return crate::bench_gpu::bench_gpu(args),
    };
    let rt = tokio::runtime::Runtime::new()?;
    let dir = tempfile_dir()?;
    let registry = Registry::with_builtins();
    let side = (*nodes as f64).sqrt().round() as usize;
    let shapes = [
        ("chain".to_string(), benchmark::chain(*nodes)),
        ("fan-out".to_string(), benchmark::fan_out(*nodes)),
        (format!("lattice {side}x{side}"), benchmark::lattice(side, side)),
        ("chain, spawned".to_string(), benchmark::spawned_chain(*nodes)),
    ];
    let exec = Executor::new(Default::default(), None);
    let mut results = Vec::new();
    for (shape, yaml) in &shapes {
        let started = Instant::now();
        let plan = Arc::new(
            load_workflow(SourceFile::new("bench.yaml", yaml.as_str()), &registry, &NoExpressions)
                .map_err(|d| anyhow::anyhow!("{d}"))?,
        );
        let validate = started.elapsed();
        let best = (0..(*runs).max(1)).map(|_| time_run(&rt, &exec, &plan, &dir)).collect::<Result<Vec<_>, _>>()?;
        let best = best.into_iter().min().unwrap_or_default();
        let n = plan.nodes.len();
        results.push(ShapeResult {
            shape: shape.clone(),
            nodes: n,
            validate_ms: ms(validate),
            run_ms: ms(best),
            us_per_node: best.as_secs_f64() * 1e6 / n as f64,
        });
    }

    // Cache: the first run writes every entry; later runs are all hits.
    let cache = Arc::new(Cache::open(dir.join("cache"), u64::MAX)?);
    let cached_exec = Executor::new(Default::default(), Some(cache));
    let chain = Arc::new(
        load_workflow(SourceFile::new("bench.yaml", shapes[3].1.as_str()), &registry, &NoExpressions)
            .map_err(|d| anyhow::anyhow!("{d}"))?,
    );
    let cold = time_run(&rt, &cached_exec, &chain, &dir)?;
    let warm = (0..(*runs).max(1)).map(|_| time_run(&rt, &cached_exec, &chain, &dir)).collect::<Result<Vec<_>, _>>()?;
    let warm = warm.into_iter().min().unwrap_or_default();
    let n = chain.nodes.len() as f64;
    let cache_write_us = cold.as_secs_f64() * 1e6 / n;
    let cache_hit_us = warm.as_secs_f64() * 1e6 / n;
    let _ = std::fs::remove_dir_all(&dir);

    if *json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "shapes": results,
                "cache": { "nodes": n, "miss_and_write_us_per_node": cache_write_us, "hit_us_per_node": cache_hit_us },
            }))?
        );
    } else {
        println!("{:<16} {:>7} {:>12} {:>12} {:>12}", "shape", "nodes", "validate", "run (best)", "per node");
        for r in &results {
            println!(
                "{:<16} {:>7} {:>9.1} ms {:>9.1} ms {:>9.2} µs",
                r.shape, r.nodes, r.validate_ms, r.run_ms, r.us_per_node
            );
        }
        println!(
            "cache, {n}-node spawned chain: miss + write {cache_write_us:.1} µs/node, hit {cache_hit_us:.1} µs/node"
        );
        println!("(inline ops run on the scheduler's task; spawned ops each get a task and a resource permit)");
    }
    Ok(ExitCode::SUCCESS)
}

fn time_run(rt: &tokio::runtime::Runtime, exec: &Executor, plan: &Arc<Plan>, dir: &Path) -> anyhow::Result<Duration> {
    let mut req = RunRequest::new("bench", dir.join("work"));
    req.inputs = plan.bind_inputs(Default::default(), dir).map_err(|e| anyhow::anyhow!(e.join("; ")))?;
    let started = Instant::now();
    let report = rt.block_on(exec.run(plan.clone(), req));
    let took = started.elapsed();
    anyhow::ensure!(report.status == RunStatus::Succeeded, "the benchmark run failed: {:?}", report.first_error());
    Ok(took)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("reelflow-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
