//! Test support shared by integration tests.
#![allow(dead_code)]

pub mod fake_bluez;

/// A process's CPU time so far (s: utime + stime at 100 ticks/s) and its
/// resident memory (kB), from /proc.
pub fn cpu_and_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let cpu = (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    (cpu, rss)
}

/// CPU (% of one core over 20 s, after 5 s to settle) and RSS (kB) of
/// `medius ARGS` against the D-Bus at `bus_address`, in a throwaway home;
/// ended with Ctrl-C.
pub fn cpu_of_run(bus_address: &str, args: &[&str]) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_medius"))
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus_address)
        .env("MEDIUS_LOGBOOK", dir.path().join("l.sqlite3"))
        .env("MEDIUS_CONFIG", dir.path().join("c.toml"))
        .env("MEDIUS_SOCKET", dir.path().join("s.sock"))
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(5));
    let (c0, _) = cpu_and_rss(child.id());
    std::thread::sleep(std::time::Duration::from_secs(20));
    let (c1, rss) = cpu_and_rss(child.id());
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait_with_output();
    ((c1 - c0) / 20.0 * 100.0, rss)
}
