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

/// Two sensors on one lifter (issue 13): the ankle counts, the pelvis
/// judges each ankle rep. Exact in ≥ 99 % of sets, no false sets, hip hike,
/// pelvic drop and trunk sway each ≥ 0.97 precision and recall (pooled),
/// the clocks' offset found within 10 ms for 95 % of reps (median ≤ 5 ms),
/// every rep announced ≤ 250 ms after the leg is back (sample time) and its
/// pelvic flags ≤ 1 s after that. The same sessions read from the pelvis
/// alone are printed beside them (and must find fewer sets exactly: what
/// the second sensor is for).
#[test]
fn two_sensor_corpus_meets_the_bars() {
    use medius::accuracy::{evaluate_pairs, pair_corpus, quantile};
    // 12 sessions × 3 sets × 2 exercises = 72 sets here; `medius accuracy
    // --placement both --sessions 36` scores 216 (figures in the README).
    let configs = pair_corpus(12, 2026);
    let report = evaluate_pairs(&configs, 2, &|_, _| {}).expect("corpus runs");
    let t = &report.total;
    let (fused, alone) = (&t.fused, &t.pelvis_only);
    println!(
        "fused: exact {:.3}, false {}; pelvis alone: exact {:.3}, false {}",
        fused.exact_rate(),
        fused.false_sets,
        alone.exact_rate(),
        alone.false_sets
    );
    assert!(fused.sets >= 72, "corpus too small: {}", fused.sets);
    assert!(
        fused.exact_rate() >= 0.99,
        "exact {:.3}",
        fused.exact_rate()
    );
    assert_eq!(fused.false_sets, 0);
    assert!(alone.exact_rate() < fused.exact_rate());
    for k in [FlagKind::HipHike, FlagKind::PelvicDrop, FlagKind::TrunkSway] {
        let c = fused.flags[&k];
        let a = alone.flags[&k];
        println!(
            "{k:?}: fused {:.2}/{:.2}, pelvis alone {:.2}/{:.2} (n={})",
            c.precision(),
            c.recall(),
            a.precision(),
            a.recall(),
            c.tp + c.fn_
        );
        assert!(c.tp + c.fn_ >= 10, "{k:?}: too few to judge");
        assert!(c.precision() >= 0.97 && c.recall() >= 0.97, "{k:?}: {c:?}");
    }
    let median = quantile(&t.offset_errors_ms, 0.5).unwrap();
    let p95 = quantile(&t.offset_errors_ms, 0.95).unwrap();
    println!("offset error: median {median:.1} ms, 95 % {p95:.1} ms");
    assert!(median <= 5.0 && p95 <= 10.0, "{median} {p95}");
    let announce = quantile(&t.announce_s, 1.0).unwrap();
    let flags = quantile(&t.flags_after_s, 1.0).unwrap();
    println!("announced by {announce:.3} s, flags {flags:.3} s later");
    assert!(t.announce_s.len() >= 100);
    assert!(
        announce <= 0.25,
        "a rep announced {announce:.3} s after its return"
    );
    assert!(flags <= 1.0, "flags {flags:.3} s after the announcement");
}

/// Recordings scored through a manifest (`accuracy --recordings`) agree
/// with the same sessions scored straight from the simulator, and a
/// manifest that is not one is refused with its path named.
#[test]
fn recordings_with_a_manifest_score_like_the_simulator() {
    use medius::accuracy::{evaluate_recordings, run_session};
    use medius::source::csv::RawWriter;
    use medius::source::sim::open;
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Vec::new();
    let mut direct = (0, 0);
    for (i, cfg) in corpus(1, 7).into_iter().enumerate().take(4) {
        let (sim, truth) = open(&cfg).unwrap();
        let name = format!("s{i}.csv");
        let mut w = RawWriter::new(std::fs::File::create(dir.path().join(&name)).unwrap()).unwrap();
        for s in sim {
            w.write(&s).unwrap();
        }
        w.flush().unwrap();
        let score = run_session(&cfg).unwrap();
        direct.0 += score.sets;
        direct.1 += score.exact;
        manifest.push(serde_json::json!({
            "file": name,
            "exercise": cfg.exercise,
            "placement": cfg.placement,
            "side": cfg.side,
            "sets": truth.sets.iter().map(|t| serde_json::json!({
                "start_s": t.start_s,
                "end_s": t.end_s,
                "reps": t.reps.iter().map(|r| serde_json::json!({
                    "start_s": r.start_s, "end_s": r.end_s,
                    "flags": r.flags.iter().map(|f| f.kind).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }));
    }
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_string(&manifest).unwrap(),
    )
    .unwrap();
    let report = evaluate_recordings(dir.path()).unwrap();
    // The CSV keeps 5 decimals of time and 4 of each reading: the counts agree.
    assert_eq!((report.total.sets, report.total.exact), direct);
    assert!(report.total.sets >= 12);

    std::fs::write(dir.path().join("manifest.json"), "{\"file\": 1}").unwrap();
    let e = evaluate_recordings(dir.path()).unwrap_err();
    assert!(
        e.contains("manifest.json") && e.contains("not a recordings manifest"),
        "{e}"
    );
}

/// `medius accuracy` scores each body model apart and says which is which.
#[test]
fn accuracy_names_the_model_it_scores() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medius"))
        .args(["accuracy", "--sessions", "1", "--model", "pivot"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.starts_with("== pivot:"), "{text}");
    assert!(text.contains("certainty: sets marked sure exact"), "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medius"))
        .args(["accuracy", "--model", "imaginary"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("standard, pivot, torque"));
}

/// On body models the counter was not tuned on, or was tuned on only a
/// little (pivot and torque, read for a few rules; chain, read in session 8
/// for the walking and jolt rules; balance, read in session 8 for the
/// settling-in and lone-first-rep rules; muscle, read in session 9 for the
/// seated-rest and rebound rules; gym, read in session 10 for the
/// given-up-rep and first-rest rules; clinic, read in session 11 for the
/// seated vertical-axis rule; athlete, built in session 11 and read in
/// session 12; class, built in session 12 and read in session 13 for the
/// posture-change rule; team, built in session 12 and read in session 14;
/// wear, built in session 14 and read in session 15 for the bounce, pin
/// and box rules; circuit, built in session 15 and read in session 16;
/// home, built in session 16 and read in it once studio was scored;
/// studio, built in session 16 and read in session 17 once fatigue was
/// scored; fatigue, built in session 17, the hold-out through session 18
/// and read in session 19; hill, built in session 18, the hold-out through
/// session 19 and read in session 20; rhythm, built in session 20, the
/// hold-out through it and read in session 21; primitive, built in
/// session 21, the hold-out through it and read in session 22; reach,
/// built in session 22, the hold-out through it and read in session 23;
/// lognormal, built in session 23, the hold-out through it and read in
/// session 24; syllable, built in session 24, the hold-out through it and
/// read in session 25; langevin, built in session 25, the hold-out through
/// it and read in session 26; pendulum, built in session 26 and the
/// hold-out through it; neuro, the new hold-out, built in session 26 and
/// scored once at its end; neither of the last two tuned on nor read),
/// counting falls far short of the bars above; what must hold there is
/// the certainty: at least 90 % of the
/// sets counted wrong are not marked sure (the bar over every
/// corpus). Sets marked sure are exact in only about 8 of 10 there: that bar
/// is not met off the tuned model, and the README says so. What session 8
/// won on chain and balance is held too: walking between sets makes at most
/// 2 false sets on chain's first 72 sets (1 today; walking was most of
/// chain's 33 false sets in 216 before), and their exact counts stay at
/// today's level; so does what session 9 won on muscle (0.486 exact on
/// these 72 sets, 2 false sets).
#[test]
fn held_out_models_rarely_call_a_wrong_count_sure() {
    use medius::accuracy::corpus_of;
    use medius::source::sim::SimModel;
    let mut wrong = 0;
    let mut wrong_not_sure = 0;
    let (mut sure, mut sure_exact) = (0, 0);
    for model in [
        SimModel::Pivot,
        SimModel::Chain,
        SimModel::Balance,
        SimModel::Muscle,
        SimModel::Gym,
        SimModel::Clinic,
        SimModel::Athlete,
        SimModel::Class,
        SimModel::Team,
        SimModel::Wear,
        SimModel::Circuit,
        SimModel::Home,
        SimModel::Studio,
        SimModel::Fatigue,
        SimModel::Hill,
        SimModel::Rhythm,
        SimModel::Primitive,
        SimModel::Reach,
        SimModel::Lognormal,
        SimModel::Syllable,
        SimModel::Langevin,
        SimModel::Pendulum,
        SimModel::Neuro,
        SimModel::Mocap,
        SimModel::Planner,
        SimModel::Effort,
        SimModel::Elastic,
        SimModel::Units,
        SimModel::Infer,
        SimModel::Cortex,
    ] {
        let configs = corpus_of(model, 4, 2026);
        let report = evaluate(&configs, 2, &|_, _| {}).expect("corpus runs");
        let total = &report.total;
        let (not_sure, all_wrong) = total.wrong_not_sure();
        println!(
            "{model:?}: exact {:.3}, {} false sets, {not_sure} of {all_wrong} wrong sets not marked sure",
            total.exact_rate(),
            total.false_sets
        );
        wrong += all_wrong;
        wrong_not_sure += not_sure;
        sure += total.by_confidence[0].1 + total.false_sure;
        sure_exact += total.by_confidence[0].0;
        println!(
            "{model:?}: {} of {} sets marked sure exact ({} false sets sure)",
            total.by_confidence[0].0,
            total.by_confidence[0].1 + total.false_sure,
            total.false_sure
        );
        // What each read model was lifted to: at most this many false sets,
        // at least this share exact.
        let held = match model {
            SimModel::Chain => Some((2, 0.42)),
            SimModel::Balance => Some((5, 0.55)),
            SimModel::Muscle => Some((3, 0.45)),
            // Session 13: lying down after a warm-up no longer holds a rep
            // open through the whole first side-lying set (0.486 without
            // `reps.rest_max_deg`, 0.514 with it, on these 72 sets).
            // Session 16: a set about the last walk's stride axis is no set
            // (11 false sets before, 8 after).
            // Session 23: a movement under 0.2 of the set's reps is no rep
            // (read models +6): one standing set here whose count was
            // right by two errors cancelling (a 17° rep missed, a 10°
            // wobble counted) is now one short: 0.486.
            SimModel::Class => Some((9, 0.48)),
            // Session 15: a thrown rep jolted at the top of its range is a
            // rep (team 0.444 on these 72 sets, 0.403 before), and wear's
            // rules (a bounce off the stop, the pin changed after the set,
            // stepping onto the box: 0.667, 0.625 before).
            SimModel::Team => Some((2, 0.44)),
            SimModel::Wear => Some((2, 0.66)),
            // Session 16, circuit read: a pelvis set that shakes the sensor
            // is another exercise, and lying down ends the open ankle set
            // (69 false sets and 0.431 exact on these 72 sets before, 59
            // and 0.486 after).
            SimModel::Circuit => Some((59, 0.48)),
            _ => None,
        };
        if let Some((most_false, least_exact)) = held {
            assert!(
                total.false_sets <= most_false,
                "{model:?}: {} false sets",
                total.false_sets
            );
            assert!(
                total.exact_rate() >= least_exact,
                "{model:?}: {:.3}",
                total.exact_rate()
            );
        }
    }
    assert!(wrong >= 20, "too few wrong sets to judge: {wrong}");
    assert!(
        wrong_not_sure as f64 >= 0.9 * wrong as f64,
        "{wrong_not_sure} of {wrong} wrong sets not marked sure"
    );
    // Session 18: a set whose reps turned the leg about a pivot the
    // exercise does not have (fire hydrants, kickbacks, squats done with
    // the sensor on) is not sure: 149 of 161 sure sets exact here without
    // hill, 149 of 170 before (circuit's false sets marked sure: 13 before,
    // 4 after); with hill and the session's other cues, 159 of 170.
    // Session 19: an attempt given up as the last rep, a rep-sized jolt
    // after the set, reps about the last walk's stride axis, a run of
    // swings before the first rep, a held hike read as two, and a short
    // radio drop bridged: 159 of 167.
    // Session 20: rhythm joins (the hold-out), a turn in place and a
    // posture held too long give the next neutral, a leg that never rests
    // rests on the averaged reading and such sets are doubted: 159 of 167
    // without rhythm; rhythm, scored once on arrival and never tuned on,
    // adds 7 of 8 (its one false set sure): 166 of 175, so the bar over
    // these corpora is 0.94 (0.95 over the sixteen without it).
    // Session 21: primitive joins (the hold-out, 8 of 8 sure sets exact),
    // rhythm is read (a set whose reps grow one after another is not sure:
    // its false set marked sure goes): 174 of 182, so the bar is 0.95
    // again.
    // Session 23: lognormal joins (the hold-out, 21 of 21 sure sets exact),
    // reach is read (13 of 13): 217 of 225; 704 of 712 wrong sets not
    // marked sure.
    // Session 24: syllable joins (the hold-out, 7 of 8 sure sets exact, the
    // one wrong a false set), lognormal is read, pelvis tilt held by gravity
    // until the bias is learned: 225 of 233; 726 of 734 wrong sets not
    // marked sure.
    // Session 25: langevin joins (the hold-out, 0 of 1 sure sets exact on
    // these 72 sets), syllable is read (a posture settled into within a
    // movement given up is its neutral), quick reps as large as the set's:
    // 228 of 238; 739 of 749 wrong sets not marked sure.
    // Session 26: pendulum joins (the hold-out, 7 of 7 sure sets exact on
    // these 72 sets), langevin is read (a leg with no neutral rests on the
    // averaged reading after `still.lenient_after_s`; a seated rest on the
    // averaged reading judges the rate's steadiness on it too): 233 of 243;
    // 781 of 791 wrong sets not marked sure. Neuro, built in session 26 and
    // scored once at its end (the new hold-out), joins with 17 of 17 sure
    // sets exact on these 72 sets: 250 of 260; 815 of 825.
    // Session 27: mocap joins (the new hold-out, built in session 27 and
    // scored on arrival: 15 of 16 sure sets exact on these 72 sets),
    // pendulum is read (a quick twitch between two full reps is no rep; the
    // hip hitch drops a small late last movement): 268 of 279; 846 of 857.
    // Session 28: planner joins (the new hold-out, built in session 28 and
    // scored on arrival: 8 of 12 sure sets exact on these 72 sets), neuro is
    // read (a rep squeezed into one beat of an ankle set, a walk of 1 s
    // strides, a swing under 0.4 of the reps' length after the set are not
    // sure): 276 of 289; 886 of 899.
    // Session 29: mocap is read (a rep begun with the ankle still up from
    // the rep before, at least 0.2 of the set's reps, is a near call):
    // 272 of 283; 888 of 899 (mocap 14 of 14 sure sets exact, planner 8 of
    // 12).
    // Session 30: effort joins (the new hold-out, built in session 29 and
    // scored once at the start of session 30 with session 29's counter: 1
    // of 3 sure sets exact on these 72 sets, 65 of its 67 wrong sets not
    // marked sure); planner is read (a rep turned back up part way down
    // with no pause is a near call: planner 8 of 12 sure sets exact → 7 of
    // 7): 271 of 280; 957 of 966. Elastic joins at the session's end (the
    // new hold-out, scored once with session 30's counter: 19 of 19 sure
    // sets exact on these 72 sets): 290 of 299; 989 of 998.
    // Session 31: units joins (the new hold-out, built in session 31 and
    // scored once at its end: 12 of 12 sure sets exact on these 72 sets);
    // effort is read (the seated axis line, an uncounted movement inside
    // the set up to 3× the reps, a set begun at a no-return neutral):
    // 297 of 303; 1023 of 1029.
    // Session 32: a set begun at a no-return neutral is doubted only when
    // the movement given up went on more than 3 s before that rest (more
    // than the leg's arrival: a rep may hide in it), not for any set begun
    // soon after the rest: 300 of 306; 1023 of 1029. Infer joins (the new
    // hold-out, built in session 32 and scored once at its end: 8 of 13
    // sure sets exact on these 72 sets, 56 of its 61 wrong sets not marked
    // sure): 308 of 319; 1079 of 1090.
    // Session 33: units is read; a slow movement on the set's beat after it
    // and a long no-return movement soon after a pelvis set are doubted, a
    // no-return movement that kept coming back to one level is counted again
    // from it. Cortex joins (the new hold-out, built in session 33 and scored
    // once at its end: 6 of 6 sure sets exact on these 72 sets, 46 of its 46
    // wrong sets not marked sure): 315 of 325; 1118 of 1128.
    assert!(
        sure_exact as f64 >= 0.95 * sure as f64,
        "{sure_exact} of {sure} sets marked sure exact"
    );
}

/// Session 14, read on team: a recording that starts as the player jogs to
/// the line has its tilt start from a sample in motion; the first rest
/// came before the gravity pull had caught up, the catching up read as a
/// 70° rest (a new posture), and the whole first set was lost. The tilt is
/// now set to gravity at the first rest. Team's session 11 (standing
/// ankle, seed 2026): 0 of its first set's 9 reps without, 9 with.
#[test]
fn a_recording_that_starts_mid_jog_counts_its_first_set() {
    use medius::source::sim::SimModel;
    let (counted, truth, distractions, sets) = count_truth_set(
        SimModel::Team,
        12,
        11,
        (Exercise::StandingCableAbduction, Placement::Ankle),
        0,
    );
    assert!(
        distractions.iter().any(|d| d.contains("jog")),
        "the session starts mid-jog: {distractions:?}"
    );
    assert_eq!(counted, truth, "{sets}");
}

/// Session 25, read on syllable: a lifter lay down again after a set and
/// settled with the leg 27° from its last rest, held it there 1.5 s and
/// repped from there without ever coming back to the old rest. The
/// movement begun as the leg settled was given up only 12 s later, long
/// after the posture was held, so no neutral was taken from it and the
/// set's first 5 reps were lost. A posture held within a movement given
/// up is now the neutral, and the reps since are counted from it.
/// Syllable's session 17 (side-lying ankle, seed 2026): 4 of its second
/// set's 9 reps without, 9 with.
#[test]
fn reps_from_a_posture_settled_into_after_lying_down_again_are_counted() {
    let (counted, truth, _, sets) = count_truth_set(
        medius::source::sim::SimModel::Syllable,
        12,
        17,
        (Exercise::SideLyingAbduction, Placement::Ankle),
        1,
    );
    assert_eq!(counted, truth, "{sets}");
}

/// Session 26, read on langevin: a lifter whose leg never quite rests
/// (soft tissue wobbling at the strap, the foot wandering 2-10 °/s) walked
/// to the station; the neutral was forgotten on the walk and, the bias
/// long settled, no rest was ever still enough to take a new one, so the
/// whole set was lost. After `still.lenient_after_s` with no neutral a rest
/// is judged on the averaged reading at the whole still rate. Langevin's
/// session 33 (standing ankle, seed 2026): 0 of its second set's 8 reps
/// without, 8 with.
#[test]
fn a_leg_that_never_quite_rests_after_a_walk_is_counted() {
    let (counted, truth, _, sets) = count_truth_set(
        medius::source::sim::SimModel::Langevin,
        36,
        33,
        (Exercise::StandingCableAbduction, Placement::Ankle),
        1,
    );
    assert_eq!(counted, truth, "{sets}");
}

/// Session 26, read on langevin: a seated lifter's leg on soft tissue
/// jitters ±2 m/s² and a few °/s from one sample to the next between reps.
/// Until the gyro bias is learned, the seated ankle refuses a rest whose
/// rate jumps by more than half of `still.gyro_settled_dps` (a slow turn of
/// the knees about the vertical); on the raw rate this leg never rested, no
/// neutral was ever taken and the whole session was lost. A rest judged on
/// the averaged reading now judges the rate's steadiness on it too.
/// Langevin's session 72 (seated ankle, seed 2026): 0 of its second set's
/// 10 reps without, 10 with.
#[test]
fn a_seated_leg_that_jitters_at_rest_is_counted() {
    let (counted, truth, _, sets) = count_truth_set(
        medius::source::sim::SimModel::Langevin,
        36,
        72,
        (Exercise::SeatedMachineAbduction, Placement::Ankle),
        1,
    );
    assert_eq!(counted, truth, "{sets}");
}

/// Session 27, read on pendulum: after each lowering the leg of a lifter
/// whose leg hangs like a pendulum swings back 6° for 0.8 s, and that
/// swing between two 30° reps of 2 s was counted as a rep. A movement
/// inside a set, between two full reps, under `sets.unlike_edge_fraction`
/// of the set's size and `sets.unlike_inside_length` of its length is no
/// rep (a partial rep is as slow as the reps around it and stays).
/// Pendulum's session 3 (standing ankle, seed 2026): 9 for its first set's
/// 8 reps without, 8 with.
#[test]
fn a_leg_swinging_back_between_reps_is_not_a_rep() {
    let (counted, truth, _, sets) = count_truth_set(
        medius::source::sim::SimModel::Pendulum,
        36,
        3,
        (Exercise::StandingCableAbduction, Placement::Ankle),
        0,
    );
    assert_eq!(counted, truth, "{sets}");
}

/// Session 27, read on pendulum: 5 s after a set of 9° hip hitches the
/// lifter stepped off the box, tilting the pelvis 4°, and it was counted
/// as a tenth hitch. The hip hitch's reps are the working movement and
/// alike, so the ankle's rule for the end of a set holds there too: a last
/// movement after a break in the rhythm, under `sets.unlike_tail_size` of
/// the reps' size or `sets.unlike_tail_length` of their length, is no rep.
/// Pendulum's session 181 (hip hitch, seed 2026): 10 for its first set's
/// 9 hitches without, 9 with.
#[test]
fn stepping_off_the_box_after_the_last_hitch_is_not_a_rep() {
    let (counted, truth, _, sets) = count_truth_set(
        medius::source::sim::SimModel::Pendulum,
        36,
        181,
        (Exercise::HipHitch, Placement::Pelvis),
        0,
    );
    assert_eq!(counted, truth, "{sets}");
}

/// Plays session `index` of `model`'s corpus (`sessions` per exercise ×
/// placement, seed 2026), checks it is `exercise` at `placement`, and
/// returns the reps counted over its truth set `set` (by time), what the
/// truth says, the truth's distractions and the sets found (for messages).
fn count_truth_set(
    model: medius::source::sim::SimModel,
    sessions: usize,
    index: usize,
    (exercise, placement): (Exercise, Placement),
    set: usize,
) -> (usize, usize, Vec<String>, String) {
    use medius::accuracy::corpus_of;
    use medius::motion::{analyze_samples, Pipeline};
    let cfg = &corpus_of(model, sessions, 2026)[index];
    assert_eq!((cfg.exercise, cfg.placement), (exercise, placement));
    let (samples, truth) = medius::source::sim::open(cfg).expect("the model simulates");
    let pipeline = Pipeline::builtin(cfg.exercise, cfg.placement, cfg.side).unwrap();
    let (sets, _) = analyze_samples(pipeline, samples);
    let t = &truth.sets[set];
    let counted: usize = sets
        .iter()
        .filter(|s| s.start_s < t.end_s + 1.0 && s.end_s > t.start_s - 1.0)
        .map(|s| s.rep_count())
        .sum();
    (
        counted,
        t.rep_count,
        truth.distractions,
        format!("{sets:?}"),
    )
}
