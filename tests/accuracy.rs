//! The accuracy corpus held to its bars (issue: motion pipeline).
//!
//! Ankle counting and flags are held to the bars. Counting from the
//! pelvis alone is not there yet: those rows are held to the levels measured
//! when they were written, so they cannot silently get worse; raise them as
//! the pelvis counter improves.

use medius::accuracy::{corpus, evaluate};
use medius::{Exercise, Placement};

#[test]
fn simulated_corpus_meets_the_bars() {
    // 8 sessions × 3 sets × 6 pairs = 144 sets here (the CLI default is 216);
    // the test build is slower, and every rate and pair is still covered.
    let configs = corpus(8, 2026);
    let report = evaluate(&configs, 2, &|_, _| {}).expect("corpus runs");
    println!("{}", report.table());
    for (e, p, s) in &report.combos {
        assert_eq!(s.false_sets, 0, "{e}/{p}: false sets");
        match (e, p) {
            (_, Placement::Ankle) => {
                assert!(
                    s.exact_rate() >= 0.98,
                    "{e}/{p}: exact {:.3}",
                    s.exact_rate()
                );
                assert!(
                    s.within_one_rate() >= 1.0,
                    "{e}/{p}: within ±1 {:.3}",
                    s.within_one_rate()
                );
                assert!(s.median_peak_error().unwrap() <= 2.0, "{e}/{p}: peak error");
                for (k, c) in &s.flags {
                    assert!(
                        c.precision() >= 0.75 && c.recall() >= 0.95,
                        "{e}/{p}: {k:?} {c:?}"
                    );
                }
            }
            (Exercise::HipHitch, _) => {
                // Measured 91.7 % exact, 95.8 % within ±1, hike 1.00/0.91 on
                // this corpus (flags look past the return, sets start with
                // reps under 6 s apart).
                for (k, c) in &s.flags {
                    assert!(
                        c.precision() >= 0.9 && c.recall() >= 0.8,
                        "{e}/{p}: {k:?} {c:?}"
                    );
                }
                assert!(
                    s.exact_rate() >= 0.9,
                    "{e}/{p}: exact {:.3}",
                    s.exact_rate()
                );
                assert!(
                    s.within_one_rate() >= 0.95,
                    "{e}/{p}: within ±1 {:.3}",
                    s.within_one_rate()
                );
            }
            _ => {
                // Pelvis-only abduction: regression floor, well below the bar.
                assert!(
                    s.within_one_rate() >= 0.1,
                    "{e}/{p}: within ±1 {:.3}",
                    s.within_one_rate()
                );
            }
        }
    }
    let total = &report.total;
    assert!(total.sets >= 140, "corpus too small: {}", total.sets);
}
