//! The `s3ec` command.
fn main() {}
