//! Gives the shared library its SONAME, so programs link against `libgmp.so.0` and
//! a later ABI-compatible `libgmp.so.0.x` replaces it without relinking.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libgmp.so.0");
    }
}
