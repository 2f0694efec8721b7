//! A missing variable stops the function at start-up with one line naming it.

use handover_testkit::startup::each_missing_variable_is_named;

#[test]
fn each_missing_variable_stops_start_up_naming_it() {
    let complete = [("ANALYTICS_ACCESS_TOKEN", "very-secret-analytics-token"), ("TABLE_NAME", "handover")];
    each_missing_variable_is_named(env!("CARGO_BIN_EXE_analytics"), &complete);
}

#[test]
fn a_short_access_token_is_refused_without_repeating_it() {
    handover_testkit::startup::malformed_variable_is_named(
        env!("CARGO_BIN_EXE_analytics"),
        &[("TABLE_NAME", "handover")],
        "ANALYTICS_ACCESS_TOKEN",
        "guessable",
    );
}
