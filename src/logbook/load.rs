//! Loads as lifters write them: 12.5kg, 25lb, pin 7, band red, ankle 2kg, bodyweight.

use super::LogbookError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a load is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadUnit {
    /// Kilograms on a stack or in the hand.
    Kg,
    /// Pounds.
    Lb,
    /// A numbered pin on a selectorized stack.
    Pin,
    /// A resistance band, by colour (value = its place in the lifter's order).
    Band,
    /// Ankle weight in kg.
    AnkleKg,
    /// No added load.
    Bodyweight,
}

impl LoadUnit {
    /// The id stored in the database.
    pub fn id(self) -> &'static str {
        match self {
            LoadUnit::Kg => "kg",
            LoadUnit::Lb => "lb",
            LoadUnit::Pin => "pin",
            LoadUnit::Band => "band",
            LoadUnit::AnkleKg => "ankle-kg",
            LoadUnit::Bodyweight => "bodyweight",
        }
    }

    /// Parses [`LoadUnit::id`].
    pub fn from_id(s: &str) -> Option<Self> {
        [
            LoadUnit::Kg,
            LoadUnit::Lb,
            LoadUnit::Pin,
            LoadUnit::Band,
            LoadUnit::AnkleKg,
            LoadUnit::Bodyweight,
        ]
        .into_iter()
        .find(|u| u.id() == s)
    }
}

/// A load: a value in a unit, and for bands a colour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// The number (kg, lb, pin number, band order; 0 for bodyweight).
    pub value: f64,
    /// Its unit.
    pub unit: LoadUnit,
    /// Band colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

fn num(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0 && *v < 10_000.0)
}

impl Load {
    /// Parses a load as a lifter types it. Refuses anything ambiguous
    /// ("12,5kgs") rather than guessing.
    pub fn parse(text: &str) -> Result<Load, LogbookError> {
        let bad = || LogbookError::BadLoad(text.to_string());
        let t = text.trim().to_ascii_lowercase();
        if t == "bodyweight" || t == "bw" {
            return Ok(Load {
                value: 0.0,
                unit: LoadUnit::Bodyweight,
                label: None,
            });
        }
        if let Some(rest) = t.strip_prefix("pin") {
            let v = num(rest)
                .filter(|v| v.fract() == 0.0 && *v >= 1.0)
                .ok_or_else(bad)?;
            return Ok(Load {
                value: v,
                unit: LoadUnit::Pin,
                label: None,
            });
        }
        if let Some(rest) = t.strip_prefix("band") {
            let colour = rest.trim();
            if colour.is_empty() || !colour.chars().all(|c| c.is_ascii_alphabetic() || c == '-') {
                return Err(bad());
            }
            return Ok(Load {
                value: band_order(colour) as f64,
                unit: LoadUnit::Band,
                label: Some(colour.to_string()),
            });
        }
        if let Some(rest) = t.strip_prefix("ankle") {
            let rest = rest.trim();
            let v = rest.strip_suffix("kg").and_then(num).ok_or_else(bad)?;
            return Ok(Load {
                value: v,
                unit: LoadUnit::AnkleKg,
                label: None,
            });
        }
        for (suffix, unit) in [
            ("kg", LoadUnit::Kg),
            ("lbs", LoadUnit::Lb),
            ("lb", LoadUnit::Lb),
        ] {
            if let Some(v) = t.strip_suffix(suffix) {
                return Ok(Load {
                    value: num(v).ok_or_else(bad)?,
                    unit,
                    label: None,
                });
            }
        }
        Err(bad())
    }

    /// Kilograms, when the unit has a mass.
    pub fn kg(&self) -> Option<f64> {
        match self.unit {
            LoadUnit::Kg | LoadUnit::AnkleKg => Some(self.value),
            LoadUnit::Lb => Some(self.value * 0.453_592_37),
            LoadUnit::Bodyweight => Some(0.0),
            LoadUnit::Pin | LoadUnit::Band => None,
        }
    }

    /// This load plus a step in the same unit, if they can be added.
    pub fn plus(&self, step: &Load) -> Option<Load> {
        let compatible = self.unit == step.unit
            || (self.unit == LoadUnit::Kg && step.unit == LoadUnit::AnkleKg)
            || (self.unit == LoadUnit::AnkleKg && step.unit == LoadUnit::Kg);
        if self.unit == LoadUnit::Pin {
            return Some(Load {
                value: self.value + 1.0,
                ..self.clone()
            });
        }
        if self.unit == LoadUnit::Band {
            return None;
        }
        if self.unit == LoadUnit::Lb && step.unit == LoadUnit::Kg {
            // 2.5 kg ≈ 5 lb: round to the plate lifters have.
            let lb = (step.value / 0.453_592_37 / 2.5).round().max(1.0) * 2.5;
            return Some(Load {
                value: self.value + lb,
                ..self.clone()
            });
        }
        compatible.then(|| Load {
            value: round2(self.value + step.value),
            ..self.clone()
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Usual band order, lightest first (most brands: yellow, red, green, blue, black).
fn band_order(colour: &str) -> u32 {
    const ORDER: [&str; 8] = [
        "yellow", "red", "green", "blue", "black", "purple", "grey", "gold",
    ];
    ORDER
        .iter()
        .position(|c| *c == colour)
        .map(|p| p as u32 + 1)
        .unwrap_or(0)
}

impl fmt::Display for Load {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.value.fract() == 0.0 {
            format!("{:.0}", self.value)
        } else {
            format!("{}", round2(self.value))
        };
        match self.unit {
            LoadUnit::Kg => write!(f, "{v}kg"),
            LoadUnit::Lb => write!(f, "{v}lb"),
            LoadUnit::Pin => write!(f, "pin {v}"),
            LoadUnit::Band => write!(f, "band {}", self.label.as_deref().unwrap_or("?")),
            LoadUnit::AnkleKg => write!(f, "ankle {v}kg"),
            LoadUnit::Bodyweight => write!(f, "bodyweight"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_lifters_type() {
        let p = |s: &str| Load::parse(s).map(|l| l.to_string());
        assert_eq!(p("12.5kg").unwrap(), "12.5kg");
        assert_eq!(p(" 15 KG ").unwrap(), "15kg");
        assert_eq!(p("25lbs").unwrap(), "25lb");
        assert_eq!(p("pin 7").unwrap(), "pin 7");
        assert_eq!(p("pin7").unwrap(), "pin 7");
        assert_eq!(p("band red").unwrap(), "band red");
        assert_eq!(p("ankle 2kg").unwrap(), "ankle 2kg");
        assert_eq!(p("bw").unwrap(), "bodyweight");
        for bad in [
            "12,5kgs", "12,5kg", "kg", "-5kg", "pin 0", "pin 2.5", "band", "12", "nan kg", "1e3kg",
        ] {
            assert!(Load::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn steps() {
        let l = Load::parse("12.5kg").unwrap();
        let step = Load::parse("2.5kg").unwrap();
        assert_eq!(l.plus(&step).unwrap().to_string(), "15kg");
        assert_eq!(
            Load::parse("pin 7")
                .unwrap()
                .plus(&step)
                .unwrap()
                .to_string(),
            "pin 8"
        );
        assert_eq!(
            Load::parse("20lb")
                .unwrap()
                .plus(&step)
                .unwrap()
                .to_string(),
            "25lb"
        );
        assert!(Load::parse("band red").unwrap().plus(&step).is_none());
    }
}
