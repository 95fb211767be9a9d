//! Exercises, placements and sides, with the ids used on the command line and
//! in the log (docs/training.md).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! id_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $id:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $id)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The id used on the command line and in files.
            pub fn id(self) -> &'static str {
                match self { $($name::$variant => $id),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.id())
            }
        }

        impl clap::ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                $name::ALL
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.id()))
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.id() == s)
                    .ok_or_else(|| {
                        let ids: Vec<&str> = $name::ALL.iter().map(|v| v.id()).collect();
                        format!("unknown {} '{}'; expected one of: {}", stringify!($name).to_lowercase(), s, ids.join(", "))
                    })
            }
        }
    };
}

id_enum!(
    /// A gluteus medius exercise medius knows.
    Exercise {
        /// Ankle strap on a low pulley, standing side-on, leg out and back.
        StandingCableAbduction => "standing-cable-abduction",
        /// Lying on the side, top leg straight, lifted in an arc.
        SideLyingAbduction => "side-lying-abduction",
        /// Seated machine: knees pushed apart against the pads.
        SeatedMachineAbduction => "seated-machine-abduction",
        /// Standing on one leg on a step; the free side of the pelvis drops and is pulled level.
        HipHitch => "hip-hitch",
        /// Lateral step-up (pelvic control; counting is a bonus).
        LateralStepUp => "lateral-step-up",
        /// Single-leg bridge (pelvic control; counting is a bonus).
        SingleLegBridge => "single-leg-bridge",
        /// Clamshell warm-up, logged by hand.
        Clamshell => "clamshell",
        /// Band walk warm-up, logged by hand.
        BandWalk => "band-walk",
    }
);

id_enum!(
    /// Where the sensor is worn.
    Placement {
        /// Around the lower shin or ankle of the working leg, any orientation.
        Ankle => "ankle",
        /// On the sacrum: +X right, +Y up, +Z backward, within ±15°.
        Pelvis => "pelvis",
    }
);

id_enum!(
    /// The working side (for a hip hitch: the stance leg).
    Side {
        /// Left.
        Left => "left",
        /// Right.
        Right => "right",
    }
);

impl Side {
    /// +1 for right, −1 for left.
    pub fn sign(self) -> f64 {
        match self {
            Side::Right => 1.0,
            Side::Left => -1.0,
        }
    }

    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Right => Side::Left,
            Side::Left => Side::Right,
        }
    }
}

impl Exercise {
    /// The side whose leg is off the ground (the "free side" of docs/training.md's
    /// obliquity sign) when `side` is the working side.
    pub fn free_side(self, side: Side) -> Side {
        match self {
            Exercise::HipHitch | Exercise::LateralStepUp | Exercise::SingleLegBridge => {
                side.other()
            }
            _ => side,
        }
    }
}
