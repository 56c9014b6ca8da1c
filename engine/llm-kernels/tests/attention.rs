//! The attention kernel against a plain f64 reference, over the shapes and masks mistral.rs
//! hands it: prompts and single decode rows, grouped-query heads, strided (transposed)
//! operands, causal masks after a KV cache, sliding windows, holes, and soft caps.

use rand::{Rng, SeedableRng, rngs::StdRng};
use reelflow_llm_kernels::{Mask, Operand, Scaling, Shape, Strides, attention};

/// A `(batch, position, head, dim)` tensor stored in some order, with its strides.
struct Stored {
    data: Vec<f32>,
    strides: Strides,
}

impl Stored {
    /// Random values. `head_major` stores it as `(batch, head, position, dim)`, as mistral.rs's
    /// KV cache does; `padding` leaves unused elements between positions.
    fn random(rng: &mut StdRng, batch: usize, len: usize, heads: usize, dim: usize, head_major: bool) -> Self {
        let padding = 3;
        let row = dim + padding;
        let data = (0..batch * len * heads * row).map(|_| rng.random_range(-1.0..1.0)).collect();
        let strides = if head_major {
            Strides { batch: heads * len * row, head: len * row, position: row }
        } else {
            Strides { batch: len * heads * row, position: heads * row, head: row }
        };
        Self { data, strides }
    }

    fn at(&self, b: usize, position: usize, head: usize) -> &[f32] {
        let start = b * self.strides.batch + position * self.strides.position + head * self.strides.head;
        &self.data[start..]
    }

    fn operand(&self) -> Operand<'_> {
        Operand { data: &self.data, strides: self.strides }
    }
}

/// A `(q_len, kv_len)` mask shared by every sequence and head, as mistral.rs builds it.
struct Rows {
    kv_len: usize,
    values: Vec<f32>,
}

impl Mask for Rows {
    fn row(&self, _batch: usize, _head: usize, q_pos: usize) -> &[f32] {
        &self.values[q_pos * self.kv_len..(q_pos + 1) * self.kv_len]
    }
}

impl Rows {
    fn build(q_len: usize, kv_len: usize, value: impl Fn(usize, usize) -> f32) -> Self {
        let values = (0..q_len).flat_map(|q| (0..kv_len).map(move |k| (q, k))).map(|(q, k)| value(q, k)).collect();
        Self { kv_len, values }
    }

    /// Query `q` sits at position `past + q` and sees keys up to it.
    fn causal(q_len: usize, kv_len: usize) -> Self {
        let past = kv_len - q_len;
        Self::build(q_len, kv_len, |q, k| if k <= past + q { 0.0 } else { f32::NEG_INFINITY })
    }
}

fn reference(q: &Stored, k: &Stored, v: &Stored, shape: Shape, scaling: Scaling, mask: Option<&dyn Mask>) -> Vec<f32> {
    let group = shape.heads / shape.kv_heads;
    let d = shape.head_dim;
    let mut out = vec![0f32; shape.batch * shape.heads * shape.q_len * d];
    for b in 0..shape.batch {
        for h in 0..shape.heads {
            for qp in 0..shape.q_len {
                let q_row = &q.at(b, qp, h)[..d];
                let scores: Vec<f64> = (0..shape.kv_len)
                    .map(|kp| {
                        let k_row = &k.at(b, kp, h / group)[..d];
                        let dot: f64 = q_row.iter().zip(k_row).map(|(&x, &y)| x as f64 * y as f64).sum();
                        let mut s = dot * scaling.scale as f64;
                        if let Some(cap) = scaling.softcap {
                            s = cap as f64 * (s / cap as f64).tanh();
                        }
                        s + mask.map_or(0.0, |m| m.row(b, h, qp)[kp] as f64)
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if max == f64::NEG_INFINITY {
                    continue;
                }
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = weights.iter().sum();
                let out_row = &mut out[((b * shape.heads + h) * shape.q_len + qp) * d..][..d];
                for (kp, w) in weights.iter().enumerate() {
                    for (o, &x) in out_row.iter_mut().zip(&v.at(b, kp, h / group)[..d]) {
                        *o += (w / sum * x as f64) as f32;
                    }
                }
            }
        }
    }
    out
}

#[derive(Clone, Copy)]
struct Case {
    batch: usize,
    q_len: usize,
    kv_len: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    softcap: Option<f32>,
}

fn check(case: Case, mask: Option<&dyn Mask>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let shape = Shape {
        batch: case.batch,
        q_len: case.q_len,
        kv_len: case.kv_len,
        heads: case.heads,
        kv_heads: case.kv_heads,
        head_dim: case.head_dim,
    };
    // Large scores make the softmax peaked, which is where mistakes show.
    let scaling = Scaling { scale: 3.0 / (case.head_dim as f32).sqrt(), softcap: case.softcap };
    let q = Stored::random(&mut rng, case.batch, case.q_len, case.heads, case.head_dim, false);
    let k = Stored::random(&mut rng, case.batch, case.kv_len, case.kv_heads, case.head_dim, true);
    let v = Stored::random(&mut rng, case.batch, case.kv_len, case.kv_heads, case.head_dim, true);
    let got = attention(q.operand(), k.operand(), v.operand(), shape, scaling, mask).unwrap();
    let expected = reference(&q, &k, &v, shape, scaling, mask);
    assert_eq!(got.len(), expected.len());
    let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 2e-5, "{shape:?} softcap {:?}: off by {worst}", case.softcap);
}

#[test]
fn prompts_under_a_causal_mask_match_the_reference() {
    for (seed, (q_len, kv_len, head_dim)) in
        [(8, 8, 64), (37, 37, 64), (40, 53, 64), (100, 100, 48), (9, 200, 8), (64, 64, 80), (23, 30, 72)]
            .into_iter()
            .enumerate()
    {
        let mask = Rows::causal(q_len, kv_len);
        let case = Case { batch: 1, q_len, kv_len, heads: 9, kv_heads: 3, head_dim, softcap: None };
        check(case, Some(&mask), seed as u64);
    }
}

#[test]
fn decoding_rows_match_the_reference() {
    // Decoding's tasks take every head of a KV head together: groups of 2, 3 (SmolLM2's),
    // 8 and 12 heads, with one to seven query rows each.
    for (heads, kv_heads) in [(4, 2), (9, 3), (8, 1), (12, 1)] {
        for (seed, (q_len, kv_len)) in [(1, 1), (1, 17), (1, 300), (3, 40), (7, 7)].into_iter().enumerate() {
            let case = Case { batch: 2, q_len, kv_len, heads, kv_heads, head_dim: 64, softcap: None };
            check(case, None, 100 + seed as u64);
            let mask = Rows::causal(q_len, kv_len);
            check(case, Some(&mask), 200 + seed as u64);
        }
    }
}

#[test]
fn no_mask_lets_every_query_see_every_key() {
    let case = Case { batch: 2, q_len: 30, kv_len: 45, heads: 6, kv_heads: 6, head_dim: 32, softcap: None };
    check(case, None, 7);
}

#[test]
fn sliding_windows_and_holes_in_the_mask_match_the_reference() {
    let (q_len, kv_len, window) = (50, 70, 12);
    let sliding = Rows::build(q_len, kv_len, |q, k| {
        let position = kv_len - q_len + q;
        if k > position || k + window < position { f32::NEG_INFINITY } else { 0.0 }
    });
    let case = Case { batch: 1, q_len, kv_len, heads: 4, kv_heads: 1, head_dim: 64, softcap: None };
    check(case, Some(&sliding), 11);

    // Masked keys in the middle of a row, finite biases, and f32::MIN for padding.
    let holes = Rows::build(q_len, kv_len, |q, k| match (q + k) % 5 {
        0 => f32::NEG_INFINITY,
        1 => -0.75,
        2 if k > 60 => f32::MIN,
        _ => 0.0,
    });
    let case = Case { batch: 1, q_len, kv_len, heads: 4, kv_heads: 2, head_dim: 64, softcap: None };
    check(case, Some(&holes), 12);
}

#[test]
fn a_row_with_every_key_masked_is_zero() {
    let (q_len, kv_len) = (12, 20);
    let mask = Rows::build(q_len, kv_len, |q, _| if q == 5 { f32::NEG_INFINITY } else { 0.0 });
    let case = Case { batch: 1, q_len, kv_len, heads: 2, kv_heads: 2, head_dim: 16, softcap: None };
    check(case, Some(&mask), 13);
    let mut rng = StdRng::seed_from_u64(13);
    let q = Stored::random(&mut rng, 1, q_len, 2, 16, false);
    let k = Stored::random(&mut rng, 1, kv_len, 2, 16, true);
    let shape = Shape { batch: 1, q_len, kv_len, heads: 2, kv_heads: 2, head_dim: 16 };
    let out =
        attention(q.operand(), k.operand(), k.operand(), shape, Scaling { scale: 1.0, softcap: None }, Some(&mask))
            .unwrap();
    assert!(out[5 * 16..6 * 16].iter().all(|&x| x == 0.0));
    assert!(out[4 * 16..5 * 16].iter().any(|&x| x != 0.0));
}

#[test]
fn soft_capped_scores_match_the_reference() {
    let mask = Rows::causal(20, 20);
    let case = Case { batch: 1, q_len: 20, kv_len: 20, heads: 8, kv_heads: 4, head_dim: 64, softcap: Some(2.5) };
    check(case, Some(&mask), 21);
}

#[test]
fn operands_too_short_for_their_shape_are_refused() {
    let data = vec![0f32; 64];
    let strides = Strides { batch: 64, position: 16, head: 16 };
    let operand = Operand { data: &data, strides };
    let shape = Shape { batch: 1, q_len: 8, kv_len: 4, heads: 1, kv_heads: 1, head_dim: 16 };
    let error = attention(operand, operand, operand, shape, Scaling { scale: 1.0, softcap: None }, None).unwrap_err();
    assert!(error.to_string().contains("q has 64 elements"), "{error}");

    let shape = Shape { batch: 1, q_len: 1, kv_len: 1, heads: 3, kv_heads: 2, head_dim: 16 };
    let error = attention(operand, operand, operand, shape, Scaling { scale: 1.0, softcap: None }, None).unwrap_err();
    assert!(error.to_string().contains("3 query heads cannot share 2 KV heads"), "{error}");
}
