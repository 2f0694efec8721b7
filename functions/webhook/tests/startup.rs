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
fn a_malformed_variable_stops_start_up_naming_it_without_its_value() {
    malformed_variable_is_named(BINARY, &ENGAGE_FUNCTION_ENV, "QUEUE_URL", "handover-events");
}
