//! A missing or malformed variable stops the function at start-up with one line naming it.

use std::process::Command;

const COMPLETE: [(&str, &str); 3] = [
    ("ZENVIA_API_TOKEN", "very-secret-api-token"),
    ("ZENVIA_WEBHOOK_TOKEN", "very-secret-webhook-token"),
    ("TABLE_NAME", "handover"),
];

fn start_with(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_zenvia"))
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
fn a_malformed_department_is_named() {
    let mut env = COMPLETE.to_vec();
    env.push(("ZENVIA_TRANSFER_DEPARTMENT_ID", "sales"));
    let (code, stderr) = start_with(&env);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("ZENVIA_TRANSFER_DEPARTMENT_ID"), "{stderr}");
    assert!(!stderr.contains("very-secret"));
}
