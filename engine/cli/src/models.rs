//! `reelflow models list|check`: what the manifest lists and what is on disk.

use std::process::ExitCode;

use clap::Subcommand;
use reelflow_llm::{Llm, ModelStatus};

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Every model in the manifest: available or missing, per quantization level.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Like `list`, then verifies each present file's size and SHA-256 against the
    /// manifest; exits 1 when a model the active config names is missing or a file is wrong.
    Check {
        /// Skip hashing (sizes are still compared).
        #[arg(long)]
        quick: bool,
    },
}

pub fn models(llm: &Llm, command: &ModelsCommand) -> anyhow::Result<ExitCode> {
    let registry = llm.registry();
    let statuses = registry.list()?;
    match command {
        ModelsCommand::List { json: true } => {
            println!("{}", serde_json::to_string_pretty(&statuses)?);
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::List { json: false } => {
            print_table(&statuses, registry.models_dir());
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Check { quick } => {
            print_table(&statuses, registry.models_dir());
            let (active, active_path) = registry.active()?;
            println!("\nactive config: {} (default language {})", active_path.display(), active.default_language);
            let mut bad = false;
            for (language, choice) in &active.languages {
                let quant = choice.quant.as_deref().unwrap_or("default");
                match registry
                    .resolve(&reelflow_llm::ModelSelector { language: Some(language.clone()), ..Default::default() })
                {
                    Ok(m) => println!("  {language}: {} {} ok ({})", m.id, m.quant, m.path.display()),
                    Err(e) => {
                        bad = true;
                        println!("  {language}: {} {quant}: {e}", choice.model);
                    }
                }
            }
            let problems = registry.check(!quick)?;
            for p in &problems {
                println!("✗ {} {}: {}: {}", p.model, p.quant, p.path.display(), p.problem);
            }
            if problems.is_empty() {
                println!("\nevery present file matches the manifest{}", if *quick { " (sizes only)" } else { "" });
            }
            Ok(if bad || !problems.is_empty() { ExitCode::from(crate::EXIT_FAILED) } else { ExitCode::SUCCESS })
        }
    }
}

fn print_table(statuses: &[ModelStatus], models_dir: &std::path::Path) {
    println!("models in {}:", models_dir.display());
    for s in statuses {
        let e = &s.entry;
        let active =
            if s.active_for.is_empty() { String::new() } else { format!(", active for {}", s.active_for.join("/")) };
        println!(
            "\n{} — {} [{}; {}; {}{}]",
            e.id,
            e.name.as_deref().unwrap_or(&e.id),
            format!("{:?}", e.task).to_lowercase(),
            e.languages.join("/"),
            e.licence,
            active
        );
        for l in &s.levels {
            let size = l.size.map_or("size unknown".to_string(), |b| format!("{:.0} MB", b as f64 / 1e6));
            let state = if l.available { "available" } else { "missing  " };
            let default = if l.quant == e.default_quant { " (default)" } else { "" };
            println!("  {state} {:<7} {size:>9}, needs ~{} MiB  {}{default}", l.quant, l.memory_mb, l.path.display());
        }
        if !s.available() {
            println!("  to install: {}", e.install);
        }
    }
}
