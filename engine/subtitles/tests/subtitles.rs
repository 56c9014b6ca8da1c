//! Subtitles through the public API: encodings, real-world mess, strict mode, the three
//! formats both ways, input that is not subtitles, limits, no panics, and the ops in a
//! workflow run by the executor. Every fixture is made here, in code.

use proptest::prelude::*;
use reelflow_subtitles::{
    Error, MAX_BYTES, ParseOptions, SubtitleCue, SubtitleFormat, Subtitles, decode, detect_format, parse, write,
};

const TOLERANT: ParseOptions = ParseOptions { strict: false };
const STRICT: ParseOptions = ParseOptions { strict: true };

const CHINESE: [&str; 5] = [
    "他终于回来了，可是一切都变了。",
    "你为什么不早点告诉我真相？",
    "我们必须在天亮之前离开这座城市。",
    "这件事情和你没有任何关系。",
    "对不起，我真的没有别的选择。",
];

/// An SRT file of `lines`, long enough for encoding detection to be sure of itself.
fn srt_of(lines: &[&str], count: usize) -> String {
    (0..count)
        .map(|i| {
            format!("{}\n00:00:{:02},000 --> 00:00:{:02},500\n{}\n\n", i + 1, i * 2, i * 2 + 1, lines[i % lines.len()])
        })
        .collect()
}

fn chinese_srt() -> String {
    srt_of(&CHINESE, 20)
}

fn texts(subs: &Subtitles) -> Vec<&str> {
    subs.cues.iter().map(|c| c.text.as_str()).collect()
}

#[test]
fn every_common_encoding_decodes_to_the_same_cues() {
    let text = chinese_srt();
    let reference = parse(text.as_bytes(), None, STRICT).expect("utf-8");
    assert_eq!((reference.encoding.as_str(), reference.cues.len()), ("UTF-8", 20));
    let with_bom = [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat();
    let utf16le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let utf16le_bom = [&[0xFF, 0xFE][..], &utf16le].concat();
    let utf16be_bom = [&[0xFE, 0xFF][..], &utf16be].concat();
    let gbk = encoding_rs::GBK.encode(&text).0.into_owned();
    for (name, bytes, expect) in [
        ("utf-8 bom", with_bom, "UTF-8"),
        ("utf-16le bom", utf16le_bom, "UTF-16LE"),
        ("utf-16be bom", utf16be_bom, "UTF-16BE"),
        ("utf-16le", utf16le, "UTF-16LE"),
        ("utf-16be", utf16be, "UTF-16BE"),
        ("gbk", gbk, "GBK"),
    ] {
        let subs = parse(&bytes, None, STRICT).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(subs.encoding, expect, "{name}");
        assert_eq!(subs.cues, reference.cues, "{name}");
    }

    // GB18030 proper: characters GBK lacks take four bytes, and the name says so.
    let gb_text = srt_of(&["表情😀也能保存，", "还有一些普通的中文句子。", "这样检测器才有足够的信息。"], 12);
    let gb18030 = encoding_rs::GB18030.encode(&gb_text).0.into_owned();
    let subs = parse(&gb18030, None, STRICT).expect("gb18030");
    assert_eq!(subs.encoding, "gb18030");
    assert_eq!(subs.cues[0].text, "表情😀也能保存，");

    // Big5 is traditional Chinese.
    let traditional = [
        "他終於回來了，可是一切都變了。",
        "你為什麼不早點告訴我真相？",
        "我們必須在天亮之前離開這座城市。",
        "這件事情和你沒有任何關係。",
        "對不起，我真的沒有別的選擇。",
    ];
    let big5 = encoding_rs::BIG5.encode(&srt_of(&traditional, 20)).0.into_owned();
    let subs = parse(&big5, None, STRICT).expect("big5");
    assert_eq!(subs.encoding, "Big5");
    assert_eq!(subs.cues[1].text, traditional[1]);

    let japanese = ["こんにちは、世界。今日はいい天気ですね。", "ありがとうございます。また明日会いましょう。"];
    let sjis = encoding_rs::SHIFT_JIS.encode(&srt_of(&japanese, 4)).0.into_owned();
    let subs = parse(&sjis, None, STRICT).expect("shift-jis");
    assert_eq!(subs.encoding, "Shift_JIS");
    assert_eq!(texts(&subs), [japanese[0], japanese[1], japanese[0], japanese[1]]);

    let french = ["Ça a été très étrange, n'est-ce pas ?", "Où êtes-vous allés déjà ? À bientôt, garçon !"];
    let latin = encoding_rs::WINDOWS_1252.encode(&srt_of(&french, 2)).0.into_owned();
    let subs = parse(&latin, None, STRICT).expect("windows-1252");
    assert_eq!(subs.encoding, "windows-1252");
    assert_eq!(texts(&subs), french);
}

#[test]
fn decode_is_public_and_reports_damage() {
    let decoded = decode(&encoding_rs::GBK.encode(&CHINESE.concat()).0);
    assert_eq!((decoded.encoding, decoded.malformed), ("GBK", false));
    assert_eq!(decoded.text, CHINESE.concat());
    // A few broken bytes in a UTF-8 file: still UTF-8, with a located warning (an error
    // when strict).
    let mut bytes = chinese_srt().into_bytes();
    let at = bytes.iter().position(|&b| b >= 0x80).expect("non-ASCII");
    bytes[at] = 0xFF;
    let subs = parse(&bytes, None, TOLERANT).expect("tolerant");
    assert_eq!(subs.encoding, "UTF-8");
    assert_eq!(subs.warnings, ["line 3: bytes that are not valid UTF-8, replaced with U+FFFD"]);
    assert!(matches!(parse(&bytes, None, STRICT), Err(Error::Strict(p)) if p[0].line == 3));
}

#[test]
fn messy_srt_is_tolerated_with_located_warnings_and_refused_in_strict_mode() {
    let messy = "\u{feff}1\r\n00:00:01,000 --> 00:00:02,000\r\n<b>Hello</b>\r\n00:00:02.500 --> 00:00:04,000\r\n{\\an8}No index, <font color=\"#ff0000\">no</font> blank line\r\n\r\n7\r\n  00:00:03,500 --> 00:00:05,000  \r\nOverlaps the one before\r\nsecond line   \r\n\r\n\r\n\r\ngarbage here\r\nand here\r\n";
    let subs = parse(messy.as_bytes(), None, TOLERANT).expect("tolerant");
    assert_eq!(texts(&subs), ["Hello", "No index, no blank line", "Overlaps the one before\nsecond line"]);
    assert_eq!(subs.cues[0].raw, "<b>Hello</b>");
    assert_eq!(subs.cues[1].raw, "{\\an8}No index, <font color=\"#ff0000\">no</font> blank line");
    assert_eq!((subs.cues[1].start_ms, subs.cues[1].end_ms), (2_500, 4_000));
    assert_eq!(subs.cues.iter().map(|c| c.index).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        subs.warnings,
        [
            "line 4: missing blank line before the next cue",
            "line 4: cue without an index number",
            "line 4: milliseconds after a dot; SRT uses a comma",
            "line 7: cue number 7 where 3 was expected",
            "line 14: expected a cue timing like `00:00:01,000 --> 00:00:02,000`, found `garbage here`",
            "line 7: cue 3 starts at 00:00:03.500 before cue 2 ends at 00:00:04.000; both kept",
        ]
    );
    // Strict: the same deviations as errors, the overlap (legal SRT) still only a warning.
    let Err(Error::Strict(problems)) = parse(messy.as_bytes(), None, STRICT) else { panic!("strict must refuse") };
    assert_eq!(problems.iter().map(|p| p.line).collect::<Vec<_>>(), [4, 4, 4, 7, 14], "{problems:#?}");
}

#[test]
fn webvtt_and_ass_parse_with_their_extras() {
    let vtt = "WEBVTT - a title\n\nNOTE this is a comment\nspanning lines\n\nSTYLE\n::cue { color: lime }\n\nintro\n00:01.000 --> 00:02.500 align:start position:10%\n<v Roger>Hi <i>there</i>\n\n00:00:03.000 --> 00:00:04.000\nSecond {not a tag}\n";
    let subs = parse(vtt.as_bytes(), None, STRICT).expect("vtt");
    assert_eq!(subs.format, SubtitleFormat::Vtt);
    assert_eq!(texts(&subs), ["Hi there", "Second {not a tag}"]);
    assert_eq!((subs.cues[0].id.as_deref(), subs.cues[0].start_ms, subs.cues[0].end_ms), (Some("intro"), 1_000, 2_500));
    assert_eq!(subs.cues[0].settings.as_deref(), Some("align:start position:10%"));

    let ass = "\u{feff}[Script Info]\n; a comment\nTitle: 测试\nScriptType: v4.00+\nPlayResX: 1920\nPlayResY: 1080\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, Bold, Alignment, MarginV\nStyle: Default,Noto Sans CJK SC,52,&H00FFFFFF,0,2,40\nStyle: Sign,Arial,40,&H0000FFFF,-1,8,20\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\nComment: 0,0:00:00.00,0:00:01.00,Default,,0,0,0,,not shown\nDialogue: 0,0:00:01.00,0:00:03.50,Default,小明,0,0,0,,{\\b1}你好{\\b0}，世界\\N第二行, with commas, too\nDialogue: 1,0:00:02.20,0:00:05.00,Sign,,0,0,15,,{\\pos(960,80)}EXIT\n";
    let subs = parse(ass.as_bytes(), None, STRICT).expect("ass");
    assert_eq!(subs.format, SubtitleFormat::Ass);
    assert_eq!(texts(&subs), ["你好，世界\n第二行, with commas, too", "EXIT"]);
    assert_eq!(subs.cues[0].raw, "{\\b1}你好{\\b0}，世界\\N第二行, with commas, too");
    assert_eq!((subs.cues[0].start_ms, subs.cues[0].end_ms), (1_000, 3_500));
    assert_eq!((subs.cues[0].style.as_deref(), subs.cues[0].actor.as_deref()), (Some("Default"), Some("小明")));
    assert_eq!((subs.cues[1].layer, subs.cues[1].margin_v), (Some(1), Some(15)));
    assert!(subs.warnings.is_empty(), "ASS overlaps are normal: {:?}", subs.warnings);
    assert_eq!(subs.styles.len(), 2);
    assert_eq!(subs.styles[1].name(), Some("Sign"));
    assert_eq!(
        subs.styles[1].fields.keys().collect::<Vec<_>>(),
        ["Name", "Fontname", "Fontsize", "PrimaryColour", "Bold", "Alignment", "MarginV"]
    );
    assert_eq!(subs.styles[1].get("Alignment"), Some("8"));
    assert_eq!(subs.script_info.get("Title").map(String::as_str), Some("测试"));

    // ASS → ASS keeps styles, script info, tags, layers and times.
    let again = parse(write(&subs, SubtitleFormat::Ass).as_bytes(), None, STRICT).expect("ass again");
    assert_eq!(again.cues, subs.cues);
    assert_eq!(again.styles, subs.styles);
    assert_eq!(again.script_info, subs.script_info);
    // ASS → SRT writes plain text.
    let srt = write(&subs, SubtitleFormat::Srt);
    assert!(srt.starts_with("1\n00:00:01,000 --> 00:00:03,500\n你好，世界\n第二行, with commas, too\n\n2\n"), "{srt}");
}

#[test]
fn every_format_converts_to_every_other_keeping_times_and_text() {
    let cues = vec![
        SubtitleCue::new(0, 1_230, "第一行\nsecond line"),
        SubtitleCue::new(1_500, 62_340, "a < b & c"),
        SubtitleCue::new(3_600_000, 3_601_000, "{braces} and \\ backslash"),
    ];
    for from in SubtitleFormat::ALL {
        let source = Subtitles::new(from, cues.clone());
        for to in SubtitleFormat::ALL {
            let written = write(&source, to);
            assert_eq!(detect_format(&written), Some(to), "{written}");
            let back =
                parse(written.as_bytes(), None, STRICT).unwrap_or_else(|e| panic!("{from} → {to}: {e}\n{written}"));
            let pairs =
                |s: &Subtitles| s.cues.iter().map(|c| (c.start_ms, c.end_ms, c.text.clone())).collect::<Vec<_>>();
            // ASS hides `{…}`; that cue's text is only safe in the other two.
            let n = if to == SubtitleFormat::Ass { 2 } else { 3 };
            assert_eq!(pairs(&back)[..n], pairs(&source)[..n], "{from} → {to}\n{written}");
        }
    }
}

#[test]
fn things_that_are_not_subtitles_are_named() {
    let not_text = |bytes: &[u8], kind: &str| match parse(bytes, None, TOLERANT) {
        Err(e @ Error::NotText { .. }) => {
            assert!(e.is_unsupported_format());
            assert!(e.to_string().contains(kind), "{e}");
        }
        other => panic!("{kind}: {other:?}"),
    };
    not_text(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1], "a JPEG image");
    not_text(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "a PNG image");
    not_text(&[&[0, 0, 0, 0x20][..], b"ftypisom\0\0\x02\0"].concat(), "an MP4/MOV file");
    not_text(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81], "a Matroska/WebM video");
    let random: Vec<u8> = (0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    not_text(&random, "binary data");
    not_text(b"1\n00:00:01,000 --> 00:00:02,000\nnul\0inside\n", "binary data");

    for empty in [&b""[..], b"  \r\n\t\n", &[0xEF, 0xBB, 0xBF, b'\n'], &[0xFF, 0xFE, b' ', 0]] {
        assert_eq!(parse(empty, None, TOLERANT), Err(Error::Empty), "{empty:?}");
    }
    let prose = b"Dear diary,\nno subtitles here.\n";
    assert_eq!(parse(prose, None, TOLERANT), Err(Error::NoCues { format: None }));
    assert_eq!(
        parse(prose, Some(SubtitleFormat::Srt), TOLERANT),
        Err(Error::NoCues { format: Some(SubtitleFormat::Srt) })
    );
    assert_eq!(
        parse(b"WEBVTT\n\nNOTE only a note\n", None, STRICT),
        Err(Error::NoCues { format: Some(SubtitleFormat::Vtt) })
    );
    let ass_without_events = b"[Script Info]\nTitle: x\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n";
    let err = parse(ass_without_events, None, STRICT).expect_err("no cues");
    assert_eq!(err.to_string(), "not a subtitle file: no ASS cues found");
    assert!(err.is_unsupported_format());
}

#[test]
fn oversized_input_is_refused_before_any_work() {
    let huge = vec![b'a'; MAX_BYTES + 1];
    let err = parse(&huge, None, TOLERANT).expect_err("too large");
    assert_eq!(err, Error::TooLarge { size: MAX_BYTES as u64 + 1, max: MAX_BYTES as u64 });
    assert!(!err.is_unsupported_format());
}

/// Random cues as parsing would produce them: 1-based, in order, trimmed non-empty lines
/// without markup characters.
fn arb_cues(step_ms: u64) -> impl Strategy<Value = Vec<SubtitleCue>> {
    let line = "[a-zA-Z0-9 ,.!?'\"你好世界こんにちは]{0,30}".prop_map(|l| l.trim().to_owned());
    let text = prop::collection::vec(line, 0..4)
        .prop_map(|lines| lines.into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n"));
    prop::collection::vec((0u64..5_000_000, 0u64..100_000, text), 1..20).prop_map(move |items| {
        let mut at = 0;
        let cues = items
            .into_iter()
            .map(|(gap, len, text)| {
                at += gap / step_ms * step_ms;
                let cue = SubtitleCue::new(at, at + len / step_ms * step_ms, text);
                at += len / step_ms * step_ms;
                cue
            })
            .collect();
        Subtitles::new(SubtitleFormat::Srt, cues).cues
    })
}

/// A valid SRT file cut, spliced, duplicated or overwritten at random places.
fn mutated_srt() -> impl Strategy<Value = Vec<u8>> {
    let base = chinese_srt().into_bytes();
    let len = base.len();
    prop::collection::vec((0..len, 0usize..4, any::<u8>(), 0usize..64), 1..8).prop_map(move |edits| {
        let mut bytes = base.clone();
        for (at, kind, byte, span) in edits {
            let at = at.min(bytes.len());
            let end = (at + span).min(bytes.len());
            match kind {
                0 => drop(bytes.drain(at..end)),
                1 => bytes.insert(at, byte),
                2 => {
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(at..at, copy);
                }
                _ => {
                    if let Some(b) = bytes.get_mut(at) {
                        *b = byte;
                    }
                }
            }
        }
        bytes
    })
}

proptest! {
    #[test]
    fn srt_and_vtt_round_trip(cues in arb_cues(1)) {
        for format in [SubtitleFormat::Srt, SubtitleFormat::Vtt] {
            let subs = Subtitles::new(format, cues.clone());
            let back = parse(write(&subs, format).as_bytes(), Some(format), TOLERANT).expect("round trip parses");
            prop_assert_eq!(&back.cues, &cues);
        }
    }

    #[test]
    fn ass_round_trips_times_and_text(cues in arb_cues(10)) {
        let subs = Subtitles::new(SubtitleFormat::Ass, cues.clone());
        let back = parse(write(&subs, SubtitleFormat::Ass).as_bytes(), None, STRICT).expect("round trip parses");
        let pairs = |c: &[SubtitleCue]| c.iter().map(|c| (c.start_ms, c.end_ms, c.text.clone())).collect::<Vec<_>>();
        prop_assert_eq!(pairs(&back.cues), pairs(&cues));
    }

    #[test]
    fn no_input_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        for format in [None, Some(SubtitleFormat::Srt), Some(SubtitleFormat::Ass), Some(SubtitleFormat::Vtt)] {
            let _ = parse(&bytes, format, TOLERANT);
            let _ = parse(&bytes, format, STRICT);
        }
    }

    #[test]
    fn text_like_input_never_panics(text in "[0-9:,.\\->\\n\\r {}<>\\\\a-zA-Z\\[\\]]{0,400}") {
        for format in [None, Some(SubtitleFormat::Srt), Some(SubtitleFormat::Ass), Some(SubtitleFormat::Vtt)] {
            if let Ok(subs) = parse(text.as_bytes(), format, TOLERANT) {
                prop_assert!(subs.cues.iter().all(|c| c.start_ms <= c.end_ms));
                // Whatever was parsed can be written and read back.
                for to in SubtitleFormat::ALL {
                    let _ = parse(write(&subs, to).as_bytes(), Some(to), TOLERANT);
                }
            }
        }
    }

    #[test]
    fn mutated_srt_never_panics(bytes in mutated_srt()) {
        let _ = parse(&bytes, None, TOLERANT);
        let _ = parse(&bytes, None, STRICT);
        let _ = parse(&bytes, Some(SubtitleFormat::Vtt), TOLERANT);
    }
}

mod ops {
    use std::path::Path;
    use std::sync::Arc;

    use indexmap::IndexMap;
    use reelflow_core::{
        Executor, NoExpressions, Plan, Registry, RunReport, RunRequest, RunStatus, SourceFile, Value, load_workflow,
    };
    use reelflow_subtitles::Subtitles;

    fn registry() -> Registry {
        let mut registry = Registry::with_builtins();
        reelflow_subtitles::register(&mut registry).expect("register");
        registry
    }

    fn load(yaml: &str) -> Plan {
        load_workflow(SourceFile::new("subs.yaml", yaml), &registry(), &NoExpressions)
            .unwrap_or_else(|d| panic!("invalid workflow: {:?}", d.items))
    }

    async fn run(plan: &Arc<Plan>, dir: &Path, input: &Path) -> RunReport {
        let mut given = IndexMap::new();
        given.insert("subs".to_owned(), Value::String(input.to_string_lossy().into_owned()));
        let mut request = RunRequest::new("subs", dir.join("work"));
        request.inputs = plan.bind_inputs(given, dir).expect("inputs");
        Executor::new(Default::default(), None).run(plan.clone(), request).await
    }

    const CONVERT: &str = "reelflow: 1\ninputs:\n  subs: {type: file}\nnodes:\n  parse:\n    op: subtitles.parse\n    inputs: {file: inputs.subs}\n  vtt:\n    op: subtitles.write\n    inputs: {subtitles: parse.subtitles}\n    params: {format: vtt, name: out.vtt}\n  ass:\n    op: subtitles.write\n    inputs: {subtitles: parse.subtitles}\n    params: {format: ass}\noutputs:\n  subtitles: parse.subtitles\n  count: parse.count\n  vtt: vtt.file\n  ass: ass.file\n";

    #[tokio::test]
    async fn parse_and_write_run_in_a_workflow() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("ep1.srt");
        std::fs::write(&input, encoding_rs::GBK.encode(&super::chinese_srt()).0).expect("write");
        let plan = Arc::new(load(CONVERT));
        let report = run(&plan, dir.path(), &input).await;
        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
        assert_eq!(report.outputs["count"], Value::Int(20));
        let subs: Subtitles = serde_json::from_value(report.outputs["subtitles"].to_json()).expect("the model");
        assert_eq!((subs.encoding.as_str(), subs.cues.len()), ("GBK", 20));

        let Value::File(vtt) = &report.outputs["vtt"] else { panic!("not a file") };
        assert_eq!(vtt.path.file_name().and_then(|n| n.to_str()), Some("out.vtt"));
        let text = std::fs::read_to_string(&vtt.path).expect("utf-8 vtt");
        assert!(text.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n他终于回来了"), "{text}");
        let Value::File(ass) = &report.outputs["ass"] else { panic!("not a file") };
        assert!(ass.path.ends_with("subtitles.ass"), "{}", ass.path.display());
        assert!(
            std::fs::read_to_string(&ass.path)
                .expect("ass")
                .contains("Dialogue: 0,0:00:00.00,0:00:01.50,Default,,0,0,0,,他终于回来了")
        );
    }

    #[tokio::test]
    async fn bad_files_fail_the_node_naming_the_file_and_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = Arc::new(load(CONVERT));
        let fake = dir.path().join("fake.srt");
        std::fs::write(&fake, [0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).expect("write");
        let report = run(&plan, dir.path(), &fake).await;
        assert_eq!(report.status, RunStatus::Failed);
        let (node, chain) = report.first_error().expect("an error");
        assert_eq!(node, "parse");
        let message = chain.join(": ");
        assert!(message.contains("fake.srt: not a subtitle file: it is a JPEG image"), "{message}");

        let missing = dir.path().join("missing.srt");
        let report = run(&plan, dir.path(), &missing).await;
        let message = report.first_error().expect("an error").1.join(": ");
        assert!(message.contains("missing.srt"), "{message}");

        // Strict mode names the line.
        let strict = Arc::new(load(
            &CONVERT.replace("inputs: {file: inputs.subs}", "inputs: {file: inputs.subs}\n    params: {strict: true}"),
        ));
        let sloppy = dir.path().join("sloppy.srt");
        std::fs::write(&sloppy, "1\n00:00:01.000 --> 00:00:02,000\nHi\n").expect("write");
        let report = run(&strict, dir.path(), &sloppy).await;
        let message = report.first_error().expect("an error").1.join(": ");
        assert!(
            message.contains("sloppy.srt: 1 problem(s) in the subtitles: line 2: milliseconds after a dot"),
            "{message}"
        );
        // …which the tolerant default accepts.
        assert_eq!(run(&plan, dir.path(), &sloppy).await.status, RunStatus::Succeeded);
    }

    #[test]
    fn params_are_checked_when_the_workflow_loads() {
        let registry = registry();
        for bad in ["{format: docx}", "{strict: true, colour: red}"] {
            let yaml = format!(
                "reelflow: 1\ninputs:\n  subs: {{type: file}}\nnodes:\n  parse:\n    op: subtitles.parse\n    inputs: {{file: inputs.subs}}\n    params: {bad}\noutputs:\n  n: parse.count\n"
            );
            assert!(load_workflow(SourceFile::new("bad.yaml", yaml), &registry, &NoExpressions).is_err(), "{bad}");
        }
        let spec = registry.get("subtitles.write").expect("registered").spec().clone();
        assert_eq!(spec.inputs[0].ty.to_string(), "subtitles");
        assert!(registry.is_type("subtitles"));
    }
}
