//! medius' sensor wire format and the frame codecs of the sensors people own.
//!
//! Built `#![no_std]` without allocation so that sensor firmware can share it
//! with the host. Only the WitMotion frame decoder exists so far; the rest of
//! the protocol is tracked in the firmware-protocol issue.
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]
