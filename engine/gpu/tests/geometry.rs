//! Transitions, Ken Burns and compositing against their CPU references on random frames
//! (the largest difference in any channel must be at most 1/255), and the properties that
//! say they do what they claim: exact ends, exact halves, exact pixels where nothing blends.

mod common;

use common::{assert_close, gpu, max_diff, random_frame};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reelflow_gpu::kernels::composite::{self, Placement};
use reelflow_gpu::kernels::easing::Easing;
use reelflow_gpu::kernels::kenburns::{self, KenBurns, View};
use reelflow_gpu::kernels::resize::Filter;
use reelflow_gpu::kernels::transition::{self, Direction, Transition};
use reelflow_gpu::{Gpu, GpuError, GpuFrame};

fn invalid<T: std::fmt::Debug>(r: Result<T, GpuError>) -> bool {
    matches!(r, Err(GpuError::Invalid(_)))
}

/// Pixel (x, y) of a `width`-wide RGBA frame.
fn px(frame: &[u8], width: u32, x: u32, y: u32) -> &[u8] {
    let i = ((y * width + x) * 4) as usize;
    &frame[i..i + 4]
}

fn every_kind() -> Vec<Transition> {
    let mut kinds = vec![Transition::Crossfade, Transition::FadeThroughBlack, Transition::Zoom];
    for direction in [Direction::Left, Direction::Right, Direction::Up, Direction::Down] {
        kinds.push(Transition::Slide { direction });
    }
    kinds.push(Transition::Wipe { direction: Direction::Left, softness: 0.0 });
    kinds.push(Transition::Wipe { direction: Direction::Right, softness: 0.02 });
    kinds.push(Transition::Wipe { direction: Direction::Up, softness: 0.3 });
    kinds.push(Transition::Wipe { direction: Direction::Down, softness: 0.5 });
    kinds
}

/// Runs a transition on the GPU and returns the frame.
fn run_transition(gpu: &Gpu, a: &GpuFrame, b: &GpuFrame, kind: &Transition, t: f32) -> Vec<u8> {
    let out = GpuFrame::new(gpu, a.width(), a.height()).unwrap();
    transition::transition(gpu, a, b, kind, t, &out).unwrap();
    out.download(gpu).unwrap()
}

#[test]
fn transitions_match_the_cpu_reference_and_end_exactly_on_each_frame() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(11);
    let (w, h) = (123, 77);
    let (a, b) = (random_frame(&mut rng, w, h), random_frame(&mut rng, w, h));
    let ga = GpuFrame::upload(&gpu, &a, w, h).unwrap();
    let gb = GpuFrame::upload(&gpu, &b, w, h).unwrap();
    let out = GpuFrame::new(&gpu, w, h).unwrap();
    for kind in every_kind() {
        for t in [0.0, 0.3, 0.5, 0.77, 1.0, rng.random::<f32>()] {
            transition::transition(&gpu, &ga, &gb, &kind, t, &out).unwrap();
            let on_gpu = out.download(&gpu).unwrap();
            let on_cpu = transition::cpu(&a, &b, w, h, &kind, t).unwrap();
            assert_close(&on_gpu, &on_cpu, &format!("{kind:?} t={t}"));
            if t == 0.0 {
                assert!(on_gpu == a && on_cpu == a, "{kind:?}: t = 0 is a exactly");
            }
            if t == 1.0 {
                assert!(on_gpu == b && on_cpu == b, "{kind:?}: t = 1 is b exactly");
            }
        }
        // Progress outside 0..1 clamps, NaN counts as the start.
        assert_eq!(transition::cpu(&a, &b, w, h, &kind, f32::NAN).unwrap(), a, "{kind:?} NaN");
        assert_eq!(transition::cpu(&a, &b, w, h, &kind, 3.0).unwrap(), b, "{kind:?} t = 3");
    }
}

#[test]
fn hard_wipes_and_slides_split_the_frame_half_way() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(12);
    let (w, h) = (124, 78);
    let (a, b) = (random_frame(&mut rng, w, h), random_frame(&mut rng, w, h));
    let ga = GpuFrame::upload(&gpu, &a, w, h).unwrap();
    let gb = GpuFrame::upload(&gpu, &b, w, h).unwrap();
    let (half_w, half_h) = (w / 2, h / 2);

    // The edge moving left has uncovered b on the right half.
    let wipe = run_transition(&gpu, &ga, &gb, &Transition::Wipe { direction: Direction::Left, softness: 0.0 }, 0.5);
    for y in 0..h {
        for x in 0..w {
            let expected = if x < half_w { px(&a, w, x, y) } else { px(&b, w, x, y) };
            assert_eq!(px(&wipe, w, x, y), expected, "wipe left at ({x}, {y})");
        }
    }
    // Moving down, it has uncovered b on the top half.
    let wipe = run_transition(&gpu, &ga, &gb, &Transition::Wipe { direction: Direction::Down, softness: 0.0 }, 0.5);
    for y in 0..h {
        for x in 0..w {
            let expected = if y < half_h { px(&b, w, x, y) } else { px(&a, w, x, y) };
            assert_eq!(px(&wipe, w, x, y), expected, "wipe down at ({x}, {y})");
        }
    }
    // Sliding left: a's right half on the left, b's left half on the right.
    let slide = run_transition(&gpu, &ga, &gb, &Transition::Slide { direction: Direction::Left }, 0.5);
    for y in 0..h {
        for x in 0..w {
            let expected = if x < half_w { px(&a, w, x + half_w, y) } else { px(&b, w, x - half_w, y) };
            assert_eq!(px(&slide, w, x, y), expected, "slide left at ({x}, {y})");
        }
    }
    // Sliding down: b's bottom half on top, a's top half below.
    let slide = run_transition(&gpu, &ga, &gb, &Transition::Slide { direction: Direction::Down }, 0.5);
    for y in 0..h {
        for x in 0..w {
            let expected = if y < half_h { px(&b, w, x, y + half_h) } else { px(&a, w, x, y - half_h) };
            assert_eq!(px(&slide, w, x, y), expected, "slide down at ({x}, {y})");
        }
    }
    // A quarter of the way, a slide right has moved both pictures a quarter of the width.
    let slide = run_transition(&gpu, &ga, &gb, &Transition::Slide { direction: Direction::Right }, 0.25);
    let quarter = w / 4;
    for x in 0..w {
        let expected = if x < quarter { px(&b, w, x + w - quarter, 5) } else { px(&a, w, x - quarter, 5) };
        assert_eq!(px(&slide, w, x, 5), expected, "slide right at column {x}");
    }
}

#[test]
fn fade_through_black_darkens_to_black_at_the_midpoint_keeping_alpha() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(13);
    let (w, h) = (61, 33);
    let (a, b) = (random_frame(&mut rng, w, h), random_frame(&mut rng, w, h));
    let ga = GpuFrame::upload(&gpu, &a, w, h).unwrap();
    let gb = GpuFrame::upload(&gpu, &b, w, h).unwrap();
    let kind = Transition::FadeThroughBlack;
    let middle = run_transition(&gpu, &ga, &gb, &kind, 0.5);
    for (i, (out, b)) in middle.chunks(4).zip(b.chunks(4)).enumerate() {
        assert_eq!(out[..3], [0, 0, 0], "pixel {i} is black at the midpoint");
        assert_eq!(out[3], b[3], "pixel {i} keeps b's alpha at the midpoint");
    }
    // The colour falls steadily towards black, then rises to b; alpha is never faded.
    let frames: Vec<Vec<u8>> = [0.0, 0.2, 0.4].iter().map(|&t| run_transition(&gpu, &ga, &gb, &kind, t)).collect();
    for pair in frames.windows(2) {
        for (i, (before, after)) in pair[0].iter().zip(&pair[1]).enumerate() {
            if i % 4 == 3 {
                assert_eq!(after, &a[i], "alpha of a is kept in the first half");
            } else {
                assert!(after <= before, "channel {i} brightened while fading out");
            }
        }
    }
    let rising: Vec<Vec<u8>> = [0.6, 0.8, 1.0].iter().map(|&t| run_transition(&gpu, &ga, &gb, &kind, t)).collect();
    for pair in rising.windows(2) {
        for (i, (before, after)) in pair[0].iter().zip(&pair[1]).enumerate() {
            if i % 4 == 3 {
                assert_eq!(after, &b[i], "alpha of b is kept in the second half");
            } else {
                assert!(after >= before, "channel {i} darkened while fading in");
            }
        }
    }
}

#[test]
fn a_soft_wipe_ramps_monotonically_across_its_feather() {
    let gpu = gpu();
    let (w, h) = (100, 20);
    let black = [0, 0, 0, 255].repeat((w * h) as usize);
    let white = vec![255; (w * h * 4) as usize];
    let ga = GpuFrame::upload(&gpu, &black, w, h).unwrap();
    let gb = GpuFrame::upload(&gpu, &white, w, h).unwrap();
    // Moving right, b (white) is on the left of the edge; a 20 % feather spreads the edge
    // over 20 pixels about the centre.
    let out = run_transition(&gpu, &ga, &gb, &Transition::Wipe { direction: Direction::Right, softness: 0.2 }, 0.5);
    for y in 0..h {
        let row: Vec<u8> = (0..w).map(|x| px(&out, w, x, y)[0]).collect();
        assert!(row.windows(2).all(|p| p[1] <= p[0]), "row {y} is not monotonic: {row:?}");
        assert_eq!(row[..39], [255; 39], "row {y}: left of the feather is b");
        assert_eq!(row[61..], [0; 39], "row {y}: right of the feather is a");
        let grey = row.iter().filter(|&&v| v > 0 && v < 255).count();
        assert!((18..=20).contains(&grey), "row {y}: the feather is 20 pixels wide, got {grey}: {row:?}");
        assert!(row[49].abs_diff(128) <= 7 && row[50].abs_diff(127) <= 7, "row {y}: mid-grey at the centre");
    }
}

#[test]
fn zoom_is_symmetric_about_the_centre() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(14);
    let (w, h): (u32, u32) = (91, 53);
    // Mirror-symmetric left to right and top to bottom.
    let symmetric = |rng: &mut StdRng| {
        let quarter = random_frame(rng, w.div_ceil(2), h.div_ceil(2));
        let mut frame = vec![0u8; (w * h * 4) as usize];
        for y in 0..h {
            for x in 0..w {
                let (qx, qy) = (x.min(w - 1 - x), y.min(h - 1 - y));
                let i = ((y * w + x) * 4) as usize;
                frame[i..i + 4].copy_from_slice(px(&quarter, w.div_ceil(2), qx, qy));
            }
        }
        frame
    };
    let (a, b) = (symmetric(&mut rng), symmetric(&mut rng));
    let ga = GpuFrame::upload(&gpu, &a, w, h).unwrap();
    let gb = GpuFrame::upload(&gpu, &b, w, h).unwrap();
    for t in [0.3, 0.5, 0.8] {
        let out = run_transition(&gpu, &ga, &gb, &Transition::Zoom, t);
        for y in 0..h {
            for x in 0..w {
                let (p, mirrored_x, mirrored_y) =
                    (px(&out, w, x, y), px(&out, w, w - 1 - x, y), px(&out, w, x, h - 1 - y));
                assert!(max_diff(p, mirrored_x).0 <= 1, "t={t} ({x}, {y}) left-right: {p:?} vs {mirrored_x:?}");
                assert!(max_diff(p, mirrored_y).0 <= 1, "t={t} ({x}, {y}) top-bottom: {p:?} vs {mirrored_y:?}");
            }
        }
        // The centre pixel of an odd-sized frame does not move: a plain crossfade there.
        let centre = px(&out, w, w / 2, h / 2);
        let crossfaded: Vec<u8> = px(&a, w, w / 2, h / 2)
            .iter()
            .zip(px(&b, w, w / 2, h / 2))
            .map(|(&x, &y)| (f32::from(x) * (1.0 - t) + f32::from(y) * t).round() as u8)
            .collect();
        assert!(max_diff(centre, &crossfaded).0 <= 1, "t={t}: centre {centre:?} vs {crossfaded:?}");
    }
}

#[test]
fn transition_refuses_mismatched_frames_and_bad_softness() {
    let gpu = gpu();
    let a = GpuFrame::new(&gpu, 8, 8).unwrap();
    let b = GpuFrame::new(&gpu, 8, 9).unwrap();
    for kind in every_kind() {
        assert!(invalid(transition::transition(&gpu, &a, &b, &kind, 0.5, &a)), "{kind:?} a/b sizes");
        assert!(invalid(transition::transition(&gpu, &a, &a, &kind, 0.5, &b)), "{kind:?} out size");
    }
    for softness in [-0.1, 0.6, f32::NAN] {
        let kind = Transition::Wipe { direction: Direction::Left, softness };
        assert!(invalid(transition::transition(&gpu, &a, &a, &kind, 0.5, &a)), "softness {softness}");
        assert!(invalid(transition::cpu(&[0; 256], &[0; 256], 8, 8, &kind, 0.5)), "softness {softness} on the CPU");
    }
    assert!(invalid(transition::cpu(&[0; 256], &[0; 252], 8, 8, &Transition::Crossfade, 0.5)));
    assert!(invalid(transition::cpu(&[], &[], 0, 8, &Transition::Crossfade, 0.5)));
}

fn random_view(rng: &mut StdRng) -> View {
    View {
        center_x: rng.random(),
        center_y: rng.random(),
        // Geometrically spread over 1..32.
        zoom: 32f32.powf(rng.random::<f32>()).clamp(1.0, kenburns::MAX_ZOOM),
    }
}

#[test]
fn ken_burns_regions_lie_inside_the_source_with_the_outputs_aspect() {
    let mut rng = StdRng::seed_from_u64(21);
    let easings = [Easing::Linear, Easing::EaseIn, Easing::EaseOut, Easing::EaseInOut];
    for _ in 0..3000 {
        let source = (rng.random_range(1..5000), rng.random_range(1..5000));
        let output = (rng.random_range(1..4000), rng.random_range(1..4000));
        let kb = KenBurns {
            start: random_view(&mut rng),
            end: random_view(&mut rng),
            easing: easings[rng.random_range(0..4)],
        };
        let t = rng.random_range(-0.2..1.2);
        let r = kb.region(source, output, t).unwrap();
        let (sw, sh) = (source.0 as f32, source.1 as f32);
        assert!(
            r.x >= 0.0 && r.y >= 0.0 && r.x + r.width <= sw && r.y + r.height <= sh,
            "{r:?} leaves {source:?} ({kb:?} t={t})"
        );
        assert!(r.width > 0.0 && r.height > 0.0, "{r:?}");
        let (aspect, wanted) = (r.width / r.height, output.0 as f32 / output.1 as f32);
        assert!((aspect / wanted - 1.0).abs() < 1e-4, "{r:?} has aspect {aspect}, not {wanted} ({output:?})");
        // No larger than zoom 1 (the largest region of that aspect that fits), no smaller
        // than the largest zoom.
        let full_width = sw.min(sh * wanted);
        assert!(r.width <= full_width * (1.0 + 1e-5), "{r:?} is wider than zoom 1 ({full_width})");
        assert!(r.width >= full_width / kenburns::MAX_ZOOM * (1.0 - 1e-4), "{r:?} is zoomed past the limit");
    }
}

#[test]
fn ken_burns_starts_and_ends_on_its_views() {
    let start = View { center_x: 0.3, center_y: 0.6, zoom: 2.0 };
    let end = View { center_x: 0.55, center_y: 0.45, zoom: 3.0 };
    for easing in [Easing::Linear, Easing::EaseInOut] {
        let kb = KenBurns { start, end, easing };
        // A 4:3 source into a 16:9 output: zoom 1 is 640x360 of the 640x480 source.
        for (t, view) in [(0.0, start), (1.0, end)] {
            let r = kb.region((640, 480), (1280, 720), t).unwrap();
            let (cx, cy) = (r.x + r.width / 2.0, r.y + r.height / 2.0);
            assert!((cx - view.center_x * 640.0).abs() < 1e-3, "t={t}: {r:?}");
            assert!((cy - view.center_y * 480.0).abs() < 1e-3, "t={t}: {r:?}");
            assert!((r.width - 640.0 / view.zoom).abs() < 1e-3, "t={t}: {r:?}");
            assert!((r.height - 360.0 / view.zoom).abs() < 1e-3, "t={t}: {r:?}");
        }
        // In between, the zoom is between the two and the region shrinks steadily.
        let widths: Vec<f32> =
            (0..=10).map(|i| kb.region((640, 480), (1280, 720), i as f32 / 10.0).unwrap().width).collect();
        assert!(widths.windows(2).all(|p| p[1] <= p[0]), "{easing:?}: {widths:?}");
    }
}

#[test]
fn ken_burns_at_zoom_1_centred_covers_the_full_width_or_height() {
    let kb = KenBurns::default();
    // Wider output than the source: full width, centred vertically.
    let r = kb.region((400, 300), (1920, 1080), 0.5).unwrap();
    assert!((r.width - 400.0).abs() < 1e-3 && (r.height - 225.0).abs() < 1e-3, "{r:?}");
    assert!((r.x - 0.0).abs() < 1e-3 && (r.y - 37.5).abs() < 1e-3, "{r:?}");
    // Narrower output: full height, centred horizontally.
    let r = kb.region((400, 300), (100, 100), 0.5).unwrap();
    assert!((r.width - 300.0).abs() < 1e-3 && (r.height - 300.0).abs() < 1e-3, "{r:?}");
    assert!((r.x - 50.0).abs() < 1e-3 && r.y.abs() < 1e-3, "{r:?}");
    // The same aspect: the whole source.
    let r = kb.region((123, 77), (246, 154), 0.0).unwrap();
    assert!(r.x == 0.0 && r.y == 0.0 && r.width == 123.0 && r.height == 77.0, "{r:?}");
}

#[test]
fn ken_burns_matches_the_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(22);
    let (w, h) = (123, 77);
    let src = random_frame(&mut rng, w, h);
    let input = GpuFrame::upload(&gpu, &src, w, h).unwrap();
    let moves = [
        KenBurns {
            start: View { center_x: 0.2, center_y: 0.3, zoom: 1.0 },
            end: View { center_x: 0.8, center_y: 0.7, zoom: 2.5 },
            easing: Easing::EaseInOut,
        },
        KenBurns {
            start: View { center_x: 1.0, center_y: 0.0, zoom: 4.0 },
            end: View::default(),
            easing: Easing::Linear,
        },
    ];
    for (out_w, out_h) in [(96, 54), (50, 71)] {
        let out = GpuFrame::new(&gpu, out_w, out_h).unwrap();
        for kb in &moves {
            for t in [0.0, 0.35, 1.0] {
                for filter in [Filter::Bilinear, Filter::Bicubic] {
                    kenburns::kenburns(&gpu, &input, kb, t, filter, &out).unwrap();
                    let expected = kenburns::cpu(&src, (w, h), (out_w, out_h), kb, t, filter).unwrap();
                    assert_close(&out.download(&gpu).unwrap(), &expected, &format!("{kb:?} t={t} {filter:?}"));
                }
            }
        }
    }
    // Holding the whole picture at its own size is the source exactly.
    let same = GpuFrame::new(&gpu, w, h).unwrap();
    kenburns::kenburns(&gpu, &input, &KenBurns::default(), 0.5, Filter::Bicubic, &same).unwrap();
    assert_eq!(same.download(&gpu).unwrap(), src);
    // Bad views and bad bytes are refused.
    let bad = KenBurns { end: View { zoom: 0.5, ..View::default() }, ..KenBurns::default() };
    assert!(invalid(kenburns::kenburns(&gpu, &input, &bad, 0.5, Filter::Bilinear, &same)));
    assert!(invalid(kenburns::cpu(&src, (w, h), (w, h), &bad, 0.5, Filter::Bilinear)));
    assert!(invalid(kenburns::cpu(&src[4..], (w, h), (w, h), &KenBurns::default(), 0.5, Filter::Bilinear)));
}

#[test]
fn composite_matches_the_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(31);
    let (w, h) = (123, 77);
    let (tw, th) = (41, 29);
    let base = random_frame(&mut rng, w, h);
    let top = random_frame(&mut rng, tw, th);
    let gbase = GpuFrame::upload(&gpu, &base, w, h).unwrap();
    let gtop = GpuFrame::upload(&gpu, &top, tw, th).unwrap();
    let out = GpuFrame::new(&gpu, w, h).unwrap();
    let placements = [
        Placement { x: 10.0, y: 5.0, scale: 1.0, opacity: 1.0 },
        Placement { x: 30.25, y: 20.5, scale: 1.7, opacity: 0.8 },
        Placement { x: -12.6, y: 60.3, scale: 1.7, opacity: 1.0 },
        Placement { x: 100.4, y: -7.7, scale: 0.5, opacity: 0.6 },
        Placement { x: 3.0, y: 4.0, scale: 0.5, opacity: 1.0 },
        Placement { x: -30.0, y: -20.0, scale: 3.9, opacity: 0.35 },
        Placement { x: 500.0, y: 10.0, scale: 1.0, opacity: 1.0 },
    ];
    for placement in placements {
        composite::composite(&gpu, &gbase, &gtop, &placement, &out).unwrap();
        let expected = composite::cpu(&base, (w, h), &top, (tw, th), &placement).unwrap();
        assert_close(&out.download(&gpu).unwrap(), &expected, &format!("{placement:?}"));
    }
}

#[test]
fn composite_leaves_the_base_where_the_overlay_adds_nothing() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(32);
    let (w, h) = (123, 77);
    let (tw, th) = (41, 29);
    let base = random_frame(&mut rng, w, h);
    let top = random_frame(&mut rng, tw, th);
    let gbase = GpuFrame::upload(&gpu, &base, w, h).unwrap();
    let out = GpuFrame::new(&gpu, w, h).unwrap();

    // Opacity 0: the base exactly, even with the overlay scaled on fractional pixels.
    let gtop = GpuFrame::upload(&gpu, &top, tw, th).unwrap();
    let hidden = Placement { x: 20.3, y: 10.6, scale: 1.7, opacity: 0.0 };
    composite::composite(&gpu, &gbase, &gtop, &hidden, &out).unwrap();
    assert_eq!(out.download(&gpu).unwrap(), base, "opacity 0");

    // A fully transparent overlay (whatever its colours): the base exactly.
    let mut clear = top.clone();
    clear.iter_mut().skip(3).step_by(4).for_each(|a| *a = 0);
    gtop.write(&gpu, &clear).unwrap();
    let placed = Placement { x: -5.5, y: 3.25, scale: 2.2, opacity: 1.0 };
    composite::composite(&gpu, &gbase, &gtop, &placed, &out).unwrap();
    assert_eq!(out.download(&gpu).unwrap(), base, "transparent overlay");
    assert_eq!(composite::cpu(&base, (w, h), &clear, (tw, th), &placed).unwrap(), base);
}

#[test]
fn an_opaque_overlay_on_whole_pixels_lands_pixel_for_pixel() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(33);
    let (w, h) = (123, 77);
    let (tw, th) = (41, 29);
    let base = random_frame(&mut rng, w, h);
    let mut top = random_frame(&mut rng, tw, th);
    top.iter_mut().skip(3).step_by(4).for_each(|a| *a = 255);
    let gbase = GpuFrame::upload(&gpu, &base, w, h).unwrap();
    let gtop = GpuFrame::upload(&gpu, &top, tw, th).unwrap();
    let out = GpuFrame::new(&gpu, w, h).unwrap();
    // Wholly inside, and hanging off the bottom-right and the top-left corners.
    for (ox, oy) in [(17i32, 9i32), (100, 60), (-11, -4)] {
        let placement = Placement { x: ox as f32, y: oy as f32, scale: 1.0, opacity: 1.0 };
        composite::composite(&gpu, &gbase, &gtop, &placement, &out).unwrap();
        let result = out.download(&gpu).unwrap();
        for y in 0..h {
            for x in 0..w {
                let (tx, ty) = (x as i32 - ox, y as i32 - oy);
                let inside = tx >= 0 && ty >= 0 && tx < tw as i32 && ty < th as i32;
                let expected = if inside { px(&top, tw, tx as u32, ty as u32) } else { px(&base, w, x, y) };
                assert_eq!(px(&result, w, x, y), expected, "overlay at ({ox}, {oy}), pixel ({x}, {y})");
            }
        }
    }
    // Over an opaque base, the result is opaque wherever the overlay lands, however it is
    // scaled or faded.
    let mut opaque = base.clone();
    opaque.iter_mut().skip(3).step_by(4).for_each(|a| *a = 255);
    gbase.write(&gpu, &opaque).unwrap();
    let placement = Placement { x: 7.3, y: -2.8, scale: 1.7, opacity: 0.5 };
    composite::composite(&gpu, &gbase, &gtop, &placement, &out).unwrap();
    assert!(out.download(&gpu).unwrap().iter().skip(3).step_by(4).all(|&a| a == 255));
}

#[test]
fn composite_refuses_bad_placements_and_sizes() {
    let gpu = gpu();
    let base = GpuFrame::new(&gpu, 8, 8).unwrap();
    let top = GpuFrame::new(&gpu, 3, 5).unwrap();
    let other = GpuFrame::new(&gpu, 8, 9).unwrap();
    let fine = Placement::default();
    assert!(invalid(composite::composite(&gpu, &base, &top, &fine, &other)), "out must be the base's size");
    for bad in [
        Placement { scale: 0.0, ..fine },
        Placement { scale: f32::NAN, ..fine },
        Placement { opacity: -0.1, ..fine },
        Placement { opacity: 1.1, ..fine },
        Placement { x: f32::INFINITY, ..fine },
        Placement { y: f32::NAN, ..fine },
    ] {
        assert!(invalid(composite::composite(&gpu, &base, &top, &bad, &base)), "{bad:?}");
        assert!(invalid(composite::cpu(&[0; 256], (8, 8), &[0; 60], (3, 5), &bad)), "{bad:?} on the CPU");
    }
    assert!(invalid(composite::cpu(&[0; 256], (8, 8), &[0; 56], (3, 5), &fine)), "short overlay bytes");
}
