//! This process's memory and CPU use, and the machine's size, read from Linux's `/proc`.
//! Elsewhere the readers return 0 (unknown), which the monitor reports as such.

use std::time::Instant;

/// Linux reports CPU times in clock ticks of `USER_HZ`, which is 100 on every mainstream
/// architecture (it is fixed by the kernel ABI, independent of `CONFIG_HZ`).
const USER_HZ: f64 = 100.0;

fn read_status() -> String {
    std::fs::read_to_string("/proc/self/status").unwrap_or_default()
}

fn status_kib(status: &str, field: &str) -> u64 {
    status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

/// Resident memory of this process, bytes.
pub fn rss_bytes() -> u64 {
    status_kib(&read_status(), "VmRSS:") * 1024
}

/// The most resident memory this process has had, bytes.
pub fn peak_rss_bytes() -> u64 {
    status_kib(&read_status(), "VmHWM:") * 1024
}

/// Resident memory, whole MB.
pub fn rss_mb() -> f64 {
    (rss_bytes() as f64 / (1024.0 * 1024.0)).round()
}

/// The machine's RAM, bytes (0 if unknown).
pub fn total_memory_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU seconds (user + system) this process has used.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; fields after its `)` are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 11 and 12 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// CPU use between successive readings, as a share of the whole machine (0–100).
#[derive(Debug)]
pub struct CpuMeter {
    last: Option<(Instant, f64)>,
}

impl Default for CpuMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuMeter {
    pub fn new() -> Self {
        CpuMeter { last: cpu_seconds().map(|s| (Instant::now(), s)) }
    }

    /// Percent since the previous call (or since `new`).
    pub fn percent(&mut self) -> f64 {
        let now = Instant::now();
        let Some(used) = cpu_seconds() else { return 0.0 };
        let percent = match self.last {
            Some((then, before)) => {
                let wall = now.duration_since(then).as_secs_f64();
                if wall > 0.0 { ((used - before) / wall / cpu_count() as f64 * 100.0).clamp(0.0, 100.0) } else { 0.0 }
            }
            None => 0.0,
        };
        self.last = Some((now, used));
        percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_plausible() {
        assert!(rss_bytes() > 1 << 20);
        // Compare within one reading: other test threads allocate between two reads, and
        // the kernel's per-CPU RSS counters are approximate between separate reads.
        let status = read_status();
        assert!(status_kib(&status, "VmHWM:") >= status_kib(&status, "VmRSS:"));
        assert!(total_memory_bytes() > rss_bytes());
        let mut meter = CpuMeter::new();
        // Burn a little CPU so the reading is above zero.
        let started = Instant::now();
        let mut x = 0u64;
        while started.elapsed().as_millis() < 50 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let p = meter.percent();
        assert!(p > 0.0 && p <= 100.0, "{p}");
    }
}
