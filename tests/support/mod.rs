//! Test support shared by integration tests.
#![allow(dead_code)]

pub mod fake_bluez;
