#![no_main]
//! Any verification query (and secret header): the challenge only for the right token.

use handover_core::config::WebhookAuth;
use handover_core::edge::engage::verify_subscription;
use handover_core::secret::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (query, secret) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(uri) = format!("/engage/webhook?{query}").parse::<http::Uri>() else { return };
    let mut request = http::Request::get(uri);
    if let Ok(value) = http::HeaderValue::from_str(secret) {
        request = request.header("x-dimelo-secret", value);
    }
    let Ok(request) = request.body(bytes::Bytes::new()) else { return };
    let settings = WebhookAuth {
        verify_token: Secret::new("verify-token"),
        webhook_secret: Some(Secret::new("hook-secret")),
    };
    if let Ok(challenge) = verify_subscription(&request, &settings) {
        assert_eq!(secret, "hook-secret", "verified without the secret");
        let first = |name: &str| {
            let query = request.uri().query().unwrap_or("");
            form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
        };
        assert_eq!(first("hub.verify_token").as_deref(), Some("verify-token"), "verified without the token");
        assert_eq!(first("hub.mode").as_deref(), Some("subscribe"));
        assert_eq!(first("hub.challenge"), Some(challenge));
    }
});
