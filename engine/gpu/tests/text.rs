//! Text: layout, fallback fonts (CJK), the glyph cache, and the GPU drawing against its CPU
//! reference. Fonts: Debian's fonts-dejavu-core and fonts-noto-cjk (installed by set-up).

mod common;

use common::gpu;
use std::path::PathBuf;

use rand::{Rng, SeedableRng, rngs::StdRng};
use reelflow_gpu::kernels::text::{self, Align, Anchor, FontSet, GpuText, Outline, Shadow, TextRenderer, TextStyle};
use reelflow_gpu::{GpuError, GpuFrame};

const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const NOTO_CJK: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

fn fonts(paths: &[&str]) -> FontSet {
    FontSet::load(&paths.iter().map(PathBuf::from).collect::<Vec<_>>())
        .expect("fonts (bash .ci/setup.sh installs them)")
}

fn plain(size: f32) -> TextStyle {
    TextStyle { size, outline: None, shadow: None, ..TextStyle::default() }
}

/// Pixels of `frame` (RGBA, `width` wide) that differ from `base`, as (x, y).
fn changed(frame: &[u8], base: &[u8], width: u32) -> Vec<(u32, u32)> {
    frame
        .chunks_exact(4)
        .zip(base.chunks_exact(4))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| (i as u32 % width, i as u32 / width))
        .collect()
}

#[test]
fn text_draws_like_its_cpu_reference_and_only_inside_its_box() {
    let gpu = gpu();
    let mut renderer = TextRenderer::new(fonts(&[DEJAVU]));
    let (w, h) = (240u32, 120u32);
    let mut rng = StdRng::seed_from_u64(21);
    let background: Vec<u8> = (0..w * h * 4).map(|i| if i % 4 == 3 { 255 } else { rng.random() }).collect();
    let frame = GpuFrame::upload(&gpu, &background, w, h).unwrap();
    let out = GpuFrame::new(&gpu, w, h).unwrap();
    let styles = [
        plain(28.0),
        TextStyle { size: 30.0, outline: Some(Outline { width: 3.0, color: [0, 0, 0, 255] }), ..TextStyle::default() },
        TextStyle {
            size: 24.0,
            color: [250, 220, 40, 200],
            outline: Some(Outline { width: 1.5, color: [20, 20, 120, 255] }),
            shadow: Some(Shadow { dx: 4, dy: 3, color: [0, 0, 0, 160] }),
            align: Align::Right,
            ..TextStyle::default()
        },
    ];
    for style in &styles {
        let prepared = renderer.prepare("Reelflow Ag!\nline two", style).unwrap();
        assert_eq!(prepared.lines, 2);
        let at = text::place((prepared.width, prepared.height), (w, h), Anchor::Center, 0);
        let uploaded = GpuText::new(&gpu, &prepared).unwrap();
        for opacity in [1.0, 0.6] {
            text::draw_text(&gpu, &frame, &uploaded, at, opacity, &out).unwrap();
            let got = out.download(&gpu).unwrap();
            let expected = text::cpu(&background, (w, h), &prepared, at, opacity);
            let diff = got.iter().zip(&expected).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
            assert!(diff <= 1, "{style:?} opacity {opacity}: GPU and CPU differ by {diff}");
            // Nothing changes outside the block (and its shadow).
            let (dx, dy) = style.shadow.map_or((0, 0), |s| (s.dx, s.dy));
            for (x, y) in changed(&got, &background, w) {
                let (bx, by) = (x as i32 - at.0, y as i32 - at.1);
                let inside =
                    |bx: i32, by: i32| bx >= 0 && by >= 0 && bx < prepared.width as i32 && by < prepared.height as i32;
                assert!(inside(bx, by) || inside(bx - dx, by - dy), "pixel ({x}, {y}) changed outside the text");
            }
        }
    }
    // Opaque white letters: the fill colour shows exactly where the coverage is full.
    let prepared = renderer.prepare("HI", &plain(40.0)).unwrap();
    let uploaded = GpuText::new(&gpu, &prepared).unwrap();
    text::draw_text(&gpu, &frame, &uploaded, (10, 10), 1.0, &out).unwrap();
    let got = out.download(&gpu).unwrap();
    let white = got.chunks_exact(4).filter(|p| p[..3] == [255, 255, 255]).count();
    assert!(white > 100, "solid white strokes of H and I: {white} pixels");
    // A block partly outside the frame is clipped, not an error.
    text::draw_text(&gpu, &frame, &uploaded, (-20, h as i32 - 10), 1.0, &out).unwrap();
}

#[test]
fn an_outline_widens_and_a_shadow_offsets_the_footprint() {
    let gpu = gpu();
    let mut renderer = TextRenderer::new(fonts(&[DEJAVU]));
    let (w, h) = (200u32, 80u32);
    let grey = vec![128u8; (w * h * 4) as usize];
    let frame = GpuFrame::upload(&gpu, &grey, w, h).unwrap();
    let out = GpuFrame::new(&gpu, w, h).unwrap();
    let mut footprint = |style: &TextStyle| {
        let prepared = renderer.prepare("Title", style).unwrap();
        text::draw_text(&gpu, &frame, &GpuText::new(&gpu, &prepared).unwrap(), (20, 10), 1.0, &out).unwrap();
        changed(&out.download(&gpu).unwrap(), &grey, w)
    };
    let bare = footprint(&plain(36.0));
    let outlined =
        footprint(&TextStyle { outline: Some(Outline { width: 3.0, color: [0, 0, 0, 255] }), ..plain(36.0) });
    assert!(outlined.len() > bare.len() * 3 / 2, "outline: {} → {} pixels", bare.len(), outlined.len());
    let shadowed =
        footprint(&TextStyle { shadow: Some(Shadow { dx: 6, dy: 5, color: [0, 0, 0, 255] }), ..plain(36.0) });
    let right = |pixels: &[(u32, u32)]| pixels.iter().map(|p| p.0).max().unwrap();
    let bottom = |pixels: &[(u32, u32)]| pixels.iter().map(|p| p.1).max().unwrap();
    assert!(
        right(&shadowed) >= right(&bare) + 5 && bottom(&shadowed) >= bottom(&bare) + 4,
        "the shadow falls right and down"
    );
}

#[test]
fn cjk_text_needs_a_cjk_font_and_draws_with_it_as_a_fallback() {
    let chinese = "你好，世界";
    let mut latin_only = TextRenderer::new(fonts(&[DEJAVU]));
    let missing = latin_only.fonts().missing_chars(chinese);
    assert_eq!(missing, vec!['你', '好', '，', '世', '界']);
    let Err(GpuError::Invalid(message)) = latin_only.prepare(chinese, &plain(32.0)) else { panic!("drew tofu") };
    assert!(message.contains("你"), "{message}");

    let mut both = TextRenderer::new(fonts(&[DEJAVU, NOTO_CJK]));
    assert!(both.fonts().missing_chars("Hello 你好，世界").is_empty());
    // Each glyph has ink: the block of all five is about five times as wide as one.
    let one = both.prepare("你", &plain(32.0)).unwrap();
    let five = both.prepare(chinese, &plain(32.0)).unwrap();
    assert!(five.width > one.width * 4, "{} vs {}", five.width, one.width);
    for c in chinese.chars().filter(|c| *c != '，') {
        let gpu = gpu();
        let prepared = both.prepare(&c.to_string(), &plain(32.0)).unwrap();
        let (w, h) = (prepared.width, prepared.height);
        let black = vec![0u8; (w * h * 4) as usize];
        let frame = GpuFrame::upload(&gpu, &black, w, h).unwrap();
        let out = GpuFrame::new(&gpu, w, h).unwrap();
        text::draw_text(&gpu, &frame, &GpuText::new(&gpu, &prepared).unwrap(), (0, 0), 1.0, &out).unwrap();
        let inked = changed(&out.download(&gpu).unwrap(), &black, w).len();
        assert!(inked > 40, "{c} drew {inked} pixels");
    }
    // The fonts' em squares are the same size: an ideograph stands a little taller than a
    // Latin capital beside it (Noto's line height is 1.45 em, DejaVu's 1.16).
    let gpu = gpu();
    let mut ink_rows = |text: &str| {
        let prepared = both.prepare(text, &plain(40.0)).unwrap();
        let (w, h) = (prepared.width, prepared.height);
        let black = vec![0u8; (w * h * 4) as usize];
        let frame = GpuFrame::upload(&gpu, &black, w, h).unwrap();
        let out = GpuFrame::new(&gpu, w, h).unwrap();
        text::draw_text(&gpu, &frame, &GpuText::new(&gpu, &prepared).unwrap(), (0, 0), 1.0, &out).unwrap();
        let rows: Vec<u32> = changed(&out.download(&gpu).unwrap(), &black, w).iter().map(|p| p.1).collect();
        rows.iter().max().unwrap() - rows.iter().min().unwrap() + 1
    };
    let (han, latin) = (ink_rows("国"), ink_rows("H"));
    assert!(han * 10 >= latin * 11 && han <= latin * 3 / 2, "国 is {han} rows tall, H {latin}");
    // Mixed Latin and CJK in one line takes each glyph from the font that has it.
    both.prepare("Episode 3：背叛", &plain(32.0)).unwrap();
}

#[test]
fn long_lines_wrap_and_glyphs_are_cached() {
    let mut renderer = TextRenderer::new(fonts(&[DEJAVU, NOTO_CJK]));
    let style = TextStyle { max_width: Some(200.0), ..plain(24.0) };
    let one_line = renderer.prepare("short", &style).unwrap();
    let long = renderer.prepare("the quick brown fox jumps over the lazy dog again and again", &style).unwrap();
    assert!(long.lines >= 3 && long.height > one_line.height * 2, "{} lines", long.lines);
    assert!(long.width <= 200 + 2 * 2, "wrapped width {}", long.width);
    let cjk = renderer.prepare("这是一个没有空格的很长的中文句子需要换行", &style).unwrap();
    assert!(cjk.lines >= 2, "CJK wraps between characters: {} lines", cjk.lines);

    let before = renderer.rasterised();
    renderer.prepare("the quick brown fox", &style).unwrap();
    assert_eq!(renderer.rasterised(), before, "every glyph was already cached");
    renderer.prepare("the quick brown fox", &TextStyle { size: 30.0, ..style.clone() }).unwrap();
    assert!(renderer.rasterised() > before, "another size rasterises again");
}

#[test]
fn bad_fonts_and_styles_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.ttf");
    let Err(GpuError::Invalid(message)) = FontSet::load(&[missing]) else { panic!("loaded a missing font") };
    assert!(message.contains("nope.ttf"), "{message}");
    let fake = dir.path().join("fake.ttf");
    std::fs::write(&fake, b"\xff\xd8\xff\xe0 this is a jpeg").unwrap();
    let Err(GpuError::Invalid(message)) = FontSet::load(&[fake]) else { panic!("loaded a fake font") };
    assert!(message.contains("fake.ttf") && message.contains("not a"), "{message}");
    let mut renderer = TextRenderer::new(fonts(&[DEJAVU]));
    for bad in
        [plain(0.0), TextStyle { line_spacing: 9.0, ..plain(20.0) }, TextStyle { max_width: Some(5.0), ..plain(20.0) }]
    {
        assert!(matches!(renderer.prepare("x", &bad), Err(GpuError::Invalid(_))), "{bad:?}");
    }
}
