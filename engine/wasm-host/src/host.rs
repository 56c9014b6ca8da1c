//! The `reelflow:plugin/host` interface: what a plugin may call.

use std::path::{Component, Path};

use reelflow_core::LogLevel;

use crate::bindings::host::{AccessError, Host, LogLevel as WitLogLevel};
use crate::bindings::types;
use crate::manifest::Capability;
use crate::sandbox::{MAX_LOG_LINE_BYTES, MAX_LOG_LINES_PER_CALL, PluginState};

impl types::Host for PluginState {}

impl Host for PluginState {
    fn log(&mut self, level: WitLogLevel, message: String) {
        self.scope.log_lines += 1;
        let Some(events) = &self.scope.events else { return };
        if self.scope.log_lines > MAX_LOG_LINES_PER_CALL {
            return;
        }
        let level = match level {
            WitLogLevel::Debug => LogLevel::Debug,
            WitLogLevel::Info => LogLevel::Info,
            WitLogLevel::Warn => LogLevel::Warn,
            WitLogLevel::Error => LogLevel::Error,
        };
        let mut message = message;
        if message.len() > MAX_LOG_LINE_BYTES {
            let mut end = MAX_LOG_LINE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        let message = if self.scope.log_lines == MAX_LOG_LINES_PER_CALL {
            format!("{message} (further log lines of this call are dropped)")
        } else {
            message
        };
        events.log(level, format!("[{}] {message}", self.plugin));
    }

    fn progress(&mut self, fraction: f32, message: String) {
        if let Some(events) = &self.scope.events {
            let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
            let mut message = message;
            message.truncate(message.floor_char_boundary(256));
            events.progress(fraction, message);
        }
    }

    fn is_cancelled(&mut self) -> bool {
        self.scope.cancel.is_cancelled() || self.scope.started.elapsed() > self.scope.budget
    }

    fn read_asset(&mut self, name: String) -> Result<Vec<u8>, AccessError> {
        if !self.effective.has(Capability::Assets) {
            return Err(AccessError::Denied);
        }
        let Some(dir) = self.effective.assets.clone() else { return Err(AccessError::Denied) };
        let relative = Path::new(&name);
        if name.is_empty() || !relative.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(AccessError::InvalidName(format!("`{name}` is not a plain relative path")));
        }
        let path = dir.join(relative);
        // A symlink inside the asset directory must not lead out of it.
        let resolved = match path.canonicalize() {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(AccessError::NotFound),
            Err(e) => return Err(AccessError::Failed(e.to_string())),
        };
        let root = dir.canonicalize().map_err(|e| AccessError::Failed(format!("asset directory: {e}")))?;
        if !resolved.starts_with(&root) {
            return Err(AccessError::InvalidName(format!("`{name}` leads outside the asset directory")));
        }
        let meta = std::fs::metadata(&resolved).map_err(|e| AccessError::Failed(e.to_string()))?;
        if !meta.is_file() {
            return Err(AccessError::NotFound);
        }
        if meta.len() > self.max_asset_bytes as u64 {
            return Err(AccessError::TooLarge);
        }
        std::fs::read(&resolved).map_err(|e| AccessError::Failed(e.to_string()))
    }
}
