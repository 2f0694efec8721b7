//! Logging set-up: JSON lines in Lambda (CloudWatch queries), readable lines for a person locally.

use tracing_subscriber::filter::LevelFilter;

/// Installs the global subscriber once. `RUST_LOG` is a level (`error`, `warn`, `info`,
/// `debug`, `trace`; default `info`). Inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` is set) lines
/// are JSON; elsewhere they are compact text.
pub fn init() {
    init_with(LevelFilter::INFO);
}

/// The same, with another level when `RUST_LOG` is unset (the demo keeps its transcript clean).
pub fn init_with(default_level: LevelFilter) {
    // A plain level rather than tracing's full filter syntax: its regex engine would add about
    // a megabyte to every function binary.
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(default_level);
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    if in_lambda {
        crate::metrics::install();
    }
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = if in_lambda {
        // CloudWatch adds its own timestamp.
        builder
            .json()
            .flatten_event(true)
            .without_time()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
