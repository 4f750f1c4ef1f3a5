//! Builds the two native pieces the extension needs besides pyo3:
//!
//! 1. `csrc/pystate.c`, the PyThreadState swap, compiled against the target
//!    interpreter's headers (internal ones included, `Py_BUILD_CORE_MODULE`). Only
//!    CPython 3.11, 3.12 and 3.13 (GIL builds) are supported: another interpreter is
//!    refused here with a clear message (and by the shim's own `#error`).
//! 2. libgmp itself, as the shared library `libgmp.so.0` that the extension links
//!    dynamically (never statically: C code in the same process, loaded through
//!    `gmp.library_path()`, must drive the very same runtime). It is built from the main
//!    crate two directories up, with its own target directory, unless `GMP_LIB_DIR`
//!    names a directory that already holds `libgmp.so`. The library is copied next to
//!    the Python package (`gmp/libgmp.so.0`) and found there at run time through an
//!    `$ORIGIN` rpath, so a wheel carries its runtime with it.

use std::env;
use std::path::{Path, PathBuf};
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

/// The cargo target directory this build runs in (OUT_DIR is
/// `<target>/<profile>/build/<pkg>-<hash>/out`, or one level deeper with a triple).
fn target_dir() -> PathBuf {
    if let Ok(d) = env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let mut p = out.as_path();
    for _ in 0..4 {
        p = p.parent().unwrap();
    }
    p.to_path_buf()
}

fn build_libgmp(root: &Path) -> PathBuf {
    if let Ok(d) = env::var("GMP_LIB_DIR") {
        let d = PathBuf::from(d);
        assert!(
            d.join("libgmp.so").exists(),
            "GMP_LIB_DIR={} holds no libgmp.so",
            d.display()
        );
        return d;
    }
    let tdir = target_dir().join("libgmp-runtime");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--lib", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&tdir);
    // Build the runtime as its own workspace would, not with this crate's flags.
    for v in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "TARGET",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
    ] {
        cmd.env_remove(v);
    }
    let st = cmd.status().expect("running cargo to build libgmp");
    assert!(st.success(), "building libgmp (the main crate) failed");
    tdir.join("release")
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.join("../..").canonicalize().unwrap();

    println!("cargo:rerun-if-changed=csrc/pystate.c");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GMP_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    for d in ["src", "include"] {
        println!("cargo:rerun-if-changed={}", root.join(d).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
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

    let libdir = build_libgmp(&root);
    let lib = libdir.join("libgmp.so");
    let pkg = manifest.join("gmp");
    let dest = pkg.join("libgmp.so.0");
    // Replace, never overwrite in place: a running process may have the old one mapped.
    let tmp = pkg.join(".libgmp.so.0.tmp");
    std::fs::copy(&lib, &tmp).expect("copying libgmp.so into the package");
    std::fs::rename(&tmp, &dest).expect("installing gmp/libgmp.so.0");

    // Link by full path (GNU MP's libgmp.so may be on the system search path too); the
    // DT_NEEDED entry is the SONAME libgmp.so.0, found next to the extension at run time.
    println!("cargo:rustc-link-arg={}", dest.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN");
    println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags");
}
