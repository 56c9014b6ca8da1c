//! Property tests: arbitrary input never panics or hangs the parser and validator.

use proptest::prelude::*;
use reelflow_core::{NoExpressions, Registry, SourceFile, load_workflow};

const VALID: &str = r#"reelflow: 1
inputs:
  n: {type: int, default: 3}
nodes:
  r: {op: list.range, params: {end: 5}}
  m:
    op: map
    inputs: {items: r.items}
    body:
      nodes:
        t: {op: text.template, inputs: {x: inputs.item}, params: {template: "{{x}}"}}
      outputs: {t: t.text}
  j:
    op: list.join
    inputs: {items: m.t}
    retry: {attempts: 2}
    timeout: 5s
outputs:
  out: j.text
"#;

fn check(text: &str) {
    let reg = Registry::with_builtins();
    if let Err(d) = load_workflow(SourceFile::new("fuzz.yaml", text), &reg, &NoExpressions) {
        // Rendering and locating must cope with any span the validator produced.
        let _ = d.render(false);
        let _ = d.located();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        check(&text);
    }

    #[test]
    fn yaml_shaped_noise_never_panics(text in r#"([a-z{}\[\]:,\-\n "'&*!|>#.]|  ){0,300}"#) {
        check(&text);
    }

    #[test]
    fn mutations_of_a_valid_workflow_never_panic(
        cut in 0usize..VALID.len(),
        len in 0usize..40,
        insert in r#"[a-z0-9{}\[\]:,.\n "'&*]{0,12}"#,
    ) {
        let mut text = VALID.to_owned();
        let end = (cut + len).min(text.len());
        if text.is_char_boundary(cut) && text.is_char_boundary(end) {
            text.replace_range(cut..end, &insert);
        }
        check(&text);
    }
}

#[test]
fn the_seed_workflow_is_valid() {
    let reg = Registry::with_builtins();
    load_workflow(SourceFile::new("seed.yaml", VALID), &reg, &NoExpressions).unwrap();
}
