// The film look's pixel math: luminance grain, a radial vignette and a colour tint, applied in
// place to RGBA8 pixels.
//
// This file is deliberately self-contained: it uses nothing outside `core`/`std`, has no inner
// attributes or inner doc comments, and names no other module of the plugin. The host's
// benchmark `include!`s (or `#[path]`s) this exact file to run the same effect natively and
// compare it with the WebAssembly build, so keep it that way.
//
// Everything in the per-pixel loop is integer arithmetic: the tint is a 3x3 matrix in Q12 fixed
// point, the grain is an integer hash scaled by a Q12 amplitude, and the vignette is a per-pixel
// Q15 factor computed once per frame size, so a frame costs a handful of multiplies per pixel.

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
/// Fixed-point shift of the vignette factors (Q15: 32768 is 1.0, which still fits a `u16`).
const VIG_SHIFT: u32 = 15;
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
    /// this is the luminance offset in Q12, so grain 1 moves a pixel by up to ±128 levels.
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
        let rows = rgba.chunks_exact_mut(w * 4).zip(table.chunks_exact(w));
        for (y, (row, vig_row)) in rows.enumerate() {
            let row_key = mix(frame_key ^ (y as u32).wrapping_mul(0x85eb_ca6b));
            // Pick a specialised loop once per row rather than branching per pixel.
            match (self.diagonal, self.grain_q12 != 0) {
                (true, false) => shade_row::<false, false>(row, vig_row, &self.matrix, 0, row_key),
                (true, true) => shade_row::<false, true>(row, vig_row, &self.matrix, self.grain_q12, row_key),
                (false, false) => shade_row::<true, false>(row, vig_row, &self.matrix, 0, row_key),
                (false, true) => shade_row::<true, true>(row, vig_row, &self.matrix, self.grain_q12, row_key),
            }
        }
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
        return vec![1 << VIG_SHIFT; w * h];
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
            ((1.0 - strength * falloff) * one).round() as u16
        }));
    }
    table
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

/// Shades one row of pixels. `FULL` uses the whole tint matrix (sepia) rather than only its
/// diagonal; `GRAIN` adds the hashed noise. Both are constants so each combination compiles to a
/// branch-free loop.
#[inline(always)]
fn shade_row<const FULL: bool, const GRAIN: bool>(
    row: &mut [u8],
    vig_row: &[u16],
    m: &[[i32; 3]; 3],
    grain_q12: i32,
    row_key: u32,
) {
    const HALF: i32 = 1 << (TINT_SHIFT - 1);
    // Each pixel is handled as one little-endian u32 word (r in the low byte, alpha in the
    // high one), unpacked with shifts and masks and packed back with shifts and ors. Lanes are
    // then whole pixels, so compilers vectorise the loop with plain vector loads and stores
    // (SSE/AVX natively, simd128 in WebAssembly) instead of byte shuffles and per-byte stores.
    let (pixels, _) = row.as_chunks_mut::<4>();
    for (x, (px, &vig)) in pixels.iter_mut().zip(vig_row).enumerate() {
        let word = u32::from_le_bytes(*px);
        let r = (word & 0xff) as i32;
        let g = ((word >> 8) & 0xff) as i32;
        let b = ((word >> 16) & 0xff) as i32;
        let (mut r2, mut g2, mut b2) = if FULL {
            (
                m[0][0] * r + m[0][1] * g + m[0][2] * b,
                m[1][0] * r + m[1][1] * g + m[1][2] * b,
                m[2][0] * r + m[2][1] * g + m[2][2] * b,
            )
        } else {
            (m[0][0] * r, m[1][1] * g, m[2][2] * b)
        };
        if GRAIN {
            // Odd values in -255..=255: symmetric, so the grain does not shift the brightness.
            let noise = ((mix(row_key ^ (x as u32).wrapping_mul(0x27d4_eb2d)) >> 23) as i32 | 1) - 256;
            // (noise / 256, in -1..1) * grain * 128 levels, in Q12: noise * grain * 2048.
            let offset = noise * grain_q12;
            r2 += offset;
            g2 += offset;
            b2 += offset;
        }
        let vig = vig as i32;
        let finish = |c: i32| {
            let level = clamp_u8((c + HALF) >> TINT_SHIFT);
            ((level * vig + (1 << (VIG_SHIFT - 1))) >> VIG_SHIFT) as u32
        };
        let out = finish(r2) | finish(g2) << 8 | finish(b2) << 16 | (word & 0xff00_0000);
        *px = out.to_le_bytes();
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
            let offset = noise * look.grain_q12;
            let vig = look.vignette_table[i] as i32;
            let rgb = [px[0] as i32, px[1] as i32, px[2] as i32];
            for (c, out) in px[..3].iter_mut().enumerate() {
                let tinted: i32 = (0..3).map(|k| look.matrix[c][k] * rgb[k]).sum::<i32>() + offset;
                let level = ((tinted + (1 << (TINT_SHIFT - 1))) >> TINT_SHIFT).clamp(0, 255);
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
