//! `mosaik demo --plain` runs to completion and loses no acknowledged write.

use std::process::Command;

/// Reads `key=<number>` from the summary line.
fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

#[test]
fn demo_runs_and_keeps_every_acknowledged_write() {
    let output = Command::new(env!("CARGO_BIN_EXE_mosaik"))
        .args(["demo", "--plain", "--nodes", "3", "--duration", "8"])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    assert_eq!(field(summary, "nodes"), Some(3), "{summary}");
    assert_eq!(field(summary, "writes_lost"), Some(0), "{summary}");
    assert!(
        field(summary, "writes_acknowledged").is_some_and(|n| n > 0),
        "{summary}"
    );
    assert!(field(summary, "failover_ms").is_some(), "{summary}");
    assert!(
        field(summary, "stream_msgs_per_s").is_some_and(|n| n > 0),
        "{summary}"
    );
    assert!(stdout.contains("new leader"), "{stdout}");
}
