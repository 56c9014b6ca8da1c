//! The assembled runtime: loading files, finding named workflows, config.

use reelflow_runtime::{Config, Error, Runtime};

fn runtime(dir: &std::path::Path) -> Runtime {
    let config = Config { data_dir: dir.join("data"), workflows_dir: dir.join("workflows"), ..Config::default() };
    Runtime::new(config).expect("runtime starts")
}

#[test]
fn named_workflows_stay_inside_the_workflows_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("workflows/clips")).unwrap();
    std::fs::write(dir.path().join("workflows/clips/cut.yaml"), "reelflow: 1\nnodes: {}\n").unwrap();
    std::fs::write(dir.path().join("secret.yaml"), "reelflow: 1\nnodes: {}\n").unwrap();
    let rt = runtime(dir.path());
    assert!(rt.find_workflow("clips/cut").unwrap().ends_with("workflows/clips/cut.yaml"));
    for bad in ["../secret", "clips/../../secret", "/etc/passwd", "", "clips//cut", "nope"] {
        assert!(matches!(rt.find_workflow(bad), Err(Error::UnknownWorkflow { .. })), "{bad}");
    }
}

#[test]
fn huge_and_unreadable_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let huge = dir.path().join("huge.yaml");
    let mut text = String::from("reelflow: 1\nnodes: {}\n#");
    text.push_str(&"x".repeat(reelflow_core::MAX_SOURCE_BYTES));
    std::fs::write(&huge, text).unwrap();
    assert!(matches!(rt.load_file(&huge), Err(Error::TooLarge { .. })));

    let binary = dir.path().join("binary.yaml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x81]).unwrap();
    let err = rt.load_file(&binary).err().expect("not UTF-8");
    assert!(err.to_string().contains("binary.yaml"), "{err}");
    assert!(matches!(rt.load_file(&dir.path().join("missing.yaml")), Err(Error::Read { .. })));
}

#[test]
fn invalid_workflows_come_back_as_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "reelflow: 1\nnodes:\n  a: {op: nope}\n").unwrap();
    match rt.load_file(&path) {
        Err(Error::Invalid(d)) => assert_eq!(d.items[0].code, "unknown-op"),
        other => panic!("expected diagnostics, got {:?}", other.err()),
    }
}

#[test]
fn the_registry_has_every_crates_ops() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let reg = rt.registry();
    for op in [
        "text.template",
        "script",
        "media.cut",
        "subtitles.parse",
        "timeline.export",
        "llm.chat",
        "llm.json",
        "remix.prompt",
        "remix.assemble",
    ] {
        assert!(reg.get(op).is_some(), "{op} is registered");
    }
}

#[test]
fn run_ids_are_unique() {
    let ids: std::collections::HashSet<String> = (0..1000).map(|_| reelflow_runtime::new_run_id()).collect();
    assert_eq!(ids.len(), 1000);
}
