//! No secret in any log line (issue 10): every log line of a whole session, at the most
//! verbose level, is captured while every route is used, right and wrong.
//!
//! A test binary of its own: the capturing subscriber is the process's only one, so no other
//! test running beside it can change which log lines are enabled.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::helpers::*;

const WEBHOOK_SECRET: &str = "webhook-secret-3f9a";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_whole_session_logs_no_token_or_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .json()
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this process");

    let app =
        TestApp::spawn(Options::default().bot(BotKind::Builtin).env("ENGAGE_WEBHOOK_SECRET", WEBHOOK_SECRET))
            .await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    let http = &app.http;
    let base = &app.address;

    // Verification, right and wrong.
    for token in [VERIFY_TOKEN, "wrong"] {
        for secret in [WEBHOOK_SECRET, "wrong-secret"] {
            let url =
                format!("{base}/engage/webhook?hub.mode=subscribe&hub.challenge=c&hub.verify_token={token}");
            http.get(url).header("x-dimelo-secret", secret).send().await.unwrap();
        }
    }
    // A conversation: reply, handover, rebot, and a platform refusal.
    let post = |body: String| {
        http.post(format!("{base}/engage/webhook"))
            .header("x-dimelo-secret", WEBHOOK_SECRET)
            .body(body)
            .send()
    };
    post(content_body("s-1", "c-1", "hello", true)).await.unwrap();
    post(content_body("s-2", "c-2", "I want a human", false)).await.unwrap();
    let closed = json!({"events": [{"type": "intervention.closed", "id": "s-3", "issued_at": "2026-11-22T11:00:00Z",
        "resource": {"id": "agent-int", "metadata": {"thread_id": THREAD}}}]});
    http.post(format!("{base}/engage/interventions"))
        .header("x-dimelo-secret", WEBHOOK_SECRET)
        .body(closed.to_string())
        .send()
        .await
        .unwrap();
    post(content_body("s-4", "c-4", "bye", false)).await.unwrap();
    post("{broken".into()).await.unwrap();
    // The other routes, right and wrong.
    for token in [EMERGENCY_TOKEN, "wrong"] {
        http.get(format!("{base}/emergency")).bearer_auth(token).send().await.unwrap();
    }
    http.post(format!("{base}/emergency"))
        .bearer_auth(EMERGENCY_TOKEN)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    for token in [ZENVIA_WEBHOOK_TOKEN, "wrong"] {
        let body = json!({"type": "new_interaction", "interaction_hash": "h-1", "department_id": 1});
        http.post(format!("{base}/zenvia/webhook?token={token}")).json(&body).send().await.unwrap();
    }
    for token in [ANALYTICS_TOKEN, "wrong"] {
        http.get(format!("{base}/analytics/agent_intervention.json"))
            .header("Access-Token", token)
            .send()
            .await
            .unwrap();
    }

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("event processed"), "the session was logged");
    assert!(logs.contains("\"decision\":\"handed_over\""), "decisions are logged");
    for secret in [
        ACCESS_TOKEN,
        VERIFY_TOKEN,
        WEBHOOK_SECRET,
        EMERGENCY_TOKEN,
        ZENVIA_API_TOKEN,
        ZENVIA_WEBHOOK_TOKEN,
        ANALYTICS_TOKEN,
    ] {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }
}
