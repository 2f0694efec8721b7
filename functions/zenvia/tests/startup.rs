//! A missing or malformed variable stops the function at start-up with one line naming it.

use handover_testkit::startup::{QUEUE_URL, each_missing_variable_is_named, malformed_variable_is_named};

const BINARY: &str = env!("CARGO_BIN_EXE_zenvia");
/// The receiver needs only its inbound token and the queue.
const COMPLETE: [(&str, &str); 2] =
    [("ZENVIA_WEBHOOK_TOKEN", "very-secret-webhook-token"), ("QUEUE_URL", QUEUE_URL)];

#[test]
fn each_missing_variable_stops_start_up_naming_it() {
    each_missing_variable_is_named(BINARY, &COMPLETE);
}

#[test]
fn the_old_placeholder_token_is_refused() {
    let queue_only = [("QUEUE_URL", QUEUE_URL)];
    malformed_variable_is_named(BINARY, &queue_only, "ZENVIA_WEBHOOK_TOKEN", "change-me-not-configured");
}

#[test]
fn a_malformed_queue_is_named() {
    malformed_variable_is_named(BINARY, &COMPLETE, "QUEUE_URL", "sqs://handover-events");
}
