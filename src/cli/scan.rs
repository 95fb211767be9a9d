//! `medius scan`: which sensors are around.

use crate::source::ble;
use clap::Args;

/// List nearby Bluetooth LE devices that speak a protocol medius knows
/// (medius firmware, WitMotion, Thingy:52; MetaMotion is recognised), with
/// name, address, signal strength, protocol and battery where advertised.
///
///
/// Then: medius run --sensor ADDRESS
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  medius scan\n  medius scan --seconds 10 --all --json")]
pub struct ScanArgs {
    /// How long to listen, s.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Also list devices medius cannot read.
    #[arg(long)]
    pub all: bool,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
pub fn run(a: ScanArgs) -> anyhow::Result<()> {
    if !(a.seconds.is_finite() && (0.0..=600.0).contains(&a.seconds)) {
        return Err(super::user_error(format!(
            "--seconds {} must be between 0 and 600",
            a.seconds
        )));
    }
    if !a.json {
        esay!("scanning for {:.0} s …", a.seconds);
    }
    let found = ble::scan(a.seconds, a.all)?;
    if a.json {
        say!("{}", serde_json::to_string(&found)?);
        return Ok(());
    }
    if found.is_empty() {
        say!(
            "no sensors found{}: is the sensor on and close?",
            if a.all {
                ""
            } else {
                " (--all lists every device)"
            }
        );
        return Ok(());
    }
    let mut t = crate::terminal::table(&["address", "name", "signal", "protocol", "battery"]);
    for f in &found {
        t.add_row(vec![
            f.address.clone(),
            crate::terminal::printable(f.name.as_deref().unwrap_or("–")).into_owned(),
            f.rssi
                .map(|r| format!("{r} dBm"))
                .unwrap_or_else(|| "–".into()),
            f.protocol.unwrap_or("unknown").to_string(),
            f.battery
                .map(|b| format!("{b} %"))
                .unwrap_or_else(|| "–".into()),
        ]);
    }
    crate::terminal::right(&mut t, &[2, 4]);
    show!("{}", crate::terminal::render(&t));
    Ok(())
}
