//! Workflow shapes for measuring the executor's own overhead (`reelflow bench engine` and
//! the criterion benches). `debug.noop` is an inline op (run on the scheduler's task, never
//! cached); `debug.sleep` with `ms: 0` is a spawned, cacheable op that only yields, for
//! timing the task path and the cache.

use std::fmt::Write;

/// `n` inline no-op nodes, each waiting for the previous one.
pub fn chain(n: usize) -> String {
    chain_of(n, "op: debug.noop")
}

/// `n` spawned, cacheable nodes (`debug.sleep` of 0 ms), each waiting for the previous one.
pub fn spawned_chain(n: usize) -> String {
    chain_of(n, "op: debug.sleep, params: {ms: 0}")
}

fn chain_of(n: usize, op: &str) -> String {
    let mut y = format!("reelflow: 1\nname: chain\nnodes:\n  n0: {{{op}}}\n");
    for i in 1..n {
        let _ = writeln!(y, "  n{i}: {{{op}, inputs: {{value: n{}.value}}}}", i - 1);
    }
    let _ = writeln!(y, "outputs:\n  last: n{}.value", n.saturating_sub(1));
    y
}

/// One root, `n` nodes that wait for it, and one node that waits for all of them.
pub fn fan_out(n: usize) -> String {
    let mut y = String::from("reelflow: 1\nname: fan-out\nnodes:\n  root: {op: debug.noop}\n");
    for i in 0..n {
        let _ = writeln!(y, "  w{i}: {{op: debug.noop, inputs: {{value: root.value}}}}");
    }
    y.push_str("  join:\n    op: debug.noop\n    inputs:\n");
    for i in 0..n {
        let _ = writeln!(y, "      in{i}: w{i}.value");
    }
    y.push_str("outputs:\n  done: join.value\n");
    y
}

/// A `w`×`h` grid where each node waits for its left and upper neighbours.
pub fn lattice(w: usize, h: usize) -> String {
    let mut y = String::from("reelflow: 1\nname: lattice\nnodes:\n");
    for r in 0..h {
        for c in 0..w {
            let mut inputs = Vec::new();
            if c > 0 {
                inputs.push(format!("value: g{r}_{}.value", c - 1));
            }
            if r > 0 {
                inputs.push(format!("up: g{}_{c}.value", r - 1));
            }
            let _ = writeln!(y, "  g{r}_{c}: {{op: debug.noop, inputs: {{{}}}}}", inputs.join(", "));
        }
    }
    let _ = writeln!(y, "outputs:\n  corner: g{}_{}.value", h.saturating_sub(1), w.saturating_sub(1));
    y
}
