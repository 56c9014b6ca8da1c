//! What the LLM layer measures, in Prometheus form: model loads and per-model token
//! throughput. The server registers these next to its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabel {
    pub model: String,
}

#[derive(Clone, Debug)]
pub struct LlmMetrics {
    /// Seconds to load a model (read, dequantize where needed, warm up).
    pub load_seconds: Histogram,
    loads: Arc<AtomicU64>,
    /// Idle models unloaded to make room for another.
    pub unloads: Counter,
    pub prompt_tokens: Family<ModelLabel, Counter>,
    pub completion_tokens: Family<ModelLabel, Counter>,
    /// Prompt processing speed per request, tokens per second.
    pub prompt_tokens_per_second: Family<ModelLabel, Histogram, fn() -> Histogram>,
    /// Decode speed per request, tokens per second.
    pub decode_tokens_per_second: Family<ModelLabel, Histogram, fn() -> Histogram>,
}

fn rate_histogram() -> Histogram {
    // 0.5 to ~30 000 tokens/s.
    Histogram::new(exponential_buckets(0.5, 2.0, 16))
}

impl Default for LlmMetrics {
    fn default() -> Self {
        LlmMetrics {
            load_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            loads: Arc::default(),
            unloads: Counter::default(),
            prompt_tokens: Family::default(),
            completion_tokens: Family::default(),
            prompt_tokens_per_second: Family::new_with_constructor(rate_histogram),
            decode_tokens_per_second: Family::new_with_constructor(rate_histogram),
        }
    }
}

impl LlmMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register("reelflow_llm_load_seconds", "Time to load a model", self.load_seconds.clone());
        registry.register("reelflow_llm_unloads", "Idle models unloaded to make room", self.unloads.clone());
        registry.register(
            "reelflow_llm_prompt_tokens",
            "Prompt tokens processed, by model",
            self.prompt_tokens.clone(),
        );
        registry.register(
            "reelflow_llm_completion_tokens",
            "Tokens generated, by model",
            self.completion_tokens.clone(),
        );
        registry.register(
            "reelflow_llm_prompt_tokens_per_second",
            "Prompt processing speed per request, by model",
            self.prompt_tokens_per_second.clone(),
        );
        registry.register(
            "reelflow_llm_decode_tokens_per_second",
            "Generation speed per request, by model",
            self.decode_tokens_per_second.clone(),
        );
    }

    pub(crate) fn record_load(&self, seconds: f64) {
        self.load_seconds.observe(seconds);
        self.loads.fetch_add(1, Ordering::Relaxed);
    }

    /// Models loaded since start.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    pub(crate) fn record_usage(&self, model: &str, usage: &crate::chat::Usage) {
        let label = ModelLabel { model: model.to_string() };
        self.prompt_tokens.get_or_create(&label).inc_by(usage.prompt_tokens as u64);
        self.completion_tokens.get_or_create(&label).inc_by(usage.completion_tokens as u64);
        if usage.prompt_tokens_per_second > 0.0 {
            self.prompt_tokens_per_second.get_or_create(&label).observe(usage.prompt_tokens_per_second);
        }
        if usage.decode_tokens_per_second > 0.0 {
            self.decode_tokens_per_second.get_or_create(&label).observe(usage.decode_tokens_per_second);
        }
    }
}
