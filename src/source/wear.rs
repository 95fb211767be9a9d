//! stub
use crate::source::sim::{SimConfig, Truth};
use crate::Sample;

/// stub
pub struct WearSimulator;
impl WearSimulator {
    /// stub
    pub fn new(cfg: &SimConfig) -> Result<(WearSimulator, Truth), String> {
        cfg.validate()?;
        Err("todo".into())
    }
}
impl Iterator for WearSimulator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        None
    }
}
#[cfg(test)]
mod tests {
    use crate::source::sim::SimConfig;
    use crate::{Exercise, Placement, Side};
    #[test]
    fn probe() {
        for &e in Exercise::ALL {
            for &p in Placement::ALL {
                let c = SimConfig::new(e, p, Side::Right);
                println!("{e} {p} {:?} {:?}", c.validate().is_ok(), c.visible_compensations());
            }
        }
    }
}
