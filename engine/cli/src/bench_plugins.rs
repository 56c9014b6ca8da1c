//! `reelflow bench plugins`: what running code in the WebAssembly sandbox costs.
//!
//! - cold start of a plugin: compiling its component vs loading the cached compiled code;
//! - per-call overhead of a trivial op (`hostile.echo`) as a workflow node pays it;
//! - a 1080p per-frame effect (the `filmlook` plugin) against the same Rust source
//!   compiled natively, frames in memory (no decode or encode), so the ratio is the
//!   sandbox's cost: the compiled code plus copying each frame in and out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reelflow_core::{EventBus, NodeCtx, NodeInputs, NullSink, Registry, Value};
use reelflow_media::{ClipShape, FrameEffect, RgbaFrame};
use reelflow_wasm_host::{CodeSource, EffectSession, HostSettings, MANIFEST_FILE, PluginHost, install};
use tokio_util::sync::CancellationToken;

/// The film look as native Rust: the very file the plugin compiles.
#[path = "../../../plugins/filmlook/src/look.rs"]
#[allow(dead_code)]
mod look;

#[derive(clap::Args)]
pub struct PluginBenchArgs {
    /// The guest plugin workspace to build the plugins from.
    #[arg(long, default_value = "plugins")]
    source: PathBuf,
    /// 1080p frames per timed effect pass.
    #[arg(long, default_value_t = 60)]
    frames: usize,
    /// Calls of the trivial op.
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Report {
    cold_start_compile_ms: f64,
    cold_start_cached_ms: f64,
    call_overhead_us: f64,
    effect_1080p_wasm_fps: f64,
    effect_1080p_native_fps: f64,
    effect_ratio: f64,
    neutral_look_wasm_ms: f64,
    neutral_look_native_ms: f64,
    sepia_look_wasm_fps: f64,
    sepia_look_native_fps: f64,
    frame_copy_us: f64,
}

pub fn bench_plugins(args: &PluginBenchArgs) -> anyhow::Result<ExitCode> {
    eprintln!("building the example plugins from {} ...", args.source.display());
    let built = install::build(&args.source)?;
    let dir = tempfile::tempdir()?;
    let plugins_dir = dir.path().join("plugins");
    for name in ["filmlook", "hostile"] {
        install::install(&args.source.join(name), &built, &plugins_dir)?;
    }

    // Cold start: a fresh cache each time for compiling; the same warm one for loading.
    let load = |cache: &Path| -> anyhow::Result<(CodeSource, Duration)> {
        let mut settings = HostSettings::new(&plugins_dir);
        settings.cache_dir = Some(cache.to_owned());
        let mut host = PluginHost::new(settings)?;
        let plugin = host.load(&plugins_dir.join("filmlook").join(MANIFEST_FILE))?;
        Ok(plugin.load_report())
    };
    let mut compile = Duration::MAX;
    for _ in 0..3 {
        let fresh = tempfile::tempdir()?;
        let (source, took) = load(fresh.path())?;
        anyhow::ensure!(source == CodeSource::Compiled);
        compile = compile.min(took);
    }
    let warm = dir.path().join("warm-cache");
    load(&warm)?;
    let mut cached = Duration::MAX;
    for _ in 0..10 {
        let (source, took) = load(&warm)?;
        anyhow::ensure!(source == CodeSource::Cached);
        cached = cached.min(took);
    }

    let mut host = PluginHost::new(HostSettings::new(&plugins_dir))?;
    host.load_installed();
    if let Some(failure) = host.failures().first() {
        anyhow::bail!("{}: {}", failure.manifest.display(), failure.error);
    }
    let mut registry = Registry::with_builtins();
    reelflow_wasm_host::register(&mut registry, &host);

    // Per-call overhead, through the node interface a workflow uses.
    let rt = tokio::runtime::Runtime::new()?;
    let echo = registry.get("hostile.echo").ok_or_else(|| anyhow::anyhow!("hostile.echo is not registered"))?.clone();
    let ctx = NodeCtx::detached(
        "echo",
        EventBus::new("bench", Arc::new(NullSink)),
        dir.path().join("ws"),
        CancellationToken::new(),
    );
    let call = |text: &str| {
        let mut inputs = NodeInputs::default();
        inputs.values.insert("text".into(), Value::String(text.into()));
        rt.block_on(echo.run(&ctx, inputs))
    };
    call("warm up")?;
    let started = Instant::now();
    for i in 0..args.calls {
        call(if i % 2 == 0 { "ping" } else { "pong" })?;
    }
    let call_overhead = started.elapsed() / args.calls.max(1) as u32;

    // The 1080p effect, WASM and native, on the same frames.
    let (width, height) = (1920u32, 1080u32);
    let shape = ClipShape { width, height, frame_rate: 30.0, duration: args.frames as f64 / 30.0 };
    let source_frame = test_pattern(width, height);
    let filmlook = host.plugins().iter().find(|p| p.name() == "filmlook").expect("filmlook loaded");
    let wasm_pass = |params: &str| -> anyhow::Result<Duration> {
        let mut session = EffectSession::new(filmlook, params)?;
        session.prepare(&shape).map_err(anyhow::Error::msg)?;
        session.apply(source_frame.clone(), 0.0).map_err(anyhow::Error::msg)?;
        let started = Instant::now();
        for i in 0..args.frames {
            let out = session.apply(source_frame.clone(), i as f64 / 30.0).map_err(anyhow::Error::msg)?;
            std::hint::black_box(&out);
        }
        let took = started.elapsed();
        session.finish();
        Ok(took)
    };
    let native_pass = |look: look::Look| {
        let started = Instant::now();
        for i in 0..args.frames {
            let mut frame = source_frame.clone();
            look.apply(&mut frame.data, width, height, i as f64 / 30.0);
            std::hint::black_box(&frame);
        }
        started.elapsed()
    };
    let wasm = wasm_pass("{}")?;
    let native = native_pass(look::Look::new(0.08, 0.35, look::Tint::Warm, 1, width, height));
    // The neutral look does the least work a frame can get: what remains in WASM is mostly
    // the frame's trip across the boundary.
    let neutral = r#"{"grain": 0, "vignette": 0, "tint": "none"}"#;
    let wasm_neutral = wasm_pass(neutral)?;
    let native_neutral = native_pass(look::Look::new(0.0, 0.0, look::Tint::None, 1, width, height));
    // Sepia mixes the channels (a full matrix), the look's most work a pixel.
    let wasm_sepia = wasm_pass(r#"{"tint": "sepia"}"#)?;
    let native_sepia = native_pass(look::Look::new(0.08, 0.35, look::Tint::Sepia, 1, width, height));

    // What a frame's trip costs without the effect: the clone both loops pay.
    let started = Instant::now();
    for _ in 0..args.frames {
        std::hint::black_box(source_frame.clone());
    }
    let clone = started.elapsed();

    let fps = |d: Duration| args.frames as f64 / d.as_secs_f64();
    let report = Report {
        cold_start_compile_ms: ms(compile),
        cold_start_cached_ms: ms(cached),
        call_overhead_us: call_overhead.as_secs_f64() * 1e6,
        effect_1080p_wasm_fps: fps(wasm),
        effect_1080p_native_fps: fps(native),
        effect_ratio: native.as_secs_f64() / wasm.as_secs_f64(),
        neutral_look_wasm_ms: ms(wasm_neutral) / args.frames.max(1) as f64,
        neutral_look_native_ms: ms(native_neutral) / args.frames.max(1) as f64,
        sepia_look_wasm_fps: fps(wasm_sepia),
        sepia_look_native_fps: fps(native_sepia),
        frame_copy_us: clone.as_secs_f64() * 1e6 / args.frames.max(1) as f64,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "plugin cold start (filmlook): {:.1} ms compiling, {:.2} ms from the compiled cache",
            report.cold_start_compile_ms, report.cold_start_cached_ms
        );
        println!("per-call overhead of a trivial op (hostile.echo as a node): {:.1} µs", report.call_overhead_us);
        println!(
            "1080p film look: WASM {:.1} fps, native {:.1} fps → {:.2}× native (a host-side frame copy: {:.0} µs)",
            report.effect_1080p_wasm_fps, report.effect_1080p_native_fps, report.effect_ratio, report.frame_copy_us
        );
        println!(
            "neutral look (least work a frame): WASM {:.2} ms, native {:.2} ms a frame",
            report.neutral_look_wasm_ms, report.neutral_look_native_ms
        );
        println!(
            "sepia look (a full colour matrix): WASM {:.1} fps, native {:.1} fps → {:.2}× native",
            report.sepia_look_wasm_fps,
            report.sepia_look_native_fps,
            report.sepia_look_wasm_fps / report.sepia_look_native_fps
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A frame with detail everywhere (gradients and a checker), so no branch is trivially
/// predictable on flat colour.
fn test_pattern(width: u32, height: u32) -> RgbaFrame {
    let mut data = Vec::with_capacity(RgbaFrame::expected_len(width, height));
    for y in 0..height {
        for x in 0..width {
            let checker = if ((x / 32) + (y / 32)) % 2 == 0 { 40 } else { 0 };
            data.extend_from_slice(&[
                ((x * 255 / width) as u8).saturating_add(checker),
                (y * 255 / height) as u8,
                (((x + y) * 255 / (width + height)) as u8).saturating_add(checker),
                255,
            ]);
        }
    }
    RgbaFrame { width, height, data }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
