//! YUV 4:2:0 ↔ RGBA conversion against its CPU reference, and against known colours.

mod common;

use common::{assert_close, gpu};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reelflow_gpu::kernels::yuv::{self, ColorSpace, GpuYuv, Matrix, Range, YuvFormat, YuvPlanes};
use reelflow_gpu::{GpuError, GpuFrame};

fn spaces() -> [ColorSpace; 4] {
    [
        ColorSpace { matrix: Matrix::Bt709, range: Range::Limited },
        ColorSpace { matrix: Matrix::Bt709, range: Range::Full },
        ColorSpace { matrix: Matrix::Bt601, range: Range::Limited },
        ColorSpace { matrix: Matrix::Bt601, range: Range::Full },
    ]
}

/// Random planes with padded rows, as a decoder lays them out.
fn random_planes(rng: &mut StdRng, format: YuvFormat, w: usize, h: usize) -> Vec<(Vec<u8>, usize)> {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let plane = |rng: &mut StdRng, row: usize, rows: usize| {
        let stride = row + 13;
        ((0..stride * rows).map(|_| rng.random()).collect::<Vec<u8>>(), stride)
    };
    match format {
        YuvFormat::Yuv420p => vec![plane(rng, w, h), plane(rng, cw, ch), plane(rng, cw, ch)],
        YuvFormat::Nv12 => vec![plane(rng, w, h), plane(rng, 2 * cw, ch)],
    }
}

#[test]
fn yuv_to_rgba_matches_the_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(7);
    for format in [YuvFormat::Yuv420p, YuvFormat::Nv12] {
        for (w, h) in [(123u32, 77u32), (64, 36)] {
            let owned = random_planes(&mut rng, format, w as usize, h as usize);
            let views: Vec<(&[u8], usize)> = owned.iter().map(|(d, s)| (d.as_slice(), *s)).collect();
            let planes = YuvPlanes { format, width: w, height: h, planes: &views };
            let picture = GpuYuv::new(&gpu, format, w, h).unwrap();
            picture.write(&gpu, &planes).unwrap();
            let out = GpuFrame::new(&gpu, w, h).unwrap();
            for color in spaces() {
                yuv::to_rgba(&gpu, &picture, color, &out).unwrap();
                let expected = yuv::cpu_to_rgba(&planes, color);
                assert_close(&out.download(&gpu).unwrap(), &expected, &format!("{format:?} {w}x{h} {color:?}"));
            }
        }
    }
}

#[test]
fn rgba_to_yuv_matches_the_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(8);
    for (w, h) in [(123u32, 77u32), (64, 36), (2, 2)] {
        let rgba: Vec<u8> = (0..w * h * 4).map(|_| rng.random()).collect();
        let frame = GpuFrame::upload(&gpu, &rgba, w, h).unwrap();
        let picture = GpuYuv::new(&gpu, YuvFormat::Yuv420p, w, h).unwrap();
        for color in spaces() {
            yuv::from_rgba(&gpu, &frame, color, &picture).unwrap();
            let got = picture.download(&gpu).unwrap();
            let (y, u, v) = yuv::cpu_from_rgba(&rgba, w, h, color);
            let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
            let rows = |plane: usize, len: usize, rows: usize| -> Vec<u8> {
                (0..rows).flat_map(|r| got.row(plane, r, len).to_vec()).collect()
            };
            assert_close(&rows(0, w as usize, h as usize), &y, &format!("luma {w}x{h} {color:?}"));
            assert_close(&rows(1, cw, ch), &u, &format!("Cb {w}x{h} {color:?}"));
            assert_close(&rows(2, cw, ch), &v, &format!("Cr {w}x{h} {color:?}"));
        }
    }
}

#[test]
fn known_colours_convert_exactly() {
    let gpu = gpu();
    let (w, h) = (8u32, 4u32);
    let picture = GpuYuv::new(&gpu, YuvFormat::Yuv420p, w, h).unwrap();
    let out = GpuFrame::new(&gpu, w, h).unwrap();
    let flat = |y: u8, u: u8, v: u8| {
        let (luma, cb, cr) = (vec![y; 32], vec![u; 8], vec![v; 8]);
        (luma, cb, cr)
    };
    let limited = ColorSpace { matrix: Matrix::Bt709, range: Range::Limited };
    let full = ColorSpace { matrix: Matrix::Bt709, range: Range::Full };
    // Video white and black, full-range white, and BT.709 limited pure red (63, 102, 240).
    for ((y, u, v), color, rgb) in [
        ((235, 128, 128), limited, [255, 255, 255]),
        ((16, 128, 128), limited, [0, 0, 0]),
        ((255, 128, 128), full, [255, 255, 255]),
        ((63, 102, 240), limited, [255, 0, 0]),
    ] {
        let (luma, cb, cr) = flat(y, u, v);
        let views = [(luma.as_slice(), 8), (cb.as_slice(), 4), (cr.as_slice(), 4)];
        picture.write(&gpu, &YuvPlanes { format: YuvFormat::Yuv420p, width: w, height: h, planes: &views }).unwrap();
        yuv::to_rgba(&gpu, &picture, color, &out).unwrap();
        let px = out.download(&gpu).unwrap();
        for p in px.chunks_exact(4) {
            for c in 0..3 {
                assert!(p[c].abs_diff(rgb[c]) <= 1, "({y},{u},{v}) {color:?} gave {p:?}, not {rgb:?}");
            }
            assert_eq!(p[3], 255);
        }
    }
}

#[test]
fn a_smooth_picture_survives_the_round_trip() {
    let gpu = gpu();
    let (w, h) = (96u32, 54u32);
    let rgba: Vec<u8> =
        (0..h).flat_map(|y| (0..w).flat_map(move |x| [(x * 255 / w) as u8, (y * 255 / h) as u8, 128, 255])).collect();
    let frame = GpuFrame::upload(&gpu, &rgba, w, h).unwrap();
    let picture = GpuYuv::new(&gpu, YuvFormat::Yuv420p, w, h).unwrap();
    let back = GpuFrame::new(&gpu, w, h).unwrap();
    for color in spaces() {
        yuv::from_rgba(&gpu, &frame, color, &picture).unwrap();
        yuv::to_rgba(&gpu, &picture, color, &back).unwrap();
        let got = back.download(&gpu).unwrap();
        // 4:2:0 halves the chroma resolution and limited range has fewer codes: a gradient
        // comes back within a few levels, never more.
        let worst = got.iter().zip(&rgba).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(worst <= 4, "{color:?}: round trip off by {worst}");
    }
}

#[test]
fn mismatched_pictures_are_clear_errors() {
    let gpu = gpu();
    let picture = GpuYuv::new(&gpu, YuvFormat::Nv12, 8, 8).unwrap();
    let frame = GpuFrame::new(&gpu, 8, 8).unwrap();
    let color = ColorSpace::default();
    assert!(matches!(yuv::from_rgba(&gpu, &frame, color, &picture), Err(GpuError::Invalid(_))), "NV12 output");
    let small = GpuFrame::new(&gpu, 4, 8).unwrap();
    assert!(matches!(yuv::to_rgba(&gpu, &picture, color, &small), Err(GpuError::Invalid(_))));
    let short = [0u8; 10];
    let views = [(&short[..], 8), (&short[..], 8)];
    let err = picture.write(&gpu, &YuvPlanes { format: YuvFormat::Nv12, width: 8, height: 8, planes: &views });
    assert!(matches!(err, Err(GpuError::Invalid(_))), "{err:?}");
}
