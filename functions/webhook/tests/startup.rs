//! A missing or malformed variable stops the function at start-up with one line naming it.

use handover_testkit::startup::{
    ENGAGE_FUNCTION_ENV, each_missing_variable_is_named, malformed_variable_is_named,
};

const BINARY: &str = env!("CARGO_BIN_EXE_webhook");

#[test]
fn each_missing_variable_stops_start_up_naming_it() {
    each_missing_variable_is_named(BINARY, &ENGAGE_FUNCTION_ENV);
}

#[test]
fn a_short_or_placeholder_webhook_secret_is_refused() {
    let others: Vec<_> =
        ENGAGE_FUNCTION_ENV.iter().copied().filter(|(name, _)| *name != "ENGAGE_WEBHOOK_SECRET").collect();
    malformed_variable_is_named(BINARY, &others, "ENGAGE_WEBHOOK_SECRET", "short-secret");
    malformed_variable_is_named(BINARY, &others, "ENGAGE_WEBHOOK_SECRET", "change-me-not-configured");
}

#[test]
fn a_malformed_variable_stops_start_up_naming_it_without_its_value() {
    malformed_variable_is_named(BINARY, &ENGAGE_FUNCTION_ENV, "QUEUE_URL", "handover-events");
}
