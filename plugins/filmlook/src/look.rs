// The film look's pixel math: luminance grain, a radial vignette and a colour tint, applied in
// place to RGBA8 pixels.
//
// This file is deliberately self-contained: it uses nothing outside `core`/`std`, has no inner
// attributes or inner doc comments, and names no other module of the plugin. The host's
// benchmark `include!`s (or `#[path]`s) this exact file to run the same effect natively and
// compare it with the WebAssembly build, so keep it that way.
//
// Everything in the per-pixel loop is integer arithmetic: the tint is a 3x3 matrix in Q12 fixed
// point, the grain is an integer hash scaled by a Q12 amplitude and rounded to whole levels, and
// the vignette is a per-pixel Q15 factor computed once per frame size, so a frame costs a handful
// of multiplies per pixel. Each step rounds on its own (tint, then grain, then vignette), so that
// the WebAssembly build can do all three in 16-bit SIMD lanes and still compute exactly what the
// portable loop computes.

/// The colour cast a [`Look`] gives the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tint {
    /// Reds up, blues down: a late-afternoon print stock.
    Warm,
    /// Blues up, reds down: a cold, overcast stock.
    Cool,
    /// The brown-toned monochrome of old prints.
    Sepia,
    /// No colour change.
    None,
}

/// Fixed-point shift of the tint matrix and the grain amplitude (Q12: 4096 is 1.0).
const TINT_SHIFT: u32 = 12;
/// Fixed-point shift of the vignette factors (Q15).
const VIG_SHIFT: u32 = 15;
/// The largest vignette factor, which stands for 1.0. It is 32767 rather than 32768 so that every
/// factor fits an `i16` (the simd128 loop multiplies with `i16x8.q15mulr_sat`); for levels 0..=255
/// the rounding makes `(level * 32767 + 16384) >> 15` equal `level`, so nothing changes.
const VIG_ONE: u16 = (1 << VIG_SHIFT) - 1;
/// Radius (0 at the centre, 1 at the corners) inside which the vignette leaves the picture alone.
const VIG_INNER: f32 = 0.25;

impl Tint {
    /// The tint's colour matrix (rows are output channels r, g, b) in Q12 fixed point.
    fn matrix(self) -> [[i32; 3]; 3] {
        let m: [[f32; 3]; 3] = match self {
            Tint::Warm => [[1.08, 0.0, 0.0], [0.0, 1.01, 0.0], [0.0, 0.0, 0.86]],
            Tint::Cool => [[0.90, 0.0, 0.0], [0.0, 0.98, 0.0], [0.0, 0.0, 1.10]],
            // The usual sepia-tone matrix: every output channel is a weighted grey.
            Tint::Sepia => [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]],
            Tint::None => [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        };
        m.map(|row| row.map(|c| (c * (1 << TINT_SHIFT) as f32).round() as i32))
    }
}

/// A configured film look: grain amplitude, vignette strength, tint and seed, plus the vignette
/// factors precomputed for one frame size.
#[derive(Clone, Debug)]
pub struct Look {
    /// Vignette strength, 0..1; kept to rebuild the table for another frame size.
    vignette: f32,
    /// Seed of the grain hash.
    seed: u32,
    /// Grain amplitude, `grain * 2048`: the per-pixel noise (odd integers in -255..=255) times
    /// this is the luminance offset in Q12, rounded to whole levels (see [`grain_levels`]).
    grain_q12: i32,
    /// The tint's colour matrix in Q12.
    matrix: [[i32; 3]; 3],
    /// Whether `matrix` is diagonal, so the inner loop can skip six multiplies.
    diagonal: bool,
    /// Size the vignette table was built for.
    width: u32,
    height: u32,
    /// One Q15 darkening factor per pixel, row-major, for `width` x `height`.
    vignette_table: Vec<u16>,
}

impl Look {
    /// Builds a look for frames of `width` x `height` pixels.
    ///
    /// `grain` (amplitude of the luminance noise) and `vignette` (darkening at the corners) are
    /// clamped to 0..1, NaN counting as 0. `seed` picks the grain pattern. The vignette factors
    /// are computed here once, so [`Look::apply`] on frames of this size does no floating point.
    pub fn new(grain: f32, vignette: f32, tint: Tint, seed: u32, width: u32, height: u32) -> Look {
        let grain = unit(grain);
        let vignette = unit(vignette);
        let matrix = tint.matrix();
        let diagonal = (0..3).all(|r| (0..3).all(|c| r == c || matrix[r][c] == 0));
        Look {
            vignette,
            seed,
            grain_q12: (grain * (1 << (TINT_SHIFT - 1)) as f32).round() as i32,
            matrix,
            diagonal,
            width,
            height,
            vignette_table: vignette_table(vignette, width, height),
        }
    }

    /// Rebuilds the vignette table for frames of another size; does nothing if the size is the
    /// one the look was built for. Call it when the frame size changes for good, so that
    /// [`Look::apply`] need not build a temporary table on every frame.
    pub fn resize(&mut self, width: u32, height: u32) {
        if (width, height) != (self.width, self.height) {
            self.width = width;
            self.height = height;
            self.vignette_table = vignette_table(self.vignette, width, height);
        }
    }

    /// Applies the look in place to `rgba` (`width` x `height` RGBA8 pixels, rows top to bottom
    /// without padding), the frame shown at `time` seconds. Alpha passes through unchanged.
    ///
    /// The grain depends only on the pixel's position, the frame's time in whole milliseconds
    /// and the seed, so the same frame always comes out the same. A size other than the one the
    /// look was built for works, but builds a temporary vignette table for this call.
    ///
    /// # Panics
    ///
    /// If `rgba.len()` is not `width * height * 4`.
    pub fn apply(&self, rgba: &mut [u8], width: u32, height: u32, time: f64) {
        let (w, h) = (width as usize, height as usize);
        assert_eq!(rgba.len(), w * h * 4, "an rgba8 frame of {width}x{height} must be {} bytes", w * h * 4);
        if w == 0 || h == 0 {
            return;
        }
        let temporary;
        let table: &[u16] = if (width, height) == (self.width, self.height) {
            &self.vignette_table
        } else {
            temporary = vignette_table(self.vignette, width, height);
            &temporary
        };
        // The frame number is the time in milliseconds: stable for a given frame whatever the
        // frame rate, and different for every frame of any rate below 1000 fps. `as` saturates
        // (NaN becomes 0) and the wrap to u32 only feeds a hash.
        let frame = (time * 1000.0).round() as i64 as u32;
        let frame_key = mix(frame ^ mix(self.seed ^ 0x9e37_79b9));
        // Scratch space for a row's grain in the WebAssembly SIMD loop.
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let mut grain = vec![0i16; w];
        let rows = rgba.chunks_exact_mut(w * 4).zip(table.chunks_exact(w));
        for (y, (row, vig_row)) in rows.enumerate() {
            let row_key = mix(frame_key ^ (y as u32).wrapping_mul(0x85eb_ca6b));
            // WebAssembly gets a hand-written SIMD loop: LLVM's autovectorised loop works in
            // 32-bit lanes and Cranelift spills its constants, while the look's levels fit
            // 16-bit lanes.
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            if simd128::fits(&self.matrix, self.diagonal) {
                simd128::shade_row(row, vig_row, &self.matrix, self.diagonal, self.grain_q12, row_key, &mut grain);
                continue;
            }
            portable_row(row, vig_row, &self.matrix, self.diagonal, self.grain_q12, row_key, 0);
        }
    }
}

/// Shades a row (or its end, from column `first_x`) with the portable loop, specialised for the
/// tint's shape and the grain once per row rather than branching per pixel.
fn portable_row(
    row: &mut [u8],
    vig_row: &[u16],
    m: &[[i32; 3]; 3],
    diagonal: bool,
    grain_q12: i32,
    row_key: u32,
    first_x: usize,
) {
    match (diagonal, grain_q12 != 0) {
        (true, false) => shade_row::<false, false>(row, vig_row, m, 0, row_key, first_x),
        (true, true) => shade_row::<false, true>(row, vig_row, m, grain_q12, row_key, first_x),
        (false, false) => shade_row::<true, false>(row, vig_row, m, 0, row_key, first_x),
        (false, true) => shade_row::<true, true>(row, vig_row, m, grain_q12, row_key, first_x),
    }
}

/// Clamps a strength to 0..1, NaN counting as 0.
fn unit(v: f32) -> f32 {
    if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) }
}

/// A 32-bit integer hash with good avalanche (Chris Wellons' "lowbias32"): two multiplies, so
/// cheap enough to run per pixel, and good enough that grain shows no pattern.
#[inline]
fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^= h >> 16;
    h
}

/// The vignette's Q15 darkening factor for every pixel of a `width` x `height` frame.
///
/// The radius is elliptical (normalised by half the width and half the height, so the falloff
/// follows the frame's shape) and scaled so the corners are at 1; the picture is untouched
/// inside [`VIG_INNER`] and darkens along a smoothstep to `1 - strength` at the corners.
fn vignette_table(strength: f32, width: u32, height: u32) -> Vec<u16> {
    let (w, h) = (width as usize, height as usize);
    if strength == 0.0 {
        return vec![VIG_ONE; w * h];
    }
    let one = (1u32 << VIG_SHIFT) as f32;
    // Squared normalised distance of each column and row from the centre, in -1..1 squared.
    let axis = |i: usize, n: usize| {
        let d = (i as f32 + 0.5) / n as f32 * 2.0 - 1.0;
        d * d
    };
    let dx2: Vec<f32> = (0..w).map(|x| axis(x, w)).collect();
    let mut table = Vec::with_capacity(w * h);
    for y in 0..h {
        let dy2 = axis(y, h);
        table.extend(dx2.iter().map(|&dx2| {
            let r = ((dx2 + dy2) * 0.5).sqrt();
            let t = ((r - VIG_INNER) / (1.0 - VIG_INNER)).clamp(0.0, 1.0);
            let falloff = t * t * (3.0 - 2.0 * t);
            ((1.0 - strength * falloff) * one).round().min(f32::from(VIG_ONE)) as u16
        }));
    }
    table
}

/// The grain of pixel `x` of the row whose hash key is `row_key`, in whole levels (rounded down
/// from Q12): a hashed noise value, odd in -255..=255 so that it is symmetric and does not shift
/// the brightness, times the Q12 amplitude. Grain 1 moves a pixel by up to ±128 levels.
#[inline(always)]
fn grain_levels(row_key: u32, x: u32, grain_q12: i32) -> i32 {
    let noise = ((mix(row_key ^ x.wrapping_mul(0x27d4_eb2d)) >> 23) as i32 | 1) - 256;
    (noise * grain_q12 + (1 << (TINT_SHIFT - 1))) >> TINT_SHIFT
}

/// Clamps to 0..=255 without branches: with grain, whether a channel clips is unpredictable
/// pixel to pixel, and compilers often turn `clamp` into branches that then mispredict.
#[inline]
fn clamp_u8(c: i32) -> i32 {
    // Negative: the sign mask clears it. Above 255: `255 - c` is negative, so its sign mask
    // sets every bit, and the final mask leaves 255.
    let c = c & !(c >> 31);
    (c | ((255 - c) >> 31)) & 255
}

/// Shades one row of pixels (or the end of one, starting at column `first_x`, which the grain
/// hash needs). `FULL` uses the whole tint matrix (sepia) rather than only its diagonal; `GRAIN`
/// adds the hashed noise. Both are constants so each combination compiles to a branch-free loop.
#[inline(always)]
fn shade_row<const FULL: bool, const GRAIN: bool>(
    row: &mut [u8],
    vig_row: &[u16],
    m: &[[i32; 3]; 3],
    grain_q12: i32,
    row_key: u32,
    first_x: usize,
) {
    const HALF: i32 = 1 << (TINT_SHIFT - 1);
    // Each pixel is handled as one little-endian u32 word (r in the low byte, alpha in the
    // high one), unpacked with shifts and masks and packed back with shifts and ors. Lanes are
    // then whole pixels, so compilers vectorise the loop with plain vector loads and stores
    // (SSE/AVX natively, simd128 in WebAssembly) instead of byte shuffles and per-byte stores.
    let (pixels, _) = row.as_chunks_mut::<4>();
    for (x, (px, &vig)) in pixels.iter_mut().zip(vig_row).enumerate() {
        let x = first_x + x;
        let word = u32::from_le_bytes(*px);
        let r = (word & 0xff) as i32;
        let g = ((word >> 8) & 0xff) as i32;
        let b = ((word >> 16) & 0xff) as i32;
        let (r2, g2, b2) = if FULL {
            (
                m[0][0] * r + m[0][1] * g + m[0][2] * b,
                m[1][0] * r + m[1][1] * g + m[1][2] * b,
                m[2][0] * r + m[2][1] * g + m[2][2] * b,
            )
        } else {
            (m[0][0] * r, m[1][1] * g, m[2][2] * b)
        };
        // The grain in whole levels, the same for the three channels (luminance noise).
        let grain = if GRAIN { grain_levels(row_key, x as u32, grain_q12) } else { 0 };
        let vig = vig as i32;
        let finish = |c: i32| {
            let level = clamp_u8(((c + HALF) >> TINT_SHIFT) + grain);
            ((level * vig + (1 << (VIG_SHIFT - 1))) >> VIG_SHIFT) as u32
        };
        let out = finish(r2) | finish(g2) << 8 | finish(b2) << 16 | (word & 0xff00_0000);
        *px = out.to_le_bytes();
    }
}

/// The shading loop in WebAssembly SIMD, eight pixels at a time with every channel level in a
/// 16-bit lane. It computes exactly what [`shade_row`] computes (the host's tests compare the
/// plugin with this file compiled natively, bit for bit).
///
/// The roundings are instances of `q15mulr(a, b) = (a * b + 2^14) >> 15`, which WebAssembly's
/// relaxed SIMD has as `i16x8.relaxed_q15mulr_s` (on x86 one `pmulhrsw`). It differs from the
/// saturating `i16x8.q15mulr_sat_s` (three instructions there) only when both operands are
/// -32768, which none of these can be, so the result is the same on every host:
///
/// - a diagonal tint (warm, cool, none): with the factor `m = 4096 + d`,
///   `(c * m + 2^11) >> 12` is `c + q15mulr(c, 8 * d)` (the `4096 * c` part divides exactly);
/// - grain: `(noise * amplitude + 2^11) >> 12` is `q15mulr(noise, 8 * amplitude)`;
/// - vignette: `(level * vig + 2^14) >> 15` is `q15mulr(level, vig)`.
///
/// A full matrix (sepia) needs the three products summed before rounding, so it goes through
/// 32 bits with `i32x4.dot_i16x8_s` on interleaved channels (`r g r g …` with `m0 m1 m0 m1 …`,
/// and `b 1 b 1 …` with `m2 2^11 m2 2^11 …`). Levels are capped at 255 before the vignette;
/// levels below 0 stay negative until the final narrowing to bytes saturates them to 0, which
/// is the same clamp. The grain goes first, in a pass of its own over the row into a small
/// buffer (it stays in the L1 cache), so that each loop's constants fit the sixteen vector
/// registers Cranelift allocates.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::*;

    use super::TINT_SHIFT;

    /// Whether the tint fits the 16-bit forms: `8 * (m - 4096)` of a diagonal, or every
    /// coefficient of a full matrix, in an `i16`. Every tint the plugin offers does.
    pub(super) fn fits(m: &[[i32; 3]; 3], diagonal: bool) -> bool {
        let fits = |v: i32| v.abs() <= i32::from(i16::MAX);
        if diagonal { (0..3).all(|c| fits(8 * (m[c][c] - 4096))) } else { m.iter().flatten().all(|&v| fits(v)) }
    }

    /// Shades one row with the tint `m` (which [`fits`]; `diagonal` says whether only its
    /// diagonal is used) and, when `grain_q12` is not 0, the grain. `grain` is scratch space for
    /// at least the row's width.
    pub(super) fn shade_row(
        row: &mut [u8],
        vig_row: &[u16],
        m: &[[i32; 3]; 3],
        diagonal: bool,
        grain_q12: i32,
        row_key: u32,
        grain: &mut [i16],
    ) {
        let pixels = vig_row.len().min(row.len() / 4);
        let vector_pixels = pixels & !7;
        let (head, tail) = row[..pixels * 4].split_at_mut(vector_pixels * 4);
        let (vig_head, vig_tail) = vig_row.split_at(vector_pixels);
        let grain = &mut grain[..vector_pixels];
        if grain_q12 != 0 {
            grain_row(grain, grain_q12, row_key);
        }
        match (diagonal, grain_q12 != 0) {
            (true, false) => shade::<false, false>(head, vig_head, m, grain),
            (true, true) => shade::<false, true>(head, vig_head, m, grain),
            (false, false) => shade::<true, false>(head, vig_head, m, grain),
            (false, true) => shade::<true, true>(head, vig_head, m, grain),
        }
        // The rest of a row whose width is not a multiple of 8 goes through the portable loop.
        super::portable_row(tail, vig_tail, m, diagonal, grain_q12, row_key, vector_pixels);
    }

    /// [`super::grain_levels`] for the first `out.len()` pixels of a row (a multiple of 8).
    // Relaxed SIMD is enabled here and in `shade` only, for `i16x8_relaxed_q15mulr`.
    #[target_feature(enable = "relaxed-simd")]
    fn grain_row(out: &mut [i16], grain_q12: i32, row_key: u32) {
        // The hash input of column x is `row_key ^ x * K`; `x * K` is stepped, not multiplied.
        const K: u32 = 0x27d4_eb2d;
        let mut low_keys = u32x4(0, K, K.wrapping_mul(2), K.wrapping_mul(3));
        let mut high_keys = i32x4_add(low_keys, u32x4_splat(K.wrapping_mul(4)));
        let step = u32x4_splat(K.wrapping_mul(8));
        let key = u32x4_splat(row_key);
        // At most 8 * 2048, which fits.
        let amplitude = i16x8_splat((8 * grain_q12) as i16);
        // The top nine bits of the hash, 0..=511. Its last step (`h ^= h >> 16`) leaves them as
        // they are, so it is skipped.
        let top_bits = |keys: v128| {
            let mut h = v128_xor(keys, key);
            h = v128_xor(h, u32x4_shr(h, 16));
            h = i32x4_mul(h, u32x4_splat(0x7feb_352d));
            h = v128_xor(h, u32x4_shr(h, 15));
            h = i32x4_mul(h, u32x4_splat(0x846c_a68b));
            u32x4_shr(h, 23)
        };
        for out in out.chunks_exact_mut(8) {
            let bits = i16x8_narrow_i32x4(top_bits(low_keys), top_bits(high_keys));
            let noise = i16x8_sub(v128_or(bits, i16x8_splat(1)), i16x8_splat(256));
            // SAFETY: `out` is 8 i16s (16 bytes), from `chunks_exact_mut`; WebAssembly stores
            // need no alignment.
            unsafe { v128_store(out.as_mut_ptr().cast::<v128>(), i16x8_relaxed_q15mulr(noise, amplitude)) };
            low_keys = i32x4_add(low_keys, step);
            high_keys = i32x4_add(high_keys, step);
        }
    }

    /// Shades a multiple of 8 pixels with the full matrix (`FULL`) or its diagonal; with
    /// `GRAIN`, `grain` holds each pixel's grain (from [`grain_row`]), otherwise it is not read.
    #[target_feature(enable = "relaxed-simd")]
    fn shade<const FULL: bool, const GRAIN: bool>(pixels: &mut [u8], vig: &[u16], m: &[[i32; 3]; 3], grain: &[i16]) {
        let half = 1 << (TINT_SHIFT - 1);
        // Diagonal: `8 * d` per channel. Full: per output channel, the (m0, m1) and (m2, half)
        // pairs for the dot products.
        let tint = |c: usize| {
            if FULL {
                let (m0, m1, m2) = (m[c][0] as i16, m[c][1] as i16, m[c][2] as i16);
                (i16x8(m0, m1, m0, m1, m0, m1, m0, m1), i16x8(m2, half, m2, half, m2, half, m2, half))
            } else {
                (i16x8_splat((8 * (m[c][c] - 4096)) as i16), i16x8_splat(0))
            }
        };
        let (tint_r, tint_g, tint_b) = (tint(0), tint(1), tint(2));
        let top = i16x8_splat(255);
        let ones = i16x8_splat(1);
        for (i, (px, vig)) in pixels.chunks_exact_mut(32).zip(vig.chunks_exact(8)).enumerate() {
            // SAFETY: `px` is 32 bytes and `vig` 8 u16s, from `chunks_exact`, and `grain` (when
            // read) has 8 i16s from `8 * i` on, as it is as long as `vig`; WebAssembly loads need
            // no alignment.
            let (low, high, factors, grain) = unsafe {
                (
                    v128_load(px.as_ptr().cast::<v128>()),
                    v128_load(px.as_ptr().add(16).cast::<v128>()),
                    v128_load(vig.as_ptr().cast::<v128>()),
                    if GRAIN { v128_load(grain.as_ptr().add(8 * i).cast::<v128>()) } else { i16x8_splat(0) },
                )
            };
            // Planes of the eight pixels: r0..r7 g0..g7 and b0..b7 a0..a7.
            let rg = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29>(low, high);
            let ba = i8x16_shuffle::<2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31>(low, high);
            let (r, g, b) = (u16x8_extend_low_u8x16(rg), u16x8_extend_high_u8x16(rg), u16x8_extend_low_u8x16(ba));
            // Interleaved channels for the full matrix (unused, and so dropped, for a diagonal).
            let rg_low = i8x16_shuffle::<0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23>(r, g);
            let rg_high = i8x16_shuffle::<8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31>(r, g);
            let b1_low = i8x16_shuffle::<0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23>(b, ones);
            let b1_high = i8x16_shuffle::<8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31>(b, ones);
            let shade = |c: v128, (t0, t1): (v128, v128)| {
                let tinted = if FULL {
                    let sum = |rg: v128, b1: v128| {
                        i32x4_shr(i32x4_add(i32x4_dot_i16x8(rg, t0), i32x4_dot_i16x8(b1, t1)), TINT_SHIFT)
                    };
                    i16x8_narrow_i32x4(sum(rg_low, b1_low), sum(rg_high, b1_high))
                } else {
                    i16x8_add(c, i16x8_relaxed_q15mulr(c, t0))
                };
                i16x8_relaxed_q15mulr(i16x8_min(i16x8_add(tinted, grain), top), factors)
            };
            let rg = u8x16_narrow_i16x8(shade(r, tint_r), shade(g, tint_g));
            let ba = u8x16_narrow_i16x8(shade(b, tint_b), u16x8_extend_high_u8x16(ba));
            let low = i8x16_shuffle::<0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27>(rg, ba);
            let high = i8x16_shuffle::<4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31>(rg, ba);
            // SAFETY: as for the loads.
            unsafe {
                v128_store(px.as_mut_ptr().cast::<v128>(), low);
                v128_store(px.as_mut_ptr().add(16).cast::<v128>(), high);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame with varied colours and alphas, so tests notice channels mixed up.
    fn test_frame(w: u32, h: u32) -> Vec<u8> {
        (0..w * h * 4).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
    }

    fn grey(w: u32, h: u32, level: u8) -> Vec<u8> {
        (0..w * h).flat_map(|_| [level, level, level, 255]).collect()
    }

    fn pixel(frame: &[u8], w: u32, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * w + x) * 4) as usize;
        [frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]
    }

    /// The look written the obvious way, one channel at a time in floating-point-free integer
    /// steps, as a reference for the packed, vectorisable loop.
    fn reference(look: &Look, rgba: &mut [u8], w: u32, time: f64) {
        let frame = (time * 1000.0).round() as i64 as u32;
        let frame_key = mix(frame ^ mix(look.seed ^ 0x9e37_79b9));
        for (i, px) in rgba.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            let row_key = mix(frame_key ^ y.wrapping_mul(0x85eb_ca6b));
            let noise = ((mix(row_key ^ x.wrapping_mul(0x27d4_eb2d)) >> 23) as i32 | 1) - 256;
            let grain = (noise * look.grain_q12 + (1 << (TINT_SHIFT - 1))) >> TINT_SHIFT;
            let vig = look.vignette_table[i] as i32;
            let rgb = [px[0] as i32, px[1] as i32, px[2] as i32];
            for (c, out) in px[..3].iter_mut().enumerate() {
                let tinted: i32 = (0..3).map(|k| look.matrix[c][k] * rgb[k]).sum::<i32>();
                let level = (((tinted + (1 << (TINT_SHIFT - 1))) >> TINT_SHIFT) + grain).clamp(0, 255);
                *out = ((level * vig + (1 << (VIG_SHIFT - 1))) >> VIG_SHIFT) as u8;
            }
        }
    }

    #[test]
    fn packed_loop_matches_the_per_channel_reference() {
        let (w, h) = (37, 23);
        for (grain, vignette, tint) in [
            (0.0, 0.0, Tint::None),
            (0.3, 0.0, Tint::Warm),
            (0.0, 0.7, Tint::Cool),
            (0.8, 0.5, Tint::Sepia),
            (1.0, 1.0, Tint::Warm),
        ] {
            let look = Look::new(grain, vignette, tint, 11, w, h);
            let mut fast = test_frame(w, h);
            let mut slow = fast.clone();
            look.apply(&mut fast, w, h, 0.75);
            reference(&look, &mut slow, w, 0.75);
            assert_eq!(fast, slow, "grain {grain}, vignette {vignette}, {tint:?}");
        }
    }

    #[test]
    fn neutral_settings_are_the_identity() {
        let look = Look::new(0.0, 0.0, Tint::None, 7, 33, 17);
        let original = test_frame(33, 17);
        let mut frame = original.clone();
        look.apply(&mut frame, 33, 17, 1.25);
        assert_eq!(frame, original);
    }

    #[test]
    fn vignette_darkens_corners_more_than_the_centre() {
        let (w, h) = (64, 36);
        let look = Look::new(0.0, 0.5, Tint::None, 1, w, h);
        let mut frame = grey(w, h, 200);
        look.apply(&mut frame, w, h, 0.0);
        let centre = pixel(&frame, w, w / 2, h / 2)[0];
        let edge = pixel(&frame, w, w - 1, h / 2)[0];
        let corner = pixel(&frame, w, 0, 0)[0];
        assert_eq!(centre, 200, "the centre is inside the untouched radius");
        assert!(corner < edge && edge < centre, "corner {corner}, edge {edge}, centre {centre}");
        // At the corner the factor is close to 1 - strength.
        assert!((95..=110).contains(&corner), "corner {corner}");
        for c in [pixel(&frame, w, w - 1, 0), pixel(&frame, w, 0, h - 1), pixel(&frame, w, w - 1, h - 1)] {
            assert_eq!(c[0], corner, "the vignette is symmetric");
        }
    }

    #[test]
    fn alpha_passes_through() {
        let look = Look::new(1.0, 1.0, Tint::Sepia, 3, 16, 16);
        let original = test_frame(16, 16);
        let mut frame = original.clone();
        look.apply(&mut frame, 16, 16, 0.5);
        for (a, b) in frame.chunks_exact(4).zip(original.chunks_exact(4)) {
            assert_eq!(a[3], b[3]);
        }
    }

    #[test]
    fn grain_is_deterministic_and_varies_with_time_and_seed() {
        let (w, h) = (40, 30);
        let run = |seed, time| {
            let mut frame = grey(w, h, 128);
            Look::new(0.3, 0.0, Tint::None, seed, w, h).apply(&mut frame, w, h, time);
            frame
        };
        assert_eq!(run(1, 2.5), run(1, 2.5));
        // Times that round to the same millisecond are the same frame.
        assert_eq!(run(1, 2.5), run(1, 2.5002));
        assert_ne!(run(1, 2.5), run(1, 2.541_666));
        assert_ne!(run(1, 2.5), run(2, 2.5));
        assert_ne!(run(1, 2.5), grey(w, h, 128), "grain changes the picture");
    }

    #[test]
    fn grain_is_luminance_noise_without_bias() {
        let (w, h) = (128, 128);
        let mut frame = grey(w, h, 128);
        Look::new(0.5, 0.0, Tint::None, 9, w, h).apply(&mut frame, w, h, 0.0);
        let mut sum = 0i64;
        for px in frame.chunks_exact(4) {
            assert!(px[0] == px[1] && px[1] == px[2], "grain must not colour the picture");
            assert!((64..=192).contains(&px[0]), "grain 0.5 moves at most 64 levels");
            sum += px[0] as i64 - 128;
        }
        let mean = sum as f64 / (w * h) as f64;
        assert!(mean.abs() < 1.0, "mean offset {mean}");
    }

    #[test]
    fn tints_shift_colour_the_right_way() {
        let tinted = |tint| {
            let mut frame = grey(4, 4, 128);
            Look::new(0.0, 0.0, tint, 1, 4, 4).apply(&mut frame, 4, 4, 0.0);
            pixel(&frame, 4, 0, 0)
        };
        let [r, _, b, _] = tinted(Tint::Warm);
        assert!(r > 128 && b < 128);
        let [r, _, b, _] = tinted(Tint::Cool);
        assert!(r < 128 && b > 128);
        let [r, g, b, _] = tinted(Tint::Sepia);
        assert!(r > g && g > b);
    }

    #[test]
    fn other_frame_sizes_match_a_look_built_for_them() {
        let built = Look::new(0.2, 0.4, Tint::Warm, 5, 20, 10);
        let mut resized = Look::new(0.2, 0.4, Tint::Warm, 5, 8, 8);
        let mut a = test_frame(20, 10);
        let mut b = a.clone();
        let mut c = a.clone();
        built.apply(&mut a, 20, 10, 3.0);
        resized.apply(&mut b, 20, 10, 3.0);
        resized.resize(20, 10);
        resized.apply(&mut c, 20, 10, 3.0);
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn out_of_range_strengths_are_clamped() {
        let mut a = test_frame(10, 10);
        let mut b = a.clone();
        Look::new(5.0, -1.0, Tint::None, 1, 10, 10).apply(&mut a, 10, 10, 0.0);
        Look::new(1.0, 0.0, Tint::None, 1, 10, 10).apply(&mut b, 10, 10, 0.0);
        assert_eq!(a, b);
        let mut c = test_frame(10, 10);
        let original = c.clone();
        Look::new(f32::NAN, f32::NAN, Tint::None, 1, 10, 10).apply(&mut c, 10, 10, 0.0);
        assert_eq!(c, original);
    }

    #[test]
    fn branch_free_clamp_matches_clamp() {
        for c in -70_000..70_000 {
            assert_eq!(clamp_u8(c), c.clamp(0, 255), "{c}");
        }
    }

    #[test]
    fn empty_frames_are_fine() {
        Look::new(0.5, 0.5, Tint::Warm, 1, 0, 0).apply(&mut [], 0, 0, 0.0);
        Look::new(0.5, 0.5, Tint::Warm, 1, 0, 5).apply(&mut [], 0, 5, 0.0);
    }

    #[test]
    #[should_panic(expected = "must be")]
    fn wrong_buffer_length_panics() {
        Look::new(0.5, 0.5, Tint::Warm, 1, 4, 4).apply(&mut [0; 15], 2, 2, 0.0);
    }
}
