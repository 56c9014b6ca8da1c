//! Every kernel against its CPU reference on random frames, on whatever adapter the machine
//! has (lavapipe in CI): the largest difference in any channel must be at most 1/255.

mod common;

use common::{assert_close, gpu, random_frame};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reelflow_gpu::kernels::resize::{Filter, Fit, Rect};
use reelflow_gpu::kernels::{blur, crossfade, resize};
use reelflow_gpu::{GpuError, GpuFrame};

#[test]
fn crossfade_matches_the_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(1);
    let (w, h) = (123, 77);
    let (a, b) = (random_frame(&mut rng, w, h), random_frame(&mut rng, w, h));
    let ga = GpuFrame::upload(&gpu, &a, w, h).unwrap();
    let gb = GpuFrame::upload(&gpu, &b, w, h).unwrap();
    let out = GpuFrame::new(&gpu, w, h).unwrap();
    for t in [0.0, 0.25, 0.5, 0.9, 1.0, rng.random::<f32>()] {
        crossfade::crossfade(&gpu, &ga, &gb, t, &out).unwrap();
        assert_close(&out.download(&gpu).unwrap(), &crossfade::cpu(&a, &b, t), &format!("crossfade t={t}"));
    }
    crossfade::crossfade(&gpu, &ga, &gb, 0.0, &out).unwrap();
    assert_eq!(out.download(&gpu).unwrap(), a, "t = 0 is the first frame exactly");
    crossfade::crossfade(&gpu, &ga, &gb, 1.0, &out).unwrap();
    assert_eq!(out.download(&gpu).unwrap(), b, "t = 1 is the second frame exactly");
}

#[test]
fn gaussian_blur_matches_the_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(2);
    let (w, h) = (97, 61);
    let src = random_frame(&mut rng, w, h);
    let input = GpuFrame::upload(&gpu, &src, w, h).unwrap();
    let out = GpuFrame::new(&gpu, w, h).unwrap();
    for sigma in [0.5, 1.5, 4.0, 12.0] {
        blur::gaussian_blur(&gpu, &input, sigma, &out).unwrap();
        let blurred = out.download(&gpu).unwrap();
        assert_close(&blurred, &blur::cpu(&src, w, h, sigma).unwrap(), &format!("blur sigma={sigma}"));
        // A blur smooths: neighbouring pixels end up closer than in the noise it started from.
        let roughness =
            |f: &[u8]| f.windows(5).map(|p| u32::from(p[0].abs_diff(p[4]))).sum::<u32>() as f64 / f.len() as f64;
        let (before, after) = (roughness(&src), roughness(&blurred));
        let factor = if sigma < 1.0 { 0.9 } else { 0.5 };
        assert!(after < before * factor, "sigma {sigma} did not smooth: {before:.1} → {after:.1}");
    }
    // Frames taller and wider than one 256-pixel strip, at the largest radius (120): the
    // strips and their shared neighbours join seamlessly.
    let (bw, bh) = (300, 270);
    let big = random_frame(&mut rng, bw, bh);
    let (big_in, big_out) = (GpuFrame::upload(&gpu, &big, bw, bh).unwrap(), GpuFrame::new(&gpu, bw, bh).unwrap());
    for sigma in [2.0, blur::MAX_SIGMA] {
        blur::gaussian_blur(&gpu, &big_in, sigma, &big_out).unwrap();
        assert_close(
            &big_out.download(&gpu).unwrap(),
            &blur::cpu(&big, bw, bh, sigma).unwrap(),
            &format!("{bw}x{bh} sigma={sigma}"),
        );
    }
    // A flat frame stays flat (the taps sum to one, edges repeat).
    let flat = vec![200u8; (w * h * 4) as usize];
    input.write(&gpu, &flat).unwrap();
    blur::gaussian_blur(&gpu, &input, 3.0, &out).unwrap();
    assert_close(&out.download(&gpu).unwrap(), &flat, "blur of a flat frame");
}

#[test]
fn resize_fit_fill_and_crop_match_the_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(3);
    let (w, h) = (123, 77);
    let src = random_frame(&mut rng, w, h);
    let input = GpuFrame::upload(&gpu, &src, w, h).unwrap();
    let cases = [
        ((64, 40), Fit::Stretch),
        ((200, 130), Fit::Stretch),
        ((100, 100), Fit::Pad([0, 0, 0, 255])),
        ((60, 140), Fit::Pad([16, 32, 64, 255])),
        ((100, 100), Fit::Fill),
        ((123, 77), Fit::Stretch),
    ];
    for ((dw, dh), fit) in cases {
        let out = GpuFrame::new(&gpu, dw, dh).unwrap();
        for filter in [Filter::Bilinear, Filter::Bicubic] {
            resize::resize(&gpu, &input, &out, fit, filter).unwrap();
            let expected = resize::cpu_resize(&src, (w, h), (dw, dh), fit, filter);
            assert_close(&out.download(&gpu).unwrap(), &expected, &format!("{fit:?} {filter:?} to {dw}x{dh}"));
        }
    }
    // Same size, stretch: exactly the source.
    let same = GpuFrame::new(&gpu, w, h).unwrap();
    resize::resize(&gpu, &input, &same, Fit::Stretch, Filter::Bicubic).unwrap();
    assert_eq!(same.download(&gpu).unwrap(), src);
    // A crop of a region, scaled up.
    let region = Rect { x: 10.5, y: 7.0, width: 40.0, height: 30.0 };
    let out = GpuFrame::new(&gpu, 80, 60).unwrap();
    resize::crop(&gpu, &input, region, &out, Filter::Bilinear).unwrap();
    assert_close(
        &out.download(&gpu).unwrap(),
        &resize::cpu_crop(&src, (w, h), region, (80, 60), Filter::Bilinear),
        "crop",
    );
}

#[test]
fn bad_frames_and_parameters_are_clear_errors() {
    let gpu = gpu();
    let invalid = |r: Result<(), GpuError>| matches!(r, Err(GpuError::Invalid(_)));
    assert!(matches!(GpuFrame::upload(&gpu, &[0; 15], 2, 2), Err(GpuError::Invalid(_))));
    assert!(matches!(GpuFrame::new(&gpu, 0, 10), Err(GpuError::Invalid(_))));
    let a = GpuFrame::new(&gpu, 8, 8).unwrap();
    let b = GpuFrame::new(&gpu, 8, 9).unwrap();
    assert!(invalid(crossfade::crossfade(&gpu, &a, &b, 0.5, &a)));
    assert!(invalid(blur::gaussian_blur(&gpu, &a, 0.0, &a)));
    assert!(invalid(blur::gaussian_blur(&gpu, &a, f32::NAN, &a)));
    let outside = Rect { x: 4.0, y: 0.0, width: 8.0, height: 8.0 };
    assert!(invalid(resize::crop(&gpu, &a, outside, &b, Filter::Bilinear)));
    // A frame larger than one buffer may be is refused up front, naming the limit.
    let err = GpuFrame::new(&gpu, 1 << 16, 1 << 16).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
}
