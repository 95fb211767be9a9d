//! Two sensors on one timeline: the offset between their clocks, found from
//! the motion itself.
//!
//! Each link keeps its own time (a sensor's timestamps, or the arrival clock
//! of a vendor sensor), so the pelvis' samples are put on the ankle's clock
//! by an offset: `ankle time = pelvis time + offset`. A first guess (the
//! arrival times, or 0) is refined from the signals: the working leg and the
//! stance hip move together at each rep, so the ankle's angular speed and
//! the pelvis' rise and fall at the same instants. Each rep's window of the
//! two speeds (gyro bias taken out, on a common 100 Hz grid) is
//! cross-correlated over a range of lags; the best lag, refined between grid
//! points, is that rep's offset. The first reps search widely (±0.55 s
//! around the guess) until three agree; later ones only near the current
//! estimate, which follows slow clock drift.
//!
//! Streaming: windows are registered as reps come back and judged as soon
//! as both signals cover them; nothing reads a clock.

use nalgebra::Vector3;
use std::collections::VecDeque;

/// The common grid both speeds are put on (Hz).
const GRID_HZ: f64 = 100.0;
/// Time constant of the gyro bias each speed is taken from (s): a rep
/// returns, so its rates average out; the bias does not.
const BIAS_TAU_S: f64 = 8.0;
/// Speed history kept per sensor (s).
const KEEP_S: f64 = 60.0;
/// Lags searched around the guess until the offset is known (s).
pub const WIDE_S: f64 = 0.55;
/// Lags searched around the estimate once known (s).
pub const NARROW_S: f64 = 0.08;
/// A rep's window is widened by this much on each side (s).
const MARGIN_S: f64 = 0.3;
/// Step between the lags tried (s); the best is refined between them.
const LAG_STEP_S: f64 = 0.01;
/// Weakest correlation taken as a match.
const MIN_CORRELATION: f64 = 0.6;
/// Weakest correlation that moves the estimate.
const MIN_TRACKING_CORRELATION: f64 = 0.8;
/// Wide matches that must agree (within [`AGREE_S`]) before the offset counts as known.
const WIDE_NEEDED: usize = 3;
/// How close wide matches must be to agree (s).
const AGREE_S: f64 = 0.02;
/// Share of each new narrow match taken into the estimate.
const GAIN: f64 = 0.2;
/// Narrow matches at the edge of their range in a row before searching widely again.
const EDGE_LIMIT: usize = 2;

/// One sensor's angular speed on the grid.
#[derive(Debug, Clone, Default)]
struct Speed {
    bias: Option<Vector3<f64>>,
    last: Option<(f64, f64)>,
    /// Grid index of `values[0]`.
    first: i64,
    values: VecDeque<f32>,
}

impl Speed {
    fn push(&mut self, t: f64, gyr: &Vector3<f64>) {
        let bias = match (self.bias, self.last) {
            (Some(b), Some((t0, _))) => {
                let dt = (t - t0).clamp(0.0, 1.0);
                b + (gyr - b) * (dt / BIAS_TAU_S).min(1.0)
            }
            _ => *gyr,
        };
        self.bias = Some(bias);
        let v = (gyr - bias).norm();
        match self.last {
            Some((t0, v0)) if t > t0 => {
                let mut k = (t0 * GRID_HZ).floor() as i64 + 1;
                if self.values.is_empty() {
                    self.first = k;
                }
                let next = self.first + self.values.len() as i64;
                k = k.max(next);
                while (k as f64) / GRID_HZ <= t {
                    let u = ((k as f64) / GRID_HZ - t0) / (t - t0);
                    self.values.push_back((v0 + (v - v0) * u) as f32);
                    k += 1;
                }
                self.last = Some((t, v));
            }
            Some(_) => {}
            None => self.last = Some((t, v)),
        }
        let keep = (KEEP_S * GRID_HZ) as usize;
        while self.values.len() > keep {
            self.values.pop_front();
            self.first += 1;
        }
    }

    /// Time of the last grid point (s).
    fn covered(&self) -> Option<f64> {
        (!self.values.is_empty())
            .then(|| (self.first + self.values.len() as i64 - 1) as f64 / GRID_HZ)
    }

    /// The speed at `t`, linear between grid points.
    fn at(&self, t: f64) -> Option<f64> {
        let x = t * GRID_HZ - self.first as f64;
        if x < 0.0 {
            return None;
        }
        let i = x.floor() as usize;
        let f = x - i as f64;
        let a = *self.values.get(i)? as f64;
        let b = self.values.get(i + 1).map_or(a, |&b| b as f64);
        Some(a + (b - a) * f)
    }
}

/// Where the offset estimate stands, for reports.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Alignment {
    /// The guess it started from (s): `ankle time = pelvis time + offset`.
    pub prior_s: f64,
    /// The current estimate (s); the guess until reps have been matched.
    pub offset_s: f64,
    /// Whether reps have confirmed it.
    pub known: bool,
    /// Reps whose windows matched.
    pub reps_matched: usize,
    /// Root mean square of the matches about the estimate (s): how well the
    /// signals pin it down (the residual of the fit, not its error against
    /// the true offset, which nothing live can know).
    pub scatter_s: f64,
}

/// The offset between the pelvis' clock and the ankle's, refined as reps come in.
#[derive(Debug, Clone)]
pub struct Aligner {
    ankle: Speed,
    pelvis: Speed,
    prior: f64,
    estimate: Option<f64>,
    wide: Vec<f64>,
    at_edge: usize,
    /// Narrow matches since the estimate was (re)made.
    narrow: usize,
    /// Rep windows (ankle time) waiting for both signals to cover them.
    windows: VecDeque<(f64, f64)>,
    matched: usize,
    scatter_sum: f64,
    scatter_n: usize,
}

impl Aligner {
    /// An aligner starting from `prior_s` (`ankle time = pelvis time + prior_s`).
    pub fn new(prior_s: f64) -> Self {
        Aligner {
            ankle: Speed::default(),
            pelvis: Speed::default(),
            prior: prior_s,
            estimate: None,
            wide: Vec::new(),
            at_edge: 0,
            narrow: 0,
            windows: VecDeque::new(),
            matched: 0,
            scatter_sum: 0.0,
            scatter_n: 0,
        }
    }

    /// The offset to use now (s): the estimate once known, else the best
    /// wide match so far, else the guess.
    pub fn offset_s(&self) -> f64 {
        self.estimate
            .or_else(|| self.wide.last().copied())
            .unwrap_or(self.prior)
    }

    /// True once reps have confirmed the offset.
    pub fn known(&self) -> bool {
        self.estimate.is_some()
    }

    /// Where it stands.
    pub fn alignment(&self) -> Alignment {
        Alignment {
            prior_s: self.prior,
            offset_s: self.offset_s(),
            known: self.known(),
            reps_matched: self.matched,
            scatter_s: if self.scatter_n > 0 {
                (self.scatter_sum / self.scatter_n as f64).sqrt()
            } else {
                0.0
            },
        }
    }

    /// An ankle sample (its own clock).
    pub fn push_ankle(&mut self, t: f64, gyr: &Vector3<f64>) {
        self.ankle.push(t, gyr);
        self.work();
    }

    /// A pelvis sample (its own clock).
    pub fn push_pelvis(&mut self, t: f64, gyr: &Vector3<f64>) {
        self.pelvis.push(t, gyr);
        self.work();
    }

    /// A rep on the ankle from `start_s` to `end_s` (ankle time): its
    /// window is matched once both signals cover it.
    pub fn rep(&mut self, start_s: f64, end_s: f64) {
        self.windows
            .push_back((start_s - MARGIN_S, end_s + MARGIN_S));
        self.work();
    }

    /// True when no rep window ending by `t` (ankle time) still waits.
    pub fn settled_until(&self, t: f64) -> bool {
        self.windows.front().is_none_or(|w| w.1 - MARGIN_S > t)
    }

    /// Drops the windows still waiting (a sensor went away: they will
    /// never be covered).
    pub fn give_up(&mut self) {
        self.windows.clear();
    }

    fn half_range(&self) -> f64 {
        if self.estimate.is_some() {
            NARROW_S
        } else {
            WIDE_S
        }
    }

    /// Matches every waiting window both signals now cover.
    fn work(&mut self) {
        while let Some(&(w0, w1)) = self.windows.front() {
            let (Some(a), Some(p)) = (self.ankle.covered(), self.pelvis.covered()) else {
                return;
            };
            let h = self.half_range();
            let centre = self.offset_s();
            // Pelvis time up to w1 − (centre − h) is needed.
            if a < w1 || p + centre - h < w1 {
                return;
            }
            self.windows.pop_front();
            self.match_window(w0, w1, centre, h);
        }
    }

    fn match_window(&mut self, w0: f64, w1: f64, centre: f64, h: f64) {
        let Some((lag, at_edge, r)) = best_lag(&self.ankle, &self.pelvis, w0, w1, centre, h) else {
            return;
        };
        if r < MIN_TRACKING_CORRELATION {
            // A rep the pelvis does otherwise than the leg (a trunk sway
            // rocks it twice): it places the offset less well.
            return;
        }
        match self.estimate {
            None => {
                if at_edge {
                    return;
                }
                self.wide.push(lag);
                self.matched += 1;
                if self.wide.len() >= WIDE_NEEDED {
                    let mut v = self.wide[self.wide.len() - WIDE_NEEDED..].to_vec();
                    v.sort_by(f64::total_cmp);
                    if v[WIDE_NEEDED - 1] - v[0] <= AGREE_S {
                        self.estimate = Some(v[WIDE_NEEDED / 2]);
                        self.wide.clear();
                        self.narrow = 0;
                    }
                }
            }
            Some(e) => {
                if at_edge {
                    self.at_edge += 1;
                    if self.at_edge >= EDGE_LIMIT {
                        // Lost track (a jump in a clock): search widely again.
                        self.estimate = None;
                        self.at_edge = 0;
                    }
                    return;
                }
                self.at_edge = 0;
                self.matched += 1;
                let d = lag - e;
                self.scatter_sum += d * d;
                self.scatter_n += 1;
                // A running mean at first (the wide estimate counts as
                // one), then a slow follower of the clocks' drift.
                self.narrow += 1;
                let gain = GAIN.max(1.0 / (self.narrow + 1) as f64);
                self.estimate = Some(e + gain * d);
            }
        }
    }
}

/// The lag (`ankle time = pelvis time + lag`) within `centre ± h` that best
/// matches the two speeds over `[w0, w1]` (ankle time), and whether it lies
/// at the edge of that range; `None` when nothing matches well.
fn best_lag(
    ankle: &Speed,
    pelvis: &Speed,
    w0: f64,
    w1: f64,
    centre: f64,
    h: f64,
) -> Option<(f64, bool, f64)> {
    let n = ((w1 - w0) * GRID_HZ).floor() as usize;
    let k0 = (w0 * GRID_HZ).ceil();
    let a: Vec<f64> = (0..n)
        .map_while(|i| ankle.at((k0 + i as f64) / GRID_HZ))
        .collect();
    if a.len() < n || n < 20 {
        return None;
    }
    let mean_a = a.iter().sum::<f64>() / n as f64;
    let var_a: f64 = a.iter().map(|x| (x - mean_a).powi(2)).sum();
    if var_a <= 0.0 {
        return None;
    }
    let steps = (h / LAG_STEP_S).round() as i64;
    let mut scores = Vec::with_capacity(2 * steps as usize + 1);
    let mut p = vec![0.0; n];
    for j in -steps..=steps {
        let lag = centre + j as f64 * LAG_STEP_S;
        for (i, x) in p.iter_mut().enumerate() {
            *x = pelvis.at((k0 + i as f64) / GRID_HZ - lag)?;
        }
        let mean_p = p.iter().sum::<f64>() / n as f64;
        let (mut cov, mut var_p) = (0.0, 0.0);
        for (x, y) in a.iter().zip(&p) {
            cov += (x - mean_a) * (y - mean_p);
            var_p += (y - mean_p).powi(2);
        }
        scores.push(if var_p > 0.0 {
            cov / (var_a * var_p).sqrt()
        } else {
            0.0
        });
    }
    let (i, &best) = scores
        .iter()
        .enumerate()
        .max_by(|x, y| x.1.total_cmp(y.1))?;
    if best < MIN_CORRELATION {
        return None;
    }
    let at_edge = i == 0 || i == scores.len() - 1;
    // A parabola through the best and its neighbours places the peak between lags.
    let frac = if at_edge {
        0.0
    } else {
        let (l, r) = (scores[i - 1], scores[i + 1]);
        let d = l - 2.0 * best + r;
        if d < 0.0 {
            (0.5 * (l - r) / d).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    };
    Some((
        centre + (i as f64 - steps as f64 + frac) * LAG_STEP_S,
        at_edge,
        best,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leg's speed for reps of `(start, up, down)` seconds (minimum-jerk
    /// shape, 40°), plus a steady 1.5 °/s bias on every axis.
    fn speed(t: f64, reps: &[(f64, f64, f64)], scale: f64) -> Vector3<f64> {
        let mut w = 0.0;
        for &(t0, up, down) in reps {
            let u = t - t0;
            let bell = |x: f64, d: f64| {
                if (0.0..1.0).contains(&x) {
                    30.0 * x * x * (1.0 - x) * (1.0 - x) / d
                } else {
                    0.0
                }
            };
            w += bell(u / up, up) - bell((u - up) / down, down);
        }
        Vector3::new(w * 40.0 * scale, 0.0, 0.0) + Vector3::repeat(1.5)
    }

    const REPS: [(f64, f64, f64); 6] = [
        (2.0, 0.8, 1.4),
        (5.1, 1.1, 1.9),
        (8.7, 0.7, 1.2),
        (11.2, 1.0, 2.2),
        (14.9, 0.9, 1.5),
        (17.6, 1.2, 1.7),
    ];

    /// Feeds both sensors (ankle at 100 Hz, pelvis at `pelvis_hz` with its
    /// clock `offset` behind and running `ppm` fast) and the reps' windows as
    /// each comes back.
    fn run(offset: f64, ppm: f64, pelvis_hz: f64, prior: f64) -> Aligner {
        let mut al = Aligner::new(prior);
        let mut next_rep = 0;
        let mut tp = 0.0;
        for i in 0..2200 {
            let t = i as f64 / 100.0;
            al.push_ankle(t, &speed(t, &REPS, 1.0));
            // Pelvis samples up to the same body time, on the pelvis clock.
            while tp <= (t - offset) * (1.0 + ppm * 1e-6) {
                let body = tp / (1.0 + ppm * 1e-6) + offset;
                al.push_pelvis(tp, &speed(body, &REPS, 0.05));
                tp += 1.0 / pelvis_hz;
            }
            if let Some(&(t0, up, down)) = REPS.get(next_rep) {
                if t >= t0 + up + down {
                    al.rep(t0, t0 + up + down);
                    next_rep += 1;
                }
            }
        }
        al
    }

    #[test]
    fn the_offset_is_found_from_the_reps_whatever_the_guess() {
        for (offset, prior) in [(0.37, 0.0), (-0.42, 0.0), (0.123, 0.1)] {
            for hz in [25.0, 50.0, 200.0] {
                let al = run(offset, 0.0, hz, prior);
                let a = al.alignment();
                assert!(a.known, "{offset} {hz} Hz: {a:?}");
                assert!(
                    (a.offset_s - offset).abs() < 0.005,
                    "{offset} at {hz} Hz: found {a:?}"
                );
            }
        }
    }

    #[test]
    fn an_offset_beyond_the_search_is_not_made_up() {
        // 1.5 s off a guess of 0: no lag within ±0.55 s matches well; the
        // aligner must not claim to know it.
        let al = run(1.5, 0.0, 100.0, 0.0);
        let a = al.alignment();
        assert!(!a.known || (a.offset_s - 1.5).abs() < 0.01, "{a:?}");
    }

    #[test]
    fn windows_wait_until_the_pelvis_covers_them() {
        let mut al = Aligner::new(0.0);
        for i in 0..500 {
            let t = i as f64 / 100.0;
            al.push_ankle(t, &speed(t, &REPS, 1.0));
        }
        al.rep(2.0, 4.2);
        assert!(!al.settled_until(4.2));
        // Up to the window's end plus its margin and the widest lag.
        for i in 0..600 {
            let t = i as f64 / 100.0;
            al.push_pelvis(t, &speed(t, &REPS, 0.05));
        }
        assert!(al.settled_until(4.2));
    }
}
