//! `medius calibrate`: a still stand and three slow reps make the lifter's
//! own profile (docs/training.md: per-user baselines beat fixed thresholds).

use super::feed::{self, Fed, SourceOptions};
use super::user_error;
use crate::daemon::config;
use crate::motion::profile::RepSignal;
use crate::motion::Profile;
use crate::session::{
    Context, Feedback, Input, Output, SensorId, SensorSetup, SensorSpec, Session,
};
use crate::{Exercise, Placement, Side};
use clap::Args;
use nalgebra::Vector3;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use super::feed::user_profile_path;

/// Calibrate to you: stand still, then do three slow, clean reps.
///
/// medius measures the sensor's noise at rest, how it is mounted (pelvis:
/// its tilt from upright), your range of motion and how much your pelvis
/// moves on a clean rep, and writes your own threshold profile to
/// ~/.config/medius/profiles/EXERCISE.PLACEMENT.toml. `run` uses it from then
/// on; delete the file to go back to the defaults. What it changes is in
/// calibration/CALIBRATION.md ("Per-user calibration").
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius calibrate --placement ankle\n  medius calibrate --placement pelvis -e hip-hitch -s left --sensor C0:FF:EE:00:00:01"
)]
pub struct CalibrateArgs {
    /// Where the sensor is: ankle or pelvis.
    #[arg(short, long, value_enum)]
    pub placement: Placement,
    /// The exercise to calibrate [default: config, else standing-cable-abduction].
    #[arg(short, long, value_enum)]
    pub exercise: Option<Exercise>,
    /// Working side [default: config, else right].
    #[arg(short, long, value_enum)]
    pub side: Option<Side>,
    /// `sim`, `replay:FILE.csv` or a Bluetooth sensor [default: config, else sim].
    #[arg(long, value_parser = SensorSpec::parse)]
    pub sensor: Option<SensorSpec>,
    /// Simulated or replayed sensor: playback speed (0 = as fast as possible).
    #[arg(long, default_value_t = 4.0)]
    pub speed: f64,
    /// Give up after this many seconds without three reps.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Write the profile here instead of the profiles folder.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The config file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// What the still stand and the reps showed.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Gyro noise at rest (RMS about the mean), °/s.
    pub still_gyro_rms_dps: f64,
    /// Angle between the sensor's +Y and up, degrees (pelvis mounting).
    pub tilt_deg: f64,
    /// Peaks of the calibration reps, degrees.
    pub peaks: Vec<f64>,
    /// Seconds of stillness used.
    pub still_s: f64,
}

fn clamp(x: f64, lo: f64, hi: f64) -> f64 {
    x.max(lo).min(hi)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The lifter's profile: the built-in one moved by what was measured.
/// Returns it and the changes in words.
pub fn personalise(base: &Profile, m: &Measured) -> (Profile, Vec<String>) {
    let mut p = base.clone();
    let mut changes = Vec::new();
    let mut set = |name: &str, slot: &mut f64, v: f64| {
        let v = (v * 10.0).round() / 10.0;
        if (v - *slot).abs() >= 0.05 {
            changes.push(format!("{name} {:.1} → {v:.1}", *slot));
            *slot = v;
        }
    };
    // Rest must still be seen on a noisier sensor: at least 4 × its noise.
    let gyro = p.still.gyro_abs_dps.max(4.0 * m.still_gyro_rms_dps);
    set("still.gyro_abs_dps", &mut p.still.gyro_abs_dps, gyro);
    if p.still.gyro_settled_dps > 0.0 {
        // The tighter limit once the bias is known: at least 3 × the noise
        // (its steadiness check takes half of it), never over the first.
        let settled = p
            .still
            .gyro_settled_dps
            .max(3.0 * m.still_gyro_rms_dps)
            .min(p.still.gyro_abs_dps);
        set(
            "still.gyro_settled_dps",
            &mut p.still.gyro_settled_dps,
            settled,
        );
    }
    let range = median(&m.peaks);
    match base.reps.signal {
        RepSignal::Obliquity if base.exercise == Exercise::HipHitch => {
            // The rep is the drop: a third of the lifter's drop, 2-6°.
            let v = clamp(0.35 * range, 2.0, 6.0);
            set("reps.min_peak_deg", &mut p.reps.min_peak_deg, v);
            set("reps.down_min_peak_deg", &mut p.reps.down_min_peak_deg, v);
        }
        RepSignal::Obliquity => {
            // Abduction counted from the coupled pelvic motion: half the
            // lifter's clean excursion counts, never under 0.5°.
            let v = clamp(0.5 * range, 0.5, base.reps.min_peak_deg.max(0.5) * 2.0);
            set("reps.min_peak_deg", &mut p.reps.min_peak_deg, v);
            // Going down stays a pelvic drop's size: half of it opens a
            // movement, and a small dip must not swallow the next rep.
            let down = base.reps.down_min_peak_deg.max(v);
            set(
                "reps.down_min_peak_deg",
                &mut p.reps.down_min_peak_deg,
                down,
            );
            // A hike is 3° beyond what a clean rep does to this pelvis, 4-8°.
            let hike = clamp(range + 3.0, 4.0, 8.0);
            set(
                "flags.hip_hike.threshold_deg",
                &mut p.flags.hip_hike.threshold_deg,
                hike,
            );
        }
        _ => {
            // Ankle: a movement under a quarter of the lifter's own range is
            // not a rep (fidgets, shuffles), within 1-3 × the default.
            let lo = base.reps.min_peak_deg;
            let v = clamp(0.25 * range, lo, 3.0 * lo);
            set("reps.min_peak_deg", &mut p.reps.min_peak_deg, v);
            set("reps.down_min_peak_deg", &mut p.reps.down_min_peak_deg, v);
        }
    }
    (p, changes)
}

/// Runs the command.
pub fn run(a: CalibrateArgs) -> anyhow::Result<()> {
    feed::check_speed(a.speed)?;
    let (cfg, _) = feed::load_config(a.config.as_ref())?;
    let ctx = Context {
        exercise: a.exercise.unwrap_or(cfg.session.exercise),
        placement: a.placement,
        side: a.side.unwrap_or(cfg.session.side),
        load: None,
    };
    let base = Profile::builtin(ctx.exercise, ctx.placement)?;
    let mut session = Session::new(
        ctx.clone(),
        vec![SensorSetup::default()],
        feed::builder(None, config::Config::default()),
    )?;
    let spec = match a.sensor.clone() {
        Some(s) => s,
        None => match cfg.sensor.first() {
            Some(s) => SensorSpec::parse(&s.address).map_err(|e| user_error(e.to_string()))?,
            None => SensorSpec::SIM,
        },
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Fed>(64);
    let opened = feed::open_source(
        &spec,
        &ctx,
        &SourceOptions {
            speed: a.speed,
            sets: 1,
            reps: (3, 3),
            seed: 21,
            // The simulated lifter stands still for 5 s first, as asked.
            lead_in_s: Some(5.0),
            rate: cfg.link.rate_hz,
            find_timeout_s: cfg.link.find_timeout_s,
            give_up_s: cfg.link.give_up_s,
            allow: cfg.allowed(),
        },
        stop.clone(),
        feed::link_into(SensorId(0), tx.clone()),
    )?;
    let _feeder = feed::spawn_feed(
        SensorId(0),
        opened.samples,
        opened.speed,
        opened.batch,
        tx,
        None,
    )?;
    // The steps are said once the sensor streams: one that never answers
    // gets its error alone.
    let mut asked = false;
    let mut t0 = None;
    let mut still: Vec<(f64, Vector3<f64>, Vector3<f64>)> = Vec::new();
    let mut peaks = Vec::new();
    let mut first_rep_start = None;
    let mut out = Vec::new();
    'feed: while let Ok(fed) = rx.recv() {
        let batch = match fed {
            Fed::Samples(_, batch) => batch,
            Fed::Input(_) | Fed::BadKey(_) => continue,
            Fed::Failed(_, e) => {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
                return Err(e);
            }
            Fed::Over(_) => break,
        };
        for s in batch {
            if !std::mem::replace(&mut asked, true) {
                etell!("step 1 of 2: stand still as you would before a set …");
                etell!("step 2 of 2: then do three slow, clean reps, and stand still again.");
            }
            let first = *t0.get_or_insert(s.t);
            if s.t - first > a.timeout {
                break 'feed;
            }
            if first_rep_start.is_none() {
                still.push((s.t, s.acc, s.gyr));
            }
            session.handle(
                Input::Sample {
                    sensor: SensorId(0),
                    sample: s,
                },
                &mut out,
            )?;
            for o in out.drain(..) {
                if let Output::Feedback(Feedback::Rep { rep, .. }) = o {
                    first_rep_start.get_or_insert(rep.start_s);
                    peaks.push(rep.peak_deg);
                    esay!("  rep {}: {:.1}°", peaks.len(), rep.peak_deg);
                }
            }
            if peaks.len() >= 3 {
                break 'feed;
            }
        }
    }
    // The source sees the channel close (a Bluetooth link, the flag).
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(rx);
    if peaks.len() < 3 {
        return Err(user_error(format!(
            "saw {} in {:.0} s, need 3: is the sensor on the {} as --placement says? Try again with slow, full reps",
            crate::terminal::plural(peaks.len() as i64, "rep", "reps"),
            a.timeout,
            ctx.placement
        )));
    }
    // The still part: up to 0.3 s before the first rep began.
    let cut = first_rep_start.unwrap_or(f64::INFINITY) - 0.3;
    still.retain(|(t, _, _)| *t < cut);
    let still_s =
        still.last().map(|l| l.0).unwrap_or(0.0) - still.first().map(|f| f.0).unwrap_or(0.0);
    if still_s < 1.0 {
        return Err(user_error(format!(
            "only {still_s:.1} s of stillness before the first rep: stand still for a few seconds first, then do the reps"
        )));
    }
    let n = still.len() as f64;
    let mean_g: Vector3<f64> = still.iter().map(|x| x.2).sum::<Vector3<f64>>() / n;
    let rms = (still
        .iter()
        .map(|x| (x.2 - mean_g).norm_squared())
        .sum::<f64>()
        / n)
        .sqrt();
    let mean_a: Vector3<f64> = still.iter().map(|x| x.1).sum::<Vector3<f64>>() / n;
    let tilt = if mean_a.norm() > 0.0 {
        (mean_a.y / mean_a.norm())
            .clamp(-1.0, 1.0)
            .acos()
            .to_degrees()
    } else {
        f64::NAN
    };
    let m = Measured {
        still_gyro_rms_dps: rms,
        tilt_deg: tilt,
        peaks: peaks.clone(),
        still_s,
    };
    let (profile, changes) = personalise(&base, &m);
    profile.validate("calibrated profile")?;
    let path = match a.output.clone() {
        Some(p) => p,
        None => user_profile_path(ctx.exercise, ctx.placement)
            .ok_or_else(|| user_error("no home directory: give --output FILE"))?,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| user_error(format!("cannot create {}: {e}", dir.display())))?;
    }
    let header = format!(
        "# Your own profile, written by `medius calibrate`: {} on the {}.\n\
         # Measured: {:.1} s still, gyro noise {:.2} °/s RMS, sensor tilt from upright {:.0}°,\n\
         # reps {}.\n\
         # Changed from the built-in profile: {}.\n\
         # Delete this file to go back to the defaults.\n",
        ctx.exercise,
        ctx.placement,
        m.still_s,
        m.still_gyro_rms_dps,
        m.tilt_deg,
        peaks
            .iter()
            .map(|p| format!("{p:.1}°"))
            .collect::<Vec<_>>()
            .join(", "),
        if changes.is_empty() {
            "nothing".to_string()
        } else {
            changes.join(", ")
        }
    );
    let text = format!("{header}{}", toml::to_string_pretty(&profile)?);
    // Prove it loads before anyone relies on it.
    Profile::parse(&text, &path.display().to_string())?;
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, &text)
        .map_err(|e| user_error(format!("cannot write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, &path)?;
    say!(
        "calibrated: {:.1} s still, noise {:.2} °/s, your range {:.1}° (reps {})",
        m.still_s,
        m.still_gyro_rms_dps,
        median(&m.peaks),
        peaks
            .iter()
            .map(|p| format!("{p:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if ctx.placement == Placement::Pelvis {
        if m.tilt_deg > 15.0 {
            say!("the sensor is tilted {:.0}° from upright: clip it straighter on the sacrum (within 15°)", m.tilt_deg);
        } else {
            say!("sensor tilt {:.0}° from upright: fine", m.tilt_deg);
        }
    }
    say!(
        "changed: {}",
        if changes.is_empty() {
            "nothing (the defaults suit you)".to_string()
        } else {
            changes.join(", ")
        }
    );
    say!(
        "profile written to {}; `medius run` uses it from now on",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(peaks: &[f64], noise: f64) -> Measured {
        Measured {
            still_gyro_rms_dps: noise,
            tilt_deg: 3.0,
            peaks: peaks.to_vec(),
            still_s: 5.0,
        }
    }

    #[test]
    fn thresholds_follow_the_lifter_within_bounds() {
        let ankle = Profile::builtin(Exercise::StandingCableAbduction, Placement::Ankle).unwrap();
        let (p, ch) = personalise(&ankle, &measured(&[40.0, 42.0, 44.0], 0.5));
        assert_eq!(p.reps.min_peak_deg, 10.5);
        assert_eq!(ch.len(), 2, "{ch:?}");
        // A tiny range never lowers the default; a huge one is capped at 3×.
        let (p, _) = personalise(&ankle, &measured(&[8.0, 8.0, 8.0], 0.5));
        assert_eq!(p.reps.min_peak_deg, ankle.reps.min_peak_deg);
        let (p, _) = personalise(&ankle, &measured(&[90.0, 90.0, 90.0], 0.5));
        assert_eq!(p.reps.min_peak_deg, 3.0 * ankle.reps.min_peak_deg);
        // A noisy sensor widens what counts as rest.
        let (p, _) = personalise(&ankle, &measured(&[40.0; 3], 5.0));
        assert_eq!(p.still.gyro_abs_dps, 20.0);
        // And, where rest tightens once the bias is known, that limit too.
        let seated = Profile::builtin(Exercise::SeatedMachineAbduction, Placement::Ankle).unwrap();
        let (p, _) = personalise(&seated, &measured(&[40.0; 3], 2.0));
        assert_eq!(p.still.gyro_settled_dps, 6.0);
        let (p, _) = personalise(&seated, &measured(&[40.0; 3], 0.3));
        assert_eq!(p.still.gyro_settled_dps, seated.still.gyro_settled_dps);
        p.validate("test").unwrap();
        // Pelvis abduction: the hike threshold sits 3° over the clean excursion, 4-8°.
        let pelvis = Profile::builtin(Exercise::StandingCableAbduction, Placement::Pelvis).unwrap();
        let (p, _) = personalise(&pelvis, &measured(&[2.0, 2.5, 3.0], 0.3));
        assert_eq!(p.flags.hip_hike.threshold_deg, 5.5);
        assert_eq!(p.reps.min_peak_deg, 1.3, "half of 2.5°, to 0.1°");
        // A drop still has to be a drop's size.
        assert_eq!(p.reps.down_min_peak_deg, pelvis.reps.down_min_peak_deg);
        let (p, _) = personalise(&pelvis, &measured(&[9.0; 3], 0.3));
        assert_eq!(p.flags.hip_hike.threshold_deg, 8.0);
        p.validate("test").unwrap();
    }
}
