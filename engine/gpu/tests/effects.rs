//! The picture effects (adjust, sharpen, 3D LUT, vignette, grain) against their CPU
//! references on random frames, and the properties that make each what it claims to be.

mod common;

use common::{assert_close, gpu, random_frame};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reelflow_gpu::kernels::adjust::{self, Adjust};
use reelflow_gpu::kernels::grain::{self, Grain};
use reelflow_gpu::kernels::lut::{self, CubeLut, GpuLut};
use reelflow_gpu::kernels::sharpen::{self, Sharpen};
use reelflow_gpu::kernels::vignette::{self, Vignette};
use reelflow_gpu::{GpuError, GpuFrame};

fn alphas(frame: &[u8]) -> Vec<u8> {
    frame.chunks_exact(4).map(|p| p[3]).collect()
}

const W: u32 = 123;
const H: u32 = 77;

#[test]
fn adjust_matches_the_cpu_reference_and_identity_is_exact() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(11);
    let src = random_frame(&mut rng, W, H);
    let input = GpuFrame::upload(&gpu, &src, W, H).unwrap();
    let out = GpuFrame::new(&gpu, W, H).unwrap();
    adjust::adjust(&gpu, &input, &Adjust::default(), &out).unwrap();
    assert_eq!(out.download(&gpu).unwrap(), src, "the default adjustment changes nothing");
    for params in [
        Adjust { brightness: 0.1, ..Adjust::default() },
        Adjust { contrast: 1.4, saturation: 0.5, ..Adjust::default() },
        Adjust { gamma: 2.2, ..Adjust::default() },
        Adjust { brightness: -0.2, contrast: 0.8, saturation: 1.7, gamma: 0.7 },
    ] {
        adjust::adjust(&gpu, &input, &params, &out).unwrap();
        let got = out.download(&gpu).unwrap();
        assert_close(&got, &adjust::cpu(&src, &params).unwrap(), &format!("{params:?}"));
        assert_eq!(alphas(&got), alphas(&src), "alpha is kept");
    }
    // Saturation 0 is grey: R = G = B.
    let grey = Adjust { saturation: 0.0, ..Adjust::default() };
    adjust::adjust(&gpu, &input, &grey, &out).unwrap();
    assert!(out.download(&gpu).unwrap().chunks_exact(4).all(|p| p[0].abs_diff(p[1]) <= 1 && p[1].abs_diff(p[2]) <= 1));
    // Brightening never darkens.
    let bright = Adjust { brightness: 0.2, ..Adjust::default() };
    adjust::adjust(&gpu, &input, &bright, &out).unwrap();
    assert!(out.download(&gpu).unwrap().iter().zip(&src).enumerate().all(|(i, (a, b))| i % 4 == 3 || a >= b));
    for bad in [Adjust { contrast: -1.0, ..Adjust::default() }, Adjust { gamma: f32::NAN, ..Adjust::default() }] {
        assert!(matches!(adjust::adjust(&gpu, &input, &bad, &out), Err(GpuError::Invalid(_))), "{bad:?}");
    }
}

#[test]
fn sharpen_matches_the_cpu_reference_and_steepens_edges() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(12);
    let src = random_frame(&mut rng, W, H);
    let input = GpuFrame::upload(&gpu, &src, W, H).unwrap();
    let (scratch, out) = (GpuFrame::new(&gpu, W, H).unwrap(), GpuFrame::new(&gpu, W, H).unwrap());
    for params in [Sharpen { amount: 0.5, sigma: 1.0 }, Sharpen { amount: 2.0, sigma: 2.5 }] {
        sharpen::sharpen(&gpu, &input, &params, &scratch, &out).unwrap();
        assert_close(&out.download(&gpu).unwrap(), &sharpen::cpu(&src, W, H, &params).unwrap(), &format!("{params:?}"));
    }
    sharpen::sharpen(&gpu, &input, &Sharpen { amount: 0.0, sigma: 1.0 }, &scratch, &out).unwrap();
    assert_eq!(out.download(&gpu).unwrap(), src, "amount 0 changes nothing");
    // A soft vertical edge (grey 80 | 170) gets darker on its dark side and brighter on its bright side.
    let (w, h) = (32u32, 8u32);
    let edge: Vec<u8> = (0..h)
        .flat_map(|_| {
            (0..w).flat_map(|x| {
                let v = if x < 16 { 80 } else { 170 };
                [v, v, v, 255]
            })
        })
        .collect();
    let input = GpuFrame::upload(&gpu, &edge, w, h).unwrap();
    let (scratch, out) = (GpuFrame::new(&gpu, w, h).unwrap(), GpuFrame::new(&gpu, w, h).unwrap());
    sharpen::sharpen(&gpu, &input, &Sharpen { amount: 1.0, sigma: 1.5 }, &scratch, &out).unwrap();
    let got = out.download(&gpu).unwrap();
    let at = |x: u32| got[((4 * w + x) * 4) as usize];
    assert!(at(15) < 80 && at(16) > 170, "edge not steepened: {} | {}", at(15), at(16));
    assert_eq!((at(2), at(29)), (80, 170), "flat areas stay flat");
}

fn swap_red_blue(size: u32) -> CubeLut {
    let mut lut = CubeLut::identity(size);
    for c in &mut lut.table {
        c.swap(0, 2);
    }
    lut
}

fn cube_text(lut: &CubeLut) -> String {
    let mut text =
        format!("# made by a test\nTITLE \"swap\"\nLUT_3D_SIZE {}\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\n\n", lut.size);
    for c in &lut.table {
        text.push_str(&format!("{:.6} {:.6} {:.6}\n", c[0], c[1], c[2]));
    }
    text
}

#[test]
fn cube_files_parse_and_their_errors_name_the_line() {
    let lut = swap_red_blue(3);
    let parsed = CubeLut::parse(&cube_text(&lut)).unwrap();
    let windows = format!("\u{feff}{}", cube_text(&lut).replace('\n', "\r\n"));
    assert_eq!(CubeLut::parse(&windows).unwrap(), parsed, "a BOM and CRLF lines read the same");
    assert_eq!((parsed.size, parsed.title.as_deref(), parsed.table.len()), (3, Some("swap"), 27));
    assert!(parsed.table.iter().zip(&lut.table).all(|(a, b)| (0..3).all(|k| (a[k] - b[k]).abs() < 1e-5)));
    let error = |text: &str| match CubeLut::parse(text) {
        Err(GpuError::Invalid(message)) => message,
        other => panic!("{text:?} gave {other:?}"),
    };
    assert!(error("LUT_1D_SIZE 1024\n").contains("line 1") && error("LUT_1D_SIZE 1024\n").contains("1D"));
    assert!(error("LUT_3D_SIZE 2\n0 0 0\n1 x 0\n").contains("line 3"));
    assert!(error("LUT_3D_SIZE 2\n0 0 0\n").contains("needs 8 entries"));
    assert!(error("# c\nLUT_3D_SIZE 2\nBOGUS 1\n").contains("line 3"));
    assert!(error("LUT_3D_SIZE 1\n").contains("LUT_3D_SIZE"));
    assert!(error("0 0 0\n").contains("before LUT_3D_SIZE"));
    assert!(error("\u{ff}\u{d8}garbage").contains("line 1"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("look.cube");
    std::fs::write(&file, "LUT_3D_SIZE 2\n").unwrap();
    let Err(GpuError::Invalid(message)) = CubeLut::load(&file) else { panic!("a short file loaded") };
    assert!(message.contains("look.cube"), "{message}");
    assert!(CubeLut::load(&dir.path().join("missing.cube")).is_err());
}

#[test]
fn luts_match_the_cpu_reference_identity_keeps_and_a_swap_swaps() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(13);
    let src = random_frame(&mut rng, W, H);
    let input = GpuFrame::upload(&gpu, &src, W, H).unwrap();
    let out = GpuFrame::new(&gpu, W, H).unwrap();
    let identity = GpuLut::new(&gpu, &CubeLut::identity(17)).unwrap();
    lut::apply_lut(&gpu, &input, &identity, 1.0, &out).unwrap();
    assert_close(&out.download(&gpu).unwrap(), &src, "identity LUT");
    let swap = swap_red_blue(9);
    let gpu_swap = GpuLut::new(&gpu, &swap).unwrap();
    lut::apply_lut(&gpu, &input, &gpu_swap, 1.0, &out).unwrap();
    let swapped: Vec<u8> = src.chunks_exact(4).flat_map(|p| [p[2], p[1], p[0], p[3]]).collect();
    assert_close(&out.download(&gpu).unwrap(), &swapped, "red/blue swap");
    lut::apply_lut(&gpu, &input, &gpu_swap, 0.0, &out).unwrap();
    assert_eq!(out.download(&gpu).unwrap(), src, "strength 0 changes nothing");
    // A random table, a narrowed domain, half strength.
    let mut random = CubeLut::identity(5);
    for c in &mut random.table {
        *c = [rng.random(), rng.random(), rng.random()];
    }
    random.domain_min = [0.1, 0.0, 0.05];
    random.domain_max = [0.9, 1.0, 0.8];
    let gpu_random = GpuLut::new(&gpu, &random).unwrap();
    for strength in [1.0, 0.5] {
        lut::apply_lut(&gpu, &input, &gpu_random, strength, &out).unwrap();
        assert_close(&out.download(&gpu).unwrap(), &lut::cpu(&src, &random, strength).unwrap(), "random LUT");
    }
    assert!(matches!(lut::apply_lut(&gpu, &input, &identity, 1.5, &out), Err(GpuError::Invalid(_))));
}

#[test]
fn vignette_matches_the_cpu_reference_and_darkens_only_the_corners() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(14);
    let src = random_frame(&mut rng, W, H);
    let input = GpuFrame::upload(&gpu, &src, W, H).unwrap();
    let out = GpuFrame::new(&gpu, W, H).unwrap();
    for params in [Vignette::default(), Vignette { strength: 1.0, radius: 0.2, softness: 0.3 }] {
        vignette::vignette(&gpu, &input, &params, &out).unwrap();
        assert_close(
            &out.download(&gpu).unwrap(),
            &vignette::cpu(&src, W, H, &params).unwrap(),
            &format!("{params:?}"),
        );
    }
    vignette::vignette(&gpu, &input, &Vignette { strength: 0.0, ..Vignette::default() }, &out).unwrap();
    assert_eq!(out.download(&gpu).unwrap(), src, "strength 0 changes nothing");
    let white = vec![255u8; (W * H * 4) as usize];
    input.write(&gpu, &white).unwrap();
    vignette::vignette(&gpu, &input, &Vignette::default(), &out).unwrap();
    let got = out.download(&gpu).unwrap();
    let px = |x: u32, y: u32| got[((y * W + x) * 4) as usize];
    assert_eq!(px(W / 2, H / 2), 255, "the centre is untouched");
    assert!(px(0, 0) < 160 && px(W - 1, H - 1) < 160, "corners darkened: {} {}", px(0, 0), px(W - 1, H - 1));
    assert!(px(0, 0) < px(W / 4, H / 4) && px(W / 4, H / 4) <= px(W / 2, H / 2), "darker toward the corner");
}

#[test]
fn grain_matches_the_cpu_reference_and_moves_every_frame() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(15);
    let src = random_frame(&mut rng, W, H);
    let input = GpuFrame::upload(&gpu, &src, W, H).unwrap();
    let out = GpuFrame::new(&gpu, W, H).unwrap();
    let params = Grain { strength: 0.8, seed: 3 };
    for frame in [0u64, 1, 1 << 40] {
        grain::grain(&gpu, &input, &params, frame, &out).unwrap();
        assert_close(&out.download(&gpu).unwrap(), &grain::cpu(&src, W, H, &params, frame).unwrap(), "grain");
    }
    let run = |frame: u64, params: &Grain| {
        grain::grain(&gpu, &input, params, frame, &out).unwrap();
        out.download(&gpu).unwrap()
    };
    assert_eq!(run(5, &params), run(5, &params), "the same frame gets the same grain");
    assert_ne!(run(5, &params), run(6, &params), "the next frame gets other grain");
    assert_ne!(run(5, &params), run(5, &Grain { seed: 4, ..params }), "another seed, other grain");
    assert_eq!(run(5, &Grain { strength: 0.0, seed: 3 }), src, "strength 0 changes nothing");
    // Over mid-grey the grain averages out, and more strength spreads it further.
    let grey = vec![128u8; (W * H * 4) as usize];
    input.write(&gpu, &grey).unwrap();
    let stats = |strength: f32| {
        let got = run(9, &Grain { strength, seed: 1 });
        let deltas: Vec<f64> = got.chunks_exact(4).map(|p| f64::from(p[0]) - 128.0).collect();
        let mean = deltas.iter().sum::<f64>() / deltas.len() as f64;
        let spread = (deltas.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / deltas.len() as f64).sqrt();
        (mean, spread)
    };
    let ((mean_low, low), (mean_high, high)) = (stats(0.3), stats(1.0));
    assert!(mean_low.abs() < 1.0 && mean_high.abs() < 1.0, "grain has no bias: {mean_low} {mean_high}");
    assert!(high > low * 2.0 && low > 1.0, "spread grows with strength: {low} → {high}");
}
