//! The executor: concurrency, resource limits, cancellation, timeouts, retries, partial
//! failure, fan-out, panics and the on-disk cache.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use indexmap::IndexMap;
use reelflow_core::{
    Cache, CollectSink, Event, EventKind, Executor, NoExpressions, Node, NodeCtx, NodeError, NodeInputs, NodeSpec,
    NodeState, Outputs, Registry, ResourceLimits, RunReport, RunRequest, RunStatus, SourceFile, Value, ValueType,
    load_workflow,
};
use tokio_util::sync::CancellationToken;

/// Counts how often it runs; outputs `value` = its `value` input plus its `add` param.
struct Counter {
    spec: NodeSpec,
    runs: Arc<AtomicUsize>,
}

#[async_trait]
impl Node for Counter {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, _ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let base = inputs.get("value").and_then(Value::as_i64).unwrap_or(0);
        let add = inputs.params.get("add").and_then(|a| a.as_i64()).unwrap_or(0);
        Ok(Outputs::from([("value".to_owned(), Value::Int(base + add))]))
    }
}

/// Sleeps as many milliseconds as its `value` input says.
struct SleepFor(NodeSpec);

#[async_trait]
impl Node for SleepFor {
    fn spec(&self) -> &NodeSpec {
        &self.0
    }

    async fn run(&self, _ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let ms = inputs.require("value")?.as_i64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
        Ok(Outputs::from([("value".to_owned(), Value::Int(ms))]))
    }
}

struct Panics(NodeSpec);

#[async_trait]
impl Node for Panics {
    fn spec(&self) -> &NodeSpec {
        &self.0
    }

    async fn run(&self, _ctx: &NodeCtx, _inputs: NodeInputs) -> Result<Outputs, NodeError> {
        panic!("operator bug")
    }
}

struct LiesAboutTypes(NodeSpec);

#[async_trait]
impl Node for LiesAboutTypes {
    fn spec(&self) -> &NodeSpec {
        &self.0
    }

    async fn run(&self, _ctx: &NodeCtx, _inputs: NodeInputs) -> Result<Outputs, NodeError> {
        Ok(Outputs::from([("n".to_owned(), Value::from("not a number"))]))
    }
}

fn registry(runs: &Arc<AtomicUsize>) -> Registry {
    let mut reg = Registry::with_builtins();
    reg.register(Arc::new(Counter {
        spec: NodeSpec::new("test.count", 1, "counts")
            .optional_input("value", ValueType::Int, "")
            .output("value", ValueType::Int, "")
            .params::<serde_json::Value>(),
        runs: runs.clone(),
    }))
    .unwrap();
    reg.register(Arc::new(SleepFor(
        NodeSpec::new("test.sleep_for", 1, "sleeps").input("value", ValueType::Int, "").output(
            "value",
            ValueType::Int,
            "",
        ),
    )))
    .unwrap();
    reg.register(Arc::new(Panics(NodeSpec::new("test.panic", 1, "panics").output("value", ValueType::Any, ""))))
        .unwrap();
    reg.register(Arc::new(LiesAboutTypes(NodeSpec::new("test.liar", 1, "lies").output("n", ValueType::Int, ""))))
        .unwrap();
    reg
}

struct Harness {
    reg: Registry,
    runs: Arc<AtomicUsize>,
    dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let runs = Arc::new(AtomicUsize::new(0));
        Harness { reg: registry(&runs), runs, dir: tempfile::tempdir().unwrap() }
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    fn executor(&self, limits: ResourceLimits, cache: bool) -> Executor {
        let cache = cache.then(|| Arc::new(Cache::open(self.dir.path().join("cache"), 1 << 30).unwrap()));
        Executor::new(limits, cache)
    }

    async fn run_with(
        &self,
        exec: &Executor,
        yaml: &str,
        tweak: impl FnOnce(&mut RunRequest),
    ) -> (RunReport, Vec<Event>) {
        let plan = load_workflow(SourceFile::new("t.yaml", yaml), &self.reg, &NoExpressions)
            .unwrap_or_else(|d| panic!("{}", d.render(false)));
        let sink = Arc::new(CollectSink::default());
        let mut req = RunRequest::new("run-1", self.dir.path().join("work"));
        req.inputs = plan.bind_inputs(IndexMap::new(), Path::new(".")).unwrap();
        req.events = sink.clone();
        tweak(&mut req);
        let report =
            tokio::time::timeout(Duration::from_secs(60), exec.run(Arc::new(plan), req)).await.expect("the run ends");
        (report, sink.events())
    }

    async fn run(&self, yaml: &str) -> (RunReport, Vec<Event>) {
        let exec = self.executor(ResourceLimits::default(), false);
        self.run_with(&exec, yaml, |_| {}).await
    }
}

/// (start, end) milliseconds of a node, from its events.
fn interval(events: &[Event], node: &str) -> (u64, u64) {
    let start = events.iter().find(|e| matches!(&e.kind, EventKind::NodeStarted { node: n, .. } if n == node));
    let end = events.iter().find(|e| matches!(&e.kind, EventKind::NodeFinished { node: n, .. } if n == node));
    (start.expect("started").at_ms, end.expect("finished").at_ms)
}

fn seq_of(events: &[Event], node: &str, finished: bool) -> u64 {
    events
        .iter()
        .find(|e| match &e.kind {
            EventKind::NodeFinished { node: n, .. } => finished && n == node,
            EventKind::NodeStarted { node: n, .. } => !finished && n == node,
            _ => false,
        })
        .map(|e| e.seq)
        .expect("event present")
}

const TWO_SLEEPERS: &str =
    "reelflow: 1\nnodes:\n  a: {op: debug.sleep, params: {ms: 300}}\n  b: {op: debug.sleep, params: {ms: 300}}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_nodes_run_concurrently() {
    let h = Harness::new();
    let (report, events) = h.run(TWO_SLEEPERS).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let (a0, a1) = interval(&events, "a");
    let (b0, b1) = interval(&events, "b");
    assert!(a0 < b1 && b0 < a1, "intervals overlap: a={a0}..{a1} b={b0}..{b1}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_limits_serialise_a_class() {
    let h = Harness::new();
    let exec = h.executor(ResourceLimits { io: 1, ..Default::default() }, false);
    let (report, events) = h.run_with(&exec, TWO_SLEEPERS, |_| {}).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let (a0, a1) = interval(&events, "a");
    let (b0, b1) = interval(&events, "b");
    assert!(a1 <= b0 || b1 <= a0, "intervals must not overlap: a={a0}..{a1} b={b0}..{b1}");
}

#[test]
fn cpu_work_does_not_block_the_scheduler_threads() {
    // One async worker thread: if `debug.busy` ran on it, the short sleep could not finish
    // before the busy node did.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let h = Harness::new();
        let yaml = "reelflow: 1\nnodes:\n  busy: {op: debug.busy, params: {ms: 1500}}\n  quick: {op: debug.sleep, params: {ms: 20}}\n";
        let (report, events) = h.run(yaml).await;
        assert_eq!(report.status, RunStatus::Succeeded);
        assert!(seq_of(&events, "quick", true) < seq_of(&events, "busy", true));
    });
}

#[tokio::test]
async fn cancellation_stops_a_sleeping_node() {
    let h = Harness::new();
    let exec = h.executor(ResourceLimits::default(), false);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let yaml = "reelflow: 1\nnodes:\n  long: {op: debug.sleep, params: {ms: 3600000}}\n  after:\n    op: debug.noop\n    inputs: {value: long.value}\n";
    let (report, _) = h.run_with(&exec, yaml, |r| r.cancel = cancel).await;
    assert_eq!(report.status, RunStatus::Cancelled);
    assert_eq!(report.nodes["long"].state, NodeState::Cancelled);
    assert_eq!(report.nodes["after"].state, NodeState::Cancelled);
}

#[tokio::test]
async fn timeouts_fail_the_node_and_stop_blocking_work() {
    let h = Harness::new();
    let yaml = "reelflow: 1\nnodes:\n  slow:\n    op: debug.busy\n    params: {ms: 3600000}\n    timeout: 100ms\n";
    let (report, _) = h.run(yaml).await;
    assert_eq!(report.status, RunStatus::Failed);
    let node = &report.nodes["slow"];
    assert_eq!(node.state, NodeState::Failed);
    assert!(node.error.as_ref().unwrap()[0].contains("timed out after 100ms"), "{node:?}");
}

#[tokio::test]
async fn retries_back_off_and_count_attempts() {
    let h = Harness::new();
    let yaml = "reelflow: 1\nnodes:\n  flaky:\n    op: debug.fail\n    params: {times: 2}\n    retry: {attempts: 3, backoff: 10ms}\n  hopeless:\n    op: debug.fail\n    retry: {attempts: 2, backoff: 10ms, jitter: false}\n";
    let (report, events) = h.run(yaml).await;
    assert_eq!(report.nodes["flaky"].state, NodeState::Succeeded);
    assert_eq!(report.nodes["flaky"].attempts, 3);
    assert_eq!(report.nodes["hopeless"].state, NodeState::Failed);
    assert_eq!(report.nodes["hopeless"].attempts, 2);
    let retried = |node: &str| {
        events
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::NodeFailed { node: n, will_retry: true, .. } if n == node))
            .count()
    };
    assert_eq!(retried("flaky"), 2);
    assert_eq!(retried("hopeless"), 1);
    let chain = report.nodes["hopeless"].error.as_ref().unwrap();
    assert!(chain[0].contains("failed on purpose (attempt 2)"), "{chain:?}");
}

const PARTIAL: &str = "reelflow: 1\nnodes:\n  bad: {op: debug.fail}\n  needs_bad:\n    op: debug.noop\n    inputs: {value: bad.value}\n  fine: {op: debug.sleep, params: {ms: 200}}\noutputs:\n  x: fine.value\n";

#[tokio::test]
async fn a_failure_fails_only_its_dependents() {
    let h = Harness::new();
    let (report, _) = h.run(PARTIAL).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.nodes["bad"].state, NodeState::Failed);
    assert_eq!(report.nodes["needs_bad"].state, NodeState::Skipped);
    assert_eq!(report.nodes["fine"].state, NodeState::Succeeded);
    assert!(report.outputs.contains_key("x"));
}

#[tokio::test]
async fn fail_fast_cancels_the_rest() {
    let h = Harness::new();
    let exec = h.executor(ResourceLimits::default(), false);
    let (report, _) = h.run_with(&exec, PARTIAL, |r| r.fail_fast = true).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.nodes["fine"].state, NodeState::Cancelled);
}

#[tokio::test]
async fn a_panicking_op_fails_its_node_only() {
    let h = Harness::new();
    let yaml = "reelflow: 1\nnodes:\n  boom: {op: test.panic}\n  ok: {op: debug.noop}\n  liar: {op: test.liar}\n";
    let (report, _) = h.run(yaml).await;
    assert_eq!(report.nodes["boom"].state, NodeState::Failed);
    assert!(report.nodes["boom"].error.as_ref().unwrap()[0].contains("operator bug"));
    assert_eq!(report.nodes["ok"].state, NodeState::Succeeded);
    let liar = report.nodes["liar"].error.as_ref().unwrap();
    assert!(liar[0].contains("declared int"), "{liar:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_fans_out_with_bounded_parallelism_and_keeps_order() {
    let h = Harness::new();
    let yaml = r#"
reelflow: 1
nodes:
  items: {op: list.range, params: {end: 6}}
  label: {op: const, params: {value: "n="}}
  each:
    op: map
    inputs: {items: items.items, prefix: label.value}
    params: {parallel: 2}
    body:
      nodes:
        wait: {op: debug.sleep, params: {ms: 50}, inputs: {value: inputs.item}}
        text:
          op: text.template
          inputs: {p: inputs.prefix, n: wait.value, i: inputs.index}
          params: {template: "{{p}}{{n}}@{{i}}"}
      outputs: {text: text.text}
outputs:
  texts: each.text
"#;
    let (report, events) = h.run(yaml).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    let texts: Vec<&str> = report.outputs["texts"].as_list().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(texts, ["n=0@0", "n=1@1", "n=2@2", "n=3@3", "n=4@4", "n=5@5"]);
    // Never more than 2 items in flight.
    let mut running = 0i32;
    let mut peak = 0;
    for e in &events {
        match &e.kind {
            EventKind::NodeStarted { node, .. } if node.ends_with(".wait") => running += 1,
            EventKind::NodeFinished { node, .. } if node.ends_with(".wait") => running -= 1,
            _ => {}
        }
        peak = peak.max(running);
    }
    assert_eq!(peak, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_map_item_does_not_hold_back_later_items() {
    let h = Harness::new();
    let yaml = "reelflow: 1\nnodes:\n  ms: {op: const, params: {value: [600, 1, 1, 1, 1]}}\n  each:\n    op: map\n    inputs: {items: ms.value}\n    params: {parallel: 2}\n    body:\n      nodes:\n        s: {op: test.sleep_for, inputs: {value: inputs.item}}\n      outputs: {ms: s.value}\noutputs: {ms: each.ms}\n";
    let (report, events) = h.run(yaml).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert!(seq_of(&events, "each[4].s", true) < seq_of(&events, "each[0].s", true));
    let ms: Vec<i64> = report.outputs["ms"].as_list().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(ms, [600, 1, 1, 1, 1], "results stay in item order");
}

#[tokio::test]
async fn a_failing_map_item_fails_the_map() {
    let h = Harness::new();
    let yaml = "reelflow: 1\nnodes:\n  items: {op: list.range, params: {end: 3}}\n  each:\n    op: map\n    inputs: {items: items.items}\n    body:\n      nodes:\n        f: {op: debug.fail, inputs: {value: inputs.item}}\n      outputs: {v: f.value}\n";
    let (report, _) = h.run(yaml).await;
    assert_eq!(report.nodes["each"].state, NodeState::Failed);
    assert!(report.nodes["each"].error.as_ref().unwrap()[0].contains("item 0"));
}

const COUNTED: &str = "reelflow: 1\nnodes:\n  a: {op: test.count, params: {add: 1}}\n  b:\n    op: test.count\n    inputs: {value: a.value}\n    params: {add: ADD}\n  c:\n    op: test.count\n    inputs: {value: a.value}\n    params: {add: 100}\noutputs:\n  b: b.value\n";

#[tokio::test]
async fn the_cache_skips_unchanged_nodes_across_executors() {
    let h = Harness::new();
    let yaml = COUNTED.replace("ADD", "10");
    // Two executors on the same cache directory stand for two processes.
    let first = h.executor(ResourceLimits::default(), true);
    let (report, _) = h.run_with(&first, &yaml, |_| {}).await;
    assert_eq!(report.outputs["b"], Value::Int(11));
    assert_eq!(h.runs(), 3);
    drop(first);

    let second = h.executor(ResourceLimits::default(), true);
    let (report, events) = h.run_with(&second, &yaml, |_| {}).await;
    assert_eq!(h.runs(), 3, "nothing re-runs");
    assert_eq!(report.outputs["b"], Value::Int(11));
    assert!(report.nodes.values().all(|n| n.state == NodeState::Cached));
    assert_eq!(events.iter().filter(|e| matches!(e.kind, EventKind::NodeCached { .. })).count(), 3);

    // One changed param re-runs only that node.
    let changed = COUNTED.replace("ADD", "20");
    let (report, _) = h.run_with(&second, &changed, |_| {}).await;
    assert_eq!(h.runs(), 4);
    assert_eq!(report.outputs["b"], Value::Int(21));
    assert_eq!(report.nodes["b"].state, NodeState::Succeeded);
    assert_eq!(report.nodes["c"].state, NodeState::Cached);

    // Without the cache everything runs.
    h.run_with(&second, &changed, |r| r.use_cache = false).await;
    assert_eq!(h.runs(), 7);
}

#[tokio::test]
async fn a_rerun_after_failure_resumes_at_the_failed_node() {
    let h = Harness::new();
    let exec = h.executor(ResourceLimits::default(), true);
    let failing =
        "reelflow: 1\nnodes:\n  a: {op: test.count}\n  b:\n    op: debug.fail\n    inputs: {value: a.value}\n";
    let (report, _) = h.run_with(&exec, failing, |_| {}).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(h.runs(), 1);
    let fixed = "reelflow: 1\nnodes:\n  a: {op: test.count}\n  b:\n    op: debug.noop\n    inputs: {value: a.value}\n";
    let (report, _) = h.run_with(&exec, fixed, |_| {}).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(report.nodes["a"].state, NodeState::Cached);
    assert_eq!(h.runs(), 1);
}

#[tokio::test]
async fn nondeterministic_ops_are_never_cached() {
    let h = Harness::new();
    let exec = h.executor(ResourceLimits::default(), true);
    let yaml = "reelflow: 1\nnodes:\n  r: {op: debug.random}\noutputs: {r: r.value}\n";
    let (one, _) = h.run_with(&exec, yaml, |_| {}).await;
    let (two, _) = h.run_with(&exec, yaml, |_| {}).await;
    assert_eq!(two.nodes["r"].state, NodeState::Succeeded);
    assert_ne!(one.outputs["r"], two.outputs["r"]);
}

#[tokio::test]
async fn cached_files_are_stored_by_content_and_evicted_by_size() {
    let h = Harness::new();
    let exec = h.executor(ResourceLimits::default(), true);
    let yaml = "reelflow: 1\nnodes:\n  t: {op: const, params: {value: hello}}\n  w:\n    op: text.write\n    inputs: {text: t.value}\n  r:\n    op: text.read\n    inputs: {file: w.file}\noutputs: {text: r.text, file: w.file}\n";
    h.run_with(&exec, yaml, |_| {}).await;
    // The workspace is gone; the cached file still serves the next run.
    std::fs::remove_dir_all(h.dir.path().join("work")).unwrap();
    let (report, _) = h.run_with(&exec, yaml, |_| {}).await;
    assert_eq!(report.nodes["w"].state, NodeState::Cached);
    assert_eq!(report.outputs["text"], Value::from("hello"));
    match &report.outputs["file"] {
        Value::File(f) => assert!(f.path.to_string_lossy().ends_with(".txt"), "{f:?}"),
        other => panic!("expected a file, got {other:?}"),
    }

    // A cache capped at one byte keeps nothing after its eviction pass.
    let tiny = Cache::open(h.dir.path().join("cache"), 1).unwrap();
    let stats = tiny.evict().unwrap();
    assert_eq!(stats.entries, 0);
    assert!(stats.evicted_entries >= 2 && stats.removed_blobs >= 1, "{stats:?}");
}

#[tokio::test]
async fn eviction_drops_least_recently_used_entries_first() {
    let h = Harness::new();
    let exec = h.executor(ResourceLimits::default(), true);
    let a = "reelflow: 1\nnodes:\n  a: {op: test.count, params: {add: 1}}\n";
    let b = "reelflow: 1\nnodes:\n  b: {op: test.count, params: {add: 2}}\n";
    h.run_with(&exec, a, |_| {}).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    h.run_with(&exec, b, |_| {}).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (report, _) = h.run_with(&exec, a, |_| {}).await; // a hit makes `a` the most recent
    assert_eq!(report.nodes["a"].state, NodeState::Cached);
    assert_eq!(h.runs(), 2);

    let total = Cache::open(h.dir.path().join("cache"), u64::MAX).unwrap().evict().unwrap().bytes;
    let stats = Cache::open(h.dir.path().join("cache"), total - 1).unwrap().evict().unwrap();
    assert_eq!((stats.evicted_entries, stats.entries), (1, 1));
    let (report, _) = h.run_with(&exec, a, |_| {}).await;
    assert_eq!(report.nodes["a"].state, NodeState::Cached);
    let (report, _) = h.run_with(&exec, b, |_| {}).await;
    assert_eq!(report.nodes["b"].state, NodeState::Succeeded, "b was the least recently used");
}

#[tokio::test]
async fn the_executor_keeps_its_cache_under_the_cap() {
    let h = Harness::new();
    let tiny =
        Executor::new(ResourceLimits::default(), Some(Arc::new(Cache::open(h.dir.path().join("cache"), 1).unwrap())));
    let a = "reelflow: 1\nnodes:\n  a: {op: test.count, params: {add: 1}}\n";
    h.run_with(&tiny, a, |_| {}).await;
    let (report, _) = h.run_with(&tiny, a, |_| {}).await;
    assert_eq!(report.nodes["a"].state, NodeState::Succeeded, "the entry did not survive the cap");
    assert_eq!(h.runs(), 2);
}

#[tokio::test]
async fn literal_conditions_need_no_expression_engine() {
    let h = Harness::new();
    let yaml = "reelflow: 1\nnodes:\n  off: {op: debug.noop, when: false}\n  on: {op: debug.noop, when: true}\n  after:\n    op: debug.noop\n    inputs: {value: off.value}\n";
    let (report, _) = h.run(yaml).await;
    assert_eq!(report.nodes["off"].state, NodeState::Skipped);
    assert_eq!(report.nodes["after"].state, NodeState::Skipped);
    assert_eq!(report.nodes["on"].state, NodeState::Succeeded);
}

#[tokio::test]
async fn outputs_and_events_describe_the_run() {
    let h = Harness::new();
    let yaml = "reelflow: 1\ninputs:\n  who: {type: string, default: you}\nnodes:\n  g:\n    op: text.template\n    inputs: {who: inputs.who}\n    params: {template: \"hi {{who}}\"}\noutputs:\n  text: g.text\n  echo: inputs.who\n";
    let (report, events) = h.run(yaml).await;
    assert_eq!(report.outputs["text"], Value::from("hi you"));
    assert_eq!(report.outputs["echo"], Value::from("you"));
    assert!(matches!(events.first().unwrap().kind, EventKind::RunStarted { nodes: 1, .. }));
    assert!(matches!(events.last().unwrap().kind, EventKind::RunFinished { status: RunStatus::Succeeded, .. }));
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
}

#[tokio::test]
async fn maps_nest() {
    let h = Harness::new();
    let yaml = r#"
reelflow: 1
nodes:
  rows: {op: const, params: {value: [[1, 2], [3], []]}}
  outer:
    op: map
    inputs: {items: rows.value}
    body:
      nodes:
        inner:
          op: map
          inputs: {items: inputs.item, row: inputs.index}
          body:
            nodes:
              cell:
                op: text.template
                inputs: {v: inputs.item, r: inputs.row, c: inputs.index}
                params: {template: "{{r}}.{{c}}={{v}}"}
            outputs: {cell: cell.text}
      outputs: {cells: inner.cell}
outputs: {grid: outer.cells}
"#;
    let (report, _) = h.run(yaml).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    assert_eq!(report.outputs["grid"].to_json(), serde_json::json!([["0.0=1", "0.1=2"], ["1.0=3"], []]));
}
