//! `reelflow tools`: the developer tools the ClipsMaster API promises — a load generator for
//! any endpoint of a running server, an analyzer for the server's logs, and a rhai sandbox
//! with the engine's operators.

mod api_benchmark;
mod log_analyzer;
mod sandbox;

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ToolsCommand {
    /// Load-test one endpoint of a running server; writes a JSON and an HTML report.
    ApiBenchmark(api_benchmark::ApiBenchmarkArgs),
    /// Summarise the server's access log and application log: traffic, slow routes, errors.
    LogAnalyzer(log_analyzer::LogAnalyzerArgs),
    /// An interactive rhai sandbox where the engine's operators can be listed, described
    /// and run one at a time.
    Sandbox(sandbox::SandboxArgs),
}

pub fn tools(cli: &crate::Cli, what: &ToolsCommand) -> anyhow::Result<ExitCode> {
    match what {
        ToolsCommand::ApiBenchmark(args) => api_benchmark::api_benchmark(args),
        ToolsCommand::LogAnalyzer(args) => {
            let logs = match &args.logs {
                Some(dir) => dir.clone(),
                None => crate::config(cli)?.logs_dir(),
            };
            log_analyzer::log_analyzer(&logs, args)
        }
        ToolsCommand::Sandbox(args) => sandbox::sandbox(crate::runtime(cli)?, args),
    }
}
