//! `mosaik demo --plain` runs to completion and loses no acknowledged write,
//! also on the killed leader restarted from its data directory.

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
    // The killed leader came back from its directory and every
    // acknowledged write (checked one by one on it) is there.
    assert!(field(summary, "restart_rejoin_ms").is_some(), "{summary}");
    assert_eq!(field(summary, "restart_writes_lost"), Some(0), "{summary}");
    assert_eq!(
        field(summary, "restart_writes_checked"),
        field(summary, "writes_acknowledged"),
        "{summary}"
    );
    assert!(
        stdout.contains("restarted member     rejoined, ")
            && stdout.contains(" acknowledged writes, 0 lost"),
        "{stdout}"
    );
    // The temporary data directories are gone.
    let dirs = stdout
        .lines()
        .find_map(|l| l.split("data in ").nth(1))
        .unwrap_or_else(|| panic!("no data directory named in:\n{stdout}"));
    assert!(
        !std::path::Path::new(dirs.trim()).exists(),
        "{dirs} was not removed"
    );
}
