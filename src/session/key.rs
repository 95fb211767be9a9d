//! What the lifter types between sets, parsed into a [`KeyCommand`]. The
//! session applies it after the set in progress (the context it changes
//! belongs to the next set); a line that is no command is refused when
//! typed.

use crate::logbook::Load;
use crate::{Exercise, Placement, Side};

/// One typed command.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyCommand {
    /// `e hip-hitch [pelvis]`: the next exercise, and where the sensor now is.
    Exercise {
        /// The exercise.
        exercise: Exercise,
        /// Where the sensor moved, if said.
        placement: Option<Placement>,
    },
    /// `p pelvis`: the sensor moved.
    Placement(Placement),
    /// `s` (the other side) or `s left`.
    Side(Option<Side>),
    /// `l 15kg`.
    Load(Load),
    /// `q`: end the session.
    Quit,
    /// `?`: the keys.
    Help,
}

/// The keys, as `?` shows them.
pub const HELP: &str = "keys: e EXERCISE [ankle|pelvis] (next exercise) · p ankle|pelvis (sensor moved) · s [left|right] (switch side) · l LOAD (new load) · q (end session)";

/// A load as typed; a bare number takes `unit` (the config's `load_unit`).
pub fn load_with_unit(text: &str, unit: &str) -> Result<Load, crate::logbook::LogbookError> {
    let t = text.trim();
    let bare = !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.');
    if bare {
        Load::parse(&format!("{t}{unit}"))
    } else {
        Load::parse(t)
    }
}

impl KeyCommand {
    /// Parses one line; `unit` is what a bare load number is in. The
    /// error is the line to show.
    pub fn parse(text: &str, unit: &str) -> Result<KeyCommand, String> {
        let text = text.trim();
        let (cmd, arg) = match text.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (text, ""),
        };
        match cmd {
            "e" | "exercise" => {
                let (name, place) = match arg.split_once(char::is_whitespace) {
                    Some((n, p)) => (n, Some(p.trim().parse::<Placement>()?)),
                    None => (arg, None),
                };
                Ok(KeyCommand::Exercise {
                    exercise: name.replace('_', "-").parse()?,
                    placement: place,
                })
            }
            "p" | "placement" => Ok(KeyCommand::Placement(arg.parse()?)),
            "s" | "side" => Ok(KeyCommand::Side(if arg.is_empty() {
                None
            } else {
                Some(arg.parse()?)
            })),
            "l" | "load" => Ok(KeyCommand::Load(
                load_with_unit(arg, unit).map_err(|e| e.to_string())?,
            )),
            "q" | "quit" => Ok(KeyCommand::Quit),
            "?" | "h" | "help" => Ok(KeyCommand::Help),
            other => Err(format!("'{other}': not a command (? for help)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_lines_become_commands() {
        assert_eq!(
            KeyCommand::parse("e hip_hitch pelvis", "kg"),
            Ok(KeyCommand::Exercise {
                exercise: Exercise::HipHitch,
                placement: Some(Placement::Pelvis)
            })
        );
        assert_eq!(
            KeyCommand::parse("p ankle", "kg"),
            Ok(KeyCommand::Placement(Placement::Ankle))
        );
        assert_eq!(KeyCommand::parse("s", "kg"), Ok(KeyCommand::Side(None)));
        assert_eq!(
            KeyCommand::parse("side left", "kg"),
            Ok(KeyCommand::Side(Some(Side::Left)))
        );
        assert_eq!(
            KeyCommand::parse("l 15", "lb"),
            Ok(KeyCommand::Load(Load::parse("15lb").unwrap()))
        );
        assert_eq!(KeyCommand::parse("q", "kg"), Ok(KeyCommand::Quit));
        assert_eq!(KeyCommand::parse("?", "kg"), Ok(KeyCommand::Help));
        assert_eq!(
            KeyCommand::parse("bogus", "kg"),
            Err("'bogus': not a command (? for help)".into())
        );
        assert!(KeyCommand::parse("e nope", "kg").is_err());
        assert!(KeyCommand::parse("l heavy", "kg").is_err());
    }
}
