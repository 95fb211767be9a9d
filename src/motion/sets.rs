//! Stage 5: the set segmenter. Reps join the open set while they keep its
//! rhythm; the set closes after a gap, drops the movements at its edges that
//! are unlike its reps, and is judged ([`certainty`]) or thrown out as not a
//! set. Movements not counted are kept a while for the certainty of the set
//! they turn out to border.

use super::certainty;
use super::flags::SetReference;
use super::profile::{RepSignal, SetConfig};
use super::{Event, Rep, Set};
use std::collections::VecDeque;

/// Movements not counted are remembered this long (s) and at most this many.
const SET_ASIDE_KEEP_S: f64 = 60.0;
const SET_ASIDE_MAX: usize = 32;

/// The set reps are joining.
pub struct OpenSet {
    /// Start of its first rep (s).
    pub start_s: f64,
    /// End of its last rep (s).
    pub last_end: f64,
    /// Its reps so far.
    pub reps: Vec<Rep>,
    /// What its reps look like, for the ankle flags.
    pub reference: SetReference,
    /// Resting noise of the counted signal when it opened (° RMS).
    pub noise_rms: f64,
    /// Sizes of the set's up-going reps on the counted signal (°).
    pub sizes: Vec<f64>,
    /// Median time from one rep's start to the next (s); 0 until two reps.
    pub median_interval_s: f64,
}

impl OpenSet {
    /// A set opened by a rep from `start_s` to `end_s`.
    pub fn new(start_s: f64, end_s: f64, noise_rms: f64) -> OpenSet {
        OpenSet {
            start_s,
            last_end: end_s,
            reps: Vec::new(),
            reference: SetReference::default(),
            noise_rms,
            sizes: Vec::new(),
            median_interval_s: 0.0,
        }
    }
}

/// Groups reps into sets: see the module's documentation.
pub struct Segmenter {
    cfg: SetConfig,
    signal: RepSignal,
    min_peak_deg: f64,
    max_peak_deg: f64,
    /// The set reps are joining, if any.
    pub open: Option<OpenSet>,
    /// Sets given out so far.
    pub sets_done: usize,
    /// Median rep size of the last set (°): the lifter's scale.
    last_set_median_deg: Option<f64>,
    /// Movements lately not counted (rejected, or thrown out as not a set).
    aside: VecDeque<certainty::SetAside>,
    /// Abduction counted at the pelvis: clean reps may go unseen
    /// ([`certainty::compensated_only`]).
    pelvis_abduction: bool,
}

impl Segmenter {
    /// A segmenter for a profile's `[sets]`, counting `signal` with reps
    /// between `min_peak_deg` and `max_peak_deg`.
    pub fn new(cfg: SetConfig, signal: RepSignal, min_peak_deg: f64, max_peak_deg: f64) -> Self {
        Segmenter {
            cfg,
            signal,
            min_peak_deg,
            max_peak_deg,
            open: None,
            sets_done: 0,
            last_set_median_deg: None,
            aside: VecDeque::with_capacity(SET_ASIDE_MAX),
            pelvis_abduction: false,
        }
    }

    /// Says the reps are abduction counted at the pelvis (see
    /// [`certainty::compensated_only`]).
    pub fn pelvis_abduction(mut self, on: bool) -> Self {
        self.pelvis_abduction = on;
        self
    }

    /// Remembers a movement that was not counted, for the certainty of the
    /// set it turns out to border.
    pub fn set_aside(&mut self, start_s: f64, end_s: f64, size: f64) {
        while self
            .aside
            .front()
            .is_some_and(|m| m.end_s < end_s - SET_ASIDE_KEEP_S)
        {
            self.aside.pop_front();
        }
        if self.aside.len() == SET_ASIDE_MAX {
            self.aside.pop_front();
        }
        self.aside.push_back(certainty::SetAside {
            start_s,
            end_s,
            size_deg: size,
        });
    }

    /// Whether there is an open set and a rep starting (or the stream
    /// being) at `t` is too far from it to belong to it.
    pub fn gap_exceeded(&self, t: f64) -> bool {
        let Some(set) = self.open.as_ref() else {
            return false;
        };
        let c = &self.cfg;
        let since_end = t - set.last_end;
        if since_end > c.gap_s {
            return true;
        }
        let n = set.reps.len();
        if n < 3 {
            return c.start_gap_s > 0.0 && since_end > c.start_gap_s;
        }
        if c.cadence_factor > 0.0 {
            let since_start = t - set.reps[n - 1].start_s;
            return since_start > c.cadence_factor * set.median_interval_s && since_end > 1.0;
        }
        false
    }

    /// Closes the open set: a [`Event::SetEnded`], or [`Event::NotASet`]
    /// when what it holds is not a set. Returns how many of its movements
    /// were dropped as not reps.
    pub fn close(&mut self, out: &mut Vec<Event>) -> usize {
        let Some(mut set) = self.open.take() else {
            return 0;
        };
        // The detector keeps the set's scale: the lifter, and how much their
        // pelvis moves with each rep, is the same in the next set.
        // Judged not reps once the set is whole (a shuffle before it, a
        // swing after it). They are not "uncounted reps" at its edges
        // either: the rule that dropped them has already judged them.
        let mut dropped = Self::drop_steps(&mut set.reps, &self.cfg);
        dropped.extend(if self.signal == RepSignal::Rotation {
            let mut d = Self::drop_unlike_lead(&mut set.reps, &self.cfg);
            d.extend(Self::drop_unlike_tail(&mut set.reps, &self.cfg));
            d
        } else {
            Vec::new()
        });
        if let (Some(first), Some(last)) = (set.reps.first(), set.reps.last()) {
            set.start_s = first.start_s;
            set.last_end = last.end_s;
        }
        let end_s = set.last_end;
        if set.reps.len() < self.cfg.min_reps
            || Self::unlike_pair(&set.reps)
            || self.small_pair(&set.reps)
        {
            for r in &set.reps {
                self.set_aside(r.start_s, r.end_s, r.peak_deg);
            }
            out.push(Event::NotASet {
                start_s: set.start_s,
                end_s,
                reps: set.reps.len(),
            });
            return dropped.len();
        }
        let aside: Vec<certainty::SetAside> = self.aside.iter().copied().collect();
        let (mut confidence, mut doubts) = certainty::judge(
            &set.reps,
            &aside,
            set.noise_rms,
            self.min_peak_deg,
            self.max_peak_deg,
            self.signal,
        );
        if self.pelvis_abduction {
            if let Some((cap, doubt)) = certainty::compensated_only(&set.reps) {
                if confidence >= certainty::SURE {
                    // A set judged sure carries no doubts of its own.
                    doubts.clear();
                }
                confidence = confidence.min(cap);
                doubts.push(doubt);
            }
        }
        self.last_set_median_deg = Some(median(set.reps.iter().map(|r| r.peak_deg)));
        self.sets_done += 1;
        out.push(Event::SetEnded(Set {
            start_s: set.start_s,
            end_s,
            reps: set.reps,
            confidence,
            doubts,
        }));
        dropped.len()
    }

    /// Drops the runs of quick movements in quick succession: steps of a
    /// walk to the stack or a turn, not reps (see `SetConfig::step_run`).
    /// Renumbers the rest; returns those that went.
    fn drop_steps(reps: &mut Vec<Rep>, cfg: &SetConfig) -> Vec<Rep> {
        if cfg.step_run == 0 {
            return Vec::new();
        }
        let quick = |r: &Rep| r.end_s - r.start_s < cfg.step_max_s;
        let mut step = vec![false; reps.len()];
        let mut i = 0;
        while i < reps.len() {
            let mut j = i;
            while quick(&reps[j])
                && j + 1 < reps.len()
                && quick(&reps[j + 1])
                && reps[j + 1].start_s - reps[j].start_s < cfg.step_interval_s
            {
                j += 1;
            }
            if quick(&reps[i]) && j + 1 - i >= cfg.step_run {
                step[i..=j].iter_mut().for_each(|s| *s = true);
            }
            i = j + 1;
        }
        if !step.contains(&true) {
            return Vec::new();
        }
        let mut dropped = Vec::new();
        let mut kept = Vec::new();
        for (r, s) in reps.drain(..).zip(step) {
            if s {
                dropped.push(r);
            } else {
                kept.push(r);
            }
        }
        for (i, r) in kept.iter_mut().enumerate() {
            r.number = i + 1;
        }
        *reps = kept;
        dropped
    }

    /// Drops the movements opening a set that are far smaller than its reps
    /// (at most two), renumbering the rest; returns those that went.
    fn drop_unlike_lead(reps: &mut Vec<Rep>, cfg: &SetConfig) -> Vec<Rep> {
        let mut dropped = Vec::new();
        while dropped.len() < 2 && reps.len() >= 4 {
            let rest = median(reps[1..].iter().map(|r| r.peak_deg));
            if reps[0].peak_deg >= cfg.unlike_edge_fraction * rest {
                break;
            }
            dropped.push(reps.remove(0));
        }
        if !dropped.is_empty() {
            for (i, r) in reps.iter_mut().enumerate() {
                r.number = i + 1;
            }
        }
        dropped
    }

    /// Drops the movements ending a set that came after a break in its
    /// rhythm and are unlike its reps (far smaller or far quicker): a
    /// swing, shaking the leg out, leaning over to change the pin. At most
    /// two; returns those that went.
    fn drop_unlike_tail(reps: &mut Vec<Rep>, cfg: &SetConfig) -> Vec<Rep> {
        let mut dropped = Vec::new();
        while dropped.len() < 2 && reps.len() >= 5 {
            let n = reps.len();
            let body = &reps[..n - 1];
            let pace = median(body.windows(2).map(|w| w[1].start_s - w[0].start_s));
            let size = median(body.iter().map(|r| r.peak_deg));
            let length = median(body.iter().map(|r| r.end_s - r.start_s));
            let last = &reps[n - 1];
            let late = last.start_s - reps[n - 2].start_s > certainty::RHYTHM_GAP_FACTOR * pace;
            let unlike = last.peak_deg < cfg.unlike_tail_size * size
                || last.end_s - last.start_s < cfg.unlike_tail_length * length;
            // Far smaller than the full rep just before it: settling the
            // leg after the set, however soon it comes. (Tired reps shrink
            // rep by rep; a last partial rep after partial reps stays.)
            let tiny = last.peak_deg < cfg.unlike_edge_fraction * size
                && reps[n - 2].peak_deg >= cfg.unlike_tail_size * size;
            if !(tiny || late && unlike) {
                break;
            }
            dropped.push(reps.pop().expect("checked above"));
        }
        dropped
    }

    /// Two movements far smaller than the lifter's last set: shifting about.
    /// Ankle only: at the pelvis a set of clean reps is a tenth of a set of
    /// hikes.
    fn small_pair(&self, reps: &[Rep]) -> bool {
        if self.signal != RepSignal::Rotation {
            return false;
        }
        let (Some(scale), [a, b]) = (self.last_set_median_deg, reps) else {
            return false;
        };
        a.peak_deg.max(b.peak_deg) < self.cfg.unlike_pair_fraction * scale
    }

    /// Two movements too unlike to be two reps of one set: a swing and a
    /// re-strap, say. (Reps of a set differ by far less than 2× in size and
    /// in duration; three or more are judged by the gaps alone.)
    fn unlike_pair(reps: &[Rep]) -> bool {
        let [a, b] = reps else { return false };
        let ratio = |x: f64, y: f64| x.max(y) / x.min(y).max(1e-9);
        ratio(a.peak_deg, b.peak_deg) > 2.0 || ratio(a.end_s - a.start_s, b.end_s - b.start_s) > 2.0
    }
}

/// The median of some values (the upper one of an even count); 0 for none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Exercise, Placement};

    fn cfg() -> SetConfig {
        crate::motion::Profile::builtin(Exercise::StandingCableAbduction, Placement::Ankle)
            .unwrap()
            .sets
    }

    fn rep(start_s: f64, end_s: f64, peak_deg: f64) -> Rep {
        Rep {
            number: 1,
            start_s,
            end_s,
            peak_deg,
            concentric_s: 0.0,
            pause_s: 0.0,
            eccentric_s: 0.0,
            flags: Vec::new(),
        }
    }

    #[test]
    fn a_shuffle_before_the_first_rep_is_dropped_from_the_set() {
        // Real thigh recording (UCI subject 2, fast set): an 8° shuffle on
        // the bench, then reps of 60-75°.
        let mut reps = vec![rep(101.5, 103.0, 7.9)];
        reps.extend((0..10).map(|i| rep(103.6 + 3.0 * i as f64, 105.4 + 3.0 * i as f64, 70.0)));
        assert_eq!(Segmenter::drop_unlike_lead(&mut reps, &cfg()).len(), 1);
        assert_eq!(reps.len(), 10);
        assert_eq!((reps[0].number, reps[9].number), (1, 10));
        // A partial first rep (half the range) stays.
        let mut reps = vec![rep(0.0, 2.0, 35.0)];
        reps.extend((1..10).map(|i| rep(3.0 * i as f64, 3.0 * i as f64 + 2.0, 70.0)));
        assert!(Segmenter::drop_unlike_lead(&mut reps, &cfg()).is_empty());
        assert_eq!(reps.len(), 10);
        // The share is the profile's: at 0.6 the half-range rep goes too.
        let wide = SetConfig {
            unlike_edge_fraction: 0.6,
            ..cfg()
        };
        assert_eq!(Segmenter::drop_unlike_lead(&mut reps, &wide).len(), 1);
    }

    #[test]
    fn settling_the_leg_right_after_the_last_full_rep_is_not_a_rep() {
        // Real thigh recording (UCI subject 2, unit 3, fast set): ten reps of
        // 64-78° every 2.9 s, then a 20° readjustment 3.6 s after the last.
        let mut reps: Vec<Rep> = (0..10)
            .map(|i| rep(103.6 + 2.9 * i as f64, 105.4 + 2.9 * i as f64, 70.0))
            .collect();
        reps.push(rep(133.3, 135.0, 20.0));
        assert_eq!(Segmenter::drop_unlike_tail(&mut reps, &cfg()).len(), 1);
        assert_eq!(reps.len(), 10);
        // A tired lifter's reps shrink: a last small rep after a partial
        // one stays.
        reps.pop();
        reps.push(rep(129.7, 131.5, 30.0));
        reps.push(rep(132.8, 134.6, 18.0));
        assert!(Segmenter::drop_unlike_tail(&mut reps, &cfg()).is_empty());
    }

    #[test]
    fn a_swing_after_a_break_in_the_rhythm_is_dropped_from_the_set() {
        // Eight 40° reps every 7 s, then a quick 30° swing 14 s later.
        let mut reps: Vec<Rep> = (0..8)
            .map(|i| rep(7.0 * i as f64, 7.0 * i as f64 + 5.0, 40.0))
            .collect();
        reps.push(rep(63.0, 63.8, 30.0));
        assert_eq!(Segmenter::drop_unlike_tail(&mut reps, &cfg()).len(), 1);
        assert_eq!(reps.len(), 8);
        // A full last rep after a pause stays: the rhythm cue doubts it.
        reps.push(rep(63.0, 68.0, 39.0));
        assert!(Segmenter::drop_unlike_tail(&mut reps, &cfg()).is_empty());
        // So does a quick last rep in the set's rhythm (a momentum rep).
        reps.pop();
        reps.push(rep(56.0, 56.8, 45.0));
        assert!(Segmenter::drop_unlike_tail(&mut reps, &cfg()).is_empty());
    }

    #[test]
    fn two_small_movements_after_a_set_are_not_a_set() {
        let profile =
            super::super::Profile::builtin(Exercise::SideLyingAbduction, Placement::Ankle).unwrap();
        let mut p = Segmenter::new(
            profile.sets,
            profile.reps.signal,
            profile.reps.min_peak_deg,
            profile.reps.max_peak_deg,
        );
        let pair = [rep(141.8, 143.6, 9.2), rep(143.6, 145.2, 8.7)];
        assert!(!p.small_pair(&pair), "no scale yet: judged as any pair");
        p.last_set_median_deg = Some(69.0);
        assert!(p.small_pair(&pair));
        assert!(!p.small_pair(&[rep(0.0, 2.0, 40.0), rep(3.0, 5.0, 42.0)]));
    }

    #[test]
    fn two_unlike_movements_are_not_a_set_but_two_alike_reps_are() {
        // A 2° swing and a 9° re-strap 3 s later.
        assert!(Segmenter::unlike_pair(&[
            rep(0.0, 2.0, 2.0),
            rep(3.0, 6.0, 9.0)
        ]));
        // A 1 s fidget and a 3 s rep of the same size.
        assert!(Segmenter::unlike_pair(&[
            rep(0.0, 1.0, 2.0),
            rep(2.0, 5.0, 2.2)
        ]));
        // Two reps of a short set.
        assert!(!Segmenter::unlike_pair(&[
            rep(0.0, 2.5, 2.0),
            rep(3.0, 6.0, 2.6)
        ]));
        // Three or more are judged by their gaps, not here.
        let three = [rep(0.0, 1.0, 1.0), rep(2.0, 5.0, 9.0), rep(6.0, 8.0, 2.0)];
        assert!(!Segmenter::unlike_pair(&three));
    }
}
