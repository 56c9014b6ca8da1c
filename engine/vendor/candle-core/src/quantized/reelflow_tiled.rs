//! Reelflow: the quantized matmul of several rows (a prompt), tiled, in one parallel dispatch.
//!
//! Upstream computes a prompt of m rows as m matrix-vector products, each fanned out over
//! rayon and awaited: one dispatch per row per matmul (about 78,000 for a 374-token prompt of
//! SmolLM2), with every weight read again from L2/L3 or memory for each row. Here one
//! dispatch covers the whole product: each task takes a band of rows and walks the weights
//! once, a tile of columns at a time, so each weight column is reused from L1 by every row of
//! the band and the band's quantized rows stay in L1 too.
//!
//! Q8_0 weights get kernels of their own:
//! - on a CPU with AVX-512 VNNI (`q8_0_vnni`): four rows and two blocks at a time, with
//!   `vpdpbusd` doing in one instruction what AVX2 needs four for, about 3× the multiply-adds
//!   per instruction of upstream's AVX2 dot product;
//! - on AVX2 without it (`q8_0_avx2`, prompts only): tiles of four rows by two columns that
//!   share their loads, sign flips and scales, where upstream redoes all of them for every
//!   row and column.

use super::k_quants::GgmlType;
use rayon::prelude::*;

/// From this many rows on, `k_quants::matmul` comes here.
pub(crate) const TILED_MIN_ROWS: usize = 4;
/// Rows in a band; fewer when there are too few bands to keep every thread busy.
const ROW_BAND: usize = 16;
/// Columns per tile inside a band.
const COL_TILE: usize = 64;

/// A few rows (decoding): `true` when done here (Q8_0 on AVX-512 VNNI), `false` to leave
/// them to upstream's loop. (On AVX2 upstream's loop, one column a task with rayon's
/// fine-grained splitting, measured faster than a four-column kernel split in four.)
pub(crate) fn matmul_rows<T: GgmlType>(
    (m, k, n): (usize, usize, usize),
    lhs_b: &[T::VecDotType],
    rhs_t: &[T],
    dst: &mut [f32],
) -> bool {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma",
        target_feature = "avx512vnni",
        target_feature = "avx512vl",
        target_feature = "avx512bw",
        target_feature = "avx512f"
    ))]
    if let Some((lhs, rhs)) = as_q8_0::<T>(k, lhs_b, rhs_t) {
        q8_0_vnni::matvec((m, k, n), lhs, rhs, dst);
        return true;
    }
    let _ = ((m, k, n), lhs_b, rhs_t, dst);
    false
}

/// `lhs` and `rhs` as Q8_0 blocks, when `T` is Q8_0 and `k` a whole number of blocks.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
fn as_q8_0<'a, T: GgmlType>(
    k: usize,
    lhs_b: &'a [T::VecDotType],
    rhs_t: &'a [T],
) -> Option<(&'a [super::k_quants::BlockQ8_0], &'a [super::k_quants::BlockQ8_0])> {
    use super::k_quants::BlockQ8_0;
    if T::DTYPE != super::GgmlDType::Q8_0 || k % super::k_quants::QK8_0 != 0 {
        return None;
    }
    // SAFETY: `T::DTYPE` is Q8_0 only for `BlockQ8_0`, whose `VecDotType` is `BlockQ8_0`
    // too; the slices are reinterpreted with their own lengths.
    unsafe {
        Some((
            std::slice::from_raw_parts(lhs_b.as_ptr() as *const BlockQ8_0, lhs_b.len()),
            std::slice::from_raw_parts(rhs_t.as_ptr() as *const BlockQ8_0, rhs_t.len()),
        ))
    }
}

/// `dst[m×n] = lhs[m×k] · rhs_tᵀ`, with `lhs` already quantized to `T::VecDotType` blocks.
pub(crate) fn matmul_tiled<T: GgmlType>(
    (m, k, n): (usize, usize, usize),
    lhs_b: &[T::VecDotType],
    rhs_t: &[T],
    dst: &mut [f32],
) {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    if let Some((lhs, rhs)) = as_q8_0::<T>(k, lhs_b, rhs_t) {
        #[cfg(all(
            target_feature = "avx512vnni",
            target_feature = "avx512vl",
            target_feature = "avx512bw",
            target_feature = "avx512f"
        ))]
        q8_0_vnni::matmul((m, k, n), lhs, rhs, dst);
        #[cfg(not(all(
            target_feature = "avx512vnni",
            target_feature = "avx512vl",
            target_feature = "avx512bw",
            target_feature = "avx512f"
        )))]
        q8_0_avx2::matmul((m, k, n), lhs, rhs, dst);
        return;
    }

    let k_in_blocks = k.div_ceil(T::BLCK_SIZE);
    let band = band_rows(m);
    dst.par_chunks_mut(band * n)
        .enumerate()
        .for_each(|(band_idx, dst_band)| {
            let first_row = band_idx * band;
            let rows = dst_band.len() / n;
            let lhs_band = &lhs_b[first_row * k_in_blocks..(first_row + rows) * k_in_blocks];
            for col_start in (0..n).step_by(COL_TILE) {
                let col_end = (col_start + COL_TILE).min(n);
                for col_idx in col_start..col_end {
                    let rhs_col = &rhs_t[col_idx * k_in_blocks..(col_idx + 1) * k_in_blocks];
                    for (row, lhs_row) in lhs_band.chunks_exact(k_in_blocks).enumerate() {
                        dst_band[row * n + col_idx] = T::vec_dot(k, rhs_col, lhs_row);
                    }
                }
            }
        });
}

/// Rows per band: at least two bands a thread, so that stealing can even out the work.
fn band_rows(m: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    ROW_BAND.min(m.div_ceil(2 * threads)).max(1)
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vnni",
    target_feature = "avx512vl",
    target_feature = "avx512bw",
    target_feature = "avx512f",
    target_feature = "fma",
    target_feature = "avx2"
))]
mod q8_0_vnni {
    //! Q8_0 × Q8_0 with `vpdpbusd` (unsigned × signed bytes, four products a 32-bit lane).
    //!
    //! The activations are signed, so each band's rows are re-stored once as `a + 128`
    //! (unsigned); `Σ (a+128)·w = Σ a·w + 128·Σ w`, and `128·Σ w` is taken off by starting
    //! each accumulation from `-128·Σ w` (itself one `vpdpbusd` per weight block). The integer
    //! sums are exact, as upstream's are; only the order of the f32 additions differs.

    use super::{band_rows, COL_TILE};
    use crate::quantized::k_quants::{BlockQ8_0, QK8_0};
    use rayon::prelude::*;
    use std::arch::x86_64::*;

    /// Rows computed together: they share every weight load.
    const ROWS: usize = 4;

    /// A band's activations: per row, per pair of blocks, 64 bytes of `a + 128` and 16
    /// scales (the first block's 8 times, then the second's), ready for 512-bit lanes. Rows
    /// are padded to a multiple of [`ROWS`] and blocks to pairs with zeros (`a = 0`, scale 0),
    /// which add nothing.
    struct Band {
        bytes: Vec<u8>,
        scales: Vec<f32>,
        pairs: usize,
    }

    impl Band {
        fn new(rows: &[BlockQ8_0], blocks: usize) -> Self {
            let pairs = blocks.div_ceil(2);
            let count = (rows.len() / blocks).next_multiple_of(ROWS);
            let mut bytes = vec![0x80u8; count * pairs * 64];
            let mut scales = vec![0f32; count * pairs * 16];
            for (row, row_blocks) in rows.chunks_exact(blocks).enumerate() {
                for (b, block) in row_blocks.iter().enumerate() {
                    let at = (row * pairs + b / 2) * 64 + (b % 2) * 32;
                    for (byte, &q) in bytes[at..at + 32].iter_mut().zip(&block.qs) {
                        *byte = (q as u8) ^ 0x80;
                    }
                    let at = (row * pairs + b / 2) * 16 + (b % 2) * 8;
                    scales[at..at + 8].fill(block.d.to_f32());
                }
            }
            Self {
                bytes,
                scales,
                pairs,
            }
        }
    }

    pub(super) fn matmul(
        (m, k, n): (usize, usize, usize),
        lhs: &[BlockQ8_0],
        rhs: &[BlockQ8_0],
        dst: &mut [f32],
    ) {
        let blocks = k / QK8_0;
        let band = band_rows(m);
        dst.par_chunks_mut(band * n)
            .enumerate()
            .for_each(|(band_idx, dst_band)| {
                let first_row = band_idx * band;
                let rows = dst_band.len() / n;
                let packed = Band::new(&lhs[first_row * blocks..(first_row + rows) * blocks], blocks);
                for col_start in (0..n).step_by(COL_TILE) {
                    for col in col_start..(col_start + COL_TILE).min(n) {
                        let weights = &rhs[col * blocks..(col + 1) * blocks];
                        for row in (0..rows).step_by(ROWS) {
                            // SAFETY: the CPU has the features this module is compiled for
                            // (the `cfg` above), and `dot_rows` reads only inside `packed`
                            // (padded to whole groups of rows) and `weights`.
                            let sums = unsafe { dot_rows(weights, &packed, row) };
                            for (r, sum) in sums.iter().take(rows - row).enumerate() {
                                dst_band[(row + r) * n + col] = *sum;
                            }
                        }
                    }
                }
            });
    }

    /// One weight column against rows `first..first + ROWS` of a band.
    #[inline]
    unsafe fn dot_rows(weights: &[BlockQ8_0], band: &Band, first: usize) -> [f32; ROWS] {
        let offset = _mm512_set1_epi8(-128); // 0x80: 128 as an unsigned byte
        let mut sums = [_mm512_setzero_ps(); ROWS];
        for pair in 0..band.pairs {
            let b = pair * 2;
            // Two blocks of weights in one register, or one and zeros at an odd end.
            let low = _mm256_loadu_si256(weights[b].qs.as_ptr() as *const __m256i);
            let low_scale = _mm512_set1_ps(weights[b].d.to_f32());
            let (high, high_scale) = match weights.get(b + 1) {
                Some(block) => (
                    _mm256_loadu_si256(block.qs.as_ptr() as *const __m256i),
                    _mm512_set1_ps(block.d.to_f32()),
                ),
                None => (_mm256_setzero_si256(), _mm512_setzero_ps()),
            };
            let w = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(low), high);
            let w_scale = _mm512_mask_blend_ps(0xff00, low_scale, high_scale);
            // -128·Σw for each lane's four weights.
            let start = _mm512_sub_epi32(
                _mm512_setzero_si512(),
                _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, w),
            );
            for (r, sum) in sums.iter_mut().enumerate() {
                let at = (first + r) * band.pairs + pair;
                let a = _mm512_loadu_si512(band.bytes.as_ptr().add(at * 64) as *const _);
                let a_scale = _mm512_loadu_ps(band.scales.as_ptr().add(at * 16));
                let products = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start, a, w));
                *sum = _mm512_fmadd_ps(_mm512_mul_ps(w_scale, a_scale), products, *sum);
            }
        }
        sums.map(|sum| _mm512_reduce_add_ps(sum))
    }

    /// Columns computed together by `matvec`: they share every activation load.
    const COLS: usize = 4;
    /// Below this many multiply-adds a row, `matvec` stays on the calling thread: handing
    /// the work to rayon and waiting costs two context switches (a few microseconds).
    /// Measured on SmolLM2 with 2 threads: keeping every layer's matmul (up to 0.9 million
    /// multiply-adds) inline made decoding 22 % slower than splitting it.
    const INLINE_WORK: usize = 1 << 16;

    /// Decoding: each of a few rows against every column. Here the weights are made
    /// unsigned (`w + 128`, one XOR a load) and the correction `-128·Σa` is the row's, made
    /// once, so that the per-column work is the loads, one `vpdpbusd` and the scaling.
    pub(super) fn matvec(
        (m, k, n): (usize, usize, usize),
        lhs: &[BlockQ8_0],
        rhs: &[BlockQ8_0],
        dst: &mut [f32],
    ) {
        let blocks = k / QK8_0;
        for (row_blocks, dst_row) in lhs.chunks_exact(blocks).zip(dst.chunks_exact_mut(n)).take(m) {
            let row = Row::new(row_blocks);
            let work = |first_col: usize, out: &mut [f32]| {
                for (group, out) in out.chunks_mut(COLS).enumerate() {
                    let col = first_col + group * COLS;
                    // SAFETY: the CPU has this module's features; `dot_cols` reads only
                    // inside `rhs` (whole columns, up to `out.len()`) and `row`.
                    let sums = unsafe { dot_cols(rhs, blocks, col, out.len(), &row) };
                    out.copy_from_slice(&sums[..out.len()]);
                }
            };
            let threads = rayon::current_num_threads().max(1);
            if threads == 1 || n * k < INLINE_WORK {
                work(0, dst_row);
            } else {
                let chunk = n.div_ceil(2 * threads).next_multiple_of(COLS * 4);
                dst_row
                    .par_chunks_mut(chunk)
                    .enumerate()
                    .for_each(|(i, out)| work(i * chunk, out));
            }
        }
    }

    /// One activation row in pairs of blocks: its bytes (signed, 64 a pair), the scales
    /// (16 a pair), and `-128·Σa` for each 32-bit lane's four bytes.
    struct Row {
        bytes: Vec<i8>,
        scales: Vec<f32>,
        starts: Vec<__m512i>,
    }

    impl Row {
        fn new(blocks: &[BlockQ8_0]) -> Self {
            let pairs = blocks.len().div_ceil(2);
            let mut bytes = vec![0i8; pairs * 64];
            let mut scales = vec![0f32; pairs * 16];
            for (b, block) in blocks.iter().enumerate() {
                bytes[b * 32..b * 32 + 32].copy_from_slice(&block.qs);
                scales[b * 8..b * 8 + 8].fill(block.d.to_f32());
            }
            let starts = (0..pairs)
                .map(|pair| {
                    // SAFETY: the CPU has this module's features; the load is inside `bytes`.
                    unsafe {
                        let a = _mm512_loadu_si512(bytes.as_ptr().add(pair * 64) as *const _);
                        let offset = _mm512_set1_epi8(-128); // 0x80: 128 unsigned
                        _mm512_sub_epi32(
                            _mm512_setzero_si512(),
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, a),
                        )
                    }
                })
                .collect();
            Self {
                bytes,
                scales,
                starts,
            }
        }
    }

    /// Columns `first..first + count` (`count` ≤ [`COLS`]) of `rhs` against `row`.
    #[inline]
    unsafe fn dot_cols(
        rhs: &[BlockQ8_0],
        blocks: usize,
        first: usize,
        count: usize,
        row: &Row,
    ) -> [f32; COLS] {
        let flip = _mm512_set1_epi8(-128); // XOR with 0x80 turns w into w + 128, unsigned
        let mut sums = [_mm512_setzero_ps(); COLS];
        // Absent columns of a short group repeat the first; their sums are dropped.
        let columns: [&[BlockQ8_0]; COLS] = std::array::from_fn(|c| {
            let col = first + if c < count { c } else { 0 };
            &rhs[col * blocks..(col + 1) * blocks]
        });
        for (pair, start) in row.starts.iter().enumerate() {
            let b = pair * 2;
            let a = _mm512_loadu_si512(row.bytes.as_ptr().add(pair * 64) as *const _);
            let a_scale = _mm512_loadu_ps(row.scales.as_ptr().add(pair * 16));
            for (sum, weights) in sums.iter_mut().zip(&columns) {
                let low = _mm256_loadu_si256(weights[b].qs.as_ptr() as *const __m256i);
                let low_scale = _mm512_set1_ps(weights[b].d.to_f32());
                let (high, high_scale) = match weights.get(b + 1) {
                    Some(block) => (
                        _mm256_loadu_si256(block.qs.as_ptr() as *const __m256i),
                        _mm512_set1_ps(block.d.to_f32()),
                    ),
                    None => (_mm256_set1_epi8(-128), _mm512_setzero_ps()),
                };
                let w = _mm512_xor_si512(
                    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(low), high),
                    flip,
                );
                let w_scale = _mm512_mask_blend_ps(0xff00, low_scale, high_scale);
                let products = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(*start, w, a));
                *sum = _mm512_fmadd_ps(_mm512_mul_ps(w_scale, a_scale), products, *sum);
            }
        }
        sums.map(|sum| _mm512_reduce_add_ps(sum))
    }
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma",
    not(all(
        target_feature = "avx512vnni",
        target_feature = "avx512vl",
        target_feature = "avx512bw",
        target_feature = "avx512f"
    ))
))]
mod q8_0_avx2 {
    //! Q8_0 × Q8_0 with AVX2, as upstream's dot product computes it: `vpmaddubsw` multiplies
    //! unsigned by signed bytes, so one side goes in as `|x|` and the other as `y·sign(x)`
    //! (`vpsignb`), then `vpmaddwd` by ones widens the pairs to 32 bits, and each block's
    //! sums are scaled in f32 and accumulated in eight lanes. What differs is what is shared:
    //! a prompt's tile of four rows by two columns loads each weight block and takes its
    //! `|w|` once for four rows, and each row's bytes once for two columns. The integer sums
    //! and the f32 additions are upstream's, in upstream's order, so the results are its
    //! results, bit for bit (decoding keeps upstream's dot product).

    use super::{band_rows, COL_TILE};
    use crate::quantized::avx::{hsum_float_8 as horizontal_sum, mul_sum_us8_pairs_float as pair_sums};
    use crate::quantized::k_quants::{BlockQ8_0, QK8_0};
    use rayon::prelude::*;
    use std::arch::x86_64::*;

    /// Rows of a prompt's tile: they share every weight load, sign and scale.
    const ROWS: usize = 4;
    /// Columns of a prompt's tile: they share every activation load. Four rows by two
    /// columns is eight accumulators, which with the operands fits AVX2's 16 registers.
    const TILE_COLS: usize = 2;

    /// A band's activations, for the tiles: rows in groups of [`ROWS`], and within a group
    /// block by block, the group's four rows' bytes (32 each) side by side, then their four
    /// scales in f32, so that a tile reads both in order. The last group is padded with
    /// zero rows (scale 0), which add nothing.
    struct Band {
        bytes: Vec<i8>,
        scales: Vec<f32>,
        blocks: usize,
    }

    impl Band {
        fn new(rows: &[BlockQ8_0], blocks: usize) -> Self {
            let count = (rows.len() / blocks).next_multiple_of(ROWS);
            let mut bytes = vec![0i8; count * blocks * QK8_0];
            let mut scales = vec![0f32; count * blocks];
            for (row, row_blocks) in rows.chunks_exact(blocks).enumerate() {
                let (group, r) = (row / ROWS, row % ROWS);
                for (b, block) in row_blocks.iter().enumerate() {
                    let at = (group * blocks + b) * ROWS + r;
                    bytes[at * QK8_0..(at + 1) * QK8_0].copy_from_slice(&block.qs);
                    scales[at] = block.d.to_f32();
                }
            }
            Self {
                bytes,
                scales,
                blocks,
            }
        }
    }

    pub(super) fn matmul(
        (m, k, n): (usize, usize, usize),
        lhs: &[BlockQ8_0],
        rhs: &[BlockQ8_0],
        dst: &mut [f32],
    ) {
        let blocks = k / QK8_0;
        let band = band_rows(m);
        dst.par_chunks_mut(band * n)
            .enumerate()
            .for_each(|(band_idx, dst_band)| {
                let first_row = band_idx * band;
                let rows = dst_band.len() / n;
                let packed = Band::new(&lhs[first_row * blocks..(first_row + rows) * blocks], blocks);
                for col_start in (0..n).step_by(COL_TILE) {
                    let col_end = (col_start + COL_TILE).min(n);
                    for col in (col_start..col_end).step_by(TILE_COLS) {
                        let count = TILE_COLS.min(col_end - col);
                        // A short tile at an odd end repeats its first column; the repeat's
                        // sums are dropped.
                        let columns: [&[BlockQ8_0]; TILE_COLS] = std::array::from_fn(|c| {
                            let col = col + if c < count { c } else { 0 };
                            &rhs[col * blocks..(col + 1) * blocks]
                        });
                        for group in 0..rows.div_ceil(ROWS) {
                            // SAFETY: the CPU has the features this module is compiled for
                            // (the `cfg` above); `dot_tile` reads only inside `packed`
                            // (padded to whole groups) and `columns` (whole columns).
                            let sums = unsafe { dot_tile(&columns, &packed, group) };
                            for (c, col_sums) in sums.iter().enumerate().take(count) {
                                for (r, sum) in col_sums.iter().enumerate().take(rows - group * ROWS) {
                                    dst_band[(group * ROWS + r) * n + col + c] = *sum;
                                }
                            }
                        }
                    }
                }
            });
    }

    /// Two weight columns against one group of four rows of a band.
    #[inline]
    unsafe fn dot_tile(
        columns: &[&[BlockQ8_0]; TILE_COLS],
        band: &Band,
        group: usize,
    ) -> [[f32; ROWS]; TILE_COLS] {
        let mut sums = [[_mm256_setzero_ps(); ROWS]; TILE_COLS];
        for b in 0..band.blocks {
            let at = (group * band.blocks + b) * ROWS;
            let bytes = band.bytes.as_ptr().add(at * QK8_0);
            let scales = band.scales.as_ptr().add(at);
            for (col_sums, weights) in sums.iter_mut().zip(columns) {
                let w = _mm256_loadu_si256(weights[b].qs.as_ptr() as *const __m256i);
                let w_abs = _mm256_sign_epi8(w, w);
                let w_scale = _mm256_set1_ps(weights[b].d.to_f32());
                for (r, sum) in col_sums.iter_mut().enumerate() {
                    let a = _mm256_loadu_si256(bytes.add(r * QK8_0) as *const __m256i);
                    let products = pair_sums(w_abs, _mm256_sign_epi8(a, w));
                    let scale = _mm256_mul_ps(w_scale, _mm256_broadcast_ss(&*scales.add(r)));
                    *sum = _mm256_fmadd_ps(scale, products, *sum);
                }
            }
        }
        sums.map(|col_sums| col_sums.map(|sum| horizontal_sum(sum)))
    }
}
