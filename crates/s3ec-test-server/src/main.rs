//! `s3ec-test-server [--host ADDR] [--port PORT] [--max-body BYTES]`: serves the S3EC test-server protocol.
//!
//! S3 and KMS come from the standard AWS environment (`AWS_ENDPOINT_URL`, `AWS_REGION` (default us-west-2, the
//! suite's), credentials); the first line on stdout is `listening on http://ADDR:PORT` (useful with `--port 0`).

use std::process::ExitCode;

use s3ec_test_server::{Aws, Registry, Server, DEFAULT_MAX_BODY};

const USAGE: &str =
    "usage: s3ec-test-server [--host ADDR (default 127.0.0.1)] [--port PORT (default 8088)] \
                     [--max-body BYTES]";

struct Args {
    host: String,
    port: u16,
    max_body: usize,
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 8088,
        max_body: DEFAULT_MAX_BODY,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--host" => a.host = value()?,
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--max-body" => {
                a.max_body = value()?.parse().map_err(|e| format!("--max-body: {e}"))?
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    // The suite's bucket and KMS key live in us-west-2; use it when the environment names no region.
    let region = aws_config::meta::region::RegionProviderChain::default_provider()
        .or_else(aws_config::Region::from_static("us-west-2"));
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(region)
        .load()
        .await;
    let listener = match tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}:{}: {e}", args.host, args.port);
            return ExitCode::from(1);
        }
    };
    let server = match Server::start(listener, Registry::new(Aws::from_sdk(&sdk)), args.max_body) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    println!("listening on http://{}", server.addr());
    let _ = tokio::signal::ctrl_c().await;
    server.stop().await;
    ExitCode::SUCCESS
}
