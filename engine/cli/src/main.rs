//! `reelflow`: run and validate workflow files, list operators, benchmark the engine,
//! developer tools.
//!
//! Exit codes: 0 success, 1 the run failed, 2 invalid workflow, inputs or usage,
//! 130 cancelled (Ctrl-C).

mod bench;
mod bench_api;
mod bench_gpu;
mod bench_llm;
mod bench_media;
mod bench_plugins;
mod memory;
mod models;
mod plugins;
mod progress;
mod run;
mod serve;
mod tools;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use reelflow_runtime::{Config, Runtime};

pub(crate) const EXIT_FAILED: u8 = 1;
pub(crate) const EXIT_INVALID: u8 = 2;
pub(crate) const EXIT_CANCELLED: u8 = 130;

#[derive(Parser)]
#[command(name = "reelflow", version, about = "Reelflow: a workflow engine for media AI")]
struct Cli {
    /// Config file (default: ./reelflow.toml when it exists).
    #[arg(long, global = true, env = "REELFLOW_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory for runs and the cache (overrides config and REELFLOW_DATA_DIR).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workflow file.
    Run(run::RunArgs),
    /// Check workflow files without running them; every problem is reported.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the errors as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List operators with their typed ports and params schema.
    Nodes {
        /// Show only this op.
        op: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of the workflow format (for editors).
    Schema,
    /// Serve the HTTP API (with an embedded worker) on the durable run store.
    Serve(serve::ServeArgs),
    /// Execute queued runs from the store, beside a server or other workers.
    Worker(serve::WorkerArgs),
    /// Local LLM models: what the manifest lists, what is installed.
    Models {
        #[command(subcommand)]
        what: models::ModelsCommand,
    },
    /// WebAssembly plugins: scaffold, build and install, list, inspect.
    Plugin {
        #[command(subcommand)]
        what: plugins::PluginCommand,
    },
    /// Measure the engine.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
    /// The GPU adapters present, best first, and the one Reelflow uses
    /// (`REELFLOW_GPU_ADAPTER`: auto, discrete, integrated, cpu, or part of a name).
    Gpu,
    /// Developer tools: API load testing, log analysis, an operator sandbox.
    Tools {
        #[command(subcommand)]
        what: tools::ToolsCommand,
    },
}

fn main() -> ExitCode {
    memory::keep_frame_buffers();
    let cli = Cli::parse();
    // `serve` and `worker` log to a file as well, set up once the data directory is known.
    if !matches!(cli.command, Command::Serve(_) | Command::Worker(_)) {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("REELFLOW_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .with_writer(std::io::stderr)
            .init();
    }
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = &cli.data_dir {
        config.data_dir = dir.clone();
    }
    Ok(config)
}

fn runtime(cli: &Cli) -> anyhow::Result<Runtime> {
    Ok(Runtime::new(config(cli)?)?)
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Run(args) => {
            let rt = tokio::runtime::Runtime::new()?;
            let runtime = runtime(&cli)?;
            rt.block_on(run::run(&runtime, args))
        }
        Command::Validate { files, json } => validate(&runtime(&cli)?, files, *json),
        Command::Nodes { op, json } => nodes(&runtime(&cli)?, op.as_deref(), *json),
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&reelflow_core::workflow_json_schema())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve::serve(config(&cli)?, args),
        Command::Worker(args) => serve::worker(config(&cli)?, args),
        Command::Models { what } => models::models(runtime(&cli)?.llm(), what),
        Command::Plugin { what } => plugins::plugins(|| runtime(&cli), what),
        Command::Bench { what } => bench::bench(what),
        Command::Tools { what } => tools::tools(&cli, what),
        Command::Gpu => gpu_report(),
    }
}

/// `reelflow gpu`: every adapter, then the one a GPU op would run on (or why none).
fn gpu_report() -> anyhow::Result<ExitCode> {
    let adapters = reelflow_gpu::Gpu::adapters();
    println!("adapters present, best first:");
    if adapters.is_empty() {
        println!("  (none)");
    }
    for adapter in &adapters {
        println!("  {adapter}");
    }
    match reelflow_gpu::Gpu::shared() {
        Ok(gpu) => {
            println!("in use: {}", gpu.info());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("in use: none: {e}");
            Ok(ExitCode::from(EXIT_FAILED))
        }
    }
}

fn validate(runtime: &Runtime, files: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let color = std::io::stderr().is_terminal();
    let mut all = Vec::new();
    let mut bad = false;
    for file in files {
        match runtime.load_file(file) {
            Ok(plan) => {
                if !json {
                    println!("{}: ok ({} nodes)", file.display(), plan.nodes.len());
                }
            }
            Err(reelflow_runtime::Error::Invalid(d)) => {
                bad = true;
                if json {
                    all.extend(d.located());
                } else {
                    eprint!("{}", d.render(color));
                }
            }
            Err(e) => {
                bad = true;
                if json {
                    all.push(reelflow_core::LocatedError {
                        code: "unreadable".into(),
                        message: e.to_string(),
                        file: file.display().to_string(),
                        line: 1,
                        column: 1,
                        node: None,
                        help: None,
                    });
                } else {
                    eprintln!("error: {e}");
                }
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "valid": !bad, "errors": all }))?);
    }
    Ok(if bad { ExitCode::from(EXIT_INVALID) } else { ExitCode::SUCCESS })
}

fn nodes(runtime: &Runtime, op: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let specs: Vec<_> = runtime.registry().specs().into_iter().filter(|s| op.is_none_or(|o| s.op == o)).collect();
    if specs.is_empty() {
        eprintln!("error: no op named `{}` (run `reelflow nodes` for the list)", op.unwrap_or_default());
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&specs)?);
        return Ok(ExitCode::SUCCESS);
    }
    for spec in specs {
        println!(
            "{} (v{}, {:?}{})",
            spec.op,
            spec.version,
            spec.resource,
            if spec.deterministic { "" } else { ", never cached" }
        );
        println!("    {}", spec.description);
        let ports = |label: &str, ports: &[reelflow_core::PortSpec]| {
            for p in ports {
                let opt = if p.optional { "?" } else { "" };
                let desc = if p.description.is_empty() { String::new() } else { format!("  {}", p.description) };
                println!("    {label} {}{opt}: {}{desc}", p.name, p.ty);
            }
        };
        ports("in ", &spec.inputs);
        if spec.variadic_inputs {
            println!("    in  <any name>: any");
        }
        ports("out", &spec.outputs);
        if let Some(props) = spec.params.get("properties").and_then(|p| p.as_object()) {
            let required: Vec<&str> = spec
                .params
                .get("required")
                .and_then(|r| r.as_array())
                .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            for (name, schema) in props {
                let ty = schema.get("type").map(|t| t.to_string().replace('"', "")).unwrap_or_else(|| "any".into());
                let req = if required.contains(&name.as_str()) { "" } else { "?" };
                let desc =
                    schema.get("description").and_then(|d| d.as_str()).map(|d| format!("  {d}")).unwrap_or_default();
                println!("    param {name}{req}: {ty}{desc}");
            }
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
