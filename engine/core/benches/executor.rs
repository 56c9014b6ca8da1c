//! Executor overhead on no-op graphs (see `reelflow bench engine` for the 10,000-node
//! figures). Throughput is reported per node.

use std::path::Path;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use reelflow_core::{Cache, Executor, NoExpressions, Plan, Registry, RunRequest, SourceFile, benchmark, load_workflow};

fn plan(yaml: &str) -> Arc<Plan> {
    let reg = Registry::with_builtins();
    Arc::new(load_workflow(SourceFile::new("bench.yaml", yaml), &reg, &NoExpressions).expect("valid"))
}

fn run(rt: &tokio::runtime::Runtime, exec: &Executor, plan: &Arc<Plan>, dir: &Path) {
    let mut req = RunRequest::new("bench", dir);
    req.inputs = plan.bind_inputs(Default::default(), dir).expect("no inputs");
    let report = rt.block_on(exec.run(plan.clone(), req));
    assert_eq!(report.status, reelflow_core::RunStatus::Succeeded);
}

fn scheduling(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let exec = Executor::new(Default::default(), None);
    let mut group = c.benchmark_group("schedule");
    for (name, yaml, nodes) in [
        ("chain", benchmark::chain(1000), 1000),
        ("fan_out", benchmark::fan_out(1000), 1002),
        ("lattice", benchmark::lattice(30, 30), 900),
        ("spawned_chain", benchmark::spawned_chain(1000), 1000),
    ] {
        let plan = plan(&yaml);
        group.throughput(Throughput::Elements(nodes));
        group.bench_function(BenchmarkId::new(name, nodes), |b| b.iter(|| run(&rt, &exec, &plan, dir.path())));
    }
    group.finish();
}

fn cache_hits(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = Arc::new(Cache::open(dir.path().join("cache"), 1 << 30).expect("cache"));
    let exec = Executor::new(Default::default(), Some(cache));
    let plan = plan(&benchmark::spawned_chain(1000));
    run(&rt, &exec, &plan, dir.path());
    let mut group = c.benchmark_group("cache");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("chain_all_hits/1000", |b| b.iter(|| run(&rt, &exec, &plan, dir.path())));
    group.finish();
}

criterion_group!(benches, scheduling, cache_hits);
criterion_main!(benches);
