//! Runs the ABI checks that build.rs generated with ctest (header vs Rust items).
#![allow(bad_style, unused_imports, clippy::all, dead_code, improper_ctypes)]

extern crate gmp;

mod abi {
    include!(concat!(env!("OUT_DIR"), "/abi.rs"));
}
use abi::*;
use std::ffi::{c_char, c_int, c_void};

include!(concat!(env!("OUT_DIR"), "/all.rs"));
