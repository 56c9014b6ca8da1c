//! Reelflow's change to the vendored candle-core (`engine/vendor/candle-core`): a quantized
//! matmul of several rows (a prompt) runs tiled, in one parallel dispatch. It must give
//! exactly what the one-row path (decoding, upstream's loop) gives for each row: both use
//! the same dot product per row and column, only the order of the work differs.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

fn check(dtype: GgmlDType, (m, k, n): (usize, usize, usize)) {
    let device = Device::Cpu;
    let weights = Tensor::randn(0f32, 1.0, (n, k), &device).unwrap();
    let quantized = QTensor::quantize(&weights, dtype).unwrap();
    let dequantized = quantized.dequantize(&device).unwrap();
    let matmul = QMatMul::from_qtensor(quantized).unwrap();
    assert!(matches!(matmul, QMatMul::QTensor(_)), "{dtype:?} stays quantized");
    let input = Tensor::randn(0f32, 1.0, (m, k), &device).unwrap();
    let all_rows: Vec<Vec<f32>> = matmul.forward(&input).unwrap().to_vec2().unwrap();
    assert_eq!(all_rows.len(), m);
    for (row, tiled) in all_rows.iter().enumerate() {
        let single: Vec<Vec<f32>> = matmul.forward(&input.narrow(0, row, 1).unwrap()).unwrap().to_vec2().unwrap();
        assert_eq!(tiled, &single[0], "{dtype:?} {m}×{k}×{n}, row {row}");
    }
    // And it is the matmul: against the dequantized weights in f32, the difference is the
    // 8-bit quantization of the input rows: about 0.005 a term, so 0.005·√k for a sum of k
    // terms, and up to 4.5 times that over thousands of outputs.
    let reference: Vec<Vec<f32>> = input.matmul(&dequantized.t().unwrap()).unwrap().to_vec2().unwrap();
    let worst =
        all_rows.iter().flatten().zip(reference.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 0.04 * (k as f32).sqrt(), "{dtype:?} {m}×{k}×{n}: off by {worst}");
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
