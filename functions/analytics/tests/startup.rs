//! A missing variable stops the function at start-up with one line naming it.

use std::process::Command;

#[test]
fn each_missing_variable_stops_start_up_naming_it() {
    let complete = [("ANALYTICS_ACCESS_TOKEN", "very-secret-analytics-token"), ("TABLE_NAME", "handover")];
    for (missing, _) in complete {
        let output = Command::new(env!("CARGO_BIN_EXE_analytics"))
            .env_clear()
            .envs(complete.iter().copied().filter(|(name, _)| *name != missing))
            .output()
            .expect("the binary runs");
        assert_eq!(output.status.code(), Some(2), "{missing}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!("configuration error: {missing} is required but not set\n")
        );
    }
}
