//! A missing or malformed variable stops the function at start-up with one line naming it.

use std::process::Command;

const COMPLETE: [(&str, &str); 6] = [
    ("ENGAGE_API_URL", "https://acme.api.engagement.dimelo.com/1.0"),
    ("ENGAGE_ACCESS_TOKEN", "very-secret-access-token"),
    ("ENGAGE_VERIFY_TOKEN", "very-secret-verify-token"),
    ("BOT_CATEGORY_ID", "bot"),
    ("AGENT_CATEGORY_ID", "agent"),
    ("TABLE_NAME", "handover"),
];

fn start_with(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rebot"))
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn each_missing_variable_stops_start_up_naming_it() {
    for missing in COMPLETE.map(|(name, _)| name) {
        let env: Vec<_> = COMPLETE.iter().copied().filter(|(name, _)| *name != missing).collect();
        let (code, stderr) = start_with(&env);
        assert_eq!(code, Some(2), "{missing}");
        assert_eq!(stderr, format!("configuration error: {missing} is required but not set\n"));
    }
}

#[test]
fn a_malformed_variable_stops_start_up_naming_it_without_its_value() {
    let mut env = COMPLETE.to_vec();
    env.push(("MAX_BOT_FAILURES", "several"));
    let (code, stderr) = start_with(&env);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("MAX_BOT_FAILURES"), "{stderr}");
    assert!(!stderr.contains("several"));
    assert!(!stderr.contains("very-secret"), "no secret in the message");
}
