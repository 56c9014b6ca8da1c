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
    for _ in 0..600 {
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
