//! Builds the native piece the extension needs besides pyo3, and links libgmp:
//!
//! 1. `csrc/pystate.c`, the PyThreadState swap, compiled against the target
//!    interpreter's headers (internal ones included, `Py_BUILD_CORE_MODULE`). Only
//!    CPython 3.11, 3.12 and 3.13 (GIL builds) are supported: another interpreter is
//!    refused here with a clear message (and by the shim's own `#error`).
//! 2. libgmp itself is NOT built here (no nested cargo build): the extension links the
//!    shared library `gmp/libgmp.so.0` that sits in the package, staged there by
//!    `scripts/stage-python-lib.sh` (which builds the main crate with
//!    `cargo build --release`, or takes `$GMP_LIB_DIR/libgmp.so`). This script only
//!    reads it; it writes nothing outside OUT_DIR. The link is dynamic, never static
//!    (C code in the same process, loaded through `gmp.library_path()`, must drive the
//!    very same runtime), and the copy in the package is found at run time through an
//!    `$ORIGIN` rpath, so a wheel carries its runtime with it. The library's ABI comes
//!    from gmp-sys, a normal dependency (declarations only, no code).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn python() -> String {
    env::var("PYO3_PYTHON")
        .or_else(|_| env::var("PYTHON_SYS_EXECUTABLE"))
        .unwrap_or_else(|_| "python3".into())
}

/// The versions whose per-goroutine thread state csrc/pystate.c has audited.
const SUPPORTED: &[&str] = &["3.11", "3.12", "3.13"];

/// Refuses, with a clear message, an interpreter the shim was not audited for.
fn check_python_version() {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, sysconfig; print('%d.%d' % sys.version_info[:2], \
             sys.implementation.name, int(bool(sysconfig.get_config_var('Py_GIL_DISABLED'))))",
        ])
        .output()
        .expect("running the Python interpreter to find its version");
    assert!(out.status.success(), "python could not report its version");
    let text = String::from_utf8(out.stdout).unwrap();
    let f: Vec<&str> = text.split_whitespace().collect();
    let ok = f.len() == 3 && SUPPORTED.contains(&f[0]) && f[1] == "cpython" && f[2] == "0";
    if !ok {
        panic!(
            "\n\ngmp-runtime supports CPython 3.11, 3.12 and 3.13 (GIL builds) only; this is \
             {} {}{}.\nIts per-goroutine interpreter-state swap (csrc/pystate.c) must be \
             audited for each CPython version. Use a supported interpreter.\n",
            f.get(1).unwrap_or(&"?"),
            f.first().unwrap_or(&"?"),
            if f.get(2) == Some(&"1") {
                " (free-threaded)"
            } else {
                ""
            }
        );
    }
}

fn python_include() -> PathBuf {
    let out = Command::new(python())
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ])
        .output()
        .expect("running the Python interpreter to find its headers");
    assert!(
        out.status.success(),
        "python could not report its include dir"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    // The runtime, staged into the package by scripts/stage-python-lib.sh.
    let lib = manifest.join("gmp").join("libgmp.so.0");

    println!("cargo:rerun-if-changed=csrc/pystate.c");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", lib.display());
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");

    assert!(
        lib.exists(),
        "\n\n{} is missing: the extension links the runtime staged in the package.\n\
         Run `bash scripts/stage-python-lib.sh` from the repository root first (it builds \
         libgmp with `cargo build --release`, or copies $GMP_LIB_DIR/libgmp.so).\n",
        lib.display()
    );

    check_python_version();
    let inc = python_include();
    cc::Build::new()
        .file("csrc/pystate.c")
        .include(&inc)
        .include(inc.join("internal"))
        .flag("-fno-strict-aliasing")
        .flag("-funwind-tables")
        // Cleanup landing pads for the exit guard (see csrc/pystate.c).
        .flag("-fexceptions")
        .warnings(true)
        .compile("gmpy_pystate");

    // Link by full path (GNU MP's libgmp.so may be on the system search path too); the
    // DT_NEEDED entry is the SONAME libgmp.so.0, found next to the extension at run time.
    println!("cargo:rustc-link-arg={}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN");
    println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags");
}
