//! The ABI test (ctest 0.5, the libc project's maintained successor of ctest2; ctest2's
//! parser predates edition 2024 syntax such as `#[unsafe(no_mangle)]`).
//!
//! ctest parses a Rust file, expands it with rustc on its own, and generates C and Rust
//! code that checks against the header every function signature, every struct's size,
//! alignment and field offsets, and every constant's value. It cannot expand a module of
//! a larger crate (the `crate::` paths of src/ffi do not resolve alone), so this build
//! script assembles the Rust items it checks from the sources themselves:
//! - src/ffi/types.rs verbatim (every C type and constant lives there, self-contained);
//! - an `extern "C"` block with the signature of every `extern "C" fn` defined in
//!   src/ffi/*.rs, extracted from the source text (so a changed signature is checked).
//! The binary links the real library (the `gmp` crate), so the declared functions are
//! the defined ones.

use std::fmt::Write as _;
use std::path::Path;

/// Finds `pub [unsafe] extern "C" fn NAME(PARAMS) [-> RET] {` and returns
/// `(name, params, ret)`, with balanced parentheses in the parameters.
fn signatures(src: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("extern \"C\" fn ") {
        let line_start = rest[..i].rfind('\n').map_or(0, |n| n + 1);
        let prefix = rest[line_start..i].trim();
        rest = &rest[i + "extern \"C\" fn ".len()..];
        if !(prefix == "pub" || prefix == "pub unsafe") {
            continue;
        }
        let Some(open) = rest.find('(') else { break };
        let name = rest[..open].trim().to_string();
        let mut depth = 0;
        let mut close = open;
        for (k, ch) in rest[open..].char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let params = rest[open + 1..close].to_string();
        let after = &rest[close + 1..];
        let brace = after.find('{').unwrap_or(after.len());
        let ret = after[..brace]
            .trim()
            .trim_start_matches("->")
            .trim()
            .to_string();
        out.push((name, params, ret));
        rest = &rest[close..];
    }
    out
}

/// Translates the Rust spelling of an FFI type into C (the small set src/ffi uses).
fn c_type(t: &str) -> String {
    let t = t.trim();
    if let Some(inner) = t.strip_prefix("*mut ") {
        return format!("{}*", c_type(inner));
    }
    if let Some(inner) = t.strip_prefix("*const ") {
        return format!("const {}*", c_type(inner));
    }
    if let Some(inner) = t.strip_prefix("Option<").and_then(|x| x.strip_suffix('>')) {
        // Option<unsafe extern "C" fn(a: A, b: B) [-> R]>: a nullable function pointer.
        let f = inner
            .trim()
            .trim_start_matches("unsafe ")
            .trim_start_matches("extern \"C\" fn");
        let close = f.rfind(')').unwrap_or(f.len());
        let args: Vec<String> = f[1..close]
            .split(',')
            .filter(|a| !a.trim().is_empty())
            .map(|a| c_type(a.split_once(':').map_or(a, |(_, t)| t)))
            .collect();
        let ret = f[close + 1..].trim().trim_start_matches("->").trim();
        let ret = if ret.is_empty() {
            "void".to_string()
        } else {
            c_type(ret)
        };
        return format!(
            "{ret} (*)({})",
            if args.is_empty() {
                "void".into()
            } else {
                args.join(", ")
            }
        );
    }
    match t {
        "i32" | "c_int" => "int".into(),
        "u32" => "uint32_t".into(),
        "i64" => "int64_t".into(),
        "u64" => "uint64_t".into(),
        "usize" => "size_t".into(),
        "isize" | "ssize_t" => "ssize_t".into(),
        "c_char" => "char".into(),
        "c_void" | "()" => "void".into(),
        "msghdr" | "sockaddr" => format!("struct {t}"),
        other => other.into(),
    }
}

/// `RET (*check_NAME)(ARGS) = NAME;`: with -Werror=incompatible-pointer-types the C
/// compiler rejects any function whose header prototype differs from its Rust signature
/// (ctest 0.5 itself compares only the functions' addresses).
fn c_check(name: &str, params: &str, ret: &str) -> String {
    let mut args = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for ch in params.chars() {
        match ch {
            '(' | '<' => depth += 1,
            ')' | '>' => depth -= 1,
            ',' if depth == 0 => {
                args.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    args.push(cur);
    let args: Vec<String> = args
        .iter()
        .filter(|a| !a.trim().is_empty())
        .map(|a| {
            let ty = a.split_once(':').map_or(a.as_str(), |(_, t)| t);
            c_type(ty)
        })
        .collect();
    let ret = if ret.is_empty() {
        "void".to_string()
    } else {
        c_type(ret)
    };
    let args = if args.is_empty() {
        "void".to_string()
    } else {
        args.join(", ")
    };
    format!("{ret} (*const check_{name})({args}) = {name};\n")
}

fn main() {
    let ffi = Path::new("../src/ffi");
    println!("cargo:rerun-if-changed=../src/ffi");
    println!("cargo:rerun-if-changed=../include/gmp/gmp.h");
    let mut abi = std::fs::read_to_string(ffi.join("types.rs")).expect("types.rs");
    abi = abi
        .lines()
        .filter(|l| !l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    abi.push_str(
        "\n\n// From <sys/types.h> and <sys/socket.h>: opaque here, checked by name only.\n\
         pub type ssize_t = isize;\npub type socklen_t = u32;\n\
         #[repr(C)] pub struct msghdr { _p: [u8; 0] }\n\
         #[repr(C)] pub struct sockaddr { _p: [u8; 0] }\n\nunsafe extern \"C\" {\n",
    );
    let mut files: Vec<_> = std::fs::read_dir(ffi)
        .expect("src/ffi")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    let mut n = 0;
    let mut checks = String::from(
        "/* Generated by abi-test/build.rs: every header prototype must match its Rust signature. */\n\
         #include <stdint.h>\n#include <sys/types.h>\n#include <sys/socket.h>\n#include <gmp/gmp.h>\n",
    );
    for f in files {
        let src = std::fs::read_to_string(&f).expect("read");
        for (name, params, ret) in signatures(&src) {
            let params = params.replace("libc::", "").replace("std::ffi::", "").replace("super::", "");
            let ret = ret.replace("libc::", "").replace("std::ffi::", "").replace("super::", "");
            let _ = write!(abi, "    pub fn {name}({params})");
            if !ret.is_empty() {
                let _ = write!(abi, " -> {ret}");
            }
            abi.push_str(";\n");
            checks.push_str(&c_check(&name, &params, &ret));
            n += 1;
        }
    }
    abi.push_str("}\n");
    assert!(n > 50, "extracted only {n} functions");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let abi_path = out.join("abi.rs");
    std::fs::write(&abi_path, abi).expect("write abi.rs");

    let mut cfg = ctest::TestGenerator::new();
    cfg.edition(2021)
        .header("sys/types.h")
        .header("sys/socket.h")
        .header("gmp/gmp.h")
        .include("../include")
        // Opaque stand-ins for the system's socket types: only their names matter.
        .skip_struct(|s| matches!(s.ident(), "msghdr" | "sockaddr" | "gmp_chan" | "gmp_home"))
        .skip_alias(|a| matches!(a.ident(), "ssize_t" | "socklen_t"));
    cfg.generate_files(&abi_path, "all.rs")
        .expect("ctest generation");
    std::fs::write(out.join("signatures.c"), checks).expect("write signatures.c");
    cc::Build::new()
        .file(out.join("all.c"))
        .include("../include")
        .warnings(false)
        .compile("gmp_abi_test_c");
    // A function whose header type differs from its Rust signature is an incompatible
    // pointer assignment in signatures.c: an error (no -w here, unlike ctest's file).
    cc::Build::new()
        .file(out.join("signatures.c"))
        .include("../include")
        .flag("-Werror")
        .compile("gmp_abi_signatures_c");
}
