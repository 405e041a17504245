//! `s3ec-readme-check FILE:LINE` runs the README snippet whose fence opens at that line, as a user would after
//! copying it into a project of their own (its `[dependencies]` are the README's; see `tests/readme_runs.rs`).

use std::process::ExitCode;

mod snippets {
    include!(concat!(env!("OUT_DIR"), "/snippets.rs"));
}

fn main() -> ExitCode {
    let id = std::env::args().nth(1).unwrap_or_default();
    match snippets::ALL.iter().find(|(name, _)| *name == id) {
        Some((_, run)) => run(),
        None => {
            let ids: Vec<&str> = snippets::ALL.iter().map(|(name, _)| *name).collect();
            eprintln!(
                "usage: s3ec-readme-check FILE:LINE, one of: {}",
                ids.join(", ")
            );
            ExitCode::from(2)
        }
    }
}
