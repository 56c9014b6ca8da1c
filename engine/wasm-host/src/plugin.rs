//! Loading a plugin (manifest, hash check, compiled-code cache, world check, `describe`)
//! and calling into it on pooled instances with a time budget and a memory cap.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use crate::bindings::{effect, generator, node, template, types};
use crate::engine::HostSettings;
use crate::error::{CallFailure, Error, Result};
use crate::manifest::{Manifest, PluginKind, sha256_hex};
use crate::sandbox::{CallEvents, CallScope, Effective, PluginState, Stopped};

/// What a loaded plugin offers.
#[derive(Clone, Debug)]
pub enum Offer {
    /// A node plugin's ops.
    Ops(Vec<types::OpSpec>),
    /// The one op of an effect, template or generator plugin.
    Single(types::PluginInfo),
}

/// How the compiled code was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeSource {
    /// Compiled from the component now (and written to the cache, if there is one).
    Compiled,
    /// Loaded precompiled from the on-disk cache.
    Cached,
}

/// The instantiation recipe of a plugin, by world.
enum Pre {
    Node(node::NodePre<PluginState>),
    Effect(effect::EffectPre<PluginState>),
    Template(template::TemplatePre<PluginState>),
    Generator(generator::GeneratorPre<PluginState>),
}

/// A live instance of a plugin, with the bindings of its world.
pub(crate) enum Bindings {
    Node(node::Node),
    Effect(effect::Effect),
    Template(template::Template),
    Generator(generator::Generator),
}

pub(crate) struct Instance {
    pub store: Store<PluginState>,
    pub bindings: Bindings,
}

/// Idle instances kept per plugin. Instances are reused across calls and node runs (an
/// instantiation costs tens of microseconds to milliseconds); one that trapped is dropped.
const POOL_SIZE: usize = 4;

/// A loaded, checked plugin.
pub struct Plugin {
    manifest: Manifest,
    manifest_path: PathBuf,
    component_path: PathBuf,
    sha256: String,
    pre: Pre,
    offer: Offer,
    effective: Arc<Effective>,
    memory_cap: usize,
    pub(crate) call_budget: Duration,
    pub(crate) max_output_bytes: usize,
    code: CodeSource,
    load_time: Duration,
    pool: Mutex<Vec<Instance>>,
    name: Arc<str>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("name", &self.manifest.name).field("kind", &self.manifest.kind).finish()
    }
}

impl Plugin {
    /// Loads the installed plugin whose manifest is at `manifest_path`.
    pub(crate) fn load(
        engine: &Engine,
        linker: &Linker<PluginState>,
        settings: &HostSettings,
        manifest_path: &Path,
    ) -> Result<Plugin> {
        let started = Instant::now();
        let manifest = Manifest::read(manifest_path)?;
        let (component_path, bytes) = manifest.read_component(manifest_path)?;
        let sha256 = sha256_hex(&bytes);
        let name: Arc<str> = manifest.name.as_str().into();
        let (component, code) =
            compile_cached(engine, settings.cache_dir.as_deref(), &manifest, &component_path, &bytes)?;
        let wrong_world = |e: wasmtime::Error| Error::WrongWorld {
            plugin: manifest.name.clone(),
            kind: manifest.kind.to_string(),
            message: format!("{e:#}"),
        };
        let instance_pre = linker.instantiate_pre(&component).map_err(wrong_world)?;
        let pre = match manifest.kind {
            PluginKind::Node => Pre::Node(node::NodePre::new(instance_pre).map_err(wrong_world)?),
            PluginKind::Effect => Pre::Effect(effect::EffectPre::new(instance_pre).map_err(wrong_world)?),
            PluginKind::Template => Pre::Template(template::TemplatePre::new(instance_pre).map_err(wrong_world)?),
            PluginKind::Generator => Pre::Generator(generator::GeneratorPre::new(instance_pre).map_err(wrong_world)?),
        };
        let grant = settings.grants.get(&manifest.name);
        let effective = Arc::new(Effective::new(&manifest, grant));
        let requested = manifest.limits.memory_mb.unwrap_or(settings.max_memory_mb);
        let memory_cap = (requested.min(settings.max_memory_mb) as usize) << 20;
        let mut plugin = Plugin {
            manifest,
            manifest_path: manifest_path.to_owned(),
            component_path,
            sha256,
            pre,
            offer: Offer::Ops(Vec::new()),
            effective,
            memory_cap,
            call_budget: settings.call_budget,
            max_output_bytes: settings.max_output_bytes,
            code,
            load_time: Duration::ZERO,
            pool: Mutex::new(Vec::new()),
            name,
        };
        let mut instance = plugin.instantiate()?;
        let offer = plugin.call(&mut instance, None, CancellationToken::new(), |store, bindings| match bindings {
            Bindings::Node(b) => b.call_describe(store).map(Offer::Ops),
            Bindings::Effect(b) => b.call_describe(store).map(Offer::Single),
            Bindings::Template(b) => b.call_describe(store).map(Offer::Single),
            Bindings::Generator(b) => b.call_describe(store).map(Offer::Single),
        })?;
        plugin.offer = offer;
        plugin.checkin(instance);
        plugin.load_time = started.elapsed();
        Ok(plugin)
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn manifest_path(&self) -> &Path {
        &self.manifest_path
    }

    pub fn component_path(&self) -> &Path {
        &self.component_path
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn offer(&self) -> &Offer {
        &self.offer
    }

    /// The capabilities the plugin actually has (asked for and granted).
    pub fn effective(&self) -> &Effective {
        &self.effective
    }

    pub fn memory_cap_bytes(&self) -> usize {
        self.memory_cap
    }

    /// Whether the compiled code came from the cache, and how long loading took (hash
    /// check, code, instantiation and `describe`).
    pub fn load_report(&self) -> (CodeSource, Duration) {
        (self.code, self.load_time)
    }

    /// A fresh instance in its own store, with the plugin's limits.
    pub(crate) fn instantiate(&self) -> Result<Instance> {
        let state = PluginState::new(self.name.clone(), self.effective.clone(), self.memory_cap);
        let engine = match &self.pre {
            Pre::Node(p) => p.engine(),
            Pre::Effect(p) => p.engine(),
            Pre::Template(p) => p.engine(),
            Pre::Generator(p) => p.engine(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        // Checked every tick: cancellation and the call's budget stop a running plugin even
        // if it never calls the host.
        store.epoch_deadline_callback(|ctx| {
            let scope = &ctx.data().scope;
            if scope.cancel.is_cancelled() {
                Err(wasmtime::Error::new(Stopped::Cancelled))
            } else if scope.started.elapsed() > scope.budget {
                Err(wasmtime::Error::new(Stopped::Timeout))
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });
        store.set_epoch_deadline(1);
        let instantiated = match &self.pre {
            Pre::Node(p) => p.instantiate(&mut store).map(Bindings::Node),
            Pre::Effect(p) => p.instantiate(&mut store).map(Bindings::Effect),
            Pre::Template(p) => p.instantiate(&mut store).map(Bindings::Template),
            Pre::Generator(p) => p.instantiate(&mut store).map(Bindings::Generator),
        };
        let bindings = instantiated.map_err(|e| self.failure(&store, e, "instantiating"))?;
        Ok(Instance { store, bindings })
    }

    /// An idle instance from the pool, or a new one.
    pub(crate) fn checkout(&self) -> Result<Instance> {
        let idle = self.pool.lock().expect("instance pool poisoned").pop();
        match idle {
            Some(instance) => Ok(instance),
            None => self.instantiate(),
        }
    }

    /// Returns a healthy instance to the pool.
    pub(crate) fn checkin(&self, mut instance: Instance) {
        instance.store.data_mut().scope = CallScope::idle();
        let mut pool = self.pool.lock().expect("instance pool poisoned");
        if pool.len() < POOL_SIZE {
            pool.push(instance);
        }
    }

    /// Calls into an instance under the plugin's time budget, with cancellation and events.
    /// An instance whose call failed must be dropped, not checked in: a trap leaves it
    /// unusable, and a stopped call leaves it in an unknown state.
    pub(crate) fn call<R>(
        &self,
        instance: &mut Instance,
        events: Option<Arc<dyn CallEvents>>,
        cancel: CancellationToken,
        f: impl FnOnce(&mut Store<PluginState>, &Bindings) -> wasmtime::Result<R>,
    ) -> Result<R> {
        {
            let state = instance.store.data_mut();
            state.scope = CallScope { started: Instant::now(), budget: self.call_budget, cancel, events, log_lines: 0 };
            state.limiter.hit = false;
        }
        instance.store.set_epoch_deadline(1);
        let result = f(&mut instance.store, &instance.bindings);
        result.map_err(|e| self.failure(&instance.store, e, "running"))
    }

    /// Turns a wasmtime error into a clear one: what happened, in words, plus what the
    /// plugin printed (a Rust panic's message goes to stderr).
    fn failure(&self, store: &Store<PluginState>, error: wasmtime::Error, doing: &str) -> Error {
        let state = store.data();
        let printed = state.output_tail();
        let with_output =
            |text: String| if printed.is_empty() { text } else { format!("{text}; it printed: {printed}") };
        let (kind, message) = if let Some(stopped) = error.downcast_ref::<Stopped>() {
            match stopped {
                Stopped::Timeout => (
                    CallFailure::Timeout,
                    format!(
                        "stopped after {:.1} s, its time budget per call (a runaway loop?)",
                        state.scope.budget.as_secs_f64()
                    ),
                ),
                Stopped::Cancelled => (CallFailure::Cancelled, "cancelled while it ran".to_owned()),
                Stopped::MemoryCap => (
                    CallFailure::OutOfMemory,
                    format!("went over its memory cap of {} MiB and was stopped", self.memory_cap >> 20),
                ),
            }
        } else if state.limiter.hit {
            (
                CallFailure::OutOfMemory,
                format!("went over its memory cap of {} MiB and was stopped", self.memory_cap >> 20),
            )
        } else if let Some(trap) = error.downcast_ref::<Trap>() {
            let what = match trap {
                Trap::StackOverflow => "overflowed its stack (runaway recursion?)".to_owned(),
                // Rust guests keep a second stack in linear memory; overflowing it runs off
                // the bottom of memory.
                Trap::MemoryOutOfBounds => {
                    "accessed memory out of bounds (its own stack overflowing from runaway recursion, or a memory bug)"
                        .to_owned()
                }
                Trap::UnreachableCodeReached if printed.contains("panicked") => "panicked".to_owned(),
                Trap::UnreachableCodeReached => "trapped (unreachable code reached; an abort?)".to_owned(),
                other => format!("trapped: {other}"),
            };
            (CallFailure::Trapped, with_output(what))
        } else {
            (CallFailure::Trapped, with_output(format!("failed: {error:#}")))
        };
        Error::Call { plugin: self.manifest.name.clone(), kind, message: format!("{doing}: {message}") }
    }
}

/// Compiles a component, or loads its compiled code from the cache. The cache key is the
/// component's sha256 plus a hash of everything that makes compiled code incompatible
/// (wasmtime's version, the engine's settings, the CPU features), so a stale entry is
/// never loaded; wasmtime checks that again when it deserializes.
fn compile_cached(
    engine: &Engine,
    cache_dir: Option<&Path>,
    manifest: &Manifest,
    component_path: &Path,
    bytes: &[u8],
) -> Result<(Component, CodeSource)> {
    let not_component = |message: String| Error::NotAComponent {
        plugin: manifest.name.clone(),
        path: component_path.to_owned(),
        message,
    };
    // A core module (or anything else) is refused before the compiler sees it.
    if !wasmparser_is_component(bytes) {
        return Err(not_component(
            "it is not a component (a core module, or not WebAssembly at all); build it for wasm32-wasip2".into(),
        ));
    }
    let cached_path =
        cache_dir.map(|dir| dir.join(format!("{}-{}.cwasm", sha256_hex(bytes), engine_fingerprint(engine))));
    if let Some(path) = &cached_path
        && path.is_file()
    {
        // SAFETY: the file is one this host wrote from a component whose sha256 is in its
        // name, into the operator's own cache directory, keyed by the engine's
        // compatibility hash; wasmtime also checks its header before use. Loading
        // precompiled code from a place attackers can write is what would be unsafe.
        #[expect(unsafe_code, reason = "loading our own precompiled code from the cache")]
        let loaded = unsafe { Component::deserialize_file(engine, path) };
        match loaded {
            Ok(component) => return Ok((component, CodeSource::Cached)),
            Err(e) => tracing::warn!(path = %path.display(), "ignoring an unusable cache entry: {e:#}"),
        }
    }
    let component = Component::new(engine, bytes).map_err(|e| not_component(format!("{e:#}")))?;
    if let Some(path) = cached_path {
        // A failed cache write only costs the next start its compile time.
        if let Err(e) = write_cache_entry(&component, &path) {
            tracing::warn!(path = %path.display(), "could not cache compiled plugin code: {e}");
        }
    }
    Ok((component, CodeSource::Compiled))
}

fn write_cache_entry(component: &Component, path: &Path) -> std::io::Result<()> {
    let code = component.serialize().map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write then rename, so a concurrent start never reads half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, code)?;
    std::fs::rename(&tmp, path)
}

fn engine_fingerprint(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Components carry layer 1 in their header (`\0asm`, version 0x0d, layer 1); core modules
/// carry version 1, layer 0.
fn wasmparser_is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[..4] == b"\0asm" && bytes[6..8] == [1, 0]
}
