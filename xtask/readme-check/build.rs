//! Compiles the Rust snippets of the READMEs into this crate: each becomes a module whose `run` calls its `main`.

#[path = "markdown.rs"]
#[allow(dead_code)]
mod markdown;

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in markdown::READMES {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    println!("cargo:rerun-if-changed=markdown.rs");
    let snippets = markdown::all_snippets(&root).unwrap_or_else(|e| {
        eprintln!("README snippets: {e}");
        std::process::exit(1)
    });
    let mut src = String::new();
    let mut table = String::new();
    for s in &snippets {
        // `run` sits inside the module so the snippet's private `main` stays as the README has it.
        let _ = write!(
            src,
            "/// The snippet at `{id}`.\npub mod {module} {{\n{code}\n/// Runs its `main`.\npub fn run() -> \
             std::process::ExitCode {{\n    std::process::Termination::report(main())\n}}\n}}\n\n",
            id = s.id,
            module = s.module,
            code = s.code,
        );
        let _ = writeln!(table, "    (\"{}\", {}::run),", s.id, s.module);
    }
    let _ = write!(
        src,
        "/// Runs one snippet.\npub type Run = fn() -> std::process::ExitCode;\n\n/// Every snippet: its \
         `FILE:LINE` and its `run`.\npub const ALL: &[(&str, Run)] = &[\n{table}];\n"
    );
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("snippets.rs");
    std::fs::write(&out, src).unwrap_or_else(|e| {
        eprintln!("{}: {e}", out.display());
        std::process::exit(1)
    });
}
