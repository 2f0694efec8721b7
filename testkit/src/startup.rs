//! Start-up checks of the function binaries: a missing or malformed variable stops the
//! function with one line naming it.

use std::process::Command;

/// The queue the receiving functions put events on.
pub const QUEUE_URL: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/handover-events.fifo";

/// The webhook's secret in the receivers' configuration.
pub const WEBHOOK_SECRET: &str = "very-secret-webhook-secret-42";

/// A complete configuration of the Engage Digital receivers (`webhook`, `rebot`): they check
/// and queue, and hold no API token.
pub const ENGAGE_FUNCTION_ENV: [(&str, &str); 3] = [
    ("ENGAGE_VERIFY_TOKEN", "very-secret-verify-token"),
    ("QUEUE_URL", QUEUE_URL),
    ("ENGAGE_WEBHOOK_SECRET", WEBHOOK_SECRET),
];

/// A complete configuration of the queue's worker (`process`) for Engage Digital.
pub const PROCESS_FUNCTION_ENV: [(&str, &str); 5] = [
    ("ENGAGE_API_URL", "https://acme.api.engagement.dimelo.com/1.0"),
    ("ENGAGE_ACCESS_TOKEN", "very-secret-access-token"),
    ("BOT_CATEGORY_ID", "bot"),
    ("AGENT_CATEGORY_ID", "agent"),
    ("TABLE_NAME", "handover"),
];

/// Starts `binary` with exactly `env`, and returns its exit code and standard error (it exits
/// at once on a configuration error; a complete configuration would wait for Lambda).
pub fn start_with(binary: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output =
        Command::new(binary).env_clear().envs(env.iter().copied()).output().expect("the binary runs");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Without each variable of `complete` in turn, `binary` exits with code 2 and one line naming
/// that variable.
pub fn each_missing_variable_is_named(binary: &str, complete: &[(&str, &str)]) {
    for (missing, _) in complete {
        let env: Vec<_> = complete.iter().copied().filter(|(name, _)| name != missing).collect();
        let (code, stderr) = start_with(binary, &env);
        assert_eq!(code, Some(2), "{missing}");
        assert_eq!(stderr, format!("configuration error: {missing} is required but not set\n"));
    }
}

/// With `complete` plus `name=value`, `binary` exits with code 2 and one line naming `name`,
/// without repeating the value or any secret (values containing "secret").
pub fn malformed_variable_is_named(binary: &str, complete: &[(&str, &str)], name: &str, value: &str) {
    let mut env = complete.to_vec();
    env.push((name, value));
    let (code, stderr) = start_with(binary, &env);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(name), "{stderr}");
    assert!(!stderr.contains(value), "{stderr}");
    for (_, secret) in complete.iter().filter(|(_, v)| v.contains("secret")) {
        assert!(!stderr.contains(secret), "{stderr}");
    }
}
