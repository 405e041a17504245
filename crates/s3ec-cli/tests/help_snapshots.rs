//! The help a user sees, pinned: `s3ec --help` and `s3ec COMMAND --help` at 100 columns. A change shows up as a
//! snapshot diff to review; accept it with `INSTA_UPDATE=always cargo test -p s3ec-cli --test help_snapshots`
//! (or `cargo insta review`).

use clap::CommandFactory;
use s3ec_cli::cli::Cli;

/// What `s3ec ARGS...` prints for a help request, exactly as the binary would on a 100-column terminal.
fn help(args: &[&str]) -> String {
    let cmd = Cli::command().term_width(100);
    let err = cmd
        .try_get_matches_from(std::iter::once("s3ec").chain(args.iter().copied()))
        .expect_err("a help request ends parsing");
    assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{args:?}");
    err.render().to_string()
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!("s3ec", help(&["--help"]));
}

#[test]
fn every_command_help() {
    let names: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect();
    assert!(names.len() >= 9, "{names:?}");
    for name in names {
        insta::assert_snapshot!(format!("s3ec-{name}"), help(&[&name, "--help"]));
    }
}
