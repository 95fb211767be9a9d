//! Throughput of the pipeline alone and of `analyze` end to end (CSV parse included).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medius::motion::{analyze_samples, Pipeline};
use medius::source::csv::{RawReader, RawWriter};
use medius::source::sim::{SimConfig, Simulator};
use medius::{Exercise, Placement, Sample, Side};

fn session(placement: Placement) -> Vec<Sample> {
    let mut c = SimConfig::new(Exercise::StandingCableAbduction, placement, Side::Right);
    c.rate_hz = 200.0;
    c.seed = 9;
    Simulator::new(&c).unwrap().0.collect()
}

fn benches(c: &mut Criterion) {
    let samples = session(Placement::Ankle);
    let mut csv = RawWriter::new(Vec::new()).unwrap();
    for s in &samples {
        csv.write(s).unwrap();
    }
    let csv = csv.into_inner();
    let mut g = c.benchmark_group("ankle-200Hz-session");
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.sample_size(20);
    g.bench_function("pipeline", |b| {
        b.iter(|| {
            let p = Pipeline::builtin(
                Exercise::StandingCableAbduction,
                Placement::Ankle,
                Side::Right,
            )
            .unwrap();
            analyze_samples(p, samples.iter().copied())
        })
    });
    g.bench_function("analyze-csv", |b| {
        b.iter(|| {
            let p = Pipeline::builtin(
                Exercise::StandingCableAbduction,
                Placement::Ankle,
                Side::Right,
            )
            .unwrap();
            let r = RawReader::new(&csv[..], "bench.csv").unwrap();
            analyze_samples(p, r.map(|s| s.unwrap()))
        })
    });
    g.finish();

    let samples = session(Placement::Pelvis);
    let mut g = c.benchmark_group("pelvis-200Hz-session");
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.sample_size(20);
    g.bench_function("pipeline", |b| {
        b.iter(|| {
            let p = Pipeline::builtin(
                Exercise::StandingCableAbduction,
                Placement::Pelvis,
                Side::Right,
            )
            .unwrap();
            analyze_samples(p, samples.iter().copied())
        })
    });
    g.finish();
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
