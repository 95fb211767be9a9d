//! The real recordings in ../shared/data/uci-pt (opt-in: a clone elsewhere
//! does not have them). Run with `cargo test --test real_data -- --ignored`.

use medius::motion::{analyze_samples, Pipeline};
use medius::source::csv::RawReader;
use medius::{Exercise, Placement, Side};
use std::path::Path;

#[test]
#[ignore = "needs ../shared/data/uci-pt, present only in the medius workplace"]
fn uci_side_lying_abduction_counts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/uci-pt");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"),
    )
    .unwrap();
    let mut exact = 0;
    let mut total = 0;
    for file in manifest.as_array().unwrap() {
        let name = file["file"].as_str().unwrap();
        let want: Vec<u64> = file["sets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["rep_count"].as_u64().unwrap())
            .collect();
        let reader = RawReader::open(&dir.join(name)).unwrap();
        let pipe =
            Pipeline::builtin(Exercise::SideLyingAbduction, Placement::Ankle, Side::Right).unwrap();
        let (sets, _) = analyze_samples(pipe, reader.map(|r| r.unwrap()));
        let got: Vec<u64> = sets.iter().map(|s| s.rep_count() as u64).collect();
        println!("{name}: truth {want:?}, counted {got:?}");
        total += want.len();
        if got == want {
            exact += want.len();
        }
    }
    println!("{exact}/{total} sets counted exactly");
    // The issue asks for every set counted exactly.
    assert_eq!(exact, total, "{exact}/{total} sets counted exactly");
}
