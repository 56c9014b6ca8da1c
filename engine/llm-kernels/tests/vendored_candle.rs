//! Reelflow's change to the vendored candle-core (`engine/vendor/candle-core`): a quantized
//! matmul of several rows (a prompt) runs tiled, in one parallel dispatch, and Q8_0 has
//! kernels of its own for prompts and for decoding (AVX2, or AVX-512 VNNI). A prompt's rows
//! must give exactly what the one-row path (decoding) gives for each row: both compute the
//! same dot product per row and column, only the order of the work differs. The VNNI kernels
//! are the exception: their f32 additions come in another order.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor, ggml_file};
use candle_core::{Device, Module, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// Normal-ish values (sum of uniforms), from a seeded generator so that failures repeat.
fn random(rng: &mut StdRng, shape: (usize, usize)) -> Tensor {
    let values = (0..shape.0 * shape.1).map(|_| (0..4).map(|_| rng.random_range(-0.87f32..0.87)).sum()).collect();
    Tensor::from_vec::<_, f32>(values, shape, &Device::Cpu).unwrap()
}

fn check(dtype: GgmlDType, (m, k, n): (usize, usize, usize)) {
    let device = Device::Cpu;
    let mut rng = StdRng::seed_from_u64((m * 1_000_003 + k * 1009 + n) as u64 ^ dtype as u64);
    let weights = random(&mut rng, (n, k));
    let quantized = QTensor::quantize(&weights, dtype).unwrap();
    let dequantized = quantized.dequantize(&device).unwrap();
    let matmul = QMatMul::from_qtensor(quantized).unwrap();
    assert!(matches!(matmul, QMatMul::QTensor(_)), "{dtype:?} stays quantized");
    let input = random(&mut rng, (m, k));
    let all_rows: Vec<Vec<f32>> = matmul.forward(&input).unwrap().to_vec2().unwrap();
    assert_eq!(all_rows.len(), m);
    for (row, tiled) in all_rows.iter().enumerate() {
        let single: Vec<Vec<f32>> = matmul.forward(&input.narrow(0, row, 1).unwrap()).unwrap().to_vec2().unwrap();
        if vnni_q8_0(dtype) {
            // Exact integer sums on both paths, f32 additions in another order: rounding of
            // the order of 1e-7 of partial sums that grow like √k (terms of a few units), and
            // results that may cancel down to far less than that.
            for (a, b) in tiled.iter().zip(&single[0]) {
                assert!((a - b).abs() <= 1e-4 * (k as f32).sqrt(), "{dtype:?} {m}×{k}×{n}, row {row}: {a} vs {b}");
            }
        } else {
            assert_eq!(tiled, &single[0], "{dtype:?} {m}×{k}×{n}, row {row}");
        }
    }
    // And it is the matmul: against the dequantized weights in f32, the difference is the
    // 8-bit quantization of the input rows: about 0.005 a term with Q8_0's 32-value blocks
    // (0.007 with the K-quants' 256-value ones), so that times √k for a sum of k terms, and
    // up to 5 times that over tens of thousands of outputs. A wrong row or column is off by
    // about √k.
    let reference: Vec<Vec<f32>> = input.matmul(&dequantized.t().unwrap()).unwrap().to_vec2().unwrap();
    let worst =
        all_rows.iter().flatten().zip(reference.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 0.08 * (k as f32).sqrt(), "{dtype:?} {m}×{k}×{n}: off by {worst}");
}

/// Q8_0 on an AVX-512 VNNI build takes kernels whose f32 additions come in another order
/// for prompts than for decoding. (The AVX2 ones keep upstream's order in both.)
fn vnni_q8_0(dtype: GgmlDType) -> bool {
    dtype == GgmlDType::Q8_0 && cfg!(all(target_arch = "x86_64", target_feature = "avx512vnni"))
}

#[test]
fn prompt_rows_equal_single_rows_for_every_quantization_reelflow_uses() {
    for dtype in [
        GgmlDType::Q8_0,
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
        GgmlDType::Q2K,
    ] {
        for shape in [(4, 256, 64), (37, 512, 130), (100, 256, 300), (17, 768, 1)] {
            check(dtype, shape);
        }
    }
}

#[test]
fn q8_0_prompts_with_an_odd_number_of_blocks_match_single_rows() {
    // The VNNI kernel takes blocks in pairs and rows in fours; these leave remainders of both.
    for shape in [(9, 96, 70), (5, 32, 3), (6, 160, 17)] {
        check(GgmlDType::Q8_0, shape);
    }
}

#[test]
fn q8_0_decoding_rows_match_the_reference() {
    // One to three rows take the one-row kernel: inline for small products, split over
    // threads from 65,536 multiply-adds a row on, with column counts that are not multiples
    // of the four columns it computes together.
    for shape in [(1, 1024, 1100), (1, 576, 49), (2, 96, 7), (3, 32, 5), (1, 2048, 1537)] {
        check(GgmlDType::Q8_0, shape);
    }
}

#[test]
fn q8_0_weight_bytes_of_minus_128_multiply_exactly() {
    // Quantizers write Q8_0 bytes in -127..=127, but a GGUF file may hold -128. AVX2 takes
    // `|x|` of one side and flips the other's signs; flipping a -128 wraps around, so the
    // kernels must take `|w|` of the weights (as upstream does), never `|a|`. Every weight
    // here is ±128 or ±127 times its scale, and the inputs have both signs.
    let device = Device::Cpu;
    let (k, n) = (96, 10);
    let mut raw = Vec::new();
    for col in 0..n {
        for block in 0..k / 32 {
            raw.extend_from_slice(&half::f16::from_f32(0.001 * (1 + col + block) as f32).to_bits().to_le_bytes());
            raw.extend((0..32).map(|i| if (i + col) % 3 == 0 { 0x80u8 } else { [0x7f, 0x81][(i + block) % 2] }));
        }
    }
    let weights = ggml_file::qtensor_from_ggml(GgmlDType::Q8_0, &raw, vec![n, k], &device).unwrap();
    let dequantized = weights.dequantize(&device).unwrap();
    let matmul = QMatMul::from_qtensor(weights).unwrap();
    for m in [1, 3, 4, 9] {
        let mut rng = StdRng::seed_from_u64(m as u64);
        let input = random(&mut rng, (m, k));
        let ours: Vec<Vec<f32>> = matmul.forward(&input).unwrap().to_vec2().unwrap();
        let reference: Vec<Vec<f32>> = input.matmul(&dequantized.t().unwrap()).unwrap().to_vec2().unwrap();
        // Weights of at most 0.012 × 128 = 1.5: the inputs' 8-bit rounding (at most 0.014)
        // is worth at most 0.02 a term and about 0.05 over 96 terms. A wrapped -128 is off
        // by 2·128·scale·|a| ≥ 0.25·|a| on each of about 16 terms of a row.
        for (row, (a, b)) in ours.iter().zip(&reference).enumerate() {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 0.3, "{m} rows, row {row}: {x} vs {y}");
            }
        }
    }
}

/// Upstream's Q8_0 quantization of one block, as candle 0.10.2 writes it.
fn upstream_q8_0(xs: &[f32]) -> Vec<u8> {
    let mut amax = 0f32;
    for &x in xs {
        amax = amax.max(x.abs())
    }
    let d = amax / 127.0;
    let id = if d != 0f32 { 1. / d } else { 0. };
    let mut block = half::f16::from_f32(d).to_le_bytes().to_vec();
    block.extend(xs.iter().map(|&x| f32::round(x * id) as i8 as u8));
    block
}

#[test]
fn q8_0_quantization_gives_upstreams_bytes() {
    // The vendored `BlockQ8_0::from_float` is rewritten to vectorise; its output must not
    // change. Random blocks, plus exact halves (which round away from zero), zeros, NaN and
    // infinities.
    let mut rng = StdRng::seed_from_u64(5);
    let mut values: Vec<f32> = (0..32 * 60).map(|_| rng.random_range(-3.0f32..3.0)).collect();
    let mut special = vec![0f32; 32 * 4];
    special[0] = 127.0;
    special[1..8].copy_from_slice(&[2.5, -3.5, 0.5, -0.5, 126.5, -126.5, 1.4999999]);
    special[64] = f32::NAN;
    special[65] = 1.0;
    special[96] = f32::INFINITY;
    special[97] = -2.0;
    values.extend(special);
    let tensor = Tensor::from_vec(values.clone(), (values.len() / 32, 32), &Device::Cpu).unwrap();
    let quantized = QTensor::quantize(&tensor, GgmlDType::Q8_0).unwrap();
    let expected: Vec<u8> = values.chunks_exact(32).flat_map(upstream_q8_0).collect();
    assert_eq!(quantized.data().unwrap().as_ref(), expected.as_slice());
}
