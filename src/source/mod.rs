//! Where samples come from: raw CSV recordings and the simulator. (The BLE
//! transport joins here behind the same `Sample` stream.)

pub mod csv;
pub mod sim;
