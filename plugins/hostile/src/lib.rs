//! `hostile`: a Reelflow `node` plugin that misbehaves on purpose, to prove the host's sandbox.
//! Every op is one attack or probe: an endless loop, unbounded memory, unbounded recursion, a
//! panic, an oversized output, attempts to read files, open sockets and read ambient state,
//! an asset read that needs a grant, and a long loop that should honour cancellation. `echo`
//! is the one well-behaved op, used to measure the per-call overhead.
//!
//! The host-free ops live in [`ops`]; the component glue (op table, ports, host calls) only
//! exists when building for wasm.

pub mod ops;

#[cfg(target_arch = "wasm32")]
mod component {
    use serde_json::{Value as Json, json};

    use crate::ops;

    wit_bindgen::generate!({ path: "../../wit", world: "node" });

    use reelflow::plugin::host::{self, LogLevel};
    use reelflow::plugin::types::{PortSpec, PortType, Value};

    /// Default iterations of the `progress` op's cancellation loop (a host call each): a
    /// fraction of a second, so the op finishes; tests ask for more to cancel it midway.
    const PROGRESS_ITERATIONS: u64 = 100_000;

    /// The exported component.
    struct Hostile;

    /// A port of the given name and type.
    fn port(name: &str, ty: PortType, description: &str) -> PortSpec {
        PortSpec { name: name.to_string(), type_: ty, optional: false, description: description.to_string() }
    }

    /// The `text` output most ops declare (and many never produce).
    fn text_out() -> Vec<PortSpec> {
        vec![port("text", PortType::Text, "Text result (never produced by the ops that do not return).")]
    }

    /// The `result` JSON output of the probes.
    fn result_out() -> Vec<PortSpec> {
        vec![port("result", PortType::Json, "What the probe found, as JSON.")]
    }

    /// An op with version 1.
    fn op(name: &str, description: &str, inputs: Vec<PortSpec>, outputs: Vec<PortSpec>, schema: &str) -> OpSpec {
        OpSpec {
            name: name.to_string(),
            version: 1,
            description: description.to_string(),
            inputs,
            outputs,
            params_schema: schema.to_string(),
        }
    }

    /// A single named output.
    fn output(name: &str, value: Value) -> Vec<NamedValue> {
        vec![NamedValue { name: name.to_string(), value }]
    }

    /// A single `result` JSON output.
    fn result(value: &Json) -> Vec<NamedValue> {
        output("result", Value::Json(value.to_string()))
    }

    impl Guest for Hostile {
        fn describe() -> Vec<OpSpec> {
            vec![
                op(
                    "echo",
                    "Returns its text input unchanged (measures per-call overhead).",
                    vec![port("text", PortType::Text, "Any text.")],
                    text_out(),
                    "{}",
                ),
                op("spin", "Loops forever without calling the host.", vec![], text_out(), "{}"),
                op(
                    "balloon",
                    "Allocates and writes 1 MiB chunks until memory runs out (then aborts).",
                    vec![],
                    text_out(),
                    "{}",
                ),
                op("recurse", "Recurses without bound until the stack overflows.", vec![], text_out(), "{}"),
                op("trap", "Panics, which traps the instance.", vec![], text_out(), "{}"),
                op(
                    "huge",
                    "Returns a text output of `mb` MiB.",
                    vec![],
                    text_out(),
                    r#"{"type":"object","properties":{"mb":{"type":"integer","minimum":0,"default":1024}},"additionalProperties":false}"#,
                ),
                op(
                    "open_file",
                    "Tries to read a file through WASI.",
                    vec![],
                    result_out(),
                    r#"{"type":"object","properties":{"path":{"type":"string","default":"/etc/passwd"}},"additionalProperties":false}"#,
                ),
                op(
                    "connect",
                    "Tries to open a TCP connection through WASI.",
                    vec![],
                    result_out(),
                    r#"{"type":"object","properties":{"addr":{"type":"string","default":"127.0.0.1:80"}},"additionalProperties":false}"#,
                ),
                op(
                    "ambient",
                    "Reports the environment, arguments, clock and randomness the sandbox exposes.",
                    vec![],
                    result_out(),
                    "{}",
                ),
                op(
                    "asset",
                    "Reads a granted asset through the host.",
                    vec![],
                    result_out(),
                    r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}"#,
                ),
                op(
                    "progress",
                    "Logs, reports progress, then loops `iterations` times checking for cancellation.",
                    vec![],
                    text_out(),
                    r#"{"type":"object","properties":{"iterations":{"type":"integer","minimum":0,"default":100000}},"additionalProperties":false}"#,
                ),
            ]
        }

        fn run(op: String, inputs: Vec<NamedValue>, params: String) -> Result<Vec<NamedValue>, String> {
            let params = ops::params(&params)?;
            match op.as_str() {
                "echo" => {
                    let text = inputs
                        .into_iter()
                        .find(|input| input.name == "text")
                        .ok_or("hostile: echo needs its `text` input")?;
                    match text.value {
                        Value::Text(text) => Ok(output("text", Value::Text(text))),
                        _ => Err("hostile: echo's `text` input must be text".to_string()),
                    }
                }
                "spin" => ops::spin(),
                "balloon" => ops::balloon(),
                "recurse" => Ok(output("text", Value::Text(ops::recurse(0).to_string()))),
                "trap" => panic!("the hostile plugin panicked on purpose"),
                "huge" => {
                    let mb = match params.get("mb") {
                        None => 1024,
                        Some(value) => value
                            .as_u64()
                            .ok_or_else(|| format!("hostile: `mb` must be a non-negative integer, got {value}"))?,
                    };
                    Ok(output("text", Value::Text(ops::huge(mb)?)))
                }
                "open_file" => Ok(result(&ops::open_file(ops::str_param(&params, "path", "/etc/passwd")?))),
                "connect" => Ok(result(&ops::connect(ops::str_param(&params, "addr", "127.0.0.1:80")?))),
                "ambient" => Ok(result(&ops::ambient())),
                "asset" => {
                    let name = match params.get("name") {
                        Some(Json::String(name)) => name,
                        _ => return Err("hostile: asset needs a string param `name`".to_string()),
                    };
                    Ok(result(&match host::read_asset(name) {
                        Ok(data) => json!({ "ok": true, "bytes": data.len(), "error": null }),
                        Err(e) => json!({ "ok": false, "bytes": null, "error": format!("{e:?}") }),
                    }))
                }
                "progress" => {
                    host::log(LogLevel::Info, "hello from hostile");
                    host::progress(0.5, "half way");
                    let iterations = match params.get("iterations") {
                        None => PROGRESS_ITERATIONS,
                        Some(value) => value.as_u64().ok_or_else(|| {
                            format!("hostile: `iterations` must be a non-negative integer, got {value}")
                        })?,
                    };
                    for _ in 0..iterations {
                        if host::is_cancelled() {
                            return Err("cancelled".to_string());
                        }
                    }
                    Ok(output("text", Value::Text("done".to_string())))
                }
                _ => Err(format!(
                    "unknown op `{op}` (hostile has: echo, spin, balloon, recurse, trap, huge, open_file, connect, ambient, asset, progress)"
                )),
            }
        }
    }

    export!(Hostile);
}
