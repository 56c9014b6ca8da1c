//! `reelflow serve` (the HTTP API with an embedded worker) and `reelflow worker` (a worker
//! alone, sharing the database with a server and other workers).

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use reelflow_runtime::{Config, Runtime};
use reelflow_store::SqliteStore;
use reelflow_worker::{RunHub, Worker, WorkerMetrics, WorkerOptions};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `server.bind` and REELFLOW_BIND).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Serve the API only; runs are executed by `reelflow worker` processes.
    #[arg(long)]
    no_worker: bool,
    /// The language of requests that name none (clipsmaster `lang`); overrides the
    /// active-model config's `default_language` and REELFLOW_LANG.
    #[arg(long, value_parser = ["zh", "en"])]
    lang: Option<String>,
}

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// Runs executed at once (overrides `worker.slots`).
    #[arg(long)]
    slots: Option<usize>,
}

/// Logs go to stderr and to `<data_dir>/logs/reelflow.log`. `REELFLOW_LOG` filters
/// (default `info`).
fn init_logging(config: &Config) -> anyhow::Result<()> {
    let dir = config.logs_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("reelflow.log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let filter = || tracing_subscriber::EnvFilter::try_from_env("REELFLOW_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter()))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .with_filter(filter()),
        )
        .try_init()
        .ok();
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn absolute_data_dir(config: &mut Config) -> anyhow::Result<()> {
    if config.data_dir.is_relative() {
        config.data_dir = std::env::current_dir()?.join(&config.data_dir);
    }
    Ok(())
}

pub fn serve(mut config: Config, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(bind) = args.bind {
        config.server.bind = bind;
    }
    if let Some(lang) = &args.lang {
        config.llm.default_language = Some(lang.clone());
    }
    if args.no_worker {
        config.server.embedded_worker = false;
    }
    absolute_data_dir(&mut config)?;
    init_logging(&config)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let data_dir = config.data_dir.clone();
        let server = reelflow_server::Server::start(config).await?;
        // Tests and scripts wait for this line to learn the port.
        println!("reelflow listening on http://{} (data: {})", server.local_addr(), data_dir.display());
        tracing::info!(addr = %server.local_addr(), data = %data_dir.display(), "listening");
        server.run_until(shutdown_signal()).await;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn worker(mut config: Config, args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    if let Some(slots) = args.slots {
        config.worker.slots = slots;
    }
    absolute_data_dir(&mut config)?;
    config.check()?;
    init_logging(&config)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let opts = WorkerOptions::from_config(&config)?;
        std::fs::create_dir_all(&config.data_dir)?;
        let db = config.db_path();
        let store = open_store(&db).await?;
        let runtime = Arc::new(Runtime::new(config)?);
        let worker = Worker::new(store, runtime, RunHub::new(), WorkerMetrics::default(), opts);
        println!("reelflow worker {} on {}", worker.id(), db.display());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            stop.cancel();
        });
        worker.run(shutdown).await;
        Ok(ExitCode::SUCCESS)
    })
}

async fn open_store(db: &Path) -> anyhow::Result<Arc<SqliteStore>> {
    let db = db.to_owned();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&db)).await??;
    Ok(Arc::new(store))
}
