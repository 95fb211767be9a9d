//! Which protocol an advertisement speaks.

use crate::{medius, thingy, witmotion};

/// The sensor protocols medius knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// medius' own firmware ([`crate::medius`]).
    Medius,
    /// WitMotion BLE 5 ([`crate::witmotion`]).
    WitMotion,
    /// Nordic Thingy:52 ([`crate::thingy`]).
    Thingy52,
    /// MbientLab MetaMotion: recognised, not decoded yet.
    MetaMotion,
}

impl Protocol {
    /// Short id used on the command line and in the config.
    pub fn id(self) -> &'static str {
        match self {
            Protocol::Medius => "medius",
            Protocol::WitMotion => "witmotion",
            Protocol::Thingy52 => "thingy52",
            Protocol::MetaMotion => "metamotion",
        }
    }

    /// Parses [`Protocol::id`].
    pub fn from_id(s: &str) -> Option<Self> {
        [
            Protocol::Medius,
            Protocol::WitMotion,
            Protocol::Thingy52,
            Protocol::MetaMotion,
        ]
        .into_iter()
        .find(|p| p.id() == s)
    }

    /// Whether medius can stream from it.
    pub fn supported(self) -> bool {
        !matches!(self, Protocol::MetaMotion)
    }
}

/// MetaMotion's service UUID.
pub const METAMOTION_SERVICE: u128 = 0x326a_9000_85cb_9195_d9dd_464c_fbba_e75a;

/// Says which protocol a device speaks from its advertised name and service
/// UUIDs. Service UUIDs decide when present; names are the fallback because
/// WitMotion and Thingy firmware often advertise no service list.
pub fn recognize(name: Option<&str>, services: &[u128]) -> Option<Protocol> {
    for &s in services {
        if s == medius::uuid::SERVICE {
            return Some(Protocol::Medius);
        }
        if s == witmotion::uuid::SERVICE {
            return Some(Protocol::WitMotion);
        }
        if s == thingy::uuids::CONFIGURATION_SERVICE || s == thingy::uuids::MOTION_SERVICE {
            return Some(Protocol::Thingy52);
        }
        if s == METAMOTION_SERVICE {
            return Some(Protocol::MetaMotion);
        }
    }
    let name = name?;
    let starts = |p: &str| {
        name.len() >= p.len() && name.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    };
    if starts("WT901") || starts("WT9011") || starts("BWT901") {
        Some(Protocol::WitMotion)
    } else if starts("Thingy") {
        Some(Protocol::Thingy52)
    } else if starts("MetaWear") || starts("MetaMotion") {
        Some(Protocol::MetaMotion)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_decide_and_names_fall_back() {
        assert_eq!(
            recognize(None, &[medius::uuid::SERVICE]),
            Some(Protocol::Medius)
        );
        assert_eq!(
            recognize(Some("Thingy"), &[witmotion::uuid::SERVICE]),
            Some(Protocol::WitMotion)
        );
        assert_eq!(
            recognize(Some("WT901BLE68"), &[]),
            Some(Protocol::WitMotion)
        );
        assert_eq!(recognize(Some("thingy"), &[]), Some(Protocol::Thingy52));
        assert_eq!(recognize(Some("MetaWear"), &[]), Some(Protocol::MetaMotion));
        assert_eq!(recognize(Some("JBL Flip"), &[0x1234]), None);
        assert_eq!(recognize(None, &[]), None);
        assert_eq!(Protocol::from_id("thingy52"), Some(Protocol::Thingy52));
    }
}
