//! `timeline.export` run through the engine: loaded from a workflow file, executed by the
//! core's executor, its files read back.

use std::path::Path;
use std::sync::Arc;

use reelflow_core::{
    Diagnostics, Executor, FileKind, NoExpressions, Plan, Registry, RunReport, RunRequest, RunStatus, SourceFile,
    Value, load_workflow,
};
use reelflow_timeline::{Clip, MediaRef, Rational, RationalTime, Timeline, Track, TrackItem, TransitionKind};

fn registry() -> Registry {
    let mut reg = Registry::with_builtins();
    reelflow_timeline::register(&mut reg).expect("`timeline.export` is not registered yet");
    reg
}

fn load(yaml: &str) -> Result<Plan, Diagnostics> {
    load_workflow(SourceFile::new("t.yaml", yaml), &registry(), &NoExpressions)
}

fn timeline() -> Timeline {
    let s = RationalTime::from_seconds;
    let media = MediaRef::new("/media/访谈 one.mov", s(60), true, true);
    let mut tl = Timeline::new("op test", Rational::FPS_25, 1920, 1080);
    tl.tracks.push(Track::video(vec![
        TrackItem::clip(Clip::new("a", media.clone(), s(1), s(4))),
        TrackItem::transition(TransitionKind::CrossDissolve, s(1)),
        TrackItem::clip(Clip::new("b", media.clone(), s(10), s(12))),
    ]));
    tl.tracks.push(Track::audio(vec![TrackItem::clip(Clip::new("a", media, s(1), s(6)))]));
    tl
}

/// Runs `yaml` with the workflow input `tl` bound to `value`, in `workspace`.
async fn run(yaml: &str, value: Option<Value>, workspace: &Path) -> RunReport {
    let plan = load(yaml).unwrap_or_else(|d| panic!("invalid workflow: {:?}", d.items));
    let given = value.map(|v| ("tl".to_owned(), v)).into_iter().collect();
    let mut req = RunRequest::new("t", workspace);
    req.inputs = plan.bind_inputs(given, Path::new(".")).expect("inputs bind");
    Executor::new(Default::default(), None).run(Arc::new(plan), req).await
}

fn file_text(report: &RunReport, output: &str) -> (String, String) {
    let Value::File(file) = &report.outputs[output] else { panic!("{output} is not a file: {:?}", report.outputs) };
    assert_eq!(file.kind, FileKind::Text);
    let name = file.path.file_name().expect("a file name").to_string_lossy().into_owned();
    (name, std::fs::read_to_string(&file.path).expect("the file was written"))
}

const ALL_FORMATS: &str = r#"
reelflow: 1
inputs:
  tl: {type: timeline}
nodes:
  fcp:
    op: timeline.export
    inputs: {timeline: inputs.tl}
    params: {format: fcpxml, version: "1.10", name: cut.fcpxml}
  fcp11:
    op: timeline.export
    inputs: {timeline: inputs.tl}
    params: {format: fcpxml}
  otio:
    op: timeline.export
    inputs: {timeline: inputs.tl}
    params: {format: otio}
  edl:
    op: timeline.export
    inputs: {timeline: inputs.tl}
    params: {format: edl, name: "cut 1.edl"}
outputs:
  fcp: fcp.file
  fcp11: fcp11.file
  otio: otio.file
  edl: edl.file
"#;

#[tokio::test]
async fn exports_every_format_from_a_workflow_input() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let value = Value::from_json(&serde_json::to_value(timeline()).expect("serializes"));
    let report = run(ALL_FORMATS, Some(value), dir.path()).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);

    let (name, fcp) = file_text(&report, "fcp");
    assert_eq!(name, "cut.fcpxml");
    assert!(fcp.contains(r#"<fcpxml version="1.10">"#), "{fcp}");
    assert!(fcp.contains("file:///media/%E8%AE%BF%E8%B0%88%20one.mov"), "{fcp}");
    let (name, fcp11) = file_text(&report, "fcp11");
    assert_eq!(name, "timeline.fcpxml");
    assert!(fcp11.contains(r#"<fcpxml version="1.11">"#));
    let (name, otio) = file_text(&report, "otio");
    assert_eq!(name, "timeline.otio");
    let doc: serde_json::Value = serde_json::from_str(&otio).expect("OTIO is JSON");
    assert_eq!(doc["OTIO_SCHEMA"], "Timeline.1");
    let (name, edl) = file_text(&report, "edl");
    assert_eq!(name, "cut 1.edl");
    assert!(edl.starts_with("TITLE: op test\nFCM: NON-DROP FRAME\n"), "{edl}");
    assert!(edl.contains("003  _one     V     D    025 00:00:09:13"), "{edl}");
}

#[tokio::test]
async fn a_const_node_can_feed_a_literal_timeline() {
    let json = serde_json::to_string(&timeline()).expect("serializes");
    let yaml = format!(
        r#"
reelflow: 1
nodes:
  tl: {{op: const, params: {{type: timeline, value: {json}}}}}
  out:
    op: timeline.export
    inputs: {{timeline: tl.value}}
    params: {{format: edl, drop_frame: false}}
outputs:
  file: out.file
"#
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let report = run(&yaml, None, dir.path()).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    let (_, edl) = file_text(&report, "file");
    assert!(edl.contains("* FROM CLIP NAME: a"), "{edl}");
}

const ONE: &str = r#"
reelflow: 1
inputs:
  tl: {type: timeline}
nodes:
  out:
    op: timeline.export
    inputs: {timeline: inputs.tl}
    params: PARAMS
outputs:
  file: out.file
"#;

fn error_of(report: &RunReport) -> String {
    assert_eq!(report.status, RunStatus::Failed, "{:?}", report.nodes);
    report.nodes["out"].error.as_ref().map(|chain| chain.join(": ")).unwrap_or_default()
}

#[tokio::test]
async fn bad_timelines_and_params_fail_the_node() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let good = || Value::from_json(&serde_json::to_value(timeline()).expect("serializes"));

    let mut broken = timeline();
    broken.tracks[0].items.remove(0);
    let value = Value::from_json(&serde_json::to_value(&broken).expect("serializes"));
    let err = error_of(&run(&ONE.replace("PARAMS", "{format: otio}"), Some(value), dir.path()).await);
    assert!(err.contains("between two clips"), "{err}");

    let value = Value::from_json(&serde_json::json!({"name": "x"}));
    let err = error_of(&run(&ONE.replace("PARAMS", "{format: edl}"), Some(value), dir.path()).await);
    assert!(err.contains("not a timeline"), "{err}");

    let err =
        error_of(&run(&ONE.replace("PARAMS", "{format: otio, version: \"1.10\"}"), Some(good()), dir.path()).await);
    assert!(err.contains("fcpxml format only"), "{err}");

    let err = error_of(&run(&ONE.replace("PARAMS", "{format: edl, drop_frame: true}"), Some(good()), dir.path()).await);
    assert!(err.contains("drop-frame"), "{err}");

    let err = error_of(&run(&ONE.replace("PARAMS", "{format: edl, name: ../x.edl}"), Some(good()), dir.path()).await);
    assert!(err.contains("not a plain file name"), "{err}");

    // Unknown params and formats are caught when the workflow loads.
    for params in ["{format: edl, speed: 2}", "{format: aaf}", "{format: fcpxml, version: \"1.9\"}"] {
        assert!(load(&ONE.replace("PARAMS", params)).is_err(), "{params} loaded");
    }
}

#[test]
fn the_op_is_registered_with_its_type() {
    let reg = registry();
    assert!(reg.is_type("timeline"));
    let spec = reg.get("timeline.export").expect("registered").spec().clone();
    assert_eq!(spec.inputs[0].ty.to_string(), "timeline");
    assert_eq!(spec.outputs[0].ty.to_string(), "text");
    assert!(spec.params.to_string().contains("fcpxml"), "{}", spec.params);
    let mut again = registry();
    assert!(reelflow_timeline::register(&mut again).is_err(), "a second registration must fail");
}
