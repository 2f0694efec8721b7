//! Logging set-up: JSON lines in Lambda (CloudWatch queries), readable lines for a person locally.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once. `RUST_LOG` filters (default `info`). Inside Lambda
/// (`AWS_LAMBDA_FUNCTION_NAME` is set) lines are JSON; elsewhere they are compact text.
pub fn init() {
    init_with("info");
}

/// The same, with another filter when `RUST_LOG` is unset (the demo keeps its transcript clean).
pub fn init_with(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = if in_lambda {
        // CloudWatch adds its own timestamp.
        builder.json().flatten_event(true).without_time().with_current_span(true).try_init()
    } else {
        builder.compact().try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
