//! The plugin host end to end: the example plugins in `plugins/` are built from source for
//! wasm32-wasip2, installed, loaded, registered and run as nodes; the `hostile` plugin
//! misbehaves in every way the sandbox must contain.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reelflow_core::{
    ErrorKind, EventBus, EventKind, FileKind, FileRef, LogLevel, NodeCtx, NodeError, NodeInputs, Outputs, Registry,
    Value,
};
use reelflow_media::synthetic::{SyntheticSpec, generate};
use reelflow_wasm_host::{
    Capability, CodeSource, Error, Grant, HostSettings, MANIFEST_FILE, Manifest, PluginHost, install, register,
    sha256_hex,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The example plugins, built once per test binary and installed into a shared directory.
struct Built {
    _dir: tempfile::TempDir,
    plugins_dir: PathBuf,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let workspace = repo().join("plugins");
        let out = install::build(&workspace).expect("the example plugins build for wasm32-wasip2");
        let dir = tempfile::tempdir().expect("tempdir");
        let plugins_dir = dir.path().join("plugins");
        for name in ["filmlook", "titlecard", "aurora", "hostile"] {
            install::install(&workspace.join(name), &out, &plugins_dir).expect("install");
        }
        Built { _dir: dir, plugins_dir }
    })
}

fn settings() -> HostSettings {
    let mut settings = HostSettings::new(built().plugins_dir.clone());
    settings.call_budget = Duration::from_secs(5);
    settings.max_memory_mb = 64;
    settings
}

fn host_with(settings: HostSettings) -> (PluginHost, Registry) {
    let mut host = PluginHost::new(settings).expect("host");
    host.load_installed();
    assert!(host.failures().is_empty(), "{:?}", host.failures());
    let mut registry = Registry::with_builtins();
    let problems = register(&mut registry, &host);
    assert!(problems.is_empty(), "{problems:?}");
    (host, registry)
}

/// Runs one op directly, collecting its events.
async fn run_op(
    registry: &Registry,
    op: &str,
    values: Vec<(&str, Value)>,
    params: serde_json::Value,
    cancel: CancellationToken,
    workspace: &Path,
) -> (Result<Outputs, NodeError>, Vec<EventKind>) {
    let node = registry.get(op).unwrap_or_else(|| panic!("op {op} is registered"));
    let sink = Arc::new(reelflow_core::CollectSink::default());
    let ctx = NodeCtx::detached("n", EventBus::new("run", sink.clone()), workspace.to_owned(), cancel);
    let inputs = NodeInputs { values: values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(), params };
    let result = node.run(&ctx, inputs).await;
    (result, sink.events().into_iter().map(|e| e.kind).collect())
}

async fn hostile(registry: &Registry, op: &str, params: serde_json::Value) -> Result<Outputs, NodeError> {
    let dir = tempfile::tempdir().expect("tempdir");
    run_op(registry, op, vec![], params, CancellationToken::new(), dir.path()).await.0
}

fn failure(result: Result<Outputs, NodeError>) -> (Option<ErrorKind>, String) {
    let err = result.expect_err("the call must fail");
    (err.kind(), err.to_string())
}

#[tokio::test]
async fn the_example_plugins_load_and_their_ops_join_the_registry() {
    let (host, registry) = host_with(settings());
    let names: Vec<&str> = host.plugins().iter().map(|p| p.name()).collect();
    assert_eq!(names, ["aurora", "filmlook", "hostile", "titlecard"]);
    for op in ["filmlook", "titlecard", "aurora", "hostile.echo", "hostile.spin", "hostile.ambient"] {
        let node = registry.get(op).unwrap_or_else(|| panic!("{op} registered"));
        assert!(!node.spec().description.is_empty(), "{op}");
    }
    let effect = registry.get("filmlook").unwrap().spec();
    assert_eq!(effect.inputs[0].name, "video");
    assert_eq!(effect.params["properties"]["tint"]["default"], "warm", "{}", effect.params);
    let generator = registry.get("aurora").unwrap().spec();
    assert!(generator.params["properties"]["duration"].is_object());
    // Without clock or random grants a plugin is a pure function: cacheable.
    assert!(effect.deterministic);
    let echo = registry.get("hostile.echo").unwrap().spec();
    assert_eq!((echo.inputs[0].name.as_str(), echo.outputs[0].name.as_str()), ("text", "text"));
}

#[tokio::test]
async fn a_node_plugin_op_runs_and_reports_logs_and_progress() {
    let (_host, registry) = host_with(settings());
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = run_op(
        &registry,
        "hostile.echo",
        vec![("text", Value::String("你好, plugin".into()))],
        json!({}),
        CancellationToken::new(),
        dir.path(),
    )
    .await;
    assert_eq!(out.unwrap()["text"], Value::String("你好, plugin".into()));

    let (out, events) =
        run_op(&registry, "hostile.progress", vec![], json!({}), CancellationToken::new(), dir.path()).await;
    assert_eq!(out.unwrap()["text"], Value::String("done".into()));
    assert!(events.iter().any(|e| matches!(e, EventKind::NodeLog { level: LogLevel::Info, message, .. } if message.contains("hello from hostile"))), "{events:?}");
    assert!(
        events.iter().any(|e| matches!(e, EventKind::NodeProgress { fraction, .. } if (*fraction - 0.5).abs() < 1e-6)),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_runaway_loop_is_stopped_at_its_time_budget_and_the_host_goes_on() {
    let mut s = settings();
    s.call_budget = Duration::from_millis(300);
    let (_host, registry) = host_with(s);
    let started = std::time::Instant::now();
    let (kind, message) = failure(hostile(&registry, "hostile.spin", json!({})).await);
    assert_eq!(kind, Some(ErrorKind::Timeout), "{message}");
    assert!(message.contains("hostile") && message.contains("time budget"), "{message}");
    // Stopped near its budget (generous bound: this is about not hanging, not speed).
    assert!(started.elapsed() < Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let (ok, _) = run_op(
        &registry,
        "hostile.echo",
        vec![("text", Value::String("still here".into()))],
        json!({}),
        CancellationToken::new(),
        dir.path(),
    )
    .await;
    assert_eq!(ok.unwrap()["text"], Value::String("still here".into()));
}

#[tokio::test]
async fn cancelling_a_run_stops_a_plugin_mid_call() {
    let (_host, registry) = host_with(settings());
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    // `spin` never looks at `is-cancelled`: the engine's epoch check stops it.
    let (result, _) = run_op(&registry, "hostile.spin", vec![], json!({}), cancel, dir.path()).await;
    assert!(matches!(result, Err(NodeError::Cancelled)), "{result:?}");
}

#[tokio::test]
async fn a_plugin_that_checks_for_cancellation_gives_up_as_cancelled() {
    let (_host, registry) = host_with(settings());
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    // `progress` polls `is-cancelled` and returns an error of its own when it turns true.
    let (result, _) =
        run_op(&registry, "hostile.progress", vec![], json!({"iterations": 10_000_000_000u64}), cancel, dir.path())
            .await;
    assert!(matches!(result, Err(NodeError::Cancelled)), "{result:?}");
}

#[tokio::test]
async fn memory_bombs_recursion_and_traps_fail_only_their_node_with_a_clear_error() {
    let (_host, registry) = host_with(settings());
    let (kind, message) = failure(hostile(&registry, "hostile.balloon", json!({})).await);
    assert_eq!(kind, Some(ErrorKind::ResourceExhausted), "{message}");
    assert!(message.contains("memory cap of 64 MiB"), "{message}");

    let (_, message) = failure(hostile(&registry, "hostile.recurse", json!({})).await);
    assert!(message.contains("runaway recursion"), "{message}");

    let (_, message) = failure(hostile(&registry, "hostile.trap", json!({})).await);
    assert!(message.contains("panicked") && message.contains("on purpose"), "{message}");

    // A 1 GiB output cannot even be built inside a 64 MiB instance.
    let (kind, message) = failure(hostile(&registry, "hostile.huge", json!({})).await);
    assert_eq!(kind, Some(ErrorKind::ResourceExhausted), "{message}");

    // Every failure above dropped its instance; the plugin still answers.
    let out = hostile(&registry, "hostile.ambient", json!({})).await.expect("still works");
    assert!(out.contains_key("result"));
}

#[tokio::test]
async fn an_output_over_the_limit_is_refused() {
    let mut s = settings();
    s.max_output_bytes = 1 << 20;
    let (_host, registry) = host_with(s);
    let (_, message) = failure(hostile(&registry, "hostile.huge", json!({"mb": 4})).await);
    assert!(message.contains("over the limit"), "{message}");
    // Under the limit it goes through.
    let mut s = settings();
    s.max_output_bytes = 8 << 20;
    let (_host, registry) = host_with(s);
    let out = hostile(&registry, "hostile.huge", json!({"mb": 4})).await.expect("4 MiB fits");
    assert_eq!(out["text"].as_str().map(str::len), Some(4 << 20));
}

#[tokio::test]
async fn without_grants_a_plugin_sees_no_files_network_environment_clock_or_randomness() {
    let (_host, registry) = host_with(settings());
    let open = hostile(&registry, "hostile.open_file", json!({"path": "/etc/passwd"})).await.unwrap();
    let open = open["result"].to_json();
    assert_eq!(open["ok"], false, "{open}");
    let connect = hostile(&registry, "hostile.connect", json!({"addr": "127.0.0.1:9"})).await.unwrap();
    let connect = connect["result"].to_json();
    assert_eq!(connect["ok"], false, "{connect}");

    // SAFETY of the test: set in this process, which the plugin must not see.
    let ambient = hostile(&registry, "hostile.ambient", json!({})).await.unwrap()["result"].to_json();
    assert_eq!(ambient["env"], 0, "{ambient}");
    assert_eq!(ambient["args"], 0, "{ambient}");
    assert_eq!(ambient["now_unix"].as_f64(), Some(0.0), "the clock stands still: {ambient}");
    // A fresh instance gets the very same "random" seed: there is no entropy behind it.
    let (_other_host, other) = host_with(settings());
    let again = hostile(&other, "hostile.ambient", json!({})).await.unwrap()["result"].to_json();
    assert_eq!(ambient["random"], again["random"], "randomness is a fixed sequence");

    let asset = hostile(&registry, "hostile.asset", json!({"name": "lut.cube"})).await.unwrap()["result"].to_json();
    assert_eq!(asset["ok"], false);
    assert!(asset["error"].as_str().unwrap_or("").to_lowercase().contains("denied"), "{asset}");
}

#[tokio::test]
async fn granted_capabilities_reach_only_the_plugin_that_asked_for_them() {
    let assets = tempfile::tempdir().unwrap();
    std::fs::write(assets.path().join("lut.cube"), b"LUT_3D_SIZE 2\n").unwrap();
    std::fs::write(assets.path().parent().unwrap().join("secret.txt"), b"no").ok();
    let mut s = settings();
    s.grants.insert(
        "hostile".into(),
        Grant {
            capabilities: [Capability::Assets, Capability::Clock].into_iter().collect(),
            assets: Some(assets.path().to_owned()),
        },
    );
    let (host, registry) = host_with(s);
    let hostile_plugin = host.plugins().iter().find(|p| p.name() == "hostile").unwrap();
    // The manifest asks for assets, clock and random; random was not granted.
    assert!(hostile_plugin.effective().has(Capability::Assets));
    assert!(!hostile_plugin.effective().has(Capability::Random));
    // A plugin with the clock is not cached: its results may change between runs.
    assert!(!registry.get("hostile.echo").unwrap().spec().deterministic);

    let asset = hostile(&registry, "hostile.asset", json!({"name": "lut.cube"})).await.unwrap()["result"].to_json();
    assert_eq!((asset["ok"].clone(), asset["bytes"].clone()), (json!(true), json!(14)), "{asset}");
    for escape in ["../secret.txt", "/etc/passwd", ""] {
        let out = hostile(&registry, "hostile.asset", json!({"name": escape})).await.unwrap()["result"].to_json();
        assert_eq!(out["ok"], false, "{escape}: {out}");
    }
    let ambient = hostile(&registry, "hostile.ambient", json!({})).await.unwrap()["result"].to_json();
    assert!(ambient["now_unix"].as_f64().unwrap_or(0.0) > 1.6e9, "the real clock: {ambient}");
}

#[test]
fn bad_component_files_and_lying_manifests_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path();
    let install_raw = |name: &str, bytes: &[u8], hash: Option<String>| {
        let d = plugins.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("{name}.wasm")), bytes).unwrap();
        let manifest = Manifest {
            name: name.into(),
            version: "0.1.0".into(),
            kind: reelflow_wasm_host::PluginKind::Effect,
            description: String::new(),
            capabilities: Default::default(),
            limits: Default::default(),
            component: Some(format!("{name}.wasm")),
            sha256: Some(hash.unwrap_or_else(|| sha256_hex(bytes))),
        };
        std::fs::write(d.join(MANIFEST_FILE), manifest.to_toml()).unwrap();
    };
    let real = std::fs::read(built().plugins_dir.join("filmlook/filmlook.wasm")).unwrap();
    install_raw("coremodule", b"\0asm\x01\0\0\0", None);
    install_raw("garbage", b"this is not wasm at all", None);
    install_raw("truncated", &real[..real.len() / 2], None);
    install_raw("liar", &real, Some(sha256_hex(b"something else")));
    // The hostile node plugin does not implement the effect world its manifest claims.
    let hostile = std::fs::read(built().plugins_dir.join("hostile/hostile.wasm")).unwrap();
    install_raw("wrongworld", &hostile, None);
    std::fs::create_dir_all(plugins.join("badtoml")).unwrap();
    std::fs::write(plugins.join("badtoml").join(MANIFEST_FILE), "name = [").unwrap();

    let mut host = PluginHost::new(HostSettings::new(plugins)).unwrap();
    host.load_installed();
    assert!(host.plugins().is_empty());
    let errors: Vec<(String, &Error)> = host
        .failures()
        .iter()
        .map(|f| (f.manifest.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned(), &f.error))
        .collect();
    assert_eq!(errors.len(), 6, "{errors:?}");
    for (name, error) in errors {
        let text = error.to_string();
        match name.as_str() {
            "coremodule" | "garbage" => {
                assert!(matches!(error, Error::NotAComponent { .. }) && text.contains("not a component"), "{text}")
            }
            "truncated" => assert!(matches!(error, Error::NotAComponent { .. }), "{text}"),
            "liar" => assert!(matches!(error, Error::HashMismatch { .. }) && text.contains("refusing"), "{text}"),
            "wrongworld" => assert!(matches!(error, Error::WrongWorld { .. }), "{text}"),
            "badtoml" => assert!(matches!(error, Error::Manifest { .. }), "{text}"),
            other => panic!("unexpected failure for {other}: {text}"),
        }
    }
}

#[test]
fn compiled_code_is_cached_and_reused() {
    let cache = tempfile::tempdir().unwrap();
    let load = || {
        let mut s = settings();
        s.cache_dir = Some(cache.path().to_owned());
        let mut host = PluginHost::new(s).unwrap();
        let plugin = host.load(&built().plugins_dir.join("filmlook").join(MANIFEST_FILE)).unwrap();
        plugin.load_report()
    };
    let (first, cold) = load();
    let (second, warm) = load();
    assert_eq!((first, second), (CodeSource::Compiled, CodeSource::Cached));
    eprintln!("filmlook load: {cold:?} compiling, {warm:?} from the cache");
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
}

#[tokio::test]
async fn the_template_turns_a_spec_into_a_layout_and_refuses_a_bad_one() {
    let (_host, registry) = host_with(settings());
    let dir = tempfile::tempdir().unwrap();
    let spec = json!({"title": "唐僧相亲记", "theme": "tang-monk", "aspect": "9:16",
                      "scenes": [{"id": "scene1", "duration": 10, "caption": "贫僧刚从西天取经回来"}]});
    let (out, _) = run_op(&registry, "titlecard", vec![], spec, CancellationToken::new(), dir.path()).await;
    let layout = out.expect("renders")["layout"].to_json();
    assert_eq!((layout["canvas"]["width"].clone(), layout["canvas"]["height"].clone()), (json!(1080), json!(1920)));
    let text = layout.to_string();
    assert!(text.contains("唐僧相亲记") && text.contains("贫僧刚从西天取经回来"), "{text}");
    let (bad, _) = run_op(
        &registry,
        "titlecard",
        vec![],
        json!({"title": "x", "theme": "vaporwave"}),
        CancellationToken::new(),
        dir.path(),
    )
    .await;
    let (kind, message) = failure(bad);
    assert_eq!(kind, Some(ErrorKind::InvalidInput));
    assert!(message.contains("vaporwave"), "{message}");
}

#[tokio::test]
async fn the_generator_makes_a_clip_of_the_asked_shape_with_or_without_sound() {
    let (_host, registry) = host_with(settings());
    let dir = tempfile::tempdir().unwrap();
    let (out, events) = run_op(
        &registry,
        "aurora",
        vec![],
        json!({"width": 160, "height": 90, "fps": 10, "duration": 1.0, "particles": 20}),
        CancellationToken::new(),
        dir.path(),
    )
    .await;
    let Value::File(file) = &out.expect("generates")["video"] else { panic!("a file") };
    let info = reelflow_media::probe(&file.path, false).unwrap();
    let video = info.video().unwrap();
    assert_eq!((video.width, video.height), (Some(160), Some(90)));
    assert!(info.audio().is_none(), "no tone asked for, no sound");
    assert!((info.duration - 1.0).abs() < 0.15, "{}", info.duration);
    assert!(events.iter().any(|e| matches!(e, EventKind::NodeProgress { fraction, .. } if *fraction >= 1.0)));

    let (out, _) = run_op(
        &registry,
        "aurora",
        vec![],
        json!({"width": 64, "height": 64, "fps": 10, "duration": 0.5, "tone_hz": 220.0}),
        CancellationToken::new(),
        dir.path(),
    )
    .await;
    let Value::File(file) = &out.expect("generates")["video"] else { panic!("a file") };
    assert!(reelflow_media::probe(&file.path, false).unwrap().audio().is_some());
}

/// The film look as native Rust: the very source file the plugin compiles.
#[path = "../../../plugins/filmlook/src/look.rs"]
#[allow(dead_code)]
mod look;

/// The film look computed natively, with the plugin's params: grain, vignette, tint, seed.
struct NativeLook {
    settings: (f32, f32, look::Tint, u32),
    look: Option<look::Look>,
}

impl NativeLook {
    /// The plugin's defaults (`{}`).
    fn defaults() -> NativeLook {
        NativeLook { settings: (0.08, 0.35, look::Tint::Warm, 1), look: None }
    }
}

impl reelflow_media::FrameEffect for NativeLook {
    fn prepare(&mut self, shape: &reelflow_media::ClipShape) -> Result<(), String> {
        let (grain, vignette, tint, seed) = self.settings;
        self.look = Some(look::Look::new(grain, vignette, tint, seed, shape.width, shape.height));
        Ok(())
    }
    fn apply(&mut self, mut frame: reelflow_media::RgbaFrame, time: f64) -> Result<reelflow_media::RgbaFrame, String> {
        let look = self.look.as_mut().expect("prepared");
        look.apply(&mut frame.data, frame.width, frame.height, time);
        Ok(frame)
    }
}

#[tokio::test]
async fn the_effect_plugin_applies_to_a_video_and_computes_exactly_what_native_code_does() {
    let (_host, registry) = host_with(settings());
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    generate(&clip, &SyntheticSpec { frames: 20, ..Default::default() }).unwrap();
    let (out, events) = run_op(
        &registry,
        "filmlook",
        vec![("video", Value::File(FileRef::new(&clip, FileKind::Video)))],
        json!({}),
        CancellationToken::new(),
        dir.path(),
    )
    .await;
    let Value::File(file) = &out.expect("applies")["video"] else { panic!("a file") };
    assert!(events.iter().any(|e| matches!(e, EventKind::NodeProgress { fraction, .. } if *fraction >= 1.0)));

    // The sandboxed effect computes exactly what the same code computes natively.
    let (host, _) = host_with(settings());
    let filmlook = host.plugins().iter().find(|p| p.name() == "filmlook").unwrap();
    let mut session = reelflow_wasm_host::EffectSession::new(filmlook, "{}").unwrap();
    let shape = reelflow_media::ClipShape { width: 96, height: 64, frame_rate: 25.0, duration: 1.0 };
    let mut native = NativeLook::defaults();
    use reelflow_media::FrameEffect;
    session.prepare(&shape).unwrap();
    native.prepare(&shape).unwrap();
    let mut seed = 7u32;
    for i in 0..5 {
        let frame = noise_frame(96, 64, &mut seed);
        let t = f64::from(i) / 25.0;
        let from_wasm = session.apply(frame.clone(), t).unwrap();
        let from_native = native.apply(frame.clone(), t).unwrap();
        assert_eq!(from_wasm, from_native, "frame {i}");
        assert_ne!(from_wasm, frame, "the look changes the picture");
    }
    session.finish();
    // End to end the output is a re-encode with the look: it differs from a plain one.
    let plain = dir.path().join("plain.mp4");
    reelflow_media::transcode(&clip, &plain, &Default::default(), &mut |_| true).unwrap();
    assert_ne!(std::fs::read(&plain).unwrap(), std::fs::read(&file.path).unwrap());
    assert_eq!(reelflow_media::probe(&file.path, false).unwrap().video().unwrap().width, Some(320));

    // Bad params fail before the first frame, naming the field.
    let (bad, _) = run_op(
        &registry,
        "filmlook",
        vec![("video", Value::File(FileRef::new(&clip, FileKind::Video)))],
        json!({"grain": "lots"}),
        CancellationToken::new(),
        dir.path(),
    )
    .await;
    let (kind, message) = failure(bad);
    assert_eq!(kind, Some(ErrorKind::InvalidInput), "{message}");
    assert!(message.contains("grain"), "{message}");
}

/// Random RGBA bytes from a linear congruential generator.
fn noise_frame(width: u32, height: u32, seed: &mut u32) -> reelflow_media::RgbaFrame {
    let data = (0..width * height * 4)
        .map(|_| {
            *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (*seed >> 24) as u8
        })
        .collect();
    reelflow_media::RgbaFrame { width, height, data }
}

#[test]
fn every_look_in_webassembly_matches_native_code_bit_for_bit() {
    // The plugin's WebAssembly build shades with a hand-written SIMD loop (eight pixels at a
    // time in 16-bit lanes, the portable loop for the rest of a row); the native build runs the
    // portable loop throughout. Widths that are not multiples of 8 exercise the row ends, strong
    // grain and vignette the clamps, sepia the full colour matrix, and `none` the identity.
    let (host, _) = host_with(settings());
    let filmlook = host.plugins().iter().find(|p| p.name() == "filmlook").unwrap();
    let looks = [
        (0.0, 0.0, look::Tint::None, "none", 1),
        (0.08, 0.35, look::Tint::Warm, "warm", 1),
        (1.0, 1.0, look::Tint::Warm, "warm", 9),
        (0.5, 0.6, look::Tint::Cool, "cool", 77),
        (0.3, 0.2, look::Tint::Sepia, "sepia", 3),
        (0.0, 0.9, look::Tint::Cool, "cool", 5),
    ];
    let mut seed = 11u32;
    for (width, height) in [(64, 16), (101, 37), (7, 5), (1920, 4)] {
        for (grain, vignette, tint, tint_name, look_seed) in looks {
            let params = json!({"grain": grain, "vignette": vignette, "tint": tint_name, "seed": look_seed});
            let mut session = reelflow_wasm_host::EffectSession::new(filmlook, &params.to_string()).unwrap();
            let mut native = NativeLook { settings: (grain, vignette, tint, look_seed), look: None };
            let shape = reelflow_media::ClipShape { width, height, frame_rate: 30.0, duration: 1.0 };
            use reelflow_media::FrameEffect;
            session.prepare(&shape).unwrap();
            native.prepare(&shape).unwrap();
            for time in [0.0, 0.5, 12.345] {
                let frame = noise_frame(width, height, &mut seed);
                let from_wasm = session.apply(frame.clone(), time).unwrap();
                let from_native = native.apply(frame, time).unwrap();
                assert!(
                    from_wasm == from_native,
                    "{width}x{height}, {params}, t={time}: WebAssembly and native differ"
                );
            }
            session.finish();
        }
    }
}
