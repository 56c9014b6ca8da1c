//! `docs/workflow.schema.json` is generated from the Rust types and must stay current.
//! Regenerate with `REELFLOW_BLESS=1 cargo test -p reelflow-core --test schema`.

use std::path::PathBuf;

#[test]
fn the_checked_in_json_schema_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/workflow.schema.json");
    let generated = serde_json::to_string_pretty(&reelflow_core::workflow_json_schema()).unwrap() + "\n";
    if std::env::var_os("REELFLOW_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is out of date; run `REELFLOW_BLESS=1 cargo test -p reelflow-core --test schema`",
        path.display()
    );
}

#[test]
fn the_schema_describes_the_format() {
    let schema = reelflow_core::workflow_json_schema();
    let required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(required, ["reelflow", "nodes"]);
    let node = &schema["$defs"]["NodeDecl"];
    assert!(node["properties"]["when"].is_object());
    assert!(node["properties"]["retry"].is_object());
    assert_eq!(node["additionalProperties"], false);
}
