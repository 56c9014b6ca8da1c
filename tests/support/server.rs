//! Real `reelflow serve` / `reelflow worker` processes for crash tests, and a minimal
//! HTTP/1.1 client (one request per connection) so these tests need no HTTP stack.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::reelflow_bin;

/// Guards against a hang; not a performance limit.
pub const HANG_GUARD: Duration = Duration::from_secs(90);

/// A child process killed (hard) when dropped.
pub struct Proc {
    pub child: Child,
    /// The first line it printed (`reelflow listening on http://…`, `reelflow worker …`).
    pub banner: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// `kill -9`: no shutdown code runs.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's `host:port`.
    pub fn addr(&self) -> String {
        self.banner
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("an address")
            .to_owned()
    }
}

/// Starts `reelflow <args>` with `config` and waits for its first line.
pub fn spawn(dir: &Path, config: &Path, args: &[&str]) -> Proc {
    let mut child = Command::new(reelflow_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(dir)
        .env("REELFLOW_LOG", "warn")
        .env_remove("REELFLOW_DATA_DIR")
        .env_remove("REELFLOW_WORKFLOWS_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting reelflow");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut banner = String::new();
    reader.read_line(&mut banner).expect("reading the banner");
    assert!(!banner.is_empty(), "reelflow {args:?} exited before printing its banner");
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    Proc { child, banner }
}

/// One HTTP request; returns the status and the JSON body (`Null` when not JSON).
pub fn http(addr: &str, method: &str, path: &str, body: Option<&serde_json::Value>) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).expect("connecting");
    stream.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("sending");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("reading");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// Polls `GET path` until `done` holds.
pub fn wait_until(addr: &str, path: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (status, json) = http(addr, "GET", path, None);
        if status == 200 && done(&json) {
            return json;
        }
        assert!(started.elapsed() < HANG_GUARD, "waited too long on {path}: {json}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn is_finished(run: &serde_json::Value) -> bool {
    matches!(run["status"].as_str(), Some("succeeded" | "failed" | "cancelled"))
}
