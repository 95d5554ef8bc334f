//! S1: `simctl sandbox` starts in under a second: from spawning the binary until its JSON line
//! (printed once all five servers listen) is read, the median of several starts.
//!
//! The binary is built first (`cargo build -p simctl`, in the bench's own profile: `--release`
//! when the bench runs with `--release`), so the figure is of the current source.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Where cargo puts the binary of the bench's profile.
fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    target.join(profile).join("simctl")
}

/// Builds the binary of the bench's profile; `false` if it could not be built.
fn build() -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "simctl"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    cmd.status().is_ok_and(|s| s.success())
}

/// One start: milliseconds from spawn to the JSON line, then a SIGTERM and a clean exit.
fn start_once(bin: &PathBuf) -> Option<f64> {
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .args(["sandbox", "--output", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let listening = serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .is_some_and(|v| v["admin"].is_string());
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stopped = child.wait().ok().is_some_and(|s| s.success());
    (listening && stopped).then_some(ms)
}

/// Runs S1 and prints its line.
pub fn s1() {
    if !build() {
        println!("# S1 skipped: simctl could not be built");
        return;
    }
    let bin = binary();
    let runs = if super::quick() { 3 } else { 11 };
    let mut times: Vec<f64> = (0..runs).filter_map(|_| start_once(&bin)).collect();
    if times.len() < runs {
        println!(
            "# S1: {} of {runs} starts did not print their line or stop cleanly",
            runs - times.len()
        );
    }
    if times.is_empty() {
        return;
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "# S1 simctl sandbox: spawn to its JSON line, {} starts: fastest {:.1} ms, slowest {:.1} ms",
        times.len(),
        times[0],
        times[times.len() - 1]
    );
    super::line("S1_simctl_sandbox_startup_ms", median, "<=1000");
}
