//! Scoring the pipeline against the simulator's ground truth.
//!
//! A corpus of simulated sessions spread over every exercise × placement,
//! rates 25–400 Hz, dropped samples, 200 ms gaps, ±2 °/s gyro bias, fidgets,
//! single swings, re-strapping and walking between sets. `medius accuracy`
//! prints the table; `tests/accuracy.rs` fails if it falls below the bars.

use crate::motion::{analyze_samples, FlagKind, Pipeline, Set};
use crate::source::sim::{SimConfig, SimModel, Truth};
use crate::{Exercise, Placement, Side};
use serde::Serialize;
use std::collections::BTreeMap;

/// Sample rates the corpus cycles through.
pub const RATES_HZ: [f64; 5] = [25.0, 50.0, 100.0, 200.0, 400.0];

/// The sessions of the standard corpus: `sessions` per exercise × placement.
pub fn corpus(sessions: usize, seed: u64) -> Vec<SimConfig> {
    corpus_of(SimModel::Standard, sessions, seed)
}

/// The same corpus played by another body model.
pub fn corpus_of(model: SimModel, sessions: usize, seed: u64) -> Vec<SimConfig> {
    let mut out = Vec::new();
    for (ci, (exercise, placement)) in crate::motion::Profile::supported().enumerate() {
        for i in 0..sessions {
            let side = if i % 2 == 0 { Side::Right } else { Side::Left };
            let mut c = SimConfig::new(exercise, placement, side);
            c.sets = 3;
            c.reps_min = 8;
            c.reps_max = 15;
            c.rate_hz = RATES_HZ[(i + ci) % RATES_HZ.len()];
            c.rest_min_s = 24.0;
            c.rest_max_s = 40.0;
            c.compensation_rate = 0.2;
            c.seed = seed
                .wrapping_mul(1_000_003)
                .wrapping_add((ci * 1000 + i) as u64);
            c.model = model;
            out.push(c);
        }
    }
    out
}

/// Precision/recall counts for one flag kind.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FlagCounts {
    /// Flagged and true.
    pub tp: usize,
    /// Flagged, not true.
    pub fp: usize,
    /// True, not flagged.
    pub fn_: usize,
}

impl FlagCounts {
    /// tp / (tp + fp); 1 when nothing was flagged.
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    /// tp / (tp + fn); 1 when nothing was there.
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
}

/// Scores of one exercise × placement (or of everything).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Score {
    /// Sets in the truth.
    pub sets: usize,
    /// Sets counted exactly.
    pub exact: usize,
    /// Sets within ±1.
    pub within_one: usize,
    /// Detected sets where the truth has none.
    pub false_sets: usize,
    /// False sets marked sure (confidence ≥ 0.9): logged as real sets and
    /// never shown for checking.
    pub false_sure: usize,
    /// Flag counts per kind.
    pub flags: BTreeMap<FlagKind, FlagCounts>,
    /// |peak − true peak| of matched reps (°).
    pub peak_errors: Vec<f64>,
    /// Rates that went in (Hz).
    pub rates: Vec<f64>,
    /// Exact sets by confidence bucket (≥0.9, 0.6–0.9, <0.6): (exact, total).
    pub by_confidence: [(usize, usize); 3],
}

impl Score {
    /// Share of sets counted exactly.
    pub fn exact_rate(&self) -> f64 {
        self.exact as f64 / self.sets.max(1) as f64
    }
    /// Share of sets within ±1.
    pub fn within_one_rate(&self) -> f64 {
        self.within_one as f64 / self.sets.max(1) as f64
    }
    /// Share of the sets marked sure that were counted exactly (1 when
    /// none). A false set marked sure is a sure set that is wrong.
    pub fn sure_exact_rate(&self) -> f64 {
        let (exact, total) = self.by_confidence[0];
        let total = total + self.false_sure;
        if total == 0 {
            1.0
        } else {
            exact as f64 / total as f64
        }
    }
    /// Sets that are wrong (counted wrong, or false sets), and how many of
    /// them were not marked sure.
    pub fn wrong_not_sure(&self) -> (usize, usize) {
        let counted_wrong = self.sets - self.exact;
        let (exact, total) = self.by_confidence[0];
        let not_sure = counted_wrong - (total - exact).min(counted_wrong);
        (
            not_sure + self.false_sets - self.false_sure.min(self.false_sets),
            counted_wrong + self.false_sets,
        )
    }
    /// Share of the wrong sets not marked sure (1 when none was wrong).
    pub fn wrong_not_sure_rate(&self) -> f64 {
        let (n, wrong) = self.wrong_not_sure();
        if wrong == 0 {
            1.0
        } else {
            n as f64 / wrong as f64
        }
    }
    /// Median peak error (°), if any reps matched.
    pub fn median_peak_error(&self) -> Option<f64> {
        if self.peak_errors.is_empty() {
            return None;
        }
        let mut v = self.peak_errors.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        Some(v[v.len() / 2])
    }

    fn add(&mut self, other: &Score) {
        self.sets += other.sets;
        self.exact += other.exact;
        self.within_one += other.within_one;
        self.false_sets += other.false_sets;
        self.false_sure += other.false_sure;
        for (k, c) in &other.flags {
            let e = self.flags.entry(*k).or_default();
            e.tp += c.tp;
            e.fp += c.fp;
            e.fn_ += c.fn_;
        }
        self.peak_errors.extend_from_slice(&other.peak_errors);
        self.rates.extend_from_slice(&other.rates);
        for i in 0..3 {
            self.by_confidence[i].0 += other.by_confidence[i].0;
            self.by_confidence[i].1 += other.by_confidence[i].1;
        }
    }
}

fn overlap(a0: f64, a1: f64, b0: f64, b1: f64) -> f64 {
    (a1.min(b1) - a0.max(b0)).max(0.0)
}

/// Scores detected sets against one session's truth.
pub fn score(truth: &Truth, detected: &[Set], kinds: &[FlagKind]) -> Score {
    let mut s = Score {
        sets: truth.sets.len(),
        rates: vec![truth.config.rate_hz],
        ..Score::default()
    };
    for k in kinds {
        s.flags.insert(*k, FlagCounts::default());
    }
    for d in detected {
        if !truth
            .sets
            .iter()
            .any(|t| overlap(d.start_s, d.end_s, t.start_s - 1.0, t.end_s + 1.0) > 0.0)
        {
            s.false_sets += 1;
            if d.confidence >= 0.9 {
                s.false_sure += 1;
            }
            for r in &d.reps {
                for f in &r.flags {
                    if let Some(c) = s.flags.get_mut(&f.kind) {
                        c.fp += 1;
                    }
                }
            }
        }
    }
    for t in &truth.sets {
        let ds: Vec<&Set> = detected
            .iter()
            .filter(|d| overlap(d.start_s, d.end_s, t.start_s - 1.0, t.end_s + 1.0) > 0.0)
            .collect();
        let count: usize = ds.iter().map(|d| d.rep_count()).sum();
        let err = count.abs_diff(t.rep_count);
        if err == 0 {
            s.exact += 1;
        }
        if err <= 1 {
            s.within_one += 1;
        }
        if !ds.is_empty() {
            // A set split in two is as sure as its less sure part.
            let confidence = ds.iter().map(|d| d.confidence).fold(1.0, f64::min);
            let b = if confidence >= 0.9 {
                0
            } else if confidence >= 0.6 {
                1
            } else {
                2
            };
            s.by_confidence[b].1 += 1;
            if err == 0 {
                s.by_confidence[b].0 += 1;
            }
        }
        // Match reps one to one by largest time overlap.
        let reps: Vec<&crate::motion::Rep> = ds.iter().flat_map(|d| d.reps.iter()).collect();
        let mut used = vec![false; reps.len()];
        for tr in &t.reps {
            let best = reps
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .map(|(i, r)| (i, overlap(r.start_s, r.end_s, tr.start_s, tr.end_s)))
                .filter(|(_, o)| *o > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let matched = best.map(|(i, _)| {
                used[i] = true;
                reps[i]
            });
            if let Some(r) = matched {
                if truth.config.placement == Placement::Ankle {
                    s.peak_errors.push((r.peak_deg - tr.peak_deg).abs());
                }
            }
            for k in kinds {
                let truly = tr.flags.iter().any(|f| f.kind == *k);
                let flagged = matched.is_some_and(|r| r.flags.iter().any(|f| f.kind == *k));
                let c = s.flags.get_mut(k).expect("inserted above");
                match (truly, flagged) {
                    (true, true) => c.tp += 1,
                    (true, false) => c.fn_ += 1,
                    (false, true) => c.fp += 1,
                    (false, false) => {}
                }
            }
        }
        for (i, r) in reps.iter().enumerate() {
            if !used[i] {
                for f in &r.flags {
                    if let Some(c) = s.flags.get_mut(&f.kind) {
                        c.fp += 1;
                    }
                }
            }
        }
    }
    s
}

/// Simulates, analyses and scores one session.
pub fn run_session(cfg: &SimConfig) -> Result<Score, String> {
    let (sim, truth) = crate::source::sim::open(cfg)?;
    let pipeline =
        Pipeline::builtin(cfg.exercise, cfg.placement, cfg.side).map_err(|e| e.to_string())?;
    let (sets, _) = analyze_samples(pipeline, sim);
    Ok(score(&truth, &sets, &cfg.visible_compensations()))
}

/// Runs `score` over every session on `threads` threads, in order;
/// `progress` is called after each session.
fn on_threads<T: Send>(
    configs: &[SimConfig],
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
    score: impl Fn(&SimConfig) -> Result<T, String> + Sync,
) -> Vec<Result<T, String>> {
    let threads = threads.max(1);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let score = &score;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                let done = &done;
                scope.spawn(move || {
                    configs
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % threads == w)
                        .map(|(i, c)| {
                            let r = score(c);
                            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                            progress(n, configs.len());
                            (i, r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Result<T, String>)> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("scoring thread panicked"))
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    })
}

/// The whole report: per exercise × placement and overall.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Per pair, in [`crate::motion::Profile::supported`] order.
    pub combos: Vec<(Exercise, Placement, Score)>,
    /// Everything together.
    pub total: Score,
}

/// Runs the corpus on `threads` threads; `progress` is called after each session.
pub fn evaluate(
    configs: &[SimConfig],
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Report, String> {
    let results = on_threads(configs, threads, progress, run_session);
    let mut combos: Vec<(Exercise, Placement, Score)> = Vec::new();
    let mut total = Score::default();
    for (cfg, r) in configs.iter().zip(results) {
        let s = r?;
        total.add(&s);
        match combos
            .iter_mut()
            .find(|(e, p, _)| *e == cfg.exercise && *p == cfg.placement)
        {
            Some((_, _, acc)) => acc.add(&s),
            None => combos.push((cfg.exercise, cfg.placement, s)),
        }
    }
    Ok(Report { combos, total })
}

impl Report {
    /// The table `medius accuracy` prints.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<26} {:<7} {:>5} {:>7} {:>7} {:>6} {:>9}  flags: precision/recall",
            "exercise", "sensor", "sets", "exact", "±1", "false", "peak err"
        );
        let mut row = |name: &str, place: &str, s: &Score| {
            let flags: Vec<String> = s
                .flags
                .iter()
                .filter(|(_, c)| c.tp + c.fp + c.fn_ > 0)
                .map(|(k, c)| {
                    format!(
                        "{} {:.2}/{:.2} (n={})",
                        k.id(),
                        c.precision(),
                        c.recall(),
                        c.tp + c.fn_
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "{:<26} {:<7} {:>5} {:>6.1}% {:>6.1}% {:>6} {:>9}  {}",
                name,
                place,
                s.sets,
                100.0 * s.exact_rate(),
                100.0 * s.within_one_rate(),
                s.false_sets,
                s.median_peak_error()
                    .map_or("-".into(), |e| format!("{e:.2}°")),
                flags.join(", ")
            );
        };
        for (e, p, s) in &self.combos {
            row(e.id(), p.id(), s);
        }
        row("all", "", &self.total);
        let b = &self.total.by_confidence;
        let _ = writeln!(
            out,
            "\nexact by confidence: sure (≥0.9) {}/{}, likely ±1 (0.6-0.9) {}/{}, unsure (<0.6) {}/{}; false sets marked sure {}",
            b[0].0, b[0].1, b[1].0, b[1].1, b[2].0, b[2].1, self.total.false_sure
        );
        let (n, wrong) = self.total.wrong_not_sure();
        let _ = writeln!(
            out,
            "certainty: sets marked sure exact {:.1} % (false sets count as wrong); wrong sets not marked sure {n}/{wrong}",
            100.0 * self.total.sure_exact_rate()
        );
        out
    }
}

/// One recording in a `manifest.json` of real recordings with their truth.
#[derive(Debug, serde::Deserialize)]
struct ManifestEntry {
    file: String,
    exercise: Exercise,
    placement: Placement,
    side: Side,
    #[serde(default)]
    sample_rate_hz: Option<f64>,
    sets: Vec<ManifestSet>,
}

#[derive(Debug, serde::Deserialize)]
struct ManifestSet {
    start_s: f64,
    end_s: f64,
    reps: Vec<ManifestRep>,
}

#[derive(Debug, serde::Deserialize)]
struct ManifestRep {
    start_s: f64,
    end_s: f64,
    #[serde(default)]
    flags: Vec<FlagKind>,
}

/// Scores the recordings listed in `dir/manifest.json`: a JSON array of
/// `{"file", "exercise", "placement", "side", "sets": [{"start_s", "end_s",
/// "reps": [{"start_s", "end_s", "flags": ["hip_hike", …]}]}]}` (other fields
/// are ignored). Peak errors are not scored: a recording's true peak is not
/// known well enough.
pub fn evaluate_recordings(dir: &std::path::Path) -> Result<Report, String> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let entries: Vec<ManifestEntry> = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a recordings manifest: {e}", path.display()))?;
    let mut report = Report {
        combos: Vec::new(),
        total: Score::default(),
    };
    for e in entries {
        let file = dir.join(&e.file);
        let reader = crate::source::csv::RawReader::open(&file)
            .map_err(|err| format!("{}: {err}", file.display()))?;
        let mut samples = Vec::new();
        for s in reader {
            samples.push(s.map_err(|err| format!("{}: {err}", file.display()))?);
        }
        let pipeline =
            Pipeline::builtin(e.exercise, e.placement, e.side).map_err(|err| err.to_string())?;
        let (sets, _) = analyze_samples(pipeline, samples);
        let mut config = SimConfig::new(e.exercise, e.placement, e.side);
        config.rate_hz = e.sample_rate_hz.unwrap_or(0.0);
        let truth = Truth {
            config,
            duration_s: 0.0,
            distractions: Vec::new(),
            sets: e
                .sets
                .iter()
                .map(|s| crate::source::sim::TruthSet {
                    start_s: s.start_s,
                    end_s: s.end_s,
                    rep_count: s.reps.len(),
                    reps: s
                        .reps
                        .iter()
                        .map(|r| crate::source::sim::TruthRep {
                            start_s: r.start_s,
                            end_s: r.end_s,
                            peak_deg: 0.0,
                            flags: r
                                .flags
                                .iter()
                                .map(|k| crate::source::sim::TruthFlag {
                                    kind: *k,
                                    value_deg: 0.0,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        };
        let kinds = truth.config.visible_compensations();
        let mut s = score(&truth, &sets, &kinds);
        s.peak_errors.clear();
        report.total.add(&s);
        match report
            .combos
            .iter_mut()
            .find(|(ex, p, _)| *ex == e.exercise && *p == e.placement)
        {
            Some((_, _, acc)) => acc.add(&s),
            None => report.combos.push((e.exercise, e.placement, s)),
        }
    }
    Ok(report)
}

/// The two-sensor corpus: `sessions` per exercise both sensors can follow
/// (standing and side-lying abduction), the ankle and the pelvis of one
/// simulated lifter, rates 25–400 Hz, each sensor with its own clock.
pub fn pair_corpus(sessions: usize, seed: u64) -> Vec<SimConfig> {
    let mut out = Vec::new();
    let exercises = [
        Exercise::StandingCableAbduction,
        Exercise::SideLyingAbduction,
    ];
    for (ci, exercise) in exercises.into_iter().enumerate() {
        for i in 0..sessions {
            let side = if i % 2 == 0 { Side::Right } else { Side::Left };
            let mut c = SimConfig::new(exercise, Placement::Ankle, side);
            c.sets = 3;
            c.reps_min = 8;
            c.reps_max = 15;
            c.rate_hz = RATES_HZ[(i + ci) % RATES_HZ.len()];
            c.rest_min_s = 24.0;
            c.rest_max_s = 40.0;
            c.compensation_rate = 0.2;
            c.seed = seed
                .wrapping_mul(1_000_033)
                .wrapping_add((ci * 1000 + i) as u64);
            out.push(c);
        }
    }
    out
}

/// Scores of two-sensor sessions: the fused result, the same sessions from
/// the pelvis file alone, the offset found, and how soon reps and flags came.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PairScore {
    /// The fused result (ankle counts, pelvis judges).
    pub fused: Score,
    /// The pelvis file alone (its times put on the ankle's clock by the true offset).
    pub pelvis_only: Score,
    /// |offset found − true offset| at each rep once the offset was known (ms).
    pub offset_errors_ms: Vec<f64>,
    /// Truth's return → `RepReturned`, in the ankle's sample time (s), on
    /// the sessions whose clocks' offset was known roughly from the start
    /// (as live, from arrival times).
    pub announce_s: Vec<f64>,
    /// `RepReturned` → the `Rep` with its pelvic flags, in sample time (s).
    pub flags_after_s: Vec<f64>,
    /// Reps whose pelvic flags were not judged.
    pub not_judged: u64,
}

impl PairScore {
    fn add(&mut self, o: &PairScore) {
        self.fused.add(&o.fused);
        self.pelvis_only.add(&o.pelvis_only);
        self.offset_errors_ms.extend_from_slice(&o.offset_errors_ms);
        self.announce_s.extend_from_slice(&o.announce_s);
        self.flags_after_s.extend_from_slice(&o.flags_after_s);
        self.not_judged += o.not_judged;
    }
}

/// The `q` quantile (0..1) of `v`, if any.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    Some(v[((v.len() - 1) as f64 * q).round() as usize])
}

/// Simulates one two-sensor session, runs it through the fused pipeline
/// (the samples in the order they would arrive; the clocks' offset known
/// roughly, as from arrival times, on odd seeds, not at all on even ones)
/// and the pelvis file alone, and scores both.
pub fn run_pair_session(cfg: &SimConfig) -> Result<PairScore, String> {
    use crate::motion::fuse::{merge_by_time, FusedPipeline};
    use crate::motion::Event;
    let (ankle, pelvis, pair) = crate::source::sim::open_pair(cfg)?;
    let clocks = pair.clocks;
    let true_offset = clocks.pelvis_to_ankle_s(0.0);
    let prior = if cfg.seed % 2 == 1 {
        // Arrival times put it within a few tens of ms.
        true_offset + 0.04 * (((cfg.seed / 2) % 5) as f64 / 2.0 - 1.0)
    } else {
        0.0
    };
    let mut fused = FusedPipeline::builtin(cfg.exercise, cfg.side)
        .map_err(|e| e.to_string())?
        .with_offset(prior);
    let mut alone =
        Pipeline::builtin(cfg.exercise, Placement::Pelvis, cfg.side).map_err(|e| e.to_string())?;
    let mut events = Vec::new();
    let mut alone_events = Vec::new();
    let mut sets = Vec::new();
    let mut alone_sets = Vec::new();
    let mut out = PairScore::default();
    let mut announced: Vec<(f64, f64)> = Vec::new();
    let truth_reps: Vec<&crate::source::sim::TruthRep> =
        pair.truth.sets.iter().flat_map(|s| &s.reps).collect();
    let mut used = vec![false; truth_reps.len()];
    let live = cfg.seed % 2 == 1;
    let mut note = |events: &mut Vec<Event>,
                    now: f64,
                    offset: Option<f64>,
                    sets: &mut Vec<Set>,
                    out: &mut PairScore| {
        for e in events.drain(..) {
            match e {
                Event::RepReturned { start_s, end_s, .. } => {
                    announced.push((start_s, now));
                    let best = truth_reps
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !used[*i])
                        .map(|(i, t)| (i, overlap(start_s, end_s, t.start_s, t.end_s)))
                        .filter(|(_, o)| *o > 0.0)
                        .max_by(|a, b| a.1.total_cmp(&b.1));
                    if let Some((i, _)) = best {
                        used[i] = true;
                        if live {
                            out.announce_s.push(now - truth_reps[i].end_s);
                        }
                    }
                }
                Event::Rep { rep, .. } => {
                    if let Some(&(_, at)) = announced.iter().find(|(s, _)| *s == rep.start_s) {
                        if live {
                            out.flags_after_s.push(now - at);
                        }
                    }
                    if let Some(o) = offset {
                        let truth = clocks.pelvis_to_ankle_s(rep.end_s);
                        out.offset_errors_ms.push(1000.0 * (o - truth).abs());
                    }
                }
                Event::SetEnded(set) => sets.push(set),
                Event::NotASet { .. } => {}
            }
        }
    };
    // The ankle's latest sample: the time events are measured in.
    let mut ankle_now = f64::NEG_INFINITY;
    for (role, s) in merge_by_time(ankle, pelvis, prior) {
        if role == Placement::Ankle {
            ankle_now = s.t;
        }
        if role == Placement::Pelvis {
            alone.push(&s, &mut alone_events);
            for e in alone_events.drain(..) {
                if let Event::SetEnded(set) = e {
                    alone_sets.push(set);
                }
            }
        }
        fused.push(role, &s, &mut events);
        let offset = fused.alignment().known.then(|| fused.offset_s());
        note(&mut events, ankle_now, offset, &mut sets, &mut out);
    }
    fused.finish(&mut events);
    let offset = fused.alignment().known.then(|| fused.offset_s());
    note(&mut events, ankle_now, offset, &mut sets, &mut out);
    alone.finish(&mut alone_events);
    for e in alone_events.drain(..) {
        if let Event::SetEnded(set) = e {
            alone_sets.push(set);
        }
    }
    out.not_judged = fused.stats().reps_not_judged;
    let mut both = cfg.clone();
    both.placement = Placement::Ankle;
    let mut kinds = both.visible_compensations();
    both.placement = Placement::Pelvis;
    let pelvic = both.visible_compensations();
    for k in &pelvic {
        if !kinds.contains(k) {
            kinds.push(*k);
        }
    }
    out.fused = score(&pair.truth, &sets, &kinds);
    // The pelvis file on its own clock, put on the ankle's for scoring.
    for set in &mut alone_sets {
        let d = clocks.pelvis_to_ankle_s(set.start_s);
        set.start_s += d;
        set.end_s += d;
        for r in &mut set.reps {
            r.start_s += d;
            r.end_s += d;
        }
    }
    let mut pelvis_truth = pair.truth.clone();
    pelvis_truth.config.placement = Placement::Pelvis;
    out.pelvis_only = score(&pelvis_truth, &alone_sets, &pelvic);
    Ok(out)
}

/// The two-sensor report: per exercise and overall.
#[derive(Debug, Clone, Serialize)]
pub struct PairReport {
    /// Per exercise.
    pub exercises: Vec<(Exercise, PairScore)>,
    /// Everything together.
    pub total: PairScore,
}

/// Runs the two-sensor corpus on `threads` threads.
pub fn evaluate_pairs(
    configs: &[SimConfig],
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<PairReport, String> {
    let results = on_threads(configs, threads, progress, run_pair_session);
    let mut exercises: Vec<(Exercise, PairScore)> = Vec::new();
    let mut total = PairScore::default();
    for (cfg, r) in configs.iter().zip(results) {
        let s = r?;
        total.add(&s);
        match exercises.iter_mut().find(|(e, _)| *e == cfg.exercise) {
            Some((_, acc)) => acc.add(&s),
            None => exercises.push((cfg.exercise, s)),
        }
    }
    Ok(PairReport { exercises, total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::{SimModel, TruthRep, TruthSet};

    fn rep(start_s: f64) -> crate::motion::Rep {
        crate::motion::Rep {
            number: 1,
            start_s,
            end_s: start_s + 2.0,
            peak_deg: 30.0,
            concentric_s: 1.0,
            pause_s: 0.0,
            eccentric_s: 1.0,
            flags: Vec::new(),
        }
    }

    fn set(start_s: f64, n: usize, confidence: f64) -> Set {
        Set {
            start_s,
            end_s: start_s + 3.0 * n as f64 - 1.0,
            reps: (0..n).map(|i| rep(start_s + 3.0 * i as f64)).collect(),
            confidence,
            doubts: Vec::new(),
        }
    }

    #[test]
    fn a_false_set_marked_sure_counts_against_the_certainty() {
        let config = corpus_of(SimModel::Standard, 1, 1).remove(0);
        let truth_set = |start_s: f64, n: usize| TruthSet {
            start_s,
            end_s: start_s + 3.0 * n as f64 - 1.0,
            rep_count: n,
            reps: (0..n)
                .map(|i| TruthRep {
                    start_s: start_s + 3.0 * i as f64,
                    end_s: start_s + 3.0 * i as f64 + 2.0,
                    peak_deg: 30.0,
                    flags: Vec::new(),
                })
                .collect(),
        };
        let truth = Truth {
            config,
            duration_s: 300.0,
            distractions: Vec::new(),
            sets: vec![truth_set(10.0, 8), truth_set(100.0, 8)],
        };
        // Both real sets exact and sure; squats between them, counted as a
        // set of 6 and marked sure; a second false set not marked sure.
        let detected = [
            set(10.0, 8, 1.0),
            set(50.0, 6, 0.95),
            set(100.0, 8, 1.0),
            set(200.0, 4, 0.5),
        ];
        let s = score(&truth, &detected, &[]);
        assert_eq!((s.exact, s.false_sets, s.false_sure), (2, 2, 1));
        assert_eq!(s.by_confidence[0], (2, 2));
        // Three sets marked sure, two of them right.
        assert!((s.sure_exact_rate() - 2.0 / 3.0).abs() < 1e-12);
        // Two sets wrong (both false), one of them not marked sure.
        assert_eq!(s.wrong_not_sure(), (1, 2));
    }
}
