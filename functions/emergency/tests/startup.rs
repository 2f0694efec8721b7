//! A missing or malformed variable stops the function at start-up with one line naming it.

use handover_testkit::startup::{each_missing_variable_is_named, malformed_variable_is_named};

const BINARY: &str = env!("CARGO_BIN_EXE_emergency");
const COMPLETE: [(&str, &str); 5] = [
    ("ENGAGE_API_URL", "https://acme.api.engagement.dimelo.com/1.0"),
    ("ENGAGE_ACCESS_TOKEN", "very-secret-access-token"),
    ("BOT_CATEGORY_ID", "bot"),
    ("AGENT_CATEGORY_ID", "agent"),
    ("TABLE_NAME", "handover"),
];

#[test]
fn each_missing_variable_stops_start_up_naming_it() {
    each_missing_variable_is_named(BINARY, &COMPLETE);
}

#[test]
fn a_rate_above_the_platform_limit_is_refused() {
    malformed_variable_is_named(BINARY, &COMPLETE, "EMERGENCY_REQUESTS_PER_MINUTE", "600");
}
