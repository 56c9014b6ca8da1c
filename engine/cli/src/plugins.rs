//! `reelflow plugin new|build|list|inspect`: scaffold, build, install and look at
//! WebAssembly plugins.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use reelflow_runtime::Runtime;
use reelflow_wasm_host::{CodeSource, MANIFEST_FILE, Manifest, Offer, PluginKind, install};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Scaffold a plugin crate (wit-bindgen guest for wasm32-wasip2) in a new directory.
    New {
        /// Plugin name: [a-z][a-z0-9_]*.
        name: String,
        #[arg(long, value_enum, default_value_t = Kind::Effect)]
        kind: Kind,
        /// Directory to create the crate in (default: ./<name>).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build a plugin crate (or a workspace of them) for wasm32-wasip2 and install it into
    /// the plugins directory with a manifest naming its sha256.
    Build {
        /// The plugin crate's directory (with Cargo.toml and plugin.toml).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// The installed plugins: kind, version, ops, capabilities asked and granted, and
    /// those that failed to load with why.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One installed plugin in detail: manifest, ops with ports and params, limits.
    Inspect { name: String },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    Node,
    Effect,
    Template,
    Generator,
}

impl Kind {
    fn plugin_kind(self) -> PluginKind {
        match self {
            Kind::Node => PluginKind::Node,
            Kind::Effect => PluginKind::Effect,
            Kind::Template => PluginKind::Template,
            Kind::Generator => PluginKind::Generator,
        }
    }
}

/// The WIT package, copied into every scaffolded crate so it builds on its own.
const WIT: &str = include_str!("../../../wit/plugin.wit");

pub fn plugins(
    cli_runtime: impl FnOnce() -> anyhow::Result<Runtime>,
    command: &PluginCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::New { name, kind, dir } => {
            let dir = dir.clone().unwrap_or_else(|| PathBuf::from(name));
            scaffold(name, kind.plugin_kind(), &dir)?;
            println!(
                "created {} ({} plugin); build it with: reelflow plugin build {}",
                dir.display(),
                kind.plugin_kind(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Build { dirs } => {
            let runtime = cli_runtime()?;
            let plugins_dir = runtime.config().plugins_dir();
            for dir in dirs {
                let manifest = install::build_and_install(dir, &plugins_dir)?;
                println!(
                    "installed {} {} ({}) into {} — sha256 {}",
                    manifest.name,
                    manifest.version,
                    manifest.kind,
                    plugins_dir.join(&manifest.name).display(),
                    manifest.sha256.as_deref().unwrap_or("")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::List { json } => list(&cli_runtime()?, *json),
        PluginCommand::Inspect { name } => inspect(&cli_runtime()?, name),
    }
}

fn list(runtime: &Runtime, json: bool) -> anyhow::Result<ExitCode> {
    let host = runtime.plugins();
    if json {
        let plugins: Vec<serde_json::Value> = host
            .plugins()
            .iter()
            .map(|p| {
                let (code, load) = p.load_report();
                serde_json::json!({
                    "name": p.name(),
                    "kind": p.manifest().kind,
                    "version": p.manifest().version,
                    "sha256": p.sha256(),
                    "ops": op_names(p),
                    "asked": p.manifest().capabilities,
                    "granted": p.effective().capabilities,
                    "memory_cap_mb": p.memory_cap_bytes() >> 20,
                    "code": if code == CodeSource::Cached { "cached" } else { "compiled" },
                    "load_ms": load.as_secs_f64() * 1000.0,
                })
            })
            .collect();
        let failures: Vec<serde_json::Value> = host
            .failures()
            .iter()
            .map(|f| serde_json::json!({"manifest": f.manifest, "error": f.error.to_string()}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"plugins": plugins, "failed": failures}))?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("plugins in {}:", host.settings().plugins_dir.display());
    if host.plugins().is_empty() && host.failures().is_empty() {
        println!("  (none; install one with `reelflow plugin build <dir>`)");
    }
    for p in host.plugins() {
        let (code, load) = p.load_report();
        let granted: Vec<&str> = p.effective().capabilities.iter().map(|c| c.name()).collect();
        let asked: Vec<&str> = p.manifest().capabilities.iter().map(|c| c.name()).collect();
        println!(
            "  {} {} ({}) ops: {}; asks: [{}], granted: [{}]; {} MiB cap; loaded in {:.1} ms ({})",
            p.name(),
            p.manifest().version,
            p.manifest().kind,
            op_names(p).join(", "),
            asked.join(", "),
            granted.join(", "),
            p.memory_cap_bytes() >> 20,
            load.as_secs_f64() * 1000.0,
            if code == CodeSource::Cached { "cached code" } else { "compiled" }
        );
    }
    for f in host.failures() {
        println!("  ✗ {}: {}", f.manifest.display(), f.error);
    }
    Ok(if host.failures().is_empty() { ExitCode::SUCCESS } else { ExitCode::from(crate::EXIT_FAILED) })
}

fn op_names(plugin: &reelflow_wasm_host::Plugin) -> Vec<String> {
    match plugin.offer() {
        Offer::Ops(ops) => ops.iter().map(|o| format!("{}.{}", plugin.name(), o.name)).collect(),
        Offer::Single(_) => vec![plugin.name().to_owned()],
    }
}

fn inspect(runtime: &Runtime, name: &str) -> anyhow::Result<ExitCode> {
    let host = runtime.plugins();
    let Some(plugin) = host.plugins().iter().find(|p| p.name() == name) else {
        if let Some(f) =
            host.failures().iter().find(|f| f.manifest.parent().and_then(Path::file_name).is_some_and(|n| n == name))
        {
            bail!("plugin `{name}` is installed but does not load: {}", f.error);
        }
        bail!("no plugin named `{name}` in {} (see `reelflow plugin list`)", host.settings().plugins_dir.display());
    };
    println!("{}", plugin.manifest().to_toml());
    println!("manifest:  {}", plugin.manifest_path().display());
    println!("component: {} (sha256 {})", plugin.component_path().display(), plugin.sha256());
    println!("memory cap: {} MiB; call budget: {:?}", plugin.memory_cap_bytes() >> 20, host.settings().call_budget);
    for op in op_names(plugin) {
        if let Some(node) = runtime.registry().get(&op) {
            println!("\n{}", serde_json::to_string_pretty(node.spec())?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a buildable guest crate for `kind`.
fn scaffold(name: &str, kind: PluginKind, dir: &Path) -> anyhow::Result<()> {
    let manifest_text = format!(
        "name = \"{name}\"\nversion = \"0.1.0\"\nkind = \"{kind}\"\ndescription = \"TODO: one sentence about {name}.\"\n\
         # What the plugin asks for; the operator must also grant it in reelflow.toml [plugins.grants.{name}].\n\
         # Known: \"assets\", \"clock\", \"random\".\ncapabilities = []\n"
    );
    // Check the name the same way the host will.
    Manifest::parse(&manifest_text, &dir.join(MANIFEST_FILE))?;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} exists and is not empty", dir.display());
    }
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::create_dir_all(dir.join("wit"))?;
    std::fs::write(dir.join("wit/plugin.wit"), WIT)?;
    std::fs::write(dir.join(MANIFEST_FILE), manifest_text)?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\nwit-bindgen = \"0.63\"\n\n\
             # A crate of its own, not part of any enclosing workspace.\n[workspace]\n\n\
             [profile.release]\nopt-level = 3\nlto = true\ncodegen-units = 1\nstrip = true\n"
        ),
    )?;
    std::fs::write(dir.join(".gitignore"), "/target\n")?;
    // WebAssembly SIMD: wasmtime runs it everywhere, and per-pixel loops vectorise with it.
    std::fs::create_dir_all(dir.join(".cargo"))?;
    std::fs::write(
        dir.join(".cargo/config.toml"),
        "[target.wasm32-wasip2]\nrustflags = [\"-C\", \"target-feature=+simd128\"]\n",
    )?;
    std::fs::write(dir.join("src/lib.rs"), guest_source(name, kind))?;
    Ok(())
}

fn guest_source(name: &str, kind: PluginKind) -> String {
    let body = match kind {
        PluginKind::Effect => {
            r#"struct Plugin;

impl Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo { description: "TODO: what the effect does.".into(), version: 1, params_schema: "{}".into() }
    }

    fn configure(_params: String, _clip: ClipInfo) -> Result<(), String> {
        Ok(())
    }

    /// Inverts the picture; replace with your effect. Work in place on `input.data`
    /// (RGBA, 4 bytes a pixel, rows without padding) and hand the same frame back.
    fn apply(mut input: Frame, _time: f64) -> Result<Frame, String> {
        for pixel in input.data.chunks_exact_mut(4) {
            pixel[0] = 255 - pixel[0];
            pixel[1] = 255 - pixel[1];
            pixel[2] = 255 - pixel[2];
        }
        Ok(input)
    }
}
"#
        }
        PluginKind::Template => {
            r##"struct Plugin;

impl Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            description: "TODO: what the template lays out.".into(),
            version: 1,
            params_schema: r#"{"type":"object","properties":{"title":{"type":"string"}},"required":["title"]}"#.into(),
        }
    }

    /// Turns the spec (JSON) into layout instructions (JSON).
    fn render(spec: String) -> Result<String, String> {
        let title = spec.split("\"title\":\"").nth(1).and_then(|s| s.split('"').next()).ok_or("no title")?;
        Ok(format!(r#"{{"layers":[{{"kind":"text","text":"{title}"}}]}}"#))
    }
}
"##
        }
        PluginKind::Generator => {
            r#"struct Plugin;

static SIZE: std::sync::Mutex<(u32, u32)> = std::sync::Mutex::new((0, 0));

impl Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo { description: "TODO: what the generator makes.".into(), version: 1, params_schema: "{}".into() }
    }

    fn configure(_params: String, clip: ClipInfo) -> Result<(), String> {
        *SIZE.lock().unwrap() = (clip.width, clip.height);
        Ok(())
    }

    /// A grey level that rises over time; replace with your pictures.
    fn frame(time: f64) -> Result<Frame, String> {
        let (width, height) = *SIZE.lock().unwrap();
        let level = ((time * 50.0) as u32 % 256) as u8;
        Ok(Frame { width, height, format: PixelFormat::Rgba8, data: [level, level, level, 255].repeat((width * height) as usize) })
    }

    fn sound(_start: f64, _rate: u32, _channels: u8, _frames: u32) -> Result<Option<Audio>, String> {
        Ok(None)
    }
}
"#
        }
        PluginKind::Node => {
            r#"struct Plugin;

impl Guest for Plugin {
    fn describe() -> Vec<OpSpec> {
        vec![OpSpec {
            name: "shout".into(),
            version: 1,
            description: "Upper-cases a text.".into(),
            inputs: vec![PortSpec { name: "text".into(), type_: PortType::Text, optional: false, description: "Any text.".into() }],
            outputs: vec![PortSpec { name: "text".into(), type_: PortType::Text, optional: false, description: "The text, upper-cased.".into() }],
            params_schema: "{}".into(),
        }]
    }

    fn run(op: String, inputs: Vec<NamedValue>, _params: String) -> Result<Vec<NamedValue>, String> {
        if op != "shout" {
            return Err(format!("unknown op {op}"));
        }
        let text = inputs.into_iter().find_map(|v| match v.value { Value::Text(t) if v.name == "text" => Some(t), _ => None }).ok_or("no text")?;
        Ok(vec![NamedValue { name: "text".into(), value: Value::Text(text.to_uppercase()) }])
    }
}
"#
        }
    };
    let imports = match kind {
        PluginKind::Effect => "",
        PluginKind::Generator => "use reelflow::plugin::types::PixelFormat;\n",
        PluginKind::Node => "use reelflow::plugin::types::{PortSpec, PortType, Value};\n",
        PluginKind::Template => "",
    };
    format!(
        "//! `{name}`: a Reelflow {kind} plugin. Build and install it with `reelflow plugin build .`;\n\
         //! the interface it implements is `wit/plugin.wit` (world `{kind}`).\n\n\
         wit_bindgen::generate!({{ path: \"wit\", world: \"{kind}\" }});\n\n{imports}\n{body}\nexport!(Plugin);\n"
    )
}
