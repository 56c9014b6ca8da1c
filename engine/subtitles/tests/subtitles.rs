//! Subtitles: encodings, real-world mess, strict mode, the three formats both ways, bad
//! input, and the ops in a workflow.

use proptest::prelude::*;
use reelflow_subtitles::{Error, ParseOptions, SubtitleCue, SubtitleFormat, Subtitles, parse, write};

const TOLERANT: ParseOptions = ParseOptions { strict: false };
const STRICT: ParseOptions = ParseOptions { strict: true };

/// A long enough Chinese SRT for encoding detection to be sure.
fn chinese_srt() -> String {
    let lines = [
        "他终于回来了，可是一切都变了。",
        "你为什么不早点告诉我真相？",
        "我们必须在天亮之前离开这座城市。",
        "这件事情和你没有任何关系。",
        "对不起，我真的没有别的选择。",
    ];
    (0..20)
        .map(|i| {
            format!("{}\n00:00:{:02},000 --> 00:00:{:02},500\n{}\n\n", i + 1, i * 2, i * 2 + 1, lines[i % lines.len()])
        })
        .collect()
}

#[test]
fn every_common_encoding_decodes_to_the_same_cues() {
    let text = chinese_srt();
    let reference = parse(text.as_bytes(), None, STRICT).expect("utf-8");
    assert_eq!(reference.encoding, "UTF-8");
    assert_eq!(reference.cues.len(), 20);
    let mut with_bom = vec![0xEF, 0xBB, 0xBF];
    with_bom.extend_from_slice(text.as_bytes());
    let utf16le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let mut utf16le_bom = vec![0xFF, 0xFE];
    utf16le_bom.extend_from_slice(&utf16le);
    let gbk = encoding_rs::GBK.encode(&text).0.into_owned();
    let gb18030 = encoding_rs::GB18030.encode(&text).0.into_owned();
    // Big5 is traditional Chinese: the same lines in traditional characters.
    let traditional: String = text
        .chars()
        .map(|c| match c {
            '这' => '這',
            '们' => '們',
            '终' => '終',
            '来' => '來',
            '变' => '變',
            '为' => '為',
            '诉' => '訴',
            '开' => '開',
            '关' => '關',
            '系' => '係',
            '对' => '對',
            '择' => '擇',
            '别' => '別',
            '须' => '須',
            '么' => '麼',
            '点' => '點',
            '实' => '實',
            '没' => '沒',
            '离' => '離',
            '话' => '話',
            other => other,
        })
        .collect();
    let big5 = encoding_rs::BIG5.encode(&traditional).0.into_owned();
    for (name, bytes, expect) in [
        ("utf-8 bom", with_bom, "UTF-8"),
        ("utf-16le bom", utf16le_bom, "UTF-16LE"),
        ("utf-16le", utf16le, "UTF-16LE"),
        ("utf-16be", utf16be, "UTF-16BE"),
        ("gbk", gbk, "GBK"),
        ("gb18030", gb18030, "GBK"),
    ] {
        let subs = parse(&bytes, None, STRICT).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(subs.encoding, expect, "{name}");
        assert_eq!(subs.cues, reference.cues, "{name}");
    }
    let subs = parse(&big5, None, TOLERANT).expect("big5");
    assert_eq!(subs.encoding, "Big5");
    assert!(subs.cues[0].text.starts_with("他終于回來了"), "{}", subs.cues[0].text);

    let japanese = "1\n00:00:01,000 --> 00:00:02,000\nこんにちは、世界。今日はいい天気ですね。\n\n2\n00:00:03,000 --> 00:00:04,000\nありがとうございます。また明日会いましょう。\n\n";
    let sjis = encoding_rs::SHIFT_JIS.encode(japanese).0.into_owned();
    let subs = parse(&sjis, None, STRICT).expect("shift-jis");
    assert_eq!(subs.encoding, "Shift_JIS");
    assert_eq!(subs.cues[1].text, "ありがとうございます。また明日会いましょう。");

    let french =
        "1\n00:00:01,000 --> 00:00:02,000\nÇa a été très étrange, n'est-ce pas ? Où êtes-vous allés déjà ?\n\n";
    let latin = encoding_rs::WINDOWS_1252.encode(french).0.into_owned();
    let subs = parse(&latin, None, STRICT).expect("windows-1252");
    assert_eq!(subs.encoding, "windows-1252");
    assert!(subs.cues[0].text.starts_with("Ça a été très étrange"));
}

#[test]
fn messy_srt_is_tolerated_with_located_warnings_and_refused_in_strict_mode() {
    let messy = "\u{feff}1\r\n00:00:01,000 --> 00:00:02,000\r\n<b>Hello</b>\r\n00:00:02.500 --> 00:00:04,000\r\n{\\an8}No index, no blank line\r\n\r\n7\r\n00:00:03,500 --> 00:00:05,000\r\nOverlaps the one before\r\nsecond line\r\n\r\ngarbage here\r\n";
    let subs = parse(messy.as_bytes(), None, TOLERANT).expect("tolerant");
    assert_eq!(subs.cues.len(), 3);
    assert_eq!(subs.cues[0].text, "Hello");
    assert_eq!(subs.cues[0].raw, "<b>Hello</b>");
    assert_eq!(subs.cues[1].text, "No index, no blank line");
    assert_eq!((subs.cues[1].start_ms, subs.cues[1].end_ms), (2_500, 4_000));
    assert_eq!(subs.cues[2].text, "Overlaps the one before\nsecond line");
    assert_eq!(subs.cues.iter().map(|c| c.index).collect::<Vec<_>>(), [1, 2, 3]);
    for expected in [
        "line 4: missing blank line",
        "line 4: cue without an index",
        "line 4: milliseconds after a dot",
        "line 7: cue number 7",
        "line 12: expected a cue timing",
        "cues 2 and 3 overlap",
    ] {
        assert!(subs.warnings.iter().any(|w| w.starts_with(expected)), "no `{expected}` in {:#?}", subs.warnings);
    }
    let Err(Error::Strict(problems)) = parse(messy.as_bytes(), None, STRICT) else { panic!("strict mode must refuse") };
    let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [4, 4, 4, 7, 12], "{problems:#?}");
}

#[test]
fn webvtt_and_ass_parse_with_their_extras() {
    let vtt = "WEBVTT - a title\n\nNOTE this is a comment\nspanning lines\n\nSTYLE\n::cue { color: lime }\n\nintro\n00:01.000 --> 00:02.500 align:start position:10%\n<v Roger>Hi <i>there</i>\n\n00:00:03.000 --> 00:00:04.000\nSecond\n";
    let subs = parse(vtt.as_bytes(), None, STRICT).expect("vtt");
    assert_eq!(subs.format, Some(SubtitleFormat::Vtt));
    assert_eq!(subs.cues.len(), 2);
    assert_eq!((subs.cues[0].id.as_deref(), subs.cues[0].start_ms, subs.cues[0].end_ms), (Some("intro"), 1_000, 2_500));
    assert_eq!(subs.cues[0].text, "Hi there");

    let ass = "[Script Info]\nTitle: 测试\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour\nStyle: Default,Noto Sans CJK SC,52,&H00FFFFFF\nStyle: Sign,Arial,40,&H0000FFFF\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\nComment: 0,0:00:00.00,0:00:01.00,Default,,0,0,0,,not shown\nDialogue: 0,0:00:01.00,0:00:03.50,Default,小明,0,0,0,,{\\b1}你好{\\b0}，世界\\N第二行, with commas, too\nDialogue: 0,0:00:04.20,0:00:05.00,Sign,,0,0,0,,EXIT\n";
    let subs = parse(ass.as_bytes(), None, STRICT).expect("ass");
    assert_eq!(subs.format, Some(SubtitleFormat::Ass));
    assert_eq!(subs.cues.len(), 2);
    assert_eq!(subs.cues[0].text, "你好，世界\n第二行, with commas, too");
    assert_eq!((subs.cues[0].start_ms, subs.cues[0].end_ms), (1_000, 3_500));
    assert_eq!((subs.cues[0].style.as_deref(), subs.cues[0].actor.as_deref()), (Some("Default"), Some("小明")));
    assert_eq!(subs.styles.len(), 2);
    assert_eq!(subs.styles[1][1], ("Fontname".to_owned(), "Arial".to_owned()));
    assert_eq!(subs.script_info[0], ("Title".to_owned(), "测试".to_owned()));

    // ASS → ASS keeps styles, tags and times; ASS → SRT writes plain text.
    let again = parse(write(&subs, SubtitleFormat::Ass).as_bytes(), None, STRICT).expect("ass again");
    assert_eq!(again.cues, subs.cues);
    assert_eq!(again.styles, subs.styles);
    let srt = write(&subs, SubtitleFormat::Srt);
    assert!(srt.starts_with("1\n00:00:01,000 --> 00:00:03,500\n你好，世界\n第二行, with commas, too\n\n2\n"), "{srt}");
}

#[test]
fn things_that_are_not_subtitles_are_named() {
    let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1];
    assert_eq!(parse(&jpeg, None, TOLERANT), Err(Error::NotSubtitles("the file looks like a JPEG image".into())));
    let mut mp4 = vec![0, 0, 0, 0x20];
    mp4.extend_from_slice(b"ftypisom");
    assert!(matches!(parse(&mp4, None, TOLERANT), Err(Error::NotSubtitles(m)) if m.contains("MP4")));
    assert!(matches!(parse(b"", None, TOLERANT), Err(Error::NotSubtitles(m)) if m.contains("empty")));
    assert!(
        matches!(parse(b"just some words\nand more words\n", None, TOLERANT), Err(Error::NotSubtitles(m)) if m.contains("no subtitle cues"))
    );
    let binary: Vec<u8> = (0..2000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    assert!(matches!(parse(&binary, None, TOLERANT), Err(Error::NotSubtitles(_))));
}

fn arb_cues() -> impl Strategy<Value = Vec<SubtitleCue>> {
    let text = prop::collection::vec("[a-zA-Z0-9 ,.!?你好世界こんにちは]{1,30}", 1..3).prop_map(|lines| {
        lines.into_iter().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
    });
    prop::collection::vec((0u64..10_000_000, 1u64..100_000, text), 1..20).prop_map(|items| {
        let mut at = 0;
        items
            .into_iter()
            .filter(|(_, _, t)| !t.is_empty() && !t.bytes().all(|b| b.is_ascii_digit()))
            .enumerate()
            .map(|(i, (gap, len, text))| {
                at += gap % 5000;
                let cue = SubtitleCue {
                    index: i + 1,
                    start_ms: at,
                    end_ms: at + len,
                    raw: text.clone(),
                    text,
                    ..Default::default()
                };
                at += len;
                cue
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn srt_and_vtt_round_trip(cues in arb_cues()) {
        prop_assume!(!cues.is_empty());
        for format in [SubtitleFormat::Srt, SubtitleFormat::Vtt] {
            let subs = Subtitles { format: Some(format), cues: cues.clone(), ..Default::default() };
            let back = parse(write(&subs, format).as_bytes(), Some(format), STRICT).expect("round trip parses");
            prop_assert_eq!(&back.cues, &cues);
        }
    }

    #[test]
    fn no_input_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = parse(&bytes, None, TOLERANT);
        let _ = parse(&bytes, Some(SubtitleFormat::Ass), STRICT);
        let _ = parse(&bytes, Some(SubtitleFormat::Vtt), TOLERANT);
    }

    #[test]
    fn mutated_srt_never_panics(cut in 0usize..400, insert in "[\\s\\S]{0,20}") {
        let base = chinese_srt();
        let mut chars: Vec<char> = base.chars().collect();
        let at = cut.min(chars.len());
        chars.splice(at..at, insert.chars());
        let text: String = chars.into_iter().collect();
        let _ = parse(text.as_bytes(), None, TOLERANT);
        let _ = parse(text.as_bytes(), None, STRICT);
    }
}

#[tokio::test]
async fn the_ops_parse_and_write_in_a_workflow() {
    use reelflow_core::{Executor, NoExpressions, Registry, RunRequest, RunStatus, SourceFile, Value, load_workflow};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("ep1.srt");
    std::fs::write(&input, encoding_rs::GBK.encode(&chinese_srt()).0).expect("write");
    let mut registry = Registry::with_builtins();
    reelflow_subtitles::register(&mut registry).expect("register");
    let yaml = "reelflow: 1\ninputs:\n  subs: {type: file}\nnodes:\n  parse:\n    op: subtitles.parse\n    inputs: {file: inputs.subs}\n  vtt:\n    op: subtitles.write\n    inputs: {subtitles: parse.subtitles}\n    params: {format: vtt}\noutputs:\n  count: parse.count\n  vtt: vtt.file\n";
    let plan = Arc::new(load_workflow(SourceFile::new("subs.yaml", yaml), &registry, &NoExpressions).expect("valid"));
    let executor = Executor::new(Default::default(), None);
    let run = |path: &std::path::Path| {
        let mut given = indexmap::IndexMap::new();
        given.insert("subs".to_owned(), Value::String(path.to_string_lossy().into_owned()));
        let mut request = RunRequest::new("subs", dir.path().join("work"));
        request.inputs = plan.bind_inputs(given, dir.path()).expect("inputs");
        executor.run(plan.clone(), request)
    };
    let report = run(&input).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    assert_eq!(report.outputs["count"], Value::Int(20));
    let Value::File(vtt) = &report.outputs["vtt"] else { panic!("not a file") };
    let text = std::fs::read_to_string(&vtt.path).expect("utf-8 vtt");
    assert!(text.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n他终于回来了"), "{text}");

    // A JPEG named .srt fails the node with the file and the reason.
    let fake = dir.path().join("fake.srt");
    std::fs::write(&fake, [0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).expect("write");
    let report = run(&fake).await;
    assert_eq!(report.status, RunStatus::Failed);
    let message = report.first_error().expect("an error").1.join(" ");
    assert!(message.contains("fake.srt") && message.contains("JPEG"), "{message}");
}
