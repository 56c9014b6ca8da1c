//! The clipsmaster API end to end through the real app: the shipped workflow, the real
//! SmolLM2 model planning, FFmpeg cutting, FCPXML checked against Apple's DTD. The episode
//! and its subtitles are made here.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use reelflow_media::probe;
use reelflow_media::synthetic::{SyntheticSpec, generate};
use serde_json::{Value, json};
use support::{Harness, harness};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const LINES: [&str; 8] = [
    "Where were you last night?",
    "I told you, I was at the office.",
    "Then why did the office call looking for you?",
    "You read my messages? That is a betrayal!",
    "The betrayal is yours, not mine.",
    "I found the letter in your coat.",
    "Please, let me explain before you leave.",
    "It is too late for explanations.",
];

/// A 72-second episode: a 2 s line every 3 s (tone while speaking, silence between), and
/// the matching SRT.
fn episode(h: &Harness) -> (PathBuf, PathBuf) {
    let cues = 24;
    let video = h.media.join("drama_ep1.mp4");
    let silences: Vec<(f64, f64)> = (0..cues).map(|i| (3.0 * i as f64 + 2.0, 3.0 * i as f64 + 3.0)).collect();
    let spec = SyntheticSpec { frames: 25 * 3 * cues as u32, gop: 50, silences, ..Default::default() };
    generate(&video, &spec).expect("the episode");
    let srt: String = (0..cues)
        .map(|i| {
            let t = 3 * i;
            format!(
                "{}\n00:{:02}:{:02},000 --> 00:{:02}:{:02},000\n{}\n\n",
                i + 1,
                t / 60,
                t % 60,
                (t + 2) / 60,
                (t + 2) % 60,
                LINES[i % LINES.len()]
            )
        })
        .collect();
    let subtitles = h.media.join("drama_ep1.srt");
    std::fs::write(&subtitles, srt).expect("the subtitles");
    (video, subtitles)
}

/// The repository's workflows and SmolLM2, registered for this test as the English model at
/// the document's level names (the real file is Q4_1; the 7B models the document names are
/// not installable here), through an operator active-model config.
async fn clips_harness() -> Harness {
    clips_harness_with(|_| {}).await
}

async fn clips_harness_with(adjust: impl FnOnce(&mut reelflow_runtime::Config) + Send + 'static) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let models = dir.join("models");
    std::fs::create_dir_all(models.join("smollm2")).unwrap();
    let file = repo().join("models/smollm2/SmolLM2-135M-Instruct.Q8_0.gguf");
    assert!(file.is_file(), "{} is missing: run `bash .ci/setup.sh`", file.display());
    let linked = models.join("smollm2/smol.gguf");
    if std::fs::hard_link(&file, &linked).is_err() {
        std::fs::copy(&file, &linked).unwrap();
    }
    std::fs::write(
        models.join("models.yaml"),
        "models:\n  - id: smollm2-test\n    task: chat\n    languages: [en]\n    format: gguf\n    licence: Apache-2.0\n    default_quant: Q4_K_M\n    quantizations:\n      Q4_K_M: {file: smollm2/smol.gguf, memory_mb: 800}\n    install: run bash .ci/setup.sh\n  - id: qwen-zh\n    task: chat\n    languages: [zh]\n    format: gguf\n    licence: Apache-2.0\n    default_quant: Q4_K_M\n    quantizations:\n      Q4_K_M: {file: qwen/quantized/qwen2.5-7b-zh.gguf, memory_mb: 5300}\n    install: put the Qwen GGUF there\n",
    )
    .unwrap();
    let active = dir.join("active_model.yaml");
    std::fs::write(&active, "default_language: zh\nlanguages:\n  zh: {model: qwen-zh}\n  en: {model: smollm2-test}\n")
        .unwrap();
    harness(move |config| {
        config.workflows_dir = repo().join("workflows");
        config.llm.models_dir = models;
        config.llm.active_config = active;
        adjust(config);
    })
    .await
}

fn frames_of(path: &str) -> f64 {
    let info = probe(Path::new(path), false).expect("probe the output");
    info.video().expect("video").duration.max(info.duration)
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_returns_the_documented_shape_with_a_real_remix() {
    let h = clips_harness().await;
    let (video, subtitles) = episode(&h);
    let request = json!({
        "video_path": video,
        "srt_path": subtitles,
        "quant_level": "Q4_K_M",
        "lang": "en",
        "export_format": "both",
        "max_duration": 20,
        "narrative_focus": ["betrayal", "letter"],
        "temperature": 0.8,
        "preserve_segments": [{"start": 45.2, "end": 46.5}]
    });
    let (status, body) = h.post("/api/v1/generate", request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success", "{body}");
    assert!(body["task_id"].as_str().unwrap().starts_with("task_"));
    assert!(body["render_time"].as_f64().unwrap() > 0.0);
    let metrics = &body["metrics"];
    for key in ["input_duration", "output_duration", "compression_ratio", "memory_peak_mb"] {
        assert!(metrics[key].is_number(), "{key} in {metrics}");
    }
    assert!((metrics["input_duration"].as_f64().unwrap() - 72.0).abs() < 0.1);
    let out_duration = metrics["output_duration"].as_f64().unwrap();
    assert!(out_duration > 0.0 && out_duration <= 20.0 + 1e-6, "max_duration respected: {out_duration}");

    // The MP4 lasts the planned segments' sum, within a frame, and decodes.
    let mp4 = body["video_path"].as_str().expect("a video path");
    assert!((frames_of(mp4) - out_duration).abs() <= 1.0 / 25.0 + 1e-6, "{} vs {out_duration}", frames_of(mp4));

    // The preserved range (cue 16, 45..47 s) is in the remix: the run's segments cover it.
    let run_id = format!("run-{}", body["task_id"].as_str().unwrap().trim_start_matches("task_"));
    let (_, run) = h.get(&format!("/api/v1/runs/{run_id}")).await;
    let segments = run["outputs"]["segments"].as_array().expect("segments").clone();
    assert!(
        segments.iter().any(|s| s["start"].as_f64().unwrap() <= 45.2 && s["end"].as_f64().unwrap() >= 46.5),
        "{segments:?}"
    );
    let total: f64 = segments.iter().map(|s| s["end"].as_f64().unwrap() - s["start"].as_f64().unwrap()).sum();
    assert!((total - out_duration).abs() < 1e-6);
    assert_eq!(run["outputs"]["quality"]["cuts_mid_cue"], 0.0, "{}", run["outputs"]["quality"]);

    // The project validates against FCPXML 1.11 and has one clip per segment.
    let project = body["project_path"].as_str().expect("a project path");
    let xml = std::fs::read_to_string(project).unwrap();
    assert_eq!(xml.matches("<asset-clip").count(), segments.len(), "{xml}");
    let dtd = repo().join("../shared/fixtures/fcpxml/FCPXMLv1_11.dtd");
    let out =
        Command::new("xmllint").arg("--noout").arg("--dtdvalid").arg(&dtd).arg(project).output().expect("xmllint");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Status of a finished task.
    let (status, st) = h.get(&format!("/api/v1/status?task_id={}", body["task_id"].as_str().unwrap())).await;
    assert_eq!(status, 200);
    assert_eq!((st["status"].as_str(), st["progress"].as_f64()), (Some("success"), Some(1.0)), "{st}");
    assert!(st["metrics"]["memory_usage_mb"].as_f64().unwrap() > 0.0 && st["metrics"]["elapsed_time"].is_number());
}

const ZH_LINES: [&str; 8] = [
    "你昨晚去哪儿了？",
    "我说过了，我在公司加班。",
    "那公司为什么打电话找你？",
    "你偷看我的短信？这是背叛！",
    "背叛的人是你，不是我。",
    "我在你的大衣里找到了那封信。",
    "求你了，听我解释再走。",
    "现在解释已经太晚了。",
];

/// The episode's Chinese subtitles as ASS (styles, override tags, centisecond times),
/// encoded in GB18030 without any marker of the encoding.
fn gb18030_ass(h: &Harness) -> PathBuf {
    let mut ass = String::from(
        "[Script Info]\nTitle: 第一集\nScriptType: v4.00+\nPlayResX: 1920\nPlayResY: 1080\n\n[V4+ Styles]\n\
         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
         Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, \
         MarginR, MarginV, Encoding\n\
         Style: Default,Noto Sans CJK SC,60,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,0,2,\
         10,10,40,1\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n",
    );
    for i in 0..24u32 {
        let t = 3 * i;
        ass.push_str(&format!(
            "Dialogue: 0,0:{:02}:{:02}.00,0:{:02}:{:02}.00,Default,,0,0,0,,{{\\i1}}{}\n",
            t / 60,
            t % 60,
            (t + 2) / 60,
            (t + 2) % 60,
            ZH_LINES[i as usize % ZH_LINES.len()]
        ));
    }
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&ass);
    assert!(!unmappable);
    let path = h.media.join("drama_ep1.zh.ass");
    std::fs::write(&path, &bytes).expect("the subtitles");
    path
}

/// The default case of the document: Chinese subtitles in ASS, in a legacy encoding.
/// (SmolLM2 stands in for the Chinese model, which cannot be installed here.)
#[tokio::test(flavor = "multi_thread")]
async fn chinese_ass_subtitles_in_gb18030_make_a_remix() {
    let h = clips_harness_with(|config| {
        let active = config.llm.active_config.with_file_name("active_model_zh.yaml");
        std::fs::write(&active, "default_language: zh\nlanguages:\n  zh: {model: smollm2-test}\n").unwrap();
        config.llm.active_config = active;
    })
    .await;
    let (video, _) = episode(&h);
    let subtitles = gb18030_ass(&h);
    let request = json!({
        "video_path": video,
        "srt_path": subtitles,
        "export_format": "both",
        "max_duration": 15,
        "narrative_focus": ["背叛"],
        // Cue 4 (9–11 s): "你偷看我的短信？这是背叛！"
        "preserve_segments": [{"start": 9.5, "end": 10.5}]
    });
    let (status, body) = h.post("/api/v1/generate", request).await;
    assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some("success")), "{body}");
    let run_id = format!("run-{}", body["task_id"].as_str().unwrap().trim_start_matches("task_"));
    let (_, run) = h.get(&format!("/api/v1/runs/{run_id}")).await;
    let quality = &run["outputs"]["quality"];
    // The keyword was read out of the GB18030 bytes: the preserved cue holds it.
    let hits = quality["focus_hits"][0].clone();
    assert_eq!(hits[0], "背叛", "{quality}");
    assert!(hits[1].as_u64().unwrap() >= 1, "{quality}");
    assert_eq!(quality["cuts_mid_cue"], 0.0, "{quality}");
    assert_eq!(quality["preserved_kept"], true, "{quality}");
    // Segments start and end on the ASS cue edges (with padding into the silence).
    let segments = run["outputs"]["segments"].as_array().expect("segments").clone();
    assert!(
        segments.iter().any(|s| s["start"].as_f64().unwrap() <= 9.0 && s["end"].as_f64().unwrap() >= 11.0),
        "{segments:?}"
    );
    let out_duration = body["metrics"]["output_duration"].as_f64().unwrap();
    assert!(out_duration > 0.0 && out_duration <= 15.0 + 1e-6, "{out_duration}");
    let mp4 = body["video_path"].as_str().expect("a video path");
    assert!((frames_of(mp4) - out_duration).abs() <= 1.0 / 25.0 + 1e-6);
    let xml = std::fs::read_to_string(body["project_path"].as_str().expect("a project")).unwrap();
    assert_eq!(xml.matches("<asset-clip").count(), segments.len(), "{xml}");
}

/// A broken server configuration is the server's fault, not the client's: 2001 (HTTP 500)
/// naming the file and the field in error, and nothing is queued.
#[tokio::test(flavor = "multi_thread")]
async fn a_broken_model_config_is_an_internal_error_2001() {
    let h = clips_harness_with(|config| {
        let active = config.llm.active_config.with_file_name("active_model_broken.yaml");
        std::fs::write(&active, "default_language: zh\nlanguages:\n  zh: {model: [not, an, id]}\n").unwrap();
        config.llm.active_config = active;
    })
    .await;
    let (video, subtitles) = episode(&h);
    let (status, body) = h.post("/api/v1/generate", json!({"video_path": video, "srt_path": subtitles})).await;
    assert_eq!((status.as_u16(), body["code"].as_u64()), (500, Some(2001)), "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("active_model_broken.yaml") && detail.contains("languages.zh.model"), "{body}");
    assert!(body["task_id"].is_null(), "nothing was queued: {body}");
}

/// A video whose index is intact but whose data stops two thirds in: probing passes, the
/// plan runs, and the cut finds the break inside a kept range: 3002, naming the file.
#[tokio::test(flavor = "multi_thread")]
async fn a_video_that_breaks_off_fails_rendering_with_3002() {
    let h = clips_harness().await;
    let (video, subtitles) = episode(&h);
    let bytes = std::fs::read(&video).unwrap();
    let broken = h.media.join("broken_ep.mp4");
    std::fs::write(&broken, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let request = json!({
        "video_path": broken,
        "srt_path": subtitles,
        "lang": "en",
        "export_format": "video",
        "max_duration": 10,
        "preserve_segments": [{"start": 66.2, "end": 67.5}]
    });
    let (status, body) = h.post("/api/v1/generate", request).await;
    assert_eq!((status.as_u16(), body["code"].as_u64()), (500, Some(3002)), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("broken_ep.mp4") && message.contains("truncated"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn processing_answers_at_once_and_status_follows_the_task() {
    let h = clips_harness().await;
    let (video, subtitles) = episode(&h);
    let request = json!({"video_path": video, "srt_path": subtitles, "lang": "en", "export_format": "project"});
    let (status, body) = h.post("/api/v1/generate?wait=false", request).await;
    assert_eq!(status, 202, "{body}");
    assert!(matches!(body["status"].as_str(), Some("pending" | "processing")), "{body}");
    let task = body["task_id"].as_str().unwrap().to_string();
    let mut last = Value::Null;
    // A guard against hanging, not a speed limit: a loaded 2-core machine is slow.
    for _ in 0..9000 {
        let (_, st) = h.get(&format!("/api/v1/status?task_id={task}")).await;
        assert!(st["progress"].as_f64().unwrap() <= 1.0);
        if st["status"] == "success" || st["status"] == "failed" {
            last = st;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(last["status"], "success", "{last}");
    assert!(last["video_path"].is_null(), "export_format project makes no video");
    assert!(last["project_path"].as_str().unwrap().ends_with(".fcpxml"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_the_documented_codes() {
    let h = clips_harness().await;
    let (video, subtitles) = episode(&h);
    let (video, subtitles) = (video.display().to_string(), subtitles.display().to_string());
    let cases = [
        (json!({"video_path": video, "srt_path": subtitles, "lang": "en", "temperature": 7}), 400, 1001),
        (json!({"video_path": video, "srt_path": subtitles, "lang": "fr"}), 400, 1001),
        (json!({"video_path": video, "srt_path": subtitles, "lang": "en", "quant_level": "Q9"}), 400, 1001),
        (json!({"srt_path": subtitles}), 400, 1001),
        (json!({"video_path": "/nowhere/ep.mp4", "srt_path": subtitles, "lang": "en"}), 404, 1002),
        (json!({"video_path": video, "srt_path": "missing.srt", "lang": "en"}), 404, 1002),
        // Chinese is configured, but its model file is not installed: no fallback to English.
        (json!({"video_path": video, "srt_path": subtitles, "lang": "zh"}), 503, 1003),
        (json!({"video_path": video, "srt_path": subtitles, "lang": "en", "quant_level": "Q8_0"}), 503, 1003),
    ];
    for (request, http, code) in cases {
        let (status, body) = h.post("/api/v1/generate", request.clone()).await;
        assert_eq!((status.as_u16(), body["code"].as_u64()), (http, Some(code)), "{request} → {body}");
        assert!(body["message"].is_string() && body["detail"].is_string(), "{body}");
    }
    // A subtitle file that is really a JPEG: the task runs and fails with 1004.
    let jpeg = h.media.join("cover.srt");
    std::fs::write(&jpeg, [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 2, 3, 0xFF, 0xD9])
        .unwrap();
    let (status, body) = h.post("/api/v1/generate", json!({"video_path": video, "srt_path": jpeg, "lang": "en"})).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_u64(), body["status"].as_str()),
        (415, Some(1004), Some("failed")),
        "{body}"
    );
    // A preserved range outside the 72 s video: 1001, found before the LLM plans anything.
    let (status, body) = h
        .post(
            "/api/v1/generate",
            json!({"video_path": video, "srt_path": subtitles, "lang": "en",
                   "preserve_segments": [{"start": 70.0, "end": 95.0}]}),
        )
        .await;
    assert_eq!((status.as_u16(), body["code"].as_u64()), (400, Some(1001)), "{body}");
    assert!(body["message"].as_str().unwrap().contains("preserve range 70..95"), "{body}");
    let run_id = format!("run-{}", body["task_id"].as_str().unwrap().trim_start_matches("task_"));
    let (_, run) = h.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_ne!(run["nodes"]["plan"]["state"], "succeeded", "{run}");
    assert_ne!(run["nodes"]["plan"]["state"], "running", "{run}");
    // A video that is not a video: 1004 as well.
    let fake = h.media.join("fake.mp4");
    std::fs::write(&fake, "not a video at all").unwrap();
    let (_, body) = h.post("/api/v1/generate", json!({"video_path": fake, "srt_path": subtitles, "lang": "en"})).await;
    assert_eq!(body["code"], 1004, "{body}");
    // Status of an unknown task.
    let (status, body) = h.get("/api/v1/status?task_id=task_nope").await;
    assert_eq!((status.as_u16(), body["code"].as_u64()), (400, Some(1001)));
}

#[tokio::test(flavor = "multi_thread")]
async fn models_lists_availability_languages_and_levels() {
    let h = clips_harness().await;
    let (status, body) = h.get("/api/v1/models").await;
    assert_eq!(status, 200);
    let models = body["models"].as_array().unwrap();
    let smol = models.iter().find(|m| m["name"] == "smollm2-test").unwrap();
    assert_eq!((smol["status"].as_str(), smol["language"].as_str()), (Some("available"), Some("en")));
    assert_eq!(smol["quantization_levels"], json!(["Q4_K_M"]));
    let qwen = models.iter().find(|m| m["name"] == "qwen-zh").unwrap();
    assert_eq!(qwen["status"], "missing");
    assert!(qwen["path"].as_str().unwrap().ends_with("qwen/quantized/qwen2.5-7b-zh.gguf"));
    assert_eq!(body["default_language"], "zh");
}

/// A loopback webhook receiver: answers the first `fail_first` deliveries with 500, then
/// 200, and hands every body it receives to the test.
async fn webhook(fail_first: usize) -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let (tx, seen) = (tx.clone(), seen.clone());
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(body);
                if n < fail_first { axum::http::StatusCode::INTERNAL_SERVER_ERROR } else { axum::http::StatusCode::OK }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_runs_two_clips_at_once_and_notifies_with_retries() {
    let h = clips_harness().await;
    let (video, subtitles) = episode(&h);
    let (url, mut hook) = webhook(1).await;
    let clip = json!({"video_path": video, "srt_path": subtitles, "lang": "en", "export_format": "project", "max_duration": 12});
    let request = json!({
        "clips": [clip, clip],
        "parallel": 2,
        "priority": "high",
        "notification_url": url,
        "error_policy": "continue",
    });
    let (status, body) = h.post("/api/v1/batch", request).await;
    assert_eq!(status, 202, "{body}");
    assert!(body["batch_id"].as_str().unwrap().starts_with("batch_"));
    assert_eq!((body["total"].as_u64(), body["completed"].as_u64()), (Some(2), Some(0)));
    assert_eq!(body["message"], "Batch task submitted, processing");
    let tasks: Vec<String> = body["task_ids"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().into()).collect();

    // The first delivery is refused with a 500; the retry is acknowledged.
    let first = tokio::time::timeout(std::time::Duration::from_secs(900), hook.recv()).await.expect("a webhook");
    let first = first.expect("a body");
    let second = tokio::time::timeout(std::time::Duration::from_secs(30), hook.recv()).await.expect("a retry");
    let second = second.expect("a body");
    assert_eq!(first["batch_id"], body["batch_id"]);
    assert_eq!(second["event"], "batch.finished");
    assert_eq!((second["status"].as_str(), second["completed"].as_u64()), (Some("success"), Some(2)), "{second}");

    // Both runs really overlapped: each started before the other finished.
    let mut spans = Vec::new();
    for task in &tasks {
        let (_, run) = h.get(&format!("/api/v1/runs/run-{}", task.trim_start_matches("task_"))).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["priority"], 10);
        spans.push((run["started_at"].as_u64().unwrap(), run["finished_at"].as_u64().unwrap()));
    }
    assert!(spans[0].0 < spans[1].1 && spans[1].0 < spans[0].1, "parallel: 2 overlaps the clips: {spans:?}");

    // The delivery is recorded just after the receiver answered.
    let mut st = Value::Null;
    for _ in 0..100 {
        st = h.get(&format!("/api/v1/status?task_id={}", body["batch_id"].as_str().unwrap())).await.1;
        if st["notification"]["delivered"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(st["status"], "success", "{st}");
    assert_eq!(st["notification"]["delivered"], true, "{st}");
    assert_eq!(st["notification"]["attempts"], 2, "{st}");
}

/// The batch's status once `clips` of its clips have finished (polled; Null after 15 min).
async fn batch_finished(h: &Harness, batch: &str, clips: u64) -> Value {
    for _ in 0..9000 {
        let (_, st) = h.get(&format!("/api/v1/status?task_id={batch}")).await;
        if st["completed"] == clips {
            return st;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Value::Null
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_batch_skips_what_follows_a_failure_and_bad_batches_are_refused() {
    let h = clips_harness().await;
    let (video, subtitles) = episode(&h);
    let fake = h.media.join("fake.mp4");
    std::fs::write(&fake, "not a video at all").unwrap();
    let bad = json!({"video_path": fake, "srt_path": subtitles, "lang": "en"});
    let good = json!({"video_path": video, "srt_path": subtitles, "lang": "en"});
    let (status, body) =
        h.post("/api/v1/batch", json!({"clips": [bad, good], "parallel": 1, "error_policy": "stop"})).await;
    assert_eq!(status, 202, "{body}");
    let last = batch_finished(&h, body["batch_id"].as_str().unwrap(), 2).await;
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["tasks"][0]["code"], 1004, "{last}");
    assert_eq!(last["tasks"][1]["status"], "failed", "{last}");
    assert!(last["tasks"][1]["message"].as_str().unwrap().contains("cancelled"), "{last}");

    // Refused before anything is queued, with the clip's index.
    let cases = [
        (json!({"clips": []}), 1001),
        (json!({"clips": [good], "parallel": 0}), 1001),
        (json!({"clips": [good], "error_policy": "panic"}), 1001),
        (json!({"clips": [good], "priority": "urgent!"}), 1001),
        (json!({"clips": [good], "notification_url": "ftp://example.com/x"}), 1001),
        (json!({"clips": [good, {"video_path": "/nowhere.mp4", "srt_path": subtitles}]}), 1002),
    ];
    for (request, code) in cases {
        let (_, body) = h.post("/api/v1/batch", request.clone()).await;
        assert_eq!(body["code"], code, "{request} → {body}");
    }
    let (_, body) =
        h.post("/api/v1/batch", json!({"clips": [good, {"video_path": "/nowhere.mp4", "srt_path": subtitles}]})).await;
    assert!(body["detail"].as_str().unwrap().starts_with("clips[1]"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn inputs_outside_the_roots_are_refused_and_relative_paths_resolve_in_the_first_root() {
    let h = clips_harness().await;
    let (_, subtitles) = episode(&h);
    let outside = h.dir.path().join("secret.mp4");
    std::fs::write(&outside, "x").unwrap();
    let (status, body) =
        h.post("/api/v1/generate", json!({"video_path": outside, "srt_path": subtitles, "lang": "en"})).await;
    assert_eq!((status.as_u16(), body["code"].as_u64()), (400, Some(1001)), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("outside"), "{body}");
    // Relative names resolve in the first input root (the media directory here).
    let (status, body) = h
        .post(
            "/api/v1/generate?wait=false",
            json!({"video_path": "drama_ep1.mp4", "srt_path": "drama_ep1.srt", "lang": "en", "export_format": "project"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (_, run) =
        h.get(&format!("/api/v1/runs/run-{}", body["task_id"].as_str().unwrap().trim_start_matches("task_"))).await;
    let given = run["inputs"]["video"]["$file"].as_str().unwrap_or_default().to_owned();
    assert!(given.contains("media") && given.ends_with("drama_ep1.mp4"), "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_over_its_timeout_is_cancelled_with_3001_and_an_over_budget_model_gets_2002() {
    let h = clips_harness().await;
    let (video, subtitles) = episode(&h);
    let (status, body) = h
        .post("/api/v1/generate", json!({"video_path": video, "srt_path": subtitles, "lang": "en", "timeout": 0.5}))
        .await;
    assert_eq!((status.as_u16(), body["code"].as_u64()), (504, Some(3001)), "{body}");
    let (_, st) = h.get(&format!("/api/v1/status?task_id={}", body["task_id"].as_str().unwrap())).await;
    assert_eq!((st["status"].as_str(), st["code"].as_u64()), (Some("failed"), Some(3001)), "{st}");
    // Batch clips keep their own timeout too (deadlines come from the stored task).
    let clip = json!({"video_path": video, "srt_path": subtitles, "lang": "en", "timeout": 0.5});
    let (status, body) = h.post("/api/v1/batch", json!({"clips": [clip]})).await;
    assert_eq!(status, 202, "{body}");
    let last = batch_finished(&h, body["batch_id"].as_str().unwrap(), 1).await;
    assert_eq!(last["tasks"][0]["code"], 3001, "{last}");

    // A model that does not fit the memory budget is refused before loading: 2002.
    let small = clips_harness_with(|c| c.llm.memory_budget = "64MiB".into()).await;
    let (video, subtitles) = episode(&small);
    let (status, body) =
        small.post("/api/v1/generate", json!({"video_path": video, "srt_path": subtitles, "lang": "en"})).await;
    assert_eq!((status.as_u16(), body["code"].as_u64()), (503, Some(2002)), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn monitoring_and_reports_show_measured_numbers() {
    let h = clips_harness().await;
    for _ in 0..5 {
        h.get("/api/v1/models").await;
    }
    h.get("/api/v1/status?task_id=task_nope").await;
    let (status, m) = h.get("/api/v1/monitoring/metrics?time_window=5").await;
    assert_eq!(status, 200, "{m}");
    let models = &m["endpoints"]["GET:/api/v1/models"];
    assert_eq!(models["requests"]["total"], 5, "{m}");
    assert_eq!(models["requests"]["success_rate"], 1.0);
    let status_ep = &m["endpoints"]["GET:/api/v1/status"]["requests"];
    assert_eq!((status_ep["error"].as_u64(), status_ep["success_rate"].as_f64()), (Some(1), Some(0.0)), "{m}");
    let lat = &models["latency"];
    assert!(lat["min"].as_f64().unwrap() <= lat["p95"].as_f64().unwrap());
    assert!(lat["p95"].as_f64().unwrap() <= lat["max"].as_f64().unwrap());
    let memory = &m["system"]["memory"];
    assert!(memory["current"].as_u64().unwrap() > 1 << 20 && memory["peak"].as_u64() >= memory["current"].as_u64());
    assert!(m["system"]["cpu"]["peak"].is_number() && m["uptime"].is_number() && m["timestamp"].is_string());
    let (status, bad) = h.get("/api/v1/monitoring/metrics?time_window=-3").await;
    assert_eq!((status.as_u16(), bad["code"].as_u64()), (400, Some(1001)));

    for (format, marker) in [("html", "<svg"), ("md", "| endpoint |"), ("json", "\"endpoints\"")] {
        let (status, r) = h.get(&format!("/api/v1/report?format={format}&type=all")).await;
        assert_eq!(status, 200, "{r}");
        let summary = &r["summary"];
        assert!(matches!(summary["overall_status"].as_str(), Some("healthy" | "warning" | "critical")), "{r}");
        assert!(summary["avg_response_time"].is_number() && summary["success_rate"].as_f64().unwrap() < 1.0);
        assert!(summary["memory_usage"].as_str().unwrap().ends_with("GB"), "{r}");
        let url = r["report_url"].as_str().unwrap();
        assert!(url.starts_with("/reports/all_") && url.ends_with(format), "{url}");
        let (status, _, bytes) = h.send(axum::http::Request::get(url).body(axum::body::Body::empty()).unwrap()).await;
        assert_eq!(status, 200);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(marker), "{format}: {text}");
        assert!(text.contains("GET:/api/v1/models"), "{format}");
    }
    let (status, _) = h.get("/api/v1/report?format=pdf").await;
    assert_eq!(status, 400);
    let (status, _) = h.get("/reports/..%2Fruns.db").await;
    assert!(status.is_client_error());
    // Every request is in the access log, errors with their code.
    let log = std::fs::read_to_string(h.data.join("logs/access.log")).unwrap();
    let error_line = log.lines().find(|l| l.contains("task_nope")).expect("the failed status request is logged");
    let line: Value = serde_json::from_str(error_line).unwrap();
    assert_eq!((line["status"].as_u64(), line["code"].as_u64()), (Some(400), Some(1001)), "{line}");
}
