//! The picture and the sound: an aurora-like field of moving colour bands with drifting
//! particles, and a soft sine pad.
//!
//! The bands are a sum of four waves. Each wave is either `sin(f(x) + g(y))`, which expands to
//! `sin f · cos g + cos f · sin g`, or `sin f(x) · cos g(y)`, so all the trigonometry happens
//! once per column and once per row of a frame (a few thousand `sin` calls), and each pixel
//! costs seven multiply-adds and a palette lookup.

use std::f64::consts::TAU;

use crate::params::Params;

/// Entries in the palette lookup table.
const LUT_SIZE: usize = 1024;
/// The field values the palette spans; values outside are clamped to its ends.
const FIELD_MIN: f32 = -2.2;
const FIELD_MAX: f32 = 2.2;

/// A configured generator: params, frame size and everything that can be computed once.
#[derive(Clone, Debug)]
pub struct Sky {
    width: u32,
    height: u32,
    /// Time multiplier.
    speed: f64,
    /// Pitch of the pad, if any.
    tone_hz: Option<f64>,
    /// RGBA for each field value, darkest to brightest.
    lut: Vec<[u8; 4]>,
    /// Per-wave phase offsets from the seed, so different seeds give different skies.
    phases: [f64; 7],
    /// The particles, from the seed.
    particles: Vec<Particle>,
    /// The particles' colour: the brightest palette colour, lightened.
    particle_rgb: [f32; 3],
}

/// One drifting particle. Positions and speeds are in fractions of the frame per second, so the
/// same seed gives the same motion at any size.
#[derive(Clone, Debug)]
struct Particle {
    x: f64,
    y: f64,
    vx: f64,
    vy: f64,
    /// Radius of the glow in pixels at a 1080-pixel short side.
    radius: f64,
    /// Twinkle rate (Hz) and phase (turns).
    twinkle_hz: f64,
    twinkle_phase: f64,
}

/// A small, fast, deterministic generator (`SplitMix64`) for the seed-derived values; WASI
/// randomness would make frames unrepeatable.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }
}

impl Sky {
    /// Prepares a generator for frames of `width` x `height` pixels.
    pub fn new(params: &Params, width: u32, height: u32) -> Sky {
        let mut rng = SplitMix(u64::from(params.seed));
        let phases = std::array::from_fn(|_| rng.range(0.0, TAU));
        let particles = (0..params.particles)
            .map(|_| Particle {
                x: rng.range(0.0, 1.0),
                y: rng.range(0.0, 1.0),
                vx: rng.range(-0.012, 0.012),
                vy: rng.range(-0.035, -0.008),
                radius: rng.range(2.5, 7.0),
                twinkle_hz: rng.range(0.2, 1.2),
                twinkle_phase: rng.range(0.0, 1.0),
            })
            .collect();
        let bright = params.colors[2].map(f32::from);
        Sky {
            width,
            height,
            speed: params.speed,
            tone_hz: params.tone_hz,
            lut: palette(&params.colors),
            phases,
            particles,
            particle_rgb: bright.map(|c| c + (255.0 - c) * 0.7),
        }
    }

    /// Width and height of the frames.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The picture at `time` seconds: `width * height * 4` bytes of rgba8, alpha 255.
    pub fn frame(&self, time: f64) -> Vec<u8> {
        let mut rgba = vec![0; self.width as usize * self.height as usize * 4];
        self.draw_bands(time * self.speed, &mut rgba);
        self.draw_particles(time * self.speed, &mut rgba);
        rgba
    }

    /// Fills `rgba` with the colour bands at (scaled) time `t`.
    fn draw_bands(&self, t: f64, rgba: &mut [u8]) {
        let (w, h) = (self.width as usize, self.height as usize);
        if w == 0 || h == 0 {
            return;
        }
        // Coordinates in units of the short side, so the bands have the same size in any aspect.
        let unit = 1.0 / f64::from(self.width.min(self.height));
        let p = &self.phases;
        // Per column: the x-dependent factors of the four waves, already weighted.
        let columns: Vec<[f32; 7]> = (0..w)
            .map(|x| {
                let x = (x as f64 + 0.5) * unit;
                // Wave 1 (the curtains): sin(5x + 0.5t + g1(y)).
                let a1 = 5.0 * x + 0.5 * t + p[0];
                // Wave 2: sin(f2(y) + 1.3 sin(4.3x + 0.3t)).
                let g2 = 1.3 * (4.3 * x + 0.3 * t + p[1]).sin();
                // Wave 3 (diagonal): sin(2.6x + 0.6t + 2.6y).
                let a3 = 2.6 * x + 0.6 * t + p[2];
                // Wave 4: sin(3.7x - 0.35t) * cos(2.9y + 0.25t).
                let a4 = (3.7 * x - 0.35 * t + p[3]).sin();
                [
                    a1.sin() as f32,
                    a1.cos() as f32,
                    (0.6 * g2.cos()) as f32,
                    (0.6 * g2.sin()) as f32,
                    (0.5 * a3.sin()) as f32,
                    (0.5 * a3.cos()) as f32,
                    (0.5 * a4) as f32,
                ]
            })
            .collect();
        let scale = (LUT_SIZE - 1) as f32 / (FIELD_MAX - FIELD_MIN);
        for (y, row) in rgba.chunks_exact_mut(w * 4).enumerate() {
            let fy = y as f64 / h as f64;
            let y = (y as f64 + 0.5) * unit;
            let g1 = 1.8 * (2.2 * y + 0.7 * t + p[4]).sin();
            let a2 = 3.1 * y - 0.4 * t + p[5];
            let a3 = 2.6 * y;
            let b4 = (2.9 * y + 0.25 * t + p[6]).cos();
            // Brighter towards the top, fading to the darkest colour at the bottom.
            let bias = 0.3 - 1.2 * fy * fy.sqrt();
            let (sg1, cg1) = (g1.sin() as f32, g1.cos() as f32);
            let (s2, c2) = (a2.sin() as f32, a2.cos() as f32);
            let (s3, c3) = (a3.sin() as f32, a3.cos() as f32);
            let b4 = b4 as f32;
            // The offset that maps the field to a table index, with the row's bias folded in.
            let offset = (bias as f32 - FIELD_MIN) * scale;
            for (px, c) in row.chunks_exact_mut(4).zip(&columns) {
                let v = c[0] * cg1 + c[1] * sg1 + s2 * c[2] + c2 * c[3] + c[4] * c3 + c[5] * s3 + c[6] * b4;
                // `as usize` saturates negatives to 0.
                let index = ((v * scale + offset) as usize).min(LUT_SIZE - 1);
                px.copy_from_slice(&self.lut[index]);
            }
        }
    }

    /// Blends the particles, soft glowing discs that drift up and twinkle, over `rgba`.
    fn draw_particles(&self, t: f64, rgba: &mut [u8]) {
        let (w, h) = (f64::from(self.width), f64::from(self.height));
        let size_scale = w.min(h) / 1080.0;
        for p in &self.particles {
            let cx = (p.x + p.vx * t).rem_euclid(1.0) * w;
            let cy = (p.y + p.vy * t).rem_euclid(1.0) * h;
            let radius = (p.radius * size_scale).max(1.0);
            let glow = 0.55 + 0.45 * (TAU * (p.twinkle_hz * t + p.twinkle_phase)).sin();
            let x0 = (cx - radius).floor().max(0.0) as u32;
            let y0 = (cy - radius).floor().max(0.0) as u32;
            let x1 = ((cx + radius).ceil() as u32).min(self.width);
            let y1 = ((cy + radius).ceil() as u32).min(self.height);
            for y in y0..y1 {
                let dy = f64::from(y) + 0.5 - cy;
                for x in x0..x1 {
                    let dx = f64::from(x) + 0.5 - cx;
                    let d = (dx * dx + dy * dy).sqrt() / radius;
                    if d >= 1.0 {
                        continue;
                    }
                    let alpha = (glow * (1.0 - d) * (1.0 - d)) as f32;
                    let i = (y as usize * self.width as usize + x as usize) * 4;
                    for (channel, target) in rgba[i..i + 3].iter_mut().zip(self.particle_rgb) {
                        let c = f32::from(*channel);
                        *channel = (c + (target - c) * alpha).round() as u8;
                    }
                }
            }
        }
    }

    /// `frames` sample frames of the pad starting at `start` seconds, channel-interleaved, or
    /// `None` if no tone was asked for. Every sample is a function of its absolute time, so
    /// consecutive blocks join without clicks.
    pub fn sound(&self, start: f64, sample_rate: u32, channels: u8, frames: u32) -> Option<Vec<f32>> {
        let hz = self.tone_hz?;
        let mut samples = Vec::with_capacity(frames as usize * usize::from(channels));
        let rate = f64::from(sample_rate);
        // `fract` keeps the phase small, so precision does not drift over a long clip.
        let wave = |cycles: f64| (TAU * cycles.fract()).sin();
        for i in 0..frames {
            let t = start + f64::from(i) / rate;
            // A fundamental with a soft octave and fifth: a pad rather than a test tone.
            let tone = 0.6 * wave(hz * t) + 0.25 * wave(2.0 * hz * t) + 0.15 * wave(1.5 * hz * t);
            // Slow tremolo between 0.5 and 1, so the peak stays at the 0.2 amplitude.
            let tremolo = 0.75 + 0.25 * wave(0.5 * t);
            let sample = (0.2 * tremolo * tone) as f32;
            samples.extend(std::iter::repeat_n(sample, usize::from(channels)));
        }
        Some(samples)
    }
}

/// Where the palette's ramps start and end, as fractions of the table: the darkest colour holds
/// up to [`RAMP_START`] (an aurora is mostly night sky), ramps to the middle colour by
/// [`RAMP_MIDDLE`] and to the brightest at the end.
const RAMP_START: f32 = 0.3;
const RAMP_MIDDLE: f32 = 0.64;

/// The palette lookup table: see [`RAMP_START`]. Each ramp follows a smoothstep so the bands
/// have soft edges.
fn palette(colors: &[[u8; 3]; 3]) -> Vec<[u8; 4]> {
    (0..LUT_SIZE)
        .map(|i| {
            let v = i as f32 / (LUT_SIZE - 1) as f32;
            let (from, to, t) = if v < RAMP_MIDDLE {
                (colors[0], colors[1], ((v - RAMP_START) / (RAMP_MIDDLE - RAMP_START)).max(0.0))
            } else {
                (colors[1], colors[2], (v - RAMP_MIDDLE) / (1.0 - RAMP_MIDDLE))
            };
            let t = t * t * (3.0 - 2.0 * t);
            let mix = |c: usize| (f32::from(from[c]) + (f32::from(to[c]) - f32::from(from[c])) * t).round() as u8;
            [mix(0), mix(1), mix(2), 255]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sky(particles: u32, seed: u32) -> Sky {
        Sky::new(&Params { particles, seed, ..Params::default() }, 96, 54)
    }

    #[test]
    fn frames_are_opaque_rgba_of_the_right_size() {
        let frame = sky(60, 1).frame(1.5);
        assert_eq!(frame.len(), 96 * 54 * 4);
        assert!(frame.chunks_exact(4).all(|px| px[3] == 255));
    }

    #[test]
    fn frames_are_deterministic_and_move() {
        let s = sky(60, 1);
        assert_eq!(s.frame(2.0), s.frame(2.0));
        assert_eq!(s.frame(2.0), sky(60, 1).frame(2.0));
        assert_ne!(s.frame(2.0), s.frame(2.04));
        assert_ne!(s.frame(2.0), sky(60, 2).frame(2.0), "the seed changes the sky");
        assert_ne!(sky(0, 1).frame(2.0), sky(60, 1).frame(2.0), "particles show");
        let still = Sky::new(&Params { speed: 0.0, ..Params::default() }, 32, 32);
        assert_eq!(still.frame(0.0), still.frame(10.0), "speed 0 is a still picture");
    }

    #[test]
    fn colours_come_from_the_palette() {
        let grey = [[90, 90, 90]; 3];
        let s = Sky::new(&Params { colors: grey, particles: 0, ..Params::default() }, 40, 30);
        assert!(s.frame(3.0).chunks_exact(4).all(|px| px == [90, 90, 90, 255]));
        // The bands span the palette: both dark and bright pixels appear.
        let frame = Sky::new(&Params { particles: 0, ..Params::default() }, 160, 90).frame(0.0);
        let luma = |px: &[u8]| u32::from(px[0]) + u32::from(px[1]) + u32::from(px[2]);
        let (lo, hi) = frame.chunks_exact(4).fold((u32::MAX, 0), |(lo, hi), px| (lo.min(luma(px)), hi.max(luma(px))));
        assert!(hi - lo > 200, "range {lo}..{hi}");
    }

    #[test]
    fn odd_sizes_work() {
        for (w, h) in [(1, 1), (1, 7), (7, 1), (0, 0), (3, 1000)] {
            let s = Sky::new(&Params { particles: 500, ..Params::default() }, w, h);
            assert_eq!(s.frame(5.0).len(), (w * h * 4) as usize);
        }
    }

    #[test]
    fn silence_without_a_tone() {
        assert_eq!(sky(0, 1).sound(0.0, 48_000, 2, 100), None);
    }

    #[test]
    fn the_pad_is_soft_interleaved_and_continuous() {
        let s = Sky::new(&Params { tone_hz: Some(220.0), ..Params::default() }, 8, 8);
        let block = s.sound(1.0, 48_000, 2, 4800).unwrap();
        assert_eq!(block.len(), 9600);
        assert!(block.iter().all(|v| v.abs() <= 0.2));
        assert!(block.iter().any(|v| v.abs() > 0.05), "not silent");
        assert!(block.chunks_exact(2).all(|lr| lr[0] == lr[1]));
        // Two consecutive blocks equal one long block.
        let whole = s.sound(0.0, 44_100, 1, 2000).unwrap();
        let mut halves = s.sound(0.0, 44_100, 1, 1000).unwrap();
        halves.extend(s.sound(1000.0 / 44_100.0, 44_100, 1, 1000).unwrap());
        for (a, b) in whole.iter().zip(&halves) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
