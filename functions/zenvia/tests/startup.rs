//! A missing or malformed variable stops the function at start-up with one line naming it.

use handover_testkit::startup::{each_missing_variable_is_named, malformed_variable_is_named};

const BINARY: &str = env!("CARGO_BIN_EXE_zenvia");
const COMPLETE: [(&str, &str); 3] = [
    ("ZENVIA_API_TOKEN", "very-secret-api-token"),
    ("ZENVIA_WEBHOOK_TOKEN", "very-secret-webhook-token"),
    ("TABLE_NAME", "handover"),
];

#[test]
fn each_missing_variable_stops_start_up_naming_it() {
    each_missing_variable_is_named(BINARY, &COMPLETE);
}

#[test]
fn a_malformed_department_is_named() {
    malformed_variable_is_named(BINARY, &COMPLETE, "ZENVIA_TRANSFER_DEPARTMENT_ID", "sales");
}
