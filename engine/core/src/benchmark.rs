//! Workflow shapes for measuring the executor's own overhead (`reelflow bench engine` and
//! the criterion benches): every node is a `debug.noop`, so what is timed is scheduling.

use std::fmt::Write;

/// `n` nodes, each waiting for the previous one.
pub fn chain(n: usize) -> String {
    let mut y = String::from("reelflow: 1\nname: chain\nnodes:\n  n0: {op: debug.noop}\n");
    for i in 1..n {
        let _ = writeln!(y, "  n{i}: {{op: debug.noop, inputs: {{value: n{}.value}}}}", i - 1);
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
