//! The ABI test (ctest 0.5, the libc project's maintained successor of ctest2; ctest2's
//! parser predates edition 2024 syntax such as `#[unsafe(no_mangle)]`).
//!
//! gmp-sys (`../gmp-sys`) is the one Rust declaration of the C ABI: its types are the
//! library's own, and the Python binding calls the library through its function
//! declarations. This build script generates the checks that tie it to the header and
//! to the library's definitions (gmp-sys/src/lib.rs lists them):
//! - `abi.rs` for ctest: gmp-sys/src/types.rs verbatim, plus an `extern "C"` block
//!   with its declarations (ctest expands a file with rustc on its own, so the `libc::`
//!   socket types become opaque stand-ins, checked by name only). ctest then checks
//!   every struct's size, alignment and field offsets and every constant's value
//!   against the header;
//! - `signatures.c`: `RET (*check_NAME)(ARGS) = NAME;` for every declaration,
//!   compiled with -Werror, so a prototype that differs from its declaration is an
//!   error (ctest 0.5 itself compares only the functions' addresses);
//! - `same.rs`: `if c { gmp_sys::NAME } else { gmp::ffi::NAME }` for every function
//!   of the header, which compiles only if the declaration and the library's
//!   definition have one function-pointer type;
//! - and here: the header's functions and gmp-sys's declarations are the same set.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// The functions the header declares (prototypes; not comments, macros or typedefs).
fn header_functions(h: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in h.lines() {
        let t = line.trim_start();
        if ["*", "/*", "//", "#", "typedef"]
            .iter()
            .any(|p| t.starts_with(p))
        {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("gmp_") {
            let word: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let after = &rest[i + word.len()..];
            let starts_word = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
            if starts_word && after.starts_with('(') {
                out.push(word.clone());
            }
            rest = after;
        }
    }
    out
}

/// `pub fn NAME(PARAMS) [-> RET];` declarations: `(name, params, ret)`, whitespace
/// normalised, with balanced parentheses in the parameters.
fn declarations(src: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("pub fn ") {
        rest = &rest[i + "pub fn ".len()..];
        let open = rest.find('(').expect("(");
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
        let norm = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace("( ", "(")
                .replace(" )", ")")
                .trim_end_matches(',')
                .trim()
                .to_string()
        };
        let params = norm(&rest[open + 1..close]);
        let after = &rest[close + 1..];
        let semi = after.find(';').expect("; after a declaration");
        let ret = norm(after[..semi].trim().trim_start_matches("->"));
        out.push((name, params, ret));
        rest = &after[semi..];
    }
    out
}

/// Translates the Rust spelling of an FFI type into C (the small set the ABI uses).
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

/// Splits a parameter list at its top-level commas.
fn split_params(params: &str) -> Vec<String> {
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
    args.into_iter().filter(|a| !a.trim().is_empty()).collect()
}

/// `RET (*const check_NAME)(ARGS) = NAME;`: with -Werror=incompatible-pointer-types the
/// C compiler rejects any function whose header prototype differs from its declaration.
fn c_check(name: &str, params: &str, ret: &str) -> String {
    let args: Vec<String> = split_params(params)
        .iter()
        .map(|a| c_type(a.split_once(':').map_or(a.as_str(), |(_, t)| t)))
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
    let sys = Path::new("../gmp-sys/src");
    println!("cargo:rerun-if-changed=../gmp-sys/src");
    println!("cargo:rerun-if-changed=../src/ffi");
    println!("cargo:rerun-if-changed=../include/gmp/gmp.h");
    let header = std::fs::read_to_string("../include/gmp/gmp.h").expect("gmp.h");
    let in_header = header_functions(&header);
    let funcs = std::fs::read_to_string(sys.join("functions.rs")).expect("functions.rs");
    let block = &funcs[funcs
        .find("unsafe extern \"C\" {")
        .expect("the extern block")..];
    let decls = declarations(&block.replace("libc::", ""));

    // The same set of names on both sides (the definitions follow from same.rs).
    let h: BTreeSet<&str> = in_header.iter().map(String::as_str).collect();
    let d: BTreeSet<&str> = decls.iter().map(|x| x.0.as_str()).collect();
    let missing: Vec<_> = h.difference(&d).collect();
    let extra: Vec<_> = d.difference(&h).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && d.len() == decls.len(),
        "\ngmp-sys/src/functions.rs and include/gmp/gmp.h disagree:\n  \
         in the header, not declared in gmp-sys: {missing:?}\n  \
         declared in gmp-sys, not in the header: {extra:?}\n  \
         ({} declarations for {} names: each once)\n",
        decls.len(),
        d.len()
    );
    assert!(h.len() > 50, "found only {} functions in gmp.h", h.len());

    let mut abi = std::fs::read_to_string(sys.join("types.rs")).expect("types.rs");
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
    let mut checks = String::from(
        "/* Generated by abi-test/build.rs: every header prototype must match its gmp-sys declaration. */\n\
         #include <stdint.h>\n#include <sys/types.h>\n#include <sys/socket.h>\n#include <gmp/gmp.h>\n",
    );
    let mut same = String::from(
        "/// Generated by abi-test/build.rs: each gmp-sys declaration and the library's\n\
         /// definition coerce to one function-pointer type, or this does not compile.\n\
         pub fn definitions_match_declarations(c: bool) {\n",
    );
    for (name, params, ret) in &decls {
        let _ = write!(abi, "    pub fn {name}({params})");
        if !ret.is_empty() {
            let _ = write!(abi, " -> {ret}");
        }
        abi.push_str(";\n");
        checks.push_str(&c_check(name, params, ret));
        let _ = writeln!(
            same,
            "    let _ = if c {{ gmp_sys::{name} }} else {{ gmp::ffi::{name} }};"
        );
    }
    abi.push_str("}\n");
    same.push_str("}\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let abi_path = out.join("abi.rs");
    std::fs::write(&abi_path, abi).expect("write abi.rs");
    std::fs::write(out.join("same.rs"), same).expect("write same.rs");

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
    // A function whose header type differs from its declaration is an incompatible
    // pointer assignment in signatures.c: an error (no -w here, unlike ctest's file).
    cc::Build::new()
        .file(out.join("signatures.c"))
        .include("../include")
        .flag("-Werror")
        .compile("gmp_abi_signatures_c");
}
