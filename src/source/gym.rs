//! probe
#[cfg(test)]
mod tests {
    #[test]
    fn probe() {
        use crate::source::sim::SimConfig;
        use crate::{Exercise, Placement, Side};
        for e in [Exercise::StandingCableAbduction, Exercise::SideLyingAbduction, Exercise::SeatedMachineAbduction, Exercise::HipHitch, Exercise::LateralStepUp, Exercise::SingleLegBridge] {
            for p in [Placement::Ankle, Placement::Pelvis] {
                let c = SimConfig::new(e, p, Side::Right);
                println!("{e} {p} {:?} {:?}", c.validate(), c.visible_compensations());
            }
        }
    }
}
pub struct GymSimulator;
impl GymSimulator { pub fn new(_c: &crate::source::sim::SimConfig) -> Result<(std::iter::Empty<crate::Sample>, crate::source::sim::Truth), String> { Err("x".into()) } }
