//! Plugin ops as engine nodes: a node plugin's ops under `<plugin>.<op>`, and the one op of
//! an effect (video in, video out), template (spec in params, layout out) or generator
//! (params in, video out) under the plugin's name.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reelflow_core::{
    ErrorKind, FileKind, FileRef, LogLevel, Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs, PortSpec,
    Registry, ResourceClass, Value, ValueType,
};
use reelflow_media::{ClipShape, FrameEffect, GeneratedClip, RgbaFrame, SoundSource, TranscodeOptions};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bindings::types::{self, ClipInfo, Frame, NamedValue, PixelFormat, PortType};
use crate::engine::PluginHost;
use crate::error::{CallFailure, Error};
use crate::manifest::{Capability, PluginKind, is_identifier};
use crate::plugin::{Bindings, Instance, Offer, Plugin};
use crate::sandbox::CallEvents;

/// Adds every loaded plugin's ops to the registry. Returns, per plugin that could not be
/// registered, why (a clash with another op's name, an unusable port).
pub fn register(registry: &mut Registry, host: &PluginHost) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for plugin in host.plugins() {
        let nodes = match plugin_nodes(plugin) {
            Ok(nodes) => nodes,
            Err(message) => {
                problems.push((plugin.name().to_owned(), message));
                continue;
            }
        };
        for node in nodes {
            if let Err(e) = registry.register(node) {
                problems.push((plugin.name().to_owned(), e.to_string()));
            }
        }
    }
    problems
}

fn plugin_nodes(plugin: &Arc<Plugin>) -> Result<Vec<Arc<dyn Node>>, String> {
    let base = |op: String, version: u32, description: &str, schema: &str| -> Result<NodeSpec, String> {
        let mut spec = NodeSpec::new(&op, version, description);
        spec.params = parse_schema(schema).map_err(|e| format!("op `{op}`: params schema: {e}"))?;
        // Clocks and randomness make results differ between runs; without them a plugin
        // is a pure function of its inputs and its results can be cached.
        let effective = plugin.effective();
        if effective.has(Capability::Clock) || effective.has(Capability::Random) {
            spec = spec.nondeterministic();
        }
        Ok(spec.resource(ResourceClass::Cpu))
    };
    let name = plugin.name();
    match (plugin.manifest().kind, plugin.offer()) {
        (PluginKind::Node, Offer::Ops(ops)) => {
            let mut nodes: Vec<Arc<dyn Node>> = Vec::new();
            for op in ops {
                if !is_identifier(&op.name) {
                    return Err(format!("op name `{}` must match [a-z][a-z0-9_]*", op.name));
                }
                let mut spec = base(format!("{name}.{}", op.name), op.version, &op.description, &op.params_schema)?;
                spec.inputs = ports(&op.inputs).map_err(|e| format!("op `{}`: {e}", op.name))?;
                spec.outputs = ports(&op.outputs).map_err(|e| format!("op `{}`: {e}", op.name))?;
                nodes.push(Arc::new(PluginOp { plugin: plugin.clone(), op: op.name.clone(), spec }));
            }
            Ok(nodes)
        }
        (PluginKind::Effect, Offer::Single(info)) => {
            let spec = base(name.to_owned(), info.version, &info.description, &info.params_schema)?
                .input("video", ValueType::File(FileKind::Video), "The video to process.")
                .output("video", ValueType::File(FileKind::Video), "The processed video (H.264 + AAC MP4).");
            Ok(vec![Arc::new(EffectOp { plugin: plugin.clone(), spec })])
        }
        (PluginKind::Template, Offer::Single(info)) => {
            let spec = base(name.to_owned(), info.version, &info.description, &info.params_schema)?.output(
                "layout",
                ValueType::Json,
                "Scene and layout instructions made from the spec in params.",
            );
            Ok(vec![Arc::new(TemplateOp { plugin: plugin.clone(), spec })])
        }
        (PluginKind::Generator, Offer::Single(info)) => {
            let mut spec = base(name.to_owned(), info.version, &info.description, &info.params_schema)?.output(
                "video",
                ValueType::File(FileKind::Video),
                "The generated clip (H.264 MP4).",
            );
            spec.params = with_clip_params(spec.params).map_err(|e| format!("params schema: {e}"))?;
            Ok(vec![Arc::new(GeneratorOp { plugin: plugin.clone(), spec })])
        }
        _ => Err("its description does not match its kind".into()),
    }
}

fn parse_schema(text: &str) -> Result<serde_json::Value, String> {
    let schema: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !schema.is_object() {
        return Err("not a JSON object".into());
    }
    jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
    Ok(schema)
}

/// The clip settings every generator op takes beside the plugin's own params.
const CLIP_PARAMS: [&str; 4] = ["width", "height", "fps", "duration"];

fn with_clip_params(mut schema: serde_json::Value) -> Result<serde_json::Value, String> {
    let object = schema.as_object_mut().expect("checked to be an object");
    let properties = object.entry("properties").or_insert_with(|| json!({}));
    let properties = properties.as_object_mut().ok_or("`properties` is not an object")?;
    for key in CLIP_PARAMS {
        if properties.contains_key(key) {
            return Err(format!("`{key}` is reserved for the clip's settings"));
        }
    }
    properties.insert("width".into(), json!({"type": "integer", "minimum": 16, "maximum": 7680, "default": 1280, "description": "Frame width, pixels (rounded down to even)."}));
    properties.insert("height".into(), json!({"type": "integer", "minimum": 16, "maximum": 4320, "default": 720, "description": "Frame height, pixels (rounded down to even)."}));
    properties.insert(
        "fps".into(),
        json!({"type": "integer", "minimum": 1, "maximum": 120, "default": 25, "description": "Frames a second."}),
    );
    properties.insert("duration".into(), json!({"type": "number", "exclusiveMinimum": 0, "maximum": 3600, "default": 5, "description": "Length, seconds."}));
    Ok(schema)
}

fn ports(specs: &[types::PortSpec]) -> Result<Vec<PortSpec>, String> {
    specs
        .iter()
        .map(|p| {
            if !is_identifier(&p.name) {
                return Err(format!("port name `{}` must match [a-z][a-z0-9_]*", p.name));
            }
            let ty = match p.type_ {
                PortType::Boolean => ValueType::Bool,
                PortType::Integer => ValueType::Int,
                PortType::Float => ValueType::Float,
                PortType::Text => ValueType::String,
                PortType::Json => ValueType::Json,
                PortType::Frame | PortType::Audio => {
                    return Err(format!(
                        "port `{}`: frame and audio ports are not usable on node-plugin ops yet (use an effect or generator plugin)",
                        p.name
                    ));
                }
            };
            Ok(PortSpec { name: p.name.clone(), ty, optional: p.optional, description: p.description.clone() })
        })
        .collect()
}

/// Events from a plugin call on a blocking thread, forwarded to the node's context.
enum CallEvent {
    Log(LogLevel, String),
    Progress(f32, String),
}

struct ChannelEvents {
    tx: mpsc::UnboundedSender<CallEvent>,
    last_progress: Mutex<Option<Instant>>,
}

impl CallEvents for ChannelEvents {
    fn log(&self, level: LogLevel, message: String) {
        let _ = self.tx.send(CallEvent::Log(level, message));
    }

    fn progress(&self, fraction: f32, message: String) {
        // The node context throttles too, but only after the event crossed the channel.
        let now = Instant::now();
        let mut last = self.last_progress.lock().expect("progress lock poisoned");
        if fraction < 1.0 && last.is_some_and(|t| now.duration_since(t) < Duration::from_millis(50)) {
            return;
        }
        *last = Some(now);
        let _ = self.tx.send(CallEvent::Progress(fraction, message));
    }
}

/// Runs plugin work on the blocking pool while its log lines and progress reach `ctx`.
async fn with_events<T: Send + 'static>(
    ctx: &NodeCtx,
    work: impl FnOnce(Arc<dyn CallEvents>, CancellationToken) -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let events: Arc<dyn CallEvents> = Arc::new(ChannelEvents { tx, last_progress: Mutex::new(None) });
    let cancel = ctx.cancel_token();
    let mut handle = tokio::task::spawn_blocking(move || work(events, cancel));
    let forward = |event: CallEvent| match event {
        CallEvent::Log(level, message) => ctx.log(level, message),
        CallEvent::Progress(fraction, message) => ctx.progress(fraction, message),
    };
    loop {
        tokio::select! {
            Some(event) = rx.recv() => forward(event),
            result = &mut handle => {
                while let Ok(event) = rx.try_recv() {
                    forward(event);
                }
                return result.map_err(|e| NodeError::failed(format!("plugin worker thread failed: {e}")))?;
            }
        }
    }
}

impl From<Error> for NodeError {
    fn from(error: Error) -> NodeError {
        let message = error.to_string();
        match error {
            Error::Call { kind: CallFailure::Cancelled, .. } => NodeError::Cancelled,
            Error::Call { kind: CallFailure::Refused, .. } => NodeError::of_kind(ErrorKind::InvalidInput, message),
            Error::Call { kind: CallFailure::Timeout, .. } => NodeError::of_kind(ErrorKind::Timeout, message),
            Error::Call { kind: CallFailure::OutOfMemory, .. } => {
                NodeError::of_kind(ErrorKind::ResourceExhausted, message)
            }
            _ => NodeError::failed(message),
        }
    }
}

fn refused(plugin: &Plugin, message: String) -> Error {
    Error::Call { plugin: plugin.name().to_owned(), kind: CallFailure::Refused, message }
}

fn bad_output(plugin: &Plugin, message: String) -> Error {
    Error::Call { plugin: plugin.name().to_owned(), kind: CallFailure::BadOutput, message }
}

/// Runs `f` on a pooled instance; the instance goes back to the pool only if all went well.
fn on_instance<T>(
    plugin: &Plugin,
    events: Option<Arc<dyn CallEvents>>,
    cancel: CancellationToken,
    f: impl FnOnce(&mut wasmtime::Store<crate::sandbox::PluginState>, &Bindings) -> wasmtime::Result<Result<T, String>>,
) -> Result<T, Error> {
    let mut instance = plugin.checkout()?;
    let started = Instant::now();
    let result = plugin.call(&mut instance, events, cancel.clone(), f)?;
    // The plugin ran to completion (even if it said no), so the instance is healthy.
    plugin.checkin(instance);
    result.map_err(|message| answer_error(plugin, message, &cancel, started))
}

/// An error a plugin returned. A plugin that saw `is-cancelled` turn true gives up with an
/// error of its own; that is a cancellation or a timeout, not a refusal of its input.
fn answer_error(plugin: &Plugin, message: String, cancel: &CancellationToken, started: Instant) -> Error {
    let kind = if cancel.is_cancelled() {
        CallFailure::Cancelled
    } else if started.elapsed() > plugin.call_budget {
        CallFailure::Timeout
    } else {
        CallFailure::Refused
    };
    Error::Call { plugin: plugin.name().to_owned(), kind, message }
}

fn params_text(inputs: &NodeInputs) -> String {
    if inputs.params.is_null() { "{}".to_owned() } else { inputs.params.to_string() }
}

/// One op of a node plugin.
struct PluginOp {
    plugin: Arc<Plugin>,
    op: String,
    spec: NodeSpec,
}

#[async_trait]
impl Node for PluginOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let mut values = Vec::new();
        for port in &self.spec.inputs {
            let Some(value) = inputs.get(&port.name) else { continue };
            values.push(NamedValue { name: port.name.clone(), value: to_wit(value, &port.ty, &port.name)? });
        }
        let params = params_text(&inputs);
        let (plugin, op) = (self.plugin.clone(), self.op.clone());
        let returned = with_events(ctx, move |events, cancel| {
            on_instance(&plugin, Some(events), cancel, |store, bindings| match bindings {
                Bindings::Node(b) => b.call_run(store, &op, &values, &params),
                _ => unreachable!("node ops are made only for node plugins"),
            })
            .map_err(NodeError::from)
        })
        .await?;
        let mut outputs = Outputs::default();
        let mut size = 0usize;
        for NamedValue { name, value } in returned {
            let Some(port) = self.spec.outputs.iter().find(|p| p.name == name) else {
                return Err(bad_output(
                    &self.plugin,
                    format!("returned an output `{name}` that `{}` does not declare", self.op),
                )
                .into());
            };
            size += wit_size(&value);
            if size > self.plugin.max_output_bytes {
                return Err(bad_output(
                    &self.plugin,
                    format!(
                        "returned {size} bytes of outputs, over the limit of {} bytes",
                        self.plugin.max_output_bytes
                    ),
                )
                .into());
            }
            outputs.insert(name, from_wit(value, &port.ty).map_err(|e| bad_output(&self.plugin, e))?);
        }
        for port in &self.spec.outputs {
            if !outputs.contains_key(&port.name) {
                return Err(
                    bad_output(&self.plugin, format!("`{}` returned no output `{}`", self.op, port.name)).into()
                );
            }
        }
        Ok(outputs)
    }
}

fn to_wit(value: &Value, ty: &ValueType, port: &str) -> Result<types::Value, NodeError> {
    let wrong = || NodeError::Input { port: port.into(), message: format!("expected {ty:?}, got {}", value.to_json()) };
    Ok(match ty {
        ValueType::Bool => match value {
            Value::Bool(b) => types::Value::Boolean(*b),
            _ => return Err(wrong()),
        },
        ValueType::Int => types::Value::Integer(value.as_i64().ok_or_else(wrong)?),
        ValueType::Float => types::Value::Float(value.as_f64().ok_or_else(wrong)?),
        ValueType::String => types::Value::Text(value.as_str().ok_or_else(wrong)?.to_owned()),
        _ => types::Value::Json(value.to_json().to_string()),
    })
}

fn wit_size(value: &types::Value) -> usize {
    match value {
        types::Value::Text(s) | types::Value::Json(s) => s.len(),
        types::Value::Frame(f) => f.data.len(),
        types::Value::Audio(a) => a.samples.len() * 4,
        _ => 8,
    }
}

fn from_wit(value: types::Value, ty: &ValueType) -> Result<Value, String> {
    Ok(match (value, ty) {
        (types::Value::Boolean(b), ValueType::Bool) => Value::Bool(b),
        (types::Value::Integer(i), ValueType::Int) => Value::Int(i),
        (types::Value::Float(f), ValueType::Float) => Value::Float(f),
        (types::Value::Integer(i), ValueType::Float) => Value::Float(i as f64),
        (types::Value::Text(s), ValueType::String) => Value::String(s),
        (types::Value::Json(text), ValueType::Json) => {
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("returned JSON that does not parse: {e}"))?;
            Value::from_json(&json)
        }
        (value, ty) => {
            return Err(format!("returned a value of the wrong type for a {ty:?} port: {}", wit_kind(&value)));
        }
    })
}

fn wit_kind(value: &types::Value) -> &'static str {
    match value {
        types::Value::Boolean(_) => "boolean",
        types::Value::Integer(_) => "integer",
        types::Value::Float(_) => "float",
        types::Value::Text(_) => "text",
        types::Value::Json(_) => "json",
        types::Value::Frame(_) => "frame",
        types::Value::Audio(_) => "audio",
    }
}

/// A template plugin's op: the spec is the node's params; the layout is the plugin's answer.
struct TemplateOp {
    plugin: Arc<Plugin>,
    spec: NodeSpec,
}

#[async_trait]
impl Node for TemplateOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let spec = params_text(&inputs);
        let plugin = self.plugin.clone();
        let text = with_events(ctx, move |events, cancel| {
            on_instance(&plugin, Some(events), cancel, |store, bindings| match bindings {
                Bindings::Template(b) => b.call_render(store, &spec),
                _ => unreachable!("template ops are made only for template plugins"),
            })
            .map_err(NodeError::from)
        })
        .await?;
        if text.len() > self.plugin.max_output_bytes {
            return Err(bad_output(&self.plugin, format!("returned {} bytes, over the limit", text.len())).into());
        }
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad_output(&self.plugin, format!("returned a layout that is not JSON: {e}")))?;
        let mut outputs = Outputs::default();
        outputs.insert("layout".into(), Value::from_json(&json));
        Ok(outputs)
    }
}

fn to_frame(frame: RgbaFrame) -> Frame {
    Frame { width: frame.width, height: frame.height, format: PixelFormat::Rgba8, data: frame.data }
}

fn from_frame(plugin: &Plugin, frame: Frame, width: u32, height: u32) -> Result<RgbaFrame, Error> {
    if (frame.width, frame.height) != (width, height) || frame.data.len() != RgbaFrame::expected_len(width, height) {
        return Err(bad_output(
            plugin,
            format!(
                "returned a {}x{} frame of {} bytes where a {width}x{height} RGBA frame ({} bytes) was expected",
                frame.width,
                frame.height,
                frame.data.len(),
                RgbaFrame::expected_len(width, height)
            ),
        ));
    }
    Ok(RgbaFrame { width, height, data: frame.data })
}

fn clip_info(shape: &ClipShape) -> ClipInfo {
    ClipInfo { width: shape.width, height: shape.height, frame_rate: shape.frame_rate, duration: shape.duration }
}

/// Calls into one plugin instance, one call after another (the frames of a clip): checks
/// an instance out on the first call, drops it when a call fails (a trap leaves it
/// unusable), and keeps the first error, so a node fails with it (and its kind) rather than
/// with the media layer's wrapping of it.
struct Stepper {
    plugin: Arc<Plugin>,
    instance: Option<Instance>,
    events: Option<Arc<dyn CallEvents>>,
    cancel: CancellationToken,
    error: Option<Error>,
}

impl Stepper {
    fn new(plugin: &Arc<Plugin>) -> Stepper {
        Stepper { plugin: plugin.clone(), instance: None, events: None, cancel: CancellationToken::new(), error: None }
    }

    fn step<T>(
        &mut self,
        f: impl FnOnce(&mut wasmtime::Store<crate::sandbox::PluginState>, &Bindings) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T, String> {
        let result = (|| {
            let instance = match &mut self.instance {
                Some(instance) => instance,
                None => self.instance.insert(self.plugin.checkout()?),
            };
            let started = Instant::now();
            match self.plugin.call(instance, self.events.clone(), self.cancel.clone(), f) {
                Ok(answer) => answer.map_err(|message| answer_error(&self.plugin, message, &self.cancel, started)),
                Err(e) => {
                    self.instance = None;
                    Err(e)
                }
            }
        })();
        result.map_err(|e| self.keep(e))
    }

    /// Records `e` (if it is the first error) and returns its text for the media layer.
    fn keep(&mut self, e: Error) -> String {
        let text = e.to_string();
        self.error.get_or_insert(e);
        text
    }

    /// Ends the calls; a healthy instance goes back to the plugin's pool.
    fn finish(&mut self) {
        if let Some(instance) = self.instance.take() {
            self.plugin.checkin(instance);
        }
    }
}

/// An effect plugin driven frame by frame on one instance: `prepare` (the plugin's
/// `configure`) once, then `apply` per frame.
pub struct EffectSession {
    calls: Stepper,
    params: String,
}

impl EffectSession {
    /// A session of `plugin` (an effect plugin) with the node params as JSON text.
    pub fn new(plugin: &Arc<Plugin>, params: &str) -> Result<EffectSession, Error> {
        if plugin.manifest().kind != PluginKind::Effect {
            return Err(refused(plugin, format!("is a {} plugin, not an effect", plugin.manifest().kind)));
        }
        Ok(EffectSession { calls: Stepper::new(plugin), params: params.to_owned() })
    }

    /// The first error the plugin caused, if any.
    pub fn take_error(&mut self) -> Option<Error> {
        self.calls.error.take()
    }

    /// Ends the session; a healthy instance goes back to the plugin's pool.
    pub fn finish(mut self) {
        self.calls.finish();
    }

    fn step<T>(
        &mut self,
        f: impl FnOnce(
            &mut wasmtime::Store<crate::sandbox::PluginState>,
            &crate::bindings::effect::Effect,
        ) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T, String> {
        self.calls.step(|store, b| match b {
            Bindings::Effect(b) => f(store, b),
            _ => unreachable!("effect sessions are made only for effect plugins"),
        })
    }
}

impl FrameEffect for EffectSession {
    fn prepare(&mut self, shape: &ClipShape) -> Result<(), String> {
        let (params, info) = (self.params.clone(), clip_info(shape));
        self.step(|store, b| b.call_configure(store, &params, info))
    }

    fn apply(&mut self, frame: RgbaFrame, time: f64) -> Result<RgbaFrame, String> {
        let (width, height) = (frame.width, frame.height);
        let frame = to_frame(frame);
        let returned = self.step(|store, b| b.call_apply(store, &frame, time))?;
        from_frame(&self.calls.plugin, returned, width, height).map_err(|e| self.calls.keep(e))
    }
}

/// An effect plugin's op: the video, re-encoded with every frame through the plugin.
struct EffectOp {
    plugin: Arc<Plugin>,
    spec: NodeSpec,
}

#[async_trait]
impl Node for EffectOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let input = file_input(&inputs, "video")?;
        let output = ctx.workspace()?.join(format!("{}.mp4", ctx.node_id()));
        let params = params_text(&inputs);
        let plugin = self.plugin.clone();
        let out = output.clone();
        with_events(ctx, move |events, cancel| {
            let mut driver = EffectSession::new(&plugin, &params)?;
            driver.calls.events = Some(events.clone());
            driver.calls.cancel = cancel.clone();
            let mut progress = |fraction: f32| {
                events.progress(fraction, "applying".into());
                !cancel.is_cancelled()
            };
            let result =
                reelflow_media::filter_video(&input, &out, &TranscodeOptions::default(), &mut driver, &mut progress);
            match (result, driver.take_error()) {
                (Ok(_), _) => {
                    driver.finish();
                    Ok(())
                }
                (Err(_), Some(plugin_error)) => Err(NodeError::from(plugin_error)),
                (Err(media_error), None) => Err(media_error.into()),
            }
        })
        .await?;
        let mut outputs = Outputs::default();
        outputs.insert("video".into(), Value::File(FileRef::new(output, FileKind::Video)));
        Ok(outputs)
    }
}

fn file_input(inputs: &NodeInputs, port: &str) -> Result<PathBuf, NodeError> {
    match inputs.require(port)? {
        Value::File(file) => Ok(file.path.clone()),
        other => {
            Err(NodeError::Input { port: port.into(), message: format!("expected a file, got {}", other.to_json()) })
        }
    }
}

/// A generator plugin's op: a clip of the asked size, rate and length.
struct GeneratorOp {
    plugin: Arc<Plugin>,
    spec: NodeSpec,
}

/// Feeds a generator's pictures and sound to the encoder from one instance.
struct GeneratorDriver(Stepper);

impl GeneratorDriver {
    fn step<T>(
        &mut self,
        f: impl FnOnce(
            &mut wasmtime::Store<crate::sandbox::PluginState>,
            &crate::bindings::generator::Generator,
        ) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T, String> {
        self.0.step(|store, b| match b {
            Bindings::Generator(b) => f(store, b),
            _ => unreachable!("generator ops are made only for generator plugins"),
        })
    }
}

impl SoundSource for GeneratorDriver {
    fn sound(
        &mut self,
        start: f64,
        sample_rate: u32,
        channels: u16,
        frames: usize,
    ) -> Result<Option<Vec<f32>>, String> {
        let channels_u8 = u8::try_from(channels).map_err(|_| "too many channels".to_owned())?;
        let count = u32::try_from(frames).map_err(|_| "too many samples".to_owned())?;
        let Some(audio) = self.step(|store, b| b.call_sound(store, start, sample_rate, channels_u8, count))? else {
            return Ok(None);
        };
        if audio.sample_rate != sample_rate
            || audio.channels != channels_u8
            || audio.samples.len() != frames * usize::from(channels)
        {
            let e = bad_output(
                &self.0.plugin,
                format!(
                    "returned {} samples at {} Hz × {} channels where {} at {sample_rate} Hz × {channels} were asked for",
                    audio.samples.len(),
                    audio.sample_rate,
                    audio.channels,
                    frames * usize::from(channels)
                ),
            );
            return Err(self.0.keep(e));
        }
        Ok(Some(audio.samples))
    }
}

#[async_trait]
impl Node for GeneratorOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let mut params = match &inputs.params {
            serde_json::Value::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        };
        let number = |params: &mut serde_json::Map<String, serde_json::Value>, key: &str, default: f64| {
            params.remove(key).and_then(|v| v.as_f64()).unwrap_or(default)
        };
        let width = number(&mut params, "width", 1280.0) as u32;
        let height = number(&mut params, "height", 720.0) as u32;
        let fps = number(&mut params, "fps", 25.0) as i32;
        let duration = number(&mut params, "duration", 5.0);
        let clip = GeneratedClip {
            width,
            height,
            frame_rate: reelflow_media::Ratio { num: fps.max(1), den: 1 },
            duration,
            preset: "veryfast".into(),
            crf: 20,
        };
        let plugin_params = serde_json::Value::Object(params).to_string();
        let output = ctx.workspace()?.join(format!("{}.mp4", ctx.node_id()));
        let plugin = self.plugin.clone();
        let out = output.clone();
        with_events(ctx, move |events, cancel| {
            let mut calls = Stepper::new(&plugin);
            calls.events = Some(events.clone());
            calls.cancel = cancel.clone();
            let mut driver = GeneratorDriver(calls);
            let shape =
                ClipShape { width: width / 2 * 2, height: height / 2 * 2, frame_rate: f64::from(fps), duration };
            let info = clip_info(&shape);
            let configured = driver.step(|store, b| b.call_configure(store, &plugin_params, info));
            // Ask once whether there is sound at all, so a silent generator gives a clip
            // without an audio stream.
            let has_sound = configured.is_ok()
                && driver.step(|store, b| b.call_sound(store, 0.0, 48_000, 2, 0)).is_ok_and(|s| s.is_some());
            let result = configured.and_then(|()| {
                let driver = std::cell::RefCell::new(&mut driver);
                let mut picture = |time: f64| {
                    let mut d = driver.borrow_mut();
                    let frame = d.step(|store, b| b.call_frame(store, time))?;
                    from_frame(&d.0.plugin, frame, shape.width, shape.height).map_err(|e| d.0.keep(e))
                };
                let mut sound = SoundAdapter(&driver);
                let mut progress = |fraction: f32| {
                    events.progress(fraction, "generating".into());
                    !cancel.is_cancelled()
                };
                let sound: Option<&mut dyn SoundSource> = if has_sound { Some(&mut sound) } else { None };
                reelflow_media::generate_video(&out, &clip, &mut picture, sound, &mut progress)
                    .map_err(|e| e.to_string())
            });
            match (result, driver.0.error.take()) {
                (Ok(_), _) => {
                    driver.0.finish();
                    Ok(())
                }
                (Err(_), Some(plugin_error)) => Err(NodeError::from(plugin_error)),
                (Err(message), None) => Err(NodeError::of_kind(ErrorKind::RenderFailed, message)),
            }
        })
        .await?;
        let mut outputs = Outputs::default();
        outputs.insert("video".into(), Value::File(FileRef::new(output, FileKind::Video)));
        Ok(outputs)
    }
}

/// Lends the generator driver to the encoder as its sound source while the picture closure
/// holds it too (the encoder calls them one after the other, never at once).
struct SoundAdapter<'a, 'b>(&'a std::cell::RefCell<&'b mut GeneratorDriver>);

impl SoundSource for SoundAdapter<'_, '_> {
    fn sound(
        &mut self,
        start: f64,
        sample_rate: u32,
        channels: u16,
        frames: usize,
    ) -> Result<Option<Vec<f32>>, String> {
        self.0.borrow_mut().sound(start, sample_rate, channels, frames)
    }
}
