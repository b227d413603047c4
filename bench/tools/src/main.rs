//! `bench-tools <command> [options]`: the Rust half of `bench/run`.
//!
//! - `hello --listen ADDR`: a minimal axum server answering `GET /` with a short
//!   text, the floor the token checks are compared with.
//! - `argon2 [--m KiB] [--t N] [--p N] [--runs N] [--parallel-seconds S]`: the time
//!   of one argon2id hash (median of `runs`), and the machine's rate with one hash
//!   per core. JSON on stdout.
//! - `load --url URL [--method M] [--body TEMPLATE] [--modulo K] [--offset O]
//!   [--concurrency C] [--seconds S] [--requests N] [--header 'k: v']...`: a
//!   closed-loop client for requests whose bodies must differ (`{n}` in the body
//!   is the request number, modulo `K`, plus `O`). JSON on stdout.
//!   `--content-type TYPE` (default application/json) for the body.
//! - `oidc --mode code|refresh --url URL --basic B64 [...]`: OpenID Connect code
//!   exchanges (authorize + token) and refresh-token rotations, whose requests
//!   carry what the previous answer gave (see `oidc.rs`). JSON on stdout.
//! - `burst --url URL --count N [--body TEMPLATE] [--modulo K] [--pid PID]`: opens
//!   N connections, then sends one request on each at once; counts the answers
//!   (503s with `Retry-After` apart) and samples the RSS of `PID`. JSON on stdout.
//! - `ready --url URL [--runs N] -- CMD ARGS...`: spawns CMD, times spawn → first
//!   200 from URL, stops it with SIGTERM; median of `runs`. JSON on stdout.
//! - `report --meta FILE --in FILE --json FILE --md FILE --png FILE [--font TTF]`:
//!   results.json, the Markdown table and the chart from the measurements.

mod argon;
mod args;
mod hello;
mod load;
mod oidc;
mod ready;
mod report;

use std::process::ExitCode;

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let Some(command) = argv.next() else {
        eprintln!("usage: bench-tools hello|argon2|load|oidc|burst|ready|report [options]");
        return ExitCode::from(2);
    };
    let args = args::Args::parse(argv);
    let result = match command.as_str() {
        "hello" => hello::main(&args),
        "argon2" => argon::main(&args),
        "load" => load::load_main(&args),
        "burst" => load::burst_main(&args),
        "oidc" => oidc::main(&args),
        "ready" => ready::main(&args),
        "report" => report::main(&args),
        other => Err(format!("unknown command {other}").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-tools {command}: {e}");
            ExitCode::FAILURE
        }
    }
}
