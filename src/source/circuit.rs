//! stub
use super::sim::{SimConfig, Truth};
use crate::Sample;

/// stub
pub struct CircuitSimulator;

impl CircuitSimulator {
    /// stub
    pub fn new(cfg: &SimConfig) -> Result<(CircuitSimulator, Truth), String> {
        cfg.validate()?;
        Err("stub".into())
    }
}

impl Iterator for CircuitSimulator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Exercise, Placement, Side};
    #[test]
    fn pairs() {
        for e in Exercise::ALL {
            for p in Placement::ALL {
                let c = SimConfig::new(*e, *p, Side::Right);
                if c.validate().is_ok() {
                    println!("{e} {p} {:?}", c.visible_compensations());
                }
            }
        }
    }
}
