//! Secrets that cannot leak by accident: no `Display`, a redacted `Debug`, and a constant-time
//! comparison.

use subtle::ConstantTimeEq;

/// A token or secret from the configuration. Its value is only reachable through
/// [`Secret::expose`], so it never ends up in a log line or an error message by formatting.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the one place that must send it (an HTTP header, a request body).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares a presented value with this secret in time independent of where they differ.
    /// Only the length can be learnt from timing, never the content.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Constant-time equality of two byte strings.
pub fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    expected.len() == presented.len() && bool::from(expected.ct_eq(presented))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_value() {
        let secret = Secret::new("s3cret");
        assert!(secret.matches("s3cret"));
        assert!(!secret.matches("s3creT"));
        assert!(!secret.matches("s3cret "));
        assert!(!secret.matches(""));
    }

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("s3cret");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }
}
