//! Scaled dot-product attention, `softmax(q·kᵀ·scale + mask)·v`, for `f32` on the CPU.
//!
//! mistral.rs 0.8.1's CPU attention walks every key of every query row with a scalar dot
//! product (one running sum, which the compiler may not reorder, so it never vectorises)
//! and looks the mask up through a general broadcasting index per element. On a 2-core VM
//! that was 43 % of a 1,305-token prompt and most of a 5,000-token one. This kernel does the
//! same arithmetic in a shape the compiler vectorises:
//!
//! - **The prompt** (8 or more query rows): the keys of each KV head are transposed once into
//!   `[dim][position]`, so 16 consecutive keys' scores are one vector of sums built from
//!   `q[i] × kᵀ[i][j..j+16]`, with no horizontal additions; four query rows share each load.
//! - **Decoding** (fewer rows): each score is a 16-lane dot product over the head dimension.
//! - The mask is read a row at a time. Keys masked with `-∞` at either end of a row (the
//!   future, under a causal mask; the past beyond a sliding window) are never visited.
//! - The softmax's exponentials are a polynomial that vectorises ([`crate::exp`]).
//! - The weighted sum of the values keeps its sums in registers over all positions (16
//!   dimensions of four rows, or 64 of a lone row), rather than adding each position into
//!   the output in memory.
//! - The work is split over query-row blocks on rayon's global pool, which the matmuls use
//!   too, instead of a second pool of its own.

use rayon::prelude::*;

use crate::exp::exp_shifted_sum;

/// Query rows that one task handles; they share every key and value they read.
const ROWS: usize = 8;
/// Keys whose scores the transposed path computes as one vector.
const LANES: usize = 16;
/// Query rows handled together in the innermost loops (the transposed scores, the values).
const ROW_GROUP: usize = 4;
/// Dimensions of the values whose weighted sums are kept in registers together.
const DIM_BLOCK: usize = 16;
/// The same for a lone row (decoding): a whole 64-dimension head, so that the values are
/// read in one pass rather than four.
const LONE_ROW_DIMS: usize = 4 * DIM_BLOCK;

/// Element strides of a `(batch, position, head, dim)` tensor whose `dim` is contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strides {
    pub batch: usize,
    pub position: usize,
    pub head: usize,
}

/// One of `q`, `k`, `v`: its elements (from its first one) and their strides.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    pub data: &'a [f32],
    pub strides: Strides,
}

impl<'a> Operand<'a> {
    /// The `len` elements of `head` at `position` in sequence `batch`.
    fn row(&self, batch: usize, position: usize, head: usize, len: usize) -> &'a [f32] {
        let start = batch * self.strides.batch + position * self.strides.position + head * self.strides.head;
        &self.data[start..start + len]
    }
}

/// The problem's sizes. `heads` must be a multiple of `kv_heads` (grouped-query attention:
/// query head `h` reads KV head `h / (heads / kv_heads)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub batch: usize,
    pub q_len: usize,
    pub kv_len: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// An additive mask, `-∞` where a query must not see a key.
pub trait Mask: Sync {
    /// The values added to the scaled scores of query `q_pos` of `head` in sequence
    /// `batch`: at least `kv_len` of them, one per key.
    fn row(&self, batch: usize, head: usize, q_pos: usize) -> &[f32];
}

/// How scores are scaled: `scale · q·k`, or with a soft cap `cap · tanh(scale · q·k / cap)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scaling {
    pub scale: f32,
    pub softcap: Option<f32>,
}

/// Why [`attention`] refused its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "attention: {}", self.0)
    }
}

impl std::error::Error for ShapeError {}

/// Computes attention and returns it laid out as `(batch, head, q_pos, dim)`.
///
/// A query row whose every key is masked gets zeros.
pub fn attention(
    q: Operand<'_>,
    k: Operand<'_>,
    v: Operand<'_>,
    shape: Shape,
    scaling: Scaling,
    mask: Option<&dyn Mask>,
) -> Result<Vec<f32>, ShapeError> {
    check(&shape, q, k, v)?;
    let Shape { batch, q_len, heads, head_dim, .. } = shape;
    let mut out = vec![0f32; batch * heads * q_len * head_dim];
    if out.is_empty() {
        return Ok(out);
    }
    let keys = if q_len >= ROWS { Keys::Transposed(TransposedKeys::new(k, &shape)) } else { Keys::Rows(k) };
    let task = Task { q, keys: &keys, v, shape, scaling, mask };
    out.par_chunks_mut(q_len * head_dim).enumerate().for_each(|(batch_head, slab)| {
        let (b, h) = (batch_head / heads, batch_head % heads);
        slab.par_chunks_mut(ROWS * head_dim)
            .enumerate()
            .for_each_init(Vec::new, |scores, (block, out_rows)| task.run(b, h, block * ROWS, out_rows, scores));
    });
    Ok(out)
}

fn check(shape: &Shape, q: Operand<'_>, k: Operand<'_>, v: Operand<'_>) -> Result<(), ShapeError> {
    if shape.kv_heads == 0 || !shape.heads.is_multiple_of(shape.kv_heads) {
        return Err(ShapeError(format!("{} query heads cannot share {} KV heads", shape.heads, shape.kv_heads)));
    }
    let needed = |strides: Strides, len: usize, heads: usize| {
        if shape.batch == 0 || len == 0 || heads == 0 || shape.head_dim == 0 {
            0
        } else {
            (shape.batch - 1) * strides.batch
                + (len - 1) * strides.position
                + (heads - 1) * strides.head
                + shape.head_dim
        }
    };
    for (name, operand, len, heads) in [
        ("q", q, shape.q_len, shape.heads),
        ("k", k, shape.kv_len, shape.kv_heads),
        ("v", v, shape.kv_len, shape.kv_heads),
    ] {
        let needed = needed(operand.strides, len, heads);
        if operand.data.len() < needed {
            return Err(ShapeError(format!(
                "{name} has {} elements; its shape and strides reach {needed}",
                operand.data.len()
            )));
        }
    }
    Ok(())
}

/// The keys as the score loop reads them.
enum Keys<'a> {
    /// As given: one contiguous row of `head_dim` per position.
    Rows(Operand<'a>),
    Transposed(TransposedKeys),
}

/// Each (sequence, KV head)'s keys as `[dim][position]`, positions padded with zeros to a
/// multiple of [`LANES`].
struct TransposedKeys {
    data: Vec<f32>,
    /// Padded positions per dimension.
    width: usize,
}

impl TransposedKeys {
    fn new(k: Operand<'_>, shape: &Shape) -> Self {
        let width = shape.kv_len.next_multiple_of(LANES);
        let per_head = shape.head_dim * width;
        let mut data = vec![0f32; shape.batch * shape.kv_heads * per_head];
        data.par_chunks_mut(per_head).enumerate().for_each(|(batch_head, block)| {
            let (b, kv_head) = (batch_head / shape.kv_heads, batch_head % shape.kv_heads);
            for position in 0..shape.kv_len {
                for (i, &value) in k.row(b, position, kv_head, shape.head_dim).iter().enumerate() {
                    block[i * width + position] = value;
                }
            }
        });
        Self { data, width }
    }

    fn head(&self, batch: usize, kv_head: usize, kv_heads: usize, head_dim: usize) -> &[f32] {
        let per_head = head_dim * self.width;
        let start = (batch * kv_heads + kv_head) * per_head;
        &self.data[start..start + per_head]
    }
}

struct Task<'a> {
    q: Operand<'a>,
    keys: &'a Keys<'a>,
    v: Operand<'a>,
    shape: Shape,
    scaling: Scaling,
    mask: Option<&'a dyn Mask>,
}

impl Task<'_> {
    /// Attention for query rows `first..first + out.len() / head_dim` of head `h` of
    /// sequence `b`, written to `out`; `scores` is scratch space.
    fn run(&self, b: usize, h: usize, first: usize, out: &mut [f32], scores: &mut Vec<f32>) {
        let Shape { kv_len, heads, kv_heads, head_dim, .. } = self.shape;
        let rows = out.len() / head_dim;
        let kv_head = h / (heads / kv_heads);

        // Each row's keys: the span between the `-∞` runs at the row's two ends.
        let mask_rows: [Option<&[f32]>; ROWS] =
            std::array::from_fn(|r| self.mask.filter(|_| r < rows).map(|mask| &mask.row(b, h, first + r)[..kv_len]));
        let spans: [(usize, usize); ROWS] = std::array::from_fn(|r| mask_rows[r].map_or((0, kv_len), unmasked_span));
        let live = &spans[..rows];
        let Some(lo) = live.iter().filter(|s| s.0 < s.1).map(|s| s.0).min() else {
            return; // every key of every row is masked: zeros
        };
        let hi = live.iter().map(|s| s.1).max().unwrap_or(0);

        // The window of scores computed: whole 16-key blocks on the transposed path.
        let (window_lo, window_hi) = match self.keys {
            Keys::Rows(_) => (lo, hi),
            Keys::Transposed(t) => (lo / LANES * LANES, hi.next_multiple_of(LANES).min(t.width)),
        };
        let width = window_hi - window_lo;
        scores.clear();
        scores.resize(rows * width, 0.0);

        let q_rows: [&[f32]; ROWS] = std::array::from_fn(|r| self.q.row(b, first + r.min(rows - 1), h, head_dim));
        let q_rows = &q_rows[..rows];

        match self.keys {
            Keys::Rows(k) => {
                for (r, q_row) in q_rows.iter().enumerate() {
                    let row_scores = &mut scores[r * width..(r + 1) * width];
                    let (row_lo, row_hi) = spans[r];
                    for position in row_lo.max(window_lo)..row_hi {
                        row_scores[position - window_lo] = dot(q_row, k.row(b, position, kv_head, head_dim));
                    }
                }
            }
            Keys::Transposed(t) => {
                let kt = t.head(b, kv_head, kv_heads, head_dim);
                for (group, q_group) in q_rows.chunks(ROW_GROUP).enumerate() {
                    let first_row = group * ROW_GROUP;
                    let block = &mut scores[first_row * width..(first_row + q_group.len()) * width];
                    scores_transposed(q_group, kt, t.width, window_lo, window_hi, block, width);
                }
            }
        }

        // Scale, mask, softmax; what lies outside a row's span becomes weight 0.
        let mut inverse_sums = [0f32; ROWS];
        for r in 0..rows {
            let (row_lo, row_hi) = spans[r];
            let row_scores = &mut scores[r * width..(r + 1) * width];
            if row_lo >= row_hi {
                row_scores.fill(0.0);
                continue;
            }
            let (head, tail) = row_scores.split_at_mut(row_lo - window_lo);
            head.fill(0.0);
            let (span, tail) = tail.split_at_mut(row_hi - row_lo);
            tail.fill(0.0);
            self.scale(span);
            if let Some(mask_row) = mask_rows[r] {
                for (score, bias) in span.iter_mut().zip(&mask_row[row_lo..row_hi]) {
                    *score += bias;
                }
            }
            let max = span.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if max == f32::NEG_INFINITY {
                span.fill(0.0);
                continue;
            }
            let sum = exp_shifted_sum(span, max);
            inverse_sums[r] = if sum > 0.0 { 1.0 / sum } else { 0.0 };
        }

        // Weighted sum of the values. A row's weights outside its span are 0 and add nothing.
        let weights = |r: usize| &scores[r * width + lo - window_lo..r * width + hi - window_lo];
        for (group, out_group) in out.chunks_mut(ROW_GROUP * head_dim).enumerate() {
            let first_row = group * ROW_GROUP;
            match out_group.len() / head_dim {
                ROW_GROUP => {
                    let w = std::array::from_fn(|r| weights(first_row + r));
                    self.weighted_values::<ROW_GROUP, DIM_BLOCK>(b, kv_head, lo, w, out_group);
                }
                // The last rows of a prompt, and decoding: one at a time, so that a lone row
                // does not pay for a group's absent ones.
                _ => {
                    for (r, out_row) in out_group.chunks_exact_mut(head_dim).enumerate() {
                        self.weighted_values::<1, LONE_ROW_DIMS>(b, kv_head, lo, [weights(first_row + r)], out_row);
                    }
                }
            }
        }
        for (out_row, inverse) in out.chunks_exact_mut(head_dim).zip(inverse_sums) {
            for value in out_row {
                *value *= inverse;
            }
        }
    }

    /// `out[r] += Σ_p weights[r][p - lo] · v[p]` for `R` rows and the positions from `lo`
    /// that the weights cover. The sums of `D` dimensions of all `R` rows stay in registers
    /// over the positions (`R × D` floats: eight AVX registers for four rows of 16 or one row
    /// of 64), so each value row is read once per block for every row and nothing is stored
    /// until the end; adding into `out` position by position instead loaded and stored each
    /// row every time. A lone decoding row takes its whole head (64 dimensions) in one pass.
    fn weighted_values<const R: usize, const D: usize>(
        &self,
        b: usize,
        kv_head: usize,
        lo: usize,
        weights: [&[f32]; R],
        out: &mut [f32],
    ) {
        let head_dim = self.shape.head_dim;
        let mut d = 0;
        while d + D <= head_dim {
            self.value_block::<R, D>(b, kv_head, lo, &weights, out, d);
            d += D;
        }
        while d + DIM_BLOCK <= head_dim {
            self.value_block::<R, DIM_BLOCK>(b, kv_head, lo, &weights, out, d);
            d += DIM_BLOCK;
        }
        // Dimensions past the last whole block (head sizes that are not a multiple of 16).
        let positions = weights[0].len();
        for d in d..head_dim {
            for (row_weights, out_row) in weights.iter().zip(out.chunks_exact_mut(head_dim)) {
                let sum: f32 =
                    (0..positions).map(|p| row_weights[p] * self.v.row(b, lo + p, kv_head, head_dim)[d]).sum();
                out_row[d] += sum;
            }
        }
    }

    /// Dimensions `d..d + W` of [`Self::weighted_values`].
    fn value_block<const R: usize, const W: usize>(
        &self,
        b: usize,
        kv_head: usize,
        lo: usize,
        weights: &[&[f32]; R],
        out: &mut [f32],
        d: usize,
    ) {
        let head_dim = self.shape.head_dim;
        let mut sums = [[0f32; W]; R];
        for p in 0..weights[0].len() {
            let v: &[f32; W] = self.v.row(b, lo + p, kv_head, head_dim)[d..d + W].try_into().expect("a whole block");
            for (row_sums, row_weights) in sums.iter_mut().zip(weights) {
                let weight = row_weights[p];
                for (sum, value) in row_sums.iter_mut().zip(v) {
                    *sum += weight * value;
                }
            }
        }
        for (row_sums, out_row) in sums.iter().zip(out.chunks_exact_mut(head_dim)) {
            for (o, sum) in out_row[d..d + W].iter_mut().zip(row_sums) {
                *o += sum;
            }
        }
    }

    fn scale(&self, scores: &mut [f32]) {
        let scale = self.scaling.scale;
        match self.scaling.softcap {
            Some(cap) if cap != 0.0 => {
                for score in scores {
                    *score = cap * (*score * scale / cap).tanh();
                }
            }
            _ => {
                for score in scores {
                    *score *= scale;
                }
            }
        }
    }
}

/// The positions of `mask_row` between its leading and trailing runs of `-∞`.
fn unmasked_span(mask_row: &[f32]) -> (usize, usize) {
    let lo = mask_row.iter().position(|&m| m != f32::NEG_INFINITY).unwrap_or(mask_row.len());
    let hi = mask_row.iter().rposition(|&m| m != f32::NEG_INFINITY).map_or(lo, |last| last + 1);
    (lo, hi)
}

/// Scores of up to [`ROW_GROUP`] query rows against keys `window_lo..window_hi` (whole
/// [`LANES`] blocks) of one head's transposed keys, into `scores` (`stride` per row).
fn scores_transposed(
    q_rows: &[&[f32]],
    kt: &[f32],
    kt_width: usize,
    window_lo: usize,
    window_hi: usize,
    scores: &mut [f32],
    stride: usize,
) {
    let head_dim = q_rows[0].len();
    // Absent rows of a short group repeat the first one; their sums are dropped.
    let q: [&[f32]; ROW_GROUP] = std::array::from_fn(|r| q_rows.get(r).copied().unwrap_or(q_rows[0]));
    for block in (window_lo..window_hi).step_by(LANES) {
        let mut sums = [[0f32; LANES]; ROW_GROUP];
        for i in 0..head_dim {
            let keys: &[f32; LANES] = kt[i * kt_width + block..][..LANES].try_into().expect("a whole block of keys");
            for (row_sums, q_row) in sums.iter_mut().zip(&q) {
                let qi = q_row[i];
                for (sum, key) in row_sums.iter_mut().zip(keys) {
                    *sum += qi * key;
                }
            }
        }
        for (r, row_sums) in sums.iter().enumerate().take(q_rows.len()) {
            let at = r * stride + block - window_lo;
            scores[at..at + LANES].copy_from_slice(row_sums);
        }
    }
}

/// `a · b`, in 16 independent lanes so that it vectorises.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 16];
    let (a_blocks, a_rest) = a.as_chunks::<16>();
    let (b_blocks, b_rest) = b.as_chunks::<16>();
    for (a_block, b_block) in a_blocks.iter().zip(b_blocks) {
        for ((sum, x), y) in sums.iter_mut().zip(a_block).zip(b_block) {
            *sum += x * y;
        }
    }
    let rest: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    rest + sums.iter().sum::<f32>()
}
