//! The one place that runs `bindgen!` on `wit/`. The four worlds share the `types` and
//! `host` interfaces, so the `node` world generates them and the others reuse its modules:
//! one `Host` trait to implement, one set of types.

pub mod node {
    wasmtime::component::bindgen!({
        world: "node",
        path: "../../wit",
    });
}

pub mod effect {
    wasmtime::component::bindgen!({
        world: "effect",
        path: "../../wit",
        with: { "reelflow:plugin/types": super::node::reelflow::plugin::types, "reelflow:plugin/host": super::node::reelflow::plugin::host },
    });
}

pub mod template {
    wasmtime::component::bindgen!({
        world: "template",
        path: "../../wit",
        with: { "reelflow:plugin/types": super::node::reelflow::plugin::types, "reelflow:plugin/host": super::node::reelflow::plugin::host },
    });
}

pub mod generator {
    wasmtime::component::bindgen!({
        world: "generator",
        path: "../../wit",
        with: { "reelflow:plugin/types": super::node::reelflow::plugin::types, "reelflow:plugin/host": super::node::reelflow::plugin::host },
    });
}

pub use node::reelflow::plugin::host;
pub use node::reelflow::plugin::types;
