//! The ops that need nothing from the host: plain Rust and `std`, so the harmless ones can be
//! tested natively. Each one is a deliberate misbehaviour or a probe of what the sandbox lets
//! through; the component glue in `lib.rs` wires them to op names.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// One mebibyte, the unit of `balloon` and `huge`.
const MIB: usize = 1 << 20;

/// Parses an op's params: empty text or `null` is no params, else a JSON object.
pub fn params(text: &str) -> Result<Map<String, Value>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(text) {
        Ok(Value::Null) => Ok(Map::new()),
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("hostile: params must be a JSON object".to_string()),
        Err(e) => Err(format!("hostile: params are not valid JSON: {e}")),
    }
}

/// A string param, or `default` when absent.
pub fn str_param<'a>(params: &'a Map<String, Value>, name: &str, default: &'a str) -> Result<&'a str, String> {
    match params.get(name) {
        None => Ok(default),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("hostile: `{name}` must be a string, got {other}")),
    }
}

/// Never returns, and never calls the host: only the engine's time budget (fuel or epoch
/// interruption) can stop it. `black_box` keeps the optimiser from proving the loop useless.
pub fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Allocates 1 MiB chunks and writes every byte of each, keeping them all, until an allocation
/// fails. A failed allocation aborts (a trap in wasm), as Rust's infallible allocation does on
/// any target: only the host's memory cap stops this, and the host should report exactly that.
pub fn balloon() -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = Vec::with_capacity(MIB);
        // Writing (not just reserving) makes the pages real on any allocator.
        chunk.resize(MIB, chunks.len() as u8);
        chunks.push(black_box(chunk));
    }
}

/// Recurses without end, 256 bytes of live stack a level, until the stack overflows. Not a
/// tail call (the result is used after the call), `black_box` keeps the frame and the bound
/// alive, and the bound is unreachable in practice (the stack runs out long before).
#[inline(never)]
pub fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 256];
    frame[(depth % 256) as usize] = depth as u8;
    let frame = black_box(frame);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let below = recurse(depth + 1);
    below.wrapping_add(frame.iter().map(|&b| u64::from(b)).sum::<u64>())
}

/// A text of `mb` MiB of `x`, to test the host's limit on output size.
pub fn huge(mb: u64) -> Result<String, String> {
    let bytes = usize::try_from(mb)
        .ok()
        .and_then(|mb| mb.checked_mul(MIB))
        .ok_or_else(|| format!("hostile: {mb} MiB does not fit this plugin's address space"))?;
    Ok("x".repeat(bytes))
}

/// Tries to read a file through WASI. In the sandbox there should be no preopened directory,
/// so this must fail.
pub fn open_file(path: &str) -> Value {
    match std::fs::read(path) {
        Ok(data) => json!({ "ok": true, "bytes": data.len(), "error": null }),
        Err(e) => json!({ "ok": false, "bytes": null, "error": e.to_string() }),
    }
}

/// Tries to open a TCP connection through WASI sockets. In the sandbox this must fail.
pub fn connect(addr: &str) -> Value {
    match std::net::TcpStream::connect(addr) {
        Ok(_) => json!({ "ok": true, "bytes": null, "error": null }),
        Err(e) => json!({ "ok": false, "bytes": null, "error": e.to_string() }),
    }
}

/// What ambient authority the sandbox leaks: how many environment variables and arguments the
/// plugin sees, the wall clock, and a value derived from the random seed of std's hash maps
/// (which comes from WASI randomness). A tight sandbox shows 0, 0, a fixed time, and the same
/// `random` on every run.
pub fn ambient() -> Value {
    let now_unix = SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs_f64());
    let random = RandomState::new().hash_one(0x5eed_u64);
    json!({
        "env": std::env::vars_os().count(),
        "args": std::env::args_os().count(),
        "now_unix": now_unix,
        "random": format!("{random:016x}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse() {
        assert!(params("").unwrap().is_empty());
        assert!(params("null").unwrap().is_empty());
        let p = params(r#"{"path":"/x","mb":3}"#).unwrap();
        assert_eq!(str_param(&p, "path", "/etc/passwd"), Ok("/x"));
        assert_eq!(str_param(&p, "addr", "127.0.0.1:80"), Ok("127.0.0.1:80"));
        assert!(str_param(&p, "mb", "").unwrap_err().contains("`mb`"));
        assert!(params("[]").is_err());
        assert!(params("{").is_err());
    }

    #[test]
    fn huge_makes_mebibytes() {
        assert_eq!(huge(2).unwrap().len(), 2 * MIB);
        assert!(huge(0).unwrap().is_empty());
        assert!(huge(u64::MAX).is_err());
    }

    #[test]
    fn open_file_reports_both_ways() {
        let path = std::env::temp_dir().join(format!("hostile-test-{}", std::process::id()));
        std::fs::write(&path, b"12345").unwrap();
        let found = open_file(path.to_str().unwrap());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(found, json!({ "ok": true, "bytes": 5, "error": null }));
        let missing = open_file("/definitely/not/here");
        assert_eq!(missing["ok"], false);
        assert!(missing["bytes"].is_null());
        assert!(missing["error"].is_string());
    }

    #[test]
    fn connect_reports_failure() {
        let refused = connect("not an address");
        assert_eq!(refused["ok"], false);
        assert!(refused["error"].is_string());
    }

    #[test]
    fn ambient_has_its_fields() {
        let a = ambient();
        assert!(a["env"].is_u64() && a["args"].as_u64() >= Some(1));
        assert!(a["now_unix"].as_f64() > Some(1.6e9));
        assert_eq!(a["random"].as_str().map(str::len), Some(16));
    }

    #[test]
    fn recurse_stops_only_at_its_unreachable_bound() {
        // Running it for real would overflow this test's stack; the host's tests run it in
        // the sandbox. Here: the opaque bound is the only way out.
        let f: fn(u64) -> u64 = recurse;
        assert_eq!(f(u64::MAX), 0);
    }
}
