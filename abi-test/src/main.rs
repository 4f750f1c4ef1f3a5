//! Runs the ABI checks that build.rs generated: ctest's (gmp-sys's types, constants and
//! functions against the header) at run time; the declaration-vs-definition check
//! (`same.rs`) and the prototype check (`signatures.c`) already passed by compiling.
#![allow(bad_style, unused_imports, clippy::all, dead_code, improper_ctypes)]

extern crate gmp;

mod abi {
    include!(concat!(env!("OUT_DIR"), "/abi.rs"));
}
use abi::*;
use std::ffi::{c_char, c_int, c_void};

include!(concat!(env!("OUT_DIR"), "/same.rs"));

include!(concat!(env!("OUT_DIR"), "/all.rs"));
