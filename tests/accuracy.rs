//! The accuracy corpus held to the bars (motion pipeline).
//!
//! Ankle: exact in ≥ 98 % of sets, every set within ±1, median peak error
//! ≤ 2°. Pelvis-only abduction (the hardest case): exact in ≥ 90 %, every set
//! within ±1. Hip hitch: exact in ≥ 95 %, every set within ±1. Flags: every
//! kind ≥ 0.95 precision and recall over the corpus, ≥ 0.9 in each
//! exercise × placement (a pair sees 10-50 of a kind, so one miss moves it by
//! several points). No false sets anywhere. Certainty: sets marked sure are
//! exact in ≥ 99 %, and ≥ 90 % of the sets counted wrong are not marked sure.

use medius::accuracy::{corpus, evaluate};
use medius::motion::FlagKind;
use medius::{Exercise, Placement};
use std::collections::BTreeMap;

#[test]
fn simulated_corpus_meets_the_bars() {
    // 8 sessions × 3 sets × 6 pairs = 144 sets here (the CLI default is 216);
    // the test build is slower, and every rate and pair is still covered.
    let configs = corpus(8, 2026);
    let report = evaluate(&configs, 2, &|_, _| {}).expect("corpus runs");
    println!("{}", report.table());
    let mut pooled: BTreeMap<FlagKind, (usize, usize, usize)> = BTreeMap::new();
    for (e, p, s) in &report.combos {
        assert_eq!(s.false_sets, 0, "{e}/{p}: false sets");
        let exact_bar = match (e, p) {
            (_, Placement::Ankle) => 0.98,
            (Exercise::HipHitch, _) => 0.95,
            _ => 0.9,
        };
        assert!(
            s.exact_rate() >= exact_bar,
            "{e}/{p}: exact {:.3} < {exact_bar}",
            s.exact_rate()
        );
        assert!(
            s.within_one_rate() >= 1.0,
            "{e}/{p}: within ±1 {:.3}",
            s.within_one_rate()
        );
        if *p == Placement::Ankle {
            assert!(s.median_peak_error().unwrap() <= 2.0, "{e}/{p}: peak error");
        }
        for (k, c) in &s.flags {
            assert!(
                c.precision() >= 0.9 && c.recall() >= 0.9,
                "{e}/{p}: {k:?} {c:?}"
            );
            let t = pooled.entry(*k).or_default();
            t.0 += c.tp;
            t.1 += c.fp;
            t.2 += c.fn_;
        }
    }
    for (k, (tp, fp, fn_)) in pooled {
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / (tp + fn_).max(1) as f64;
        assert!(
            precision >= 0.95 && recall >= 0.95,
            "{k:?}: precision {precision:.3} recall {recall:.3} (tp {tp}, fp {fp}, fn {fn_})"
        );
    }
    let total = &report.total;
    assert!(total.sets >= 140, "corpus too small: {}", total.sets);
    assert!(
        total.sure_exact_rate() >= 0.99,
        "sure sets exact {:.3}",
        total.sure_exact_rate()
    );
    assert!(
        total.wrong_not_sure_rate() >= 0.9,
        "wrong sets not marked sure: {:?}",
        total.wrong_not_sure()
    );
}
