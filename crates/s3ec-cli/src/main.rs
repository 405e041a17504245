//! The `s3ec` command; see the `s3ec_cli` library for the commands and the exit codes.

use clap::Parser;

fn main() {
    let cli = s3ec_cli::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(s3ec_cli::error::exit::FAILURE);
        }
    };
    let result = runtime.block_on(s3ec_cli::run(cli));
    // Let in-flight SDK tasks go without waiting for idle connections.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
