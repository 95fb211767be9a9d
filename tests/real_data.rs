//! Real recordings with hand-made truth (opt-in: a clone elsewhere does not
//! have them). The directory holds medius' raw CSVs and a `manifest.json`
//! (the format `medius accuracy --recordings DIR` reads); it is taken from
//! `MEDIUS_REAL_DATA`, else from the workplace's copy of the UCI Physical
//! Therapy Exercises recordings beside the repository.
//!
//! `cargo test --release --test real_data -- --ignored --nocapture`

use medius::accuracy::evaluate_recordings;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    std::env::var_os("MEDIUS_REAL_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/uci-pt"),
        PathBuf::from,
    )
}

#[test]
#[ignore = "needs real recordings (MEDIUS_REAL_DATA), present only in the medius workplace"]
fn real_recordings_are_counted_exactly() {
    let report = evaluate_recordings(&data_dir()).expect("recordings are scored");
    println!("{}", report.table());
    let t = &report.total;
    assert!(t.sets >= 16, "only {} sets", t.sets);
    // Every set exactly, both sensors; nothing outside a set counted.
    assert_eq!(
        t.exact, t.sets,
        "{}/{} sets counted exactly",
        t.exact, t.sets
    );
    assert_eq!(t.false_sets, 0);
    assert_eq!(t.sure_exact_rate(), 1.0);
}
