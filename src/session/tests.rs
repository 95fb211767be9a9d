//! The session driven by vectors: no threads, no clock.

use super::*;
use crate::motion::Pipeline;
use crate::source::sim::{SimConfig, Simulator};

fn context() -> Context {
    Context {
        exercise: Exercise::StandingCableAbduction,
        placement: Placement::Ankle,
        side: Side::Right,
        load: None,
    }
}

fn builtin() -> Build {
    Box::new(|c: &Context| {
        Ok(Analyser::one(Pipeline::new(
            Profile::builtin(c.exercise, c.placement)?,
            c.side,
        )))
    })
}

/// Two clean sets of 6 reps at the ankle, and the truth's set spans.
fn two_sets() -> (Vec<Sample>, Vec<(f64, f64)>) {
    let mut c = SimConfig::new(
        Exercise::StandingCableAbduction,
        Placement::Ankle,
        Side::Right,
    );
    c.sets = 2;
    c.reps_min = 6;
    c.reps_max = 6;
    c.seed = 3;
    c.compensation_rate = 0.0;
    c.drop_rate = 0.0;
    c.gaps_per_min = 0.0;
    c.walking = false;
    c.fidgets = false;
    let (sim, truth) = Simulator::new(&c).unwrap();
    let spans = truth.sets.iter().map(|s| (s.start_s, s.end_s)).collect();
    (sim.collect(), spans)
}

fn session(sensors: Vec<SensorSetup>) -> Session {
    Session::new(context(), sensors, builtin()).unwrap()
}

fn sample(s: &Sample) -> Input {
    Input::Sample {
        sensor: SensorId(0),
        sample: *s,
    }
}

fn saves(out: &[Output]) -> Vec<&SaveSet> {
    out.iter()
        .filter_map(|o| match o {
            Output::Save(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn said(out: &[Output]) -> Vec<&Feedback> {
    out.iter()
        .filter_map(|o| match o {
            Output::Feedback(f) => Some(f),
            _ => None,
        })
        .collect()
}

#[test]
fn two_sets_are_counted_announced_and_saved() {
    let (samples, spans) = two_sets();
    let mut s = session(vec![]);
    let mut out = Vec::new();
    for x in &samples {
        s.handle(sample(x), &mut out).unwrap();
    }
    s.handle(Input::Ended, &mut out).unwrap();
    let saved = saves(&out);
    assert_eq!(saved.len(), spans.len());
    assert!(saved
        .iter()
        .all(|x| x.set.rep_count() == 6 && !x.interrupted));
    let fb = said(&out);
    assert!(matches!(fb[0], Feedback::Watching(_)));
    let reps = fb
        .iter()
        .filter(|f| matches!(f, Feedback::Rep { .. }))
        .count();
    assert_eq!(reps, 12);
    let numbers: Vec<usize> = fb
        .iter()
        .filter_map(|f| match f {
            Feedback::SetDone { number, .. } => Some(*number),
            _ => None,
        })
        .collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(s.samples(), samples.len() as u64);
    assert!(s.is_over());
}

#[test]
fn a_link_loss_mid_set_shows_in_the_snapshot_without_a_sample() {
    let (samples, spans) = two_sets();
    let mut s = session(vec![SensorSetup {
        linked: true,
        recording: Some(9),
        ..SensorSetup::default()
    }]);
    let mut out = Vec::new();
    assert!(!s.snapshot().connected, "a link is down until it says so");
    s.handle(
        Input::Link {
            sensor: SensorId(0),
            change: LinkChange::Connected { battery: Some(77) },
        },
        &mut out,
    )
    .unwrap();
    // Two seconds lost in the middle of the first set.
    let mid = (spans[0].0 + spans[0].1) / 2.0;
    let mut lost = false;
    for x in &samples {
        if !lost && x.t >= mid {
            lost = true;
            s.handle(
                Input::Link {
                    sensor: SensorId(0),
                    change: LinkChange::Lost,
                },
                &mut out,
            )
            .unwrap();
            // No sample comes; only the shell's ticks.
            s.handle(Input::Tick { now_s: 100.0 }, &mut out).unwrap();
            let snap = s.snapshot();
            assert!(!snap.connected);
            assert!(!snap.links[0].1.connected);
            assert!(snap.set_open);
            assert_eq!(snap.now_s, 100.0);
            s.handle(
                Input::Link {
                    sensor: SensorId(0),
                    change: LinkChange::SamplesLost(200),
                },
                &mut out,
            )
            .unwrap();
            s.handle(
                Input::Link {
                    sensor: SensorId(0),
                    change: LinkChange::Back { battery: None },
                },
                &mut out,
            )
            .unwrap();
            assert!(s.snapshot().connected);
        }
        if lost && x.t < mid + 2.0 {
            continue;
        }
        s.handle(sample(x), &mut out).unwrap();
    }
    s.handle(Input::Ended, &mut out).unwrap();
    let snap = s.snapshot();
    assert_eq!(
        (snap.battery, snap.samples_lost),
        (Some(77), 200),
        "{snap:?}"
    );
    assert_eq!(s.link(SensorId(0)).unwrap().dropouts, 1);
    let saved = saves(&out);
    // The set goes on through the outage: still two sets, not three.
    assert_eq!(saved.len(), 2, "{:?}", said(&out));
    assert!(saved[0].set.rep_count() <= 6);
    assert_eq!(saved[1].set.rep_count(), 6);
    assert_eq!(saved[0].recordings, [(9, Placement::Ankle)]);
}

#[test]
fn a_key_during_a_set_is_applied_after_it() {
    let (samples, _) = two_sets();
    let mut s = session(vec![]);
    let mut out = Vec::new();
    let mut typed = false;
    let mut marks = Vec::new();
    for x in &samples {
        s.handle(sample(x), &mut out).unwrap();
        if !typed && s.snapshot().reps_in_set >= 2 {
            typed = true;
            let before = out.len();
            s.handle(
                Input::Key(KeyCommand::Load(Load::parse("15kg").unwrap())),
                &mut out,
            )
            .unwrap();
            s.handle(Input::Key(KeyCommand::Side(None)), &mut out)
                .unwrap();
            // Said once for both, and nothing changed yet.
            assert_eq!(
                said(&out[before..]),
                [&Feedback::AfterThisSet],
                "{:?}",
                &out[before..]
            );
            assert_eq!(s.snapshot().context, context());
            marks.push(out.len());
        }
    }
    s.handle(Input::Ended, &mut out).unwrap();
    let saved = saves(&out);
    assert_eq!(saved.len(), 2);
    // The set in progress keeps the old context; the next has the new one.
    assert_eq!(saved[0].context, context());
    assert_eq!(saved[1].context.load, Some(Load::parse("15kg").unwrap()));
    assert_eq!(saved[1].context.side, Side::Left);
    // The change is noted for the recording, after the set was saved.
    let first_save = out
        .iter()
        .position(|o| matches!(o, Output::Save(_)))
        .unwrap();
    // Two notes, one a command: the load, then the side.
    let note = out
        .iter()
        .rposition(|o| matches!(o, Output::Note { .. }))
        .unwrap();
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::Note { .. }))
            .count(),
        2
    );
    assert!(
        out.iter()
            .position(|o| matches!(o, Output::Note { .. }))
            .unwrap()
            > first_save
    );
    match &out[note] {
        Output::Note { after_s, context } => {
            assert!(*after_s >= saved[0].set.end_s);
            assert_eq!(context.side, Side::Left);
        }
        _ => unreachable!(),
    }
    assert!(out.iter().any(
        |o| matches!(o, Output::Feedback(Feedback::ContextChanged(c)) if c.side == Side::Left)
    ));
}

#[test]
fn keys_typed_before_the_first_sample_wait_for_it() {
    let (samples, _) = two_sets();
    let mut s = session(vec![]);
    let mut out = Vec::new();
    s.handle(Input::Key(KeyCommand::Side(Some(Side::Left))), &mut out)
        .unwrap();
    assert!(out.is_empty(), "{out:?}");
    s.handle(sample(&samples[0]), &mut out).unwrap();
    assert!(matches!(
        &out[0],
        Output::Feedback(Feedback::Watching(c)) if c.side == Side::Right
    ));
    assert_eq!(s.snapshot().context.side, Side::Left);
}

#[test]
fn a_refused_key_changes_nothing() {
    let (samples, _) = two_sets();
    let mut s = session(vec![]);
    let mut out = Vec::new();
    s.handle(sample(&samples[0]), &mut out).unwrap();
    out.clear();
    s.handle(
        Input::Key(KeyCommand::Exercise {
            exercise: Exercise::HipHitch,
            placement: None,
        }),
        &mut out,
    )
    .unwrap();
    assert!(matches!(
        &out[..],
        [Output::Feedback(Feedback::Message(m))] if m.contains("type `e hip-hitch pelvis`")
    ));
    assert_eq!(s.snapshot().context, context());
    out.clear();
    s.handle(
        Input::Key(KeyCommand::Placement(Placement::Pelvis)),
        &mut out,
    )
    .unwrap();
    assert_eq!(s.snapshot().context.placement, Placement::Pelvis);
    assert!(s.snapshot().pelvis, "the analyser now counts the pelvis");
    s.handle(Input::Key(KeyCommand::Quit), &mut out).unwrap();
    assert_eq!(out.last(), Some(&Output::End));
}

#[test]
fn stop_during_a_set_saves_it_as_interrupted_and_ends() {
    let (samples, _) = two_sets();
    let mut s = session(vec![]);
    let mut out = Vec::new();
    let mut rest = samples.iter();
    for x in rest.by_ref() {
        s.handle(sample(x), &mut out).unwrap();
        if s.snapshot().reps_in_set >= 4 {
            break;
        }
    }
    out.clear();
    s.handle(Input::Stop, &mut out).unwrap();
    assert_eq!(
        out[0],
        Output::Feedback(Feedback::Stopped { during_set: true })
    );
    let saved = saves(&out);
    assert_eq!(saved.len(), 1);
    assert!(saved[0].interrupted);
    assert!(saved[0].set.rep_count() >= 4);
    // Over: later samples and a second stop change nothing.
    out.clear();
    for x in rest.take(2000) {
        s.handle(sample(x), &mut out).unwrap();
    }
    s.handle(Input::Stop, &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_recording_analysed_applies_each_noted_change_after_its_sample() {
    let (samples, spans) = two_sets();
    let between = (spans[0].1 + spans[1].0) / 2.0;
    let mut later = context();
    later.side = Side::Left;
    later.load = Some(Load::parse("20kg").unwrap());
    let a = analyse(
        context(),
        &[(between, later.clone())],
        samples.iter().copied(),
        builtin(),
    )
    .unwrap();
    assert_eq!(a.samples, samples.len() as u64);
    assert_eq!(a.sets.len(), 2);
    assert_eq!(a.sets[0].1, context());
    assert_eq!(a.sets[1].1, later);
    // The same samples without the change: the same sets, one context.
    let plain = analyse(context(), &[], samples.iter().copied(), builtin()).unwrap();
    let counts = |a: &Analysed| a.sets.iter().map(|s| s.0.rep_count()).collect::<Vec<_>>();
    assert_eq!(counts(&plain), counts(&a));
    assert!(plain.sets.iter().all(|s| s.1 == context()));
}

/// A two-sensor session: the ankle's and the pelvis' samples apart.
fn pair() -> (Vec<Sample>, Vec<Sample>, crate::source::sim::PairTruth) {
    let mut c = SimConfig::new(
        Exercise::StandingCableAbduction,
        Placement::Ankle,
        Side::Right,
    );
    c.sets = 2;
    c.reps_min = 8;
    c.reps_max = 10;
    c.seed = 5;
    c.rate_hz = 50.0;
    c.compensation_rate = 0.5;
    c.compensations = vec![
        crate::motion::FlagKind::HipHike,
        crate::motion::FlagKind::TrunkSway,
    ];
    let (a, p, truth) = crate::source::sim::open_pair(&c).unwrap();
    (a.collect(), p.collect(), truth)
}

fn fused(offset_s: f64) -> Analyser {
    Analyser::fused(
        crate::motion::fuse::FusedPipeline::builtin(Exercise::StandingCableAbduction, Side::Right)
            .unwrap(),
    )
    .with_offset(offset_s)
}

#[test]
fn a_pair_of_recordings_analysed_gives_the_fused_sets() {
    let (a, p, truth) = pair();
    let offset = truth.clocks.pelvis_to_ankle_s(0.0);
    let got = analyse_pair(
        fused(offset),
        context(),
        &[],
        a.iter().copied(),
        p.iter().copied(),
        offset,
        builtin(),
    )
    .unwrap();
    // The session gives what the fused pipeline gives on its own (what
    // `analyze` prints), and the truth's count.
    let (alone, _) = crate::motion::fuse::analyze_pair(
        crate::motion::fuse::FusedPipeline::builtin(Exercise::StandingCableAbduction, Side::Right)
            .unwrap()
            .with_offset(offset),
        a.iter().copied(),
        p.iter().copied(),
    );
    let sets: Vec<Set> = got.sets.iter().map(|s| s.0.clone()).collect();
    assert_eq!(sets, alone);
    let counts: Vec<usize> = sets.iter().map(Set::rep_count).collect();
    let wanted: Vec<usize> = truth.truth.sets.iter().map(|s| s.rep_count).collect();
    assert_eq!(counts, wanted);
    let pelvic = |s: &Set| {
        s.reps
            .iter()
            .flat_map(|r| &r.flags)
            .filter(|f| {
                matches!(
                    f.kind,
                    crate::motion::FlagKind::HipHike | crate::motion::FlagKind::TrunkSway
                )
            })
            .count()
    };
    assert!(
        sets.iter().map(pelvic).sum::<usize>() > 0,
        "judged from the pelvis"
    );
    assert_eq!(got.per_sensor, vec![a.len() as u64, p.len() as u64]);
    assert_eq!(got.samples, (a.len() + p.len()) as u64);
    // The pelvis' file alone would lose the pelvic flags the sets have here.
    let ankle_only = analyse(context(), &[], a.iter().copied(), builtin()).unwrap();
    assert_eq!(
        ankle_only.sets.iter().map(|s| pelvic(&s.0)).sum::<usize>(),
        0
    );
}

/// Two sensors: a key that would move a sensor is refused with why, and
/// an exercise two sensors do not follow is refused with the builder's
/// reason; the session goes on as it was (it used to end the daemon).
#[test]
fn keys_a_pair_cannot_follow_are_refused_and_the_session_goes_on() {
    let (a, p, _) = pair();
    let pair_build: Build = Box::new(|c: &Context| {
        if !crate::source::sim::two_sensor_exercise(c.exercise) {
            return Err(ProfileError::Unsupported {
                exercise: c.exercise,
                placement: Placement::Pelvis,
                supported: "two sensors suit abduction".into(),
            });
        }
        Ok(Analyser::fused(
            crate::motion::fuse::FusedPipeline::builtin(c.exercise, c.side)?,
        ))
    });
    let roles = [Placement::Ankle, Placement::Pelvis];
    let mut s = Session::starting_with(
        context(),
        roles
            .iter()
            .map(|r| SensorSetup {
                role: Some(*r),
                ..SensorSetup::default()
            })
            .collect(),
        fused(0.0),
        pair_build,
    );
    let mut out = Vec::new();
    s.handle(sample(&a[0]), &mut out).unwrap();
    for (key, says) in [
        (
            KeyCommand::Exercise {
                exercise: Exercise::HipHitch,
                placement: Some(Placement::Pelvis),
            },
            "two sensors are worn",
        ),
        (
            KeyCommand::Placement(Placement::Pelvis),
            "two sensors are worn",
        ),
        (
            KeyCommand::Exercise {
                exercise: Exercise::HipHitch,
                placement: None,
            },
            "the next sets stay standing-cable-abduction",
        ),
    ] {
        out.clear();
        s.handle(Input::Key(key), &mut out).unwrap();
        assert!(
            matches!(&out[..], [Output::Feedback(Feedback::Message(m))] if m.contains(says)),
            "{says}: {out:?}"
        );
        assert_eq!(s.snapshot().context, context());
    }
    // An exercise the pair does follow is taken, at the ankle still.
    out.clear();
    s.handle(
        Input::Key(KeyCommand::Exercise {
            exercise: Exercise::SideLyingAbduction,
            placement: None,
        }),
        &mut out,
    )
    .unwrap();
    let now = s.snapshot().context;
    assert_eq!(
        (now.exercise, now.placement),
        (Exercise::SideLyingAbduction, Placement::Ankle)
    );
    // Samples keep coming in.
    s.handle(
        Input::Sample {
            sensor: SensorId(1),
            sample: p[0],
        },
        &mut out,
    )
    .unwrap();
}
