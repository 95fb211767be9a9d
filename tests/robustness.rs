//! No input panics the pipeline or the CSV reader.

use medius::motion::{Event, Pipeline};
use medius::source::csv::RawReader;
use medius::{Exercise, Placement, Sample, Side};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => -50.0..50.0f64,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(1e300),
        1 => Just(-1e300),
        1 => Just(0.0),
    ]
}

fn stream() -> impl Strategy<Value = Vec<(f64, [f64; 6])>> {
    prop::collection::vec(
        (
            prop_oneof![8 => 0.0..0.05f64, 1 => -1.0..0.0f64, 1 => 0.0..100.0f64, 1 => Just(f64::NAN)],
            prop::array::uniform6(value()),
        ),
        0..400,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pipeline_never_panics(steps in stream(), which in 0usize..6) {
        let (e, p) = medius::motion::Profile::supported().nth(which).unwrap();
        let mut pipe = Pipeline::builtin(e, p, Side::Left).unwrap();
        let mut events = Vec::new();
        let mut t = 0.0;
        for (dt, v) in steps {
            t += dt;
            pipe.push(&Sample::new(t, [v[0], v[1], v[2]], [v[3] * 100.0, v[4] * 100.0, v[5]]), &mut events);
        }
        pipe.finish(&mut events);
        for e in &events {
            if let Event::SetEnded(s) = e {
                prop_assert!(s.reps.iter().all(|r| r.peak_deg.is_finite() && r.end_s >= r.start_s));
            }
        }
    }

    #[test]
    fn csv_reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut text = b"time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps\n".to_vec();
        text.extend_from_slice(&bytes);
        if let Ok(r) = RawReader::new(&text[..], "fuzz.csv") {
            for _ in r.take(1000) {}
        }
        let _ = RawReader::new(&bytes[..], "fuzz.csv").map(|r| r.take(1000).count());
    }
}

#[test]
fn a_long_still_stream_finds_nothing() {
    let mut pipe = Pipeline::builtin(
        Exercise::StandingCableAbduction,
        Placement::Ankle,
        Side::Right,
    )
    .unwrap();
    let mut events = Vec::new();
    for i in 0..20_000 {
        pipe.push(
            &Sample::new(i as f64 * 0.01, [0.0, 0.0, 9.81], [1.0, -0.5, 0.2]),
            &mut events,
        );
    }
    pipe.finish(&mut events);
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn the_simulator_plans_any_valid_session_without_panicking() {
    // Regression: short rests (20-30 s, the `run --sensor sim` default) once
    // asked for a single swing in an empty time range.
    for (e, p) in medius::motion::Profile::supported() {
        for seed in 0..6 {
            let mut c = medius::source::sim::SimConfig::new(e, p, Side::Right);
            c.rest_min_s = 12.0;
            c.rest_max_s = 30.0;
            c.sets = 3;
            c.rate_hz = 25.0;
            c.seed = seed;
            let (sim, truth) = medius::source::sim::Simulator::new(&c).unwrap();
            assert_eq!(truth.sets.len(), 3);
            assert!(sim.take(10).all(|s| s.is_finite()));
        }
    }
}
