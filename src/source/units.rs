//! stub
use super::sim::{SimConfig, Truth};
use crate::Sample;
/// stub
pub struct UnitsSimulator;
impl UnitsSimulator {
    /// stub
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        for (e, p) in super::sim::PAIRS_PUB {
            let mut c = cfg.clone();
            c.exercise = e; c.placement = p;
            eprintln!("{e} {p} {:?}", c.visible_compensations());
        }
        Err("stub".into())
    }
}
impl Iterator for UnitsSimulator { type Item = Sample; fn next(&mut self) -> Option<Sample> { None } }
