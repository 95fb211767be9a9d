//! Where samples come from: raw CSV recordings and the simulator. (The BLE
//! transport joins here behind the same `Sample` stream.)

pub mod ble;
pub mod csv;
pub mod decode;
pub mod sim;
