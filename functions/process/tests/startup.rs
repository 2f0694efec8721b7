//! A missing or malformed variable stops the worker at start-up with one line naming it.

use handover_testkit::startup::{
    PROCESS_FUNCTION_ENV, each_missing_variable_is_named, malformed_variable_is_named,
};

const BINARY: &str = env!("CARGO_BIN_EXE_process");

#[test]
fn each_missing_variable_stops_start_up_naming_it() {
    each_missing_variable_is_named(BINARY, &PROCESS_FUNCTION_ENV);
}

#[test]
fn a_malformed_variable_stops_start_up_naming_it_without_its_value() {
    malformed_variable_is_named(BINARY, &PROCESS_FUNCTION_ENV, "MAX_BOT_FAILURES", "several");
}

#[test]
fn a_bot_timeout_over_a_minute_is_refused() {
    let mut env = PROCESS_FUNCTION_ENV.to_vec();
    env.extend([("BOT_BACKEND", "http"), ("BOT_URL", "https://bot.example.com/answer")]);
    malformed_variable_is_named(BINARY, &env, "BOT_TIMEOUT_MS", "90000");
}
