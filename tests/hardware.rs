//! Tests against a real sensor and a real adapter: off unless
//! `cargo test --features hardware --test hardware` with
//! `MEDIUS_TEST_SENSOR=AA:BB:CC:DD:EE:FF` (a powered sensor within range).
#![cfg(feature = "hardware")]

use std::process::Command;

fn sensor() -> String {
    std::env::var("MEDIUS_TEST_SENSOR").expect("set MEDIUS_TEST_SENSOR to the sensor's address")
}

#[test]
fn scan_lists_the_sensor() {
    let o = Command::new(env!("CARGO_BIN_EXE_medius"))
        .args(["scan", "--seconds", "8", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let want = sensor();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|d| d["address"].as_str().unwrap().eq_ignore_ascii_case(&want)),
        "{v}"
    );
}

#[test]
fn twenty_seconds_of_samples_with_little_loss() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_medius"))
        .args([
            "run",
            "--sensor",
            &sensor(),
            "--no-log",
            "--find-timeout",
            "20",
        ])
        .env("MEDIUS_LOGBOOK", dir.path().join("l.sqlite3"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(25));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("link:"))
        .expect("link summary");
    let n: Vec<u64> = line
        .trim_start_matches("link: ")
        .split(", ")
        .take(2)
        .map(|p| p.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(n[0] > 1000, "{line}");
    assert!(n[1] * 20 < n[0], "more than 5 % lost: {line}");
}
