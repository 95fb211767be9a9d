//! Throughput of the pipeline alone (ankle and pelvis) and of `analyze` end
//! to end (CSV parse included), at several sample rates.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medius::motion::{analyze_samples, Pipeline, Set};
use medius::source::csv::{RawReader, RawWriter};
use medius::source::sim::{SimConfig, Simulator};
use medius::{Exercise, Placement, Sample, Side};

const EXERCISE: Exercise = Exercise::StandingCableAbduction;

fn session(placement: Placement, rate_hz: f64) -> Vec<Sample> {
    let mut c = SimConfig::new(EXERCISE, placement, Side::Right);
    c.rate_hz = rate_hz;
    c.seed = 9;
    Simulator::new(&c).unwrap().0.collect()
}

/// Runs `samples` through a fresh pipeline for `placement`.
fn run<I: IntoIterator<Item = Sample>>(placement: Placement, samples: I) -> Vec<Set> {
    let p = Pipeline::builtin(EXERCISE, placement, Side::Right).unwrap();
    analyze_samples(p, samples).0
}

fn benches(c: &mut Criterion) {
    // The pipeline steps at most ~50 times a second (faster samples are
    // averaged), so its cost per sample falls as the rate rises.
    for (placement, rate) in [
        (Placement::Ankle, 200.0),
        (Placement::Pelvis, 200.0),
        (Placement::Ankle, 100.0),
        (Placement::Pelvis, 100.0),
        (Placement::Pelvis, 50.0),
    ] {
        let samples = session(placement, rate);
        let mut g = c.benchmark_group(format!("{}-{rate}Hz-session", placement.id()));
        g.throughput(Throughput::Elements(samples.len() as u64));
        g.sample_size(20);
        g.bench_function("pipeline", |b| {
            b.iter(|| run(placement, samples.iter().copied()))
        });
        if placement == Placement::Ankle && rate == 200.0 {
            let mut csv = RawWriter::new(Vec::new()).unwrap();
            for s in &samples {
                csv.write(s).unwrap();
            }
            let csv = csv.into_inner();
            g.bench_function("analyze-csv", |b| {
                b.iter(|| {
                    let r = RawReader::new(&csv[..], "bench.csv").unwrap();
                    run(placement, r.map(|s| s.unwrap()))
                })
            });
        }
        g.finish();
    }
}

/// Two sensors at 200 Hz, the ankle and the pelvis of one lifter, fused
/// (both pipelines, the clocks' alignment and the pelvic windows).
fn two_sensors(c: &mut Criterion) {
    use medius::motion::fuse::{analyze_pair, FusedPipeline};
    let mut cfg = SimConfig::new(EXERCISE, Placement::Ankle, Side::Right);
    cfg.rate_hz = 200.0;
    cfg.seed = 9;
    let (a, p, truth) = medius::source::sim::open_pair(&cfg).unwrap();
    let (a, p): (Vec<Sample>, Vec<Sample>) = (a.collect(), p.collect());
    let offset = truth.clocks.pelvis_to_ankle_s(0.0);
    let mut g = c.benchmark_group("both-200Hz-session");
    g.throughput(Throughput::Elements((a.len() + p.len()) as u64));
    g.sample_size(20);
    g.bench_function("fused", |b| {
        b.iter(|| {
            let f = FusedPipeline::builtin(EXERCISE, Side::Right)
                .unwrap()
                .with_offset(offset);
            analyze_pair(f, a.iter().copied(), p.iter().copied()).0
        })
    });
    g.finish();
}

criterion_group!(pipeline, benches, two_sensors);
criterion_main!(pipeline);
