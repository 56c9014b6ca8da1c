//! The built `reelflow` binary answers the commands that need no data directory. (Having an
//! integration test also makes `cargo test` build the plain binary, which the end-to-end tests
//! in `tests/` run.)

use std::process::Command;

fn reelflow(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reelflow")).args(args).output().expect("running reelflow")
}

#[test]
fn version_is_the_package_version() {
    let out = reelflow(&["--version"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("reelflow {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn schema_is_a_json_schema_of_the_workflow_format() {
    let out = reelflow(&["schema"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(schema["$schema"].as_str().is_some_and(|s| s.contains("json-schema.org")), "{schema}");
    assert!(schema["properties"]["nodes"].is_object(), "{schema}");
}

#[test]
fn an_unknown_command_is_a_usage_error() {
    let out = reelflow(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-command"));
}
