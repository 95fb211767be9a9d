use super::*;
use crate::source::sim::{open_pair, PairTruth, SimConfig, TruthRep};

/// A two-sensor session of the standard model at 50 Hz.
fn session(seed: u64, kinds: &[FlagKind], rate: f64) -> (Vec<Sample>, Vec<Sample>, PairTruth) {
    let mut c = SimConfig::new(
        Exercise::StandingCableAbduction,
        Placement::Ankle,
        Side::Right,
    );
    c.seed = seed;
    c.sets = 2;
    c.reps_min = 10;
    c.reps_max = 12;
    c.rate_hz = rate;
    c.rest_min_s = 20.0;
    c.rest_max_s = 25.0;
    c.compensations = kinds.to_vec();
    c.compensation_rate = 0.4;
    let (a, p, truth) = open_pair(&c).expect("a two-sensor session");
    (a.collect(), p.collect(), truth)
}

/// Every event, with the ankle's time when it came; `keep` may leave out
/// samples (a sensor out) by role and time on the ankle's clock.
fn drive(
    ankle: &[Sample],
    pelvis: &[Sample],
    truth: &PairTruth,
    keep: impl Fn(Placement, f64) -> bool,
) -> (Vec<(f64, Event)>, FusedPipeline) {
    let offset = truth.clocks.pelvis_to_ankle_s(0.0);
    let mut fused = FusedPipeline::builtin(truth.truth.config.exercise, truth.truth.config.side)
        .unwrap()
        .with_offset(offset);
    let mut out = Vec::new();
    let mut all = Vec::new();
    let mut now = 0.0;
    let samples = merge_by_time(ankle.iter().copied(), pelvis.iter().copied(), offset);
    for (role, s) in samples {
        let t = if role == Placement::Ankle {
            s.t
        } else {
            s.t + offset
        };
        if !keep(role, t) {
            continue;
        }
        if role == Placement::Ankle {
            now = s.t;
        }
        fused.push(role, &s, &mut out);
        all.extend(out.drain(..).map(|e| (now, e)));
    }
    fused.finish(&mut out);
    all.extend(out.drain(..).map(|e| (now, e)));
    (all, fused)
}

fn sets(events: &[(f64, Event)]) -> Vec<&Set> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::SetEnded(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn pelvic_of(flags: &[crate::motion::Flag]) -> Vec<FlagKind> {
    let mut v: Vec<FlagKind> = flags
        .iter()
        .map(|f| f.kind)
        .filter(|k| PELVIC.contains(k))
        .collect();
    v.sort();
    v
}

fn truth_pelvic(r: &TruthRep) -> Vec<FlagKind> {
    let mut v: Vec<FlagKind> = r
        .flags
        .iter()
        .map(|f| f.kind)
        .filter(|k| PELVIC.contains(k))
        .collect();
    v.sort();
    v
}

#[test]
fn each_ankle_rep_gets_the_pelvic_flags_of_its_own_window() {
    let kinds = [FlagKind::HipHike, FlagKind::PelvicDrop, FlagKind::TrunkSway];
    let mut flagged = 0;
    for seed in [3, 8] {
        let (a, p, truth) = session(seed, &kinds, 50.0);
        let (events, fused) = drive(&a, &p, &truth, |_, _| true);
        let found = sets(&events);
        assert_eq!(found.len(), truth.truth.sets.len(), "seed {seed}");
        for (f, t) in found.iter().zip(&truth.truth.sets) {
            assert_eq!(f.rep_count(), t.rep_count, "seed {seed}");
            for (r, tr) in f.reps.iter().zip(&t.reps) {
                assert_eq!(
                    pelvic_of(&r.flags),
                    truth_pelvic(tr),
                    "seed {seed}, rep at {:.1} s",
                    r.start_s
                );
                flagged += usize::from(!tr.flags.is_empty());
            }
        }
        let st = fused.stats();
        assert_eq!(st.reps_not_judged, 0);
        assert!(fused.alignment().known);
    }
    assert!(
        flagged >= 10,
        "only {flagged} compensated reps: the test sees too little"
    );
}

#[test]
fn reps_are_announced_then_given_their_flags_in_order() {
    let (a, p, truth) = session(5, &FlagKind::ALL, 100.0);
    let (events, _) = drive(&a, &p, &truth, |_, _| true);
    let mut expected_set = 1;
    let mut announced: Option<(usize, f64)> = None;
    let mut last_rep = 0;
    for (now, e) in &events {
        match e {
            Event::RepReturned {
                set_number, number, ..
            } => {
                assert_eq!(*set_number, expected_set);
                assert_eq!(*number, last_rep + 1, "announced out of turn");
                announced = Some((*number, *now));
            }
            Event::Rep { set_number, rep } => {
                assert_eq!(*set_number, expected_set);
                let (n, at) = announced.take().expect("every rep is announced first");
                assert_eq!(rep.number, n);
                // Sample time, not a clock: the pelvis covers the window
                // within a second of the announcement.
                assert!(now - at <= 1.0, "rep {n}: flags {:.2} s later", now - at);
                last_rep = n;
            }
            Event::SetEnded(s) => {
                assert_eq!(s.rep_count(), last_rep);
                expected_set += 1;
                last_rep = 0;
            }
            Event::NotASet { .. } => last_rep = 0,
        }
    }
    assert_eq!(expected_set - 1, truth.truth.sets.len());
}

#[test]
fn a_pelvis_that_drops_out_leaves_the_count_and_is_picked_up_again() {
    let kinds = [FlagKind::HipHike, FlagKind::PelvicDrop, FlagKind::TrunkSway];
    let (a, p, truth) = session(3, &kinds, 50.0);
    let t = &truth.truth.sets[1];
    // The pelvis is out over the middle of the second set.
    let (from, to) = (t.reps[3].start_s, t.reps[6].end_s);
    let (events, fused) = drive(&a, &p, &truth, |role, t| {
        role == Placement::Ankle || !(from..to).contains(&t)
    });
    let found = sets(&events);
    assert_eq!(
        found.iter().map(|s| s.rep_count()).collect::<Vec<_>>(),
        truth
            .truth
            .sets
            .iter()
            .map(|s| s.rep_count)
            .collect::<Vec<_>>()
    );
    let doubt = found[1]
        .doubts
        .iter()
        .find(|d| d.kind == DoubtKind::PelvisNotJudged)
        .expect("the set says which reps were not judged");
    assert!(doubt.message.contains("reps 4-7"), "{}", doubt.message);
    assert!(found[0]
        .doubts
        .iter()
        .all(|d| d.kind != DoubtKind::PelvisNotJudged));
    // Back: the reps after the outage are judged, and match the truth.
    for (r, tr) in found[1].reps.iter().zip(&t.reps).skip(8) {
        assert_eq!(pelvic_of(&r.flags), truth_pelvic(tr), "rep {}", r.number);
    }
    let st = fused.stats();
    assert_eq!(st.reps_not_judged, 4, "{st:?}");
    // Counting does not trust the pelvis for anything while it is out.
    assert!(found[1].confidence >= 0.9, "{:?}", found[1].doubts);
}

#[test]
fn an_ankle_that_drops_out_is_covered_by_the_pelvis_and_taken_up_again() {
    let (a, p, truth) = session(4, &[], 50.0);
    let t = &truth.truth.sets[0];
    let (from, to) = (t.reps[3].start_s - 0.3, t.reps[5].end_s + 0.3);
    let (events, fused) = drive(&a, &p, &truth, |role, t| {
        role == Placement::Pelvis || !(from..to).contains(&t)
    });
    let found = sets(&events);
    assert_eq!(found.len(), 2, "{found:?}");
    let first = found[0];
    assert!(
        first.rep_count().abs_diff(t.rep_count) <= 1,
        "{} counted, {} done",
        first.rep_count(),
        t.rep_count
    );
    let doubt = first
        .doubts
        .iter()
        .find(|d| d.kind == DoubtKind::PelvisOnly)
        .expect("the set says which reps the pelvis counted");
    assert!(doubt.message.contains("pelvis alone"), "{}", doubt.message);
    assert!(first.confidence <= PELVIS_ONLY_CAP);
    assert!(fused.stats().reps_pelvis_only >= 2);
    // The ankle counts the second set again, and it is its own.
    assert_eq!(found[1].rep_count(), truth.truth.sets[1].rep_count);
    assert!(found[1]
        .doubts
        .iter()
        .all(|d| d.kind != DoubtKind::PelvisOnly));
}

#[test]
fn a_lost_link_said_by_the_caller_is_not_waited_for() {
    let (a, p, truth) = session(6, &[], 50.0);
    let offset = truth.clocks.pelvis_to_ankle_s(0.0);
    let mut fused = FusedPipeline::builtin(Exercise::StandingCableAbduction, Side::Right)
        .unwrap()
        .with_offset(offset);
    let lost_at = truth.truth.sets[0].reps[2].end_s + 1.0;
    let mut out = Vec::new();
    let mut told = false;
    let mut after = Vec::new();
    for (role, s) in merge_by_time(a.iter().copied(), p.iter().copied(), offset) {
        if role == Placement::Ankle && s.t >= lost_at && !told {
            fused.link_lost(Placement::Pelvis, &mut out);
            told = true;
        }
        if told && role == Placement::Pelvis {
            continue;
        }
        fused.push(role, &s, &mut out);
        if told {
            after.push(out.clone());
        }
        out.clear();
    }
    // Every rep after the link was lost comes out with its announcement,
    // in the same step: nothing waits for the pelvis.
    let mut reps = 0;
    for batch in &after {
        let returned = batch
            .iter()
            .filter(|e| matches!(e, Event::RepReturned { .. }))
            .count();
        let full = batch
            .iter()
            .filter(|e| matches!(e, Event::Rep { .. }))
            .count();
        assert_eq!(returned, full, "{batch:?}");
        reps += full;
    }
    assert!(reps >= 10, "{reps}");
}

#[test]
fn rep_lists_read_as_runs() {
    assert_eq!(rep_list(&[4]), "rep 4");
    assert_eq!(rep_list(&[4, 5, 6]), "reps 4-6");
    assert_eq!(rep_list(&[2, 5, 6]), "reps 2, 5-6");
}

fn plain_rep(number: usize, start_s: f64, end_s: f64) -> Rep {
    Rep {
        number,
        start_s,
        end_s,
        peak_deg: 40.0,
        concentric_s: 0.8,
        pause_s: 0.3,
        eccentric_s: 0.9,
        flags: Vec::new(),
    }
}

#[test]
fn a_pelvis_rep_where_the_ankle_counted_none_makes_the_set_unsure() {
    let mut fused = FusedPipeline::builtin(Exercise::StandingCableAbduction, Side::Right).unwrap();
    let reps: Vec<Rep> = [(0.0, 2.0), (4.0, 6.0), (12.0, 14.0), (16.0, 18.0)]
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| plain_rep(i + 1, a, b))
        .collect();
    let set = Set {
        start_s: 0.0,
        end_s: 18.0,
        reps,
        confidence: 1.0,
        doubts: Vec::new(),
    };
    // The pelvis moved with every counted rep: the count stands.
    for r in &set.reps {
        fused
            .pelvis_reps
            .push_back(plain_rep(0, r.start_s + 0.1, r.end_s));
    }
    let agreed = fused.fuse_set(set.clone());
    assert_eq!(agreed.confidence, 1.0, "{:?}", agreed.doubts);
    // (These reps never went through `push`, so their pelvic flags read
    // as not judged: that doubt leaves the count alone.)
    assert!(agreed
        .doubts
        .iter()
        .all(|d| d.kind == DoubtKind::PelvisNotJudged));
    // ... and once more between reps 2 and 3, where the ankle saw nothing.
    fused.pelvis_reps.push_back(plain_rep(0, 8.1, 10.0));
    let doubted = fused.fuse_set(set);
    assert!(doubted.confidence <= PELVIS_SAW_CAP);
    let d = doubted
        .doubts
        .iter()
        .find(|d| d.kind == DoubtKind::PelvisSawMore)
        .expect("the doubt says where");
    assert_eq!((d.from_s, d.to_s, d.reps), (8.1, 10.0, 1));
    assert_eq!(doubted.rep_count(), 4, "a doubt, not a rep");
}
