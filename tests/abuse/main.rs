//! Issue 15: abuse of the webhook. 10,000 POSTs with a wrong secret, malformed or oversized
//! bodies and forged event types, 32 at a time: each gets the right answer, nothing is
//! written or queued, nothing is called, and the process's memory stays flat.
//!
//! A test binary of its own: the memory it measures is the process's, which tests running
//! beside it (a 2 MiB bot answer, thousands of events) would grow.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use futures::StreamExt;
use serde_json::json;

use crate::helpers::*;

const SECRET: &str = "abuse-test-webhook-secret-0123";
const REQUESTS: usize = 10_000;

/// The process's resident memory (Linux), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The request `i` and the status it must get.
fn abusive(i: usize) -> (Option<&'static str>, Vec<u8>, u16) {
    let forged =
        json!({"events": [{"type": "content.destroyed", "id": format!("f{i}"), "resource": {"id": "x"}}]});
    match i % 4 {
        0 => (Some("not-the-secret"), content_body(&format!("e{i}"), "c", "hi", true).into_bytes(), 403),
        1 if i % 40 == 1 => (Some(SECRET), vec![b' '; 1024 * 1024 + 1], 413),
        1 => (Some(SECRET), b"{\"events\": [".to_vec(), 400),
        2 => (Some(SECRET), br#"{"id": "no events here"}"#.to_vec(), 400),
        _ => (Some(SECRET), forged.to_string().into_bytes(), 200),
    }
}

#[tokio::test]
async fn ten_thousand_abusive_posts_change_nothing_and_cost_no_memory() {
    let app = TestApp::spawn(Options::default().env("ENGAGE_WEBHOOK_SECRET", SECRET)).await;
    let url = format!("{}/engage/webhook", app.address);
    let send = |i: usize| {
        let (http, url) = (app.http.clone(), url.clone());
        async move {
            let (secret, body, expected) = abusive(i);
            let mut request = http.post(&url).header("content-type", "application/json").body(body);
            if let Some(secret) = secret {
                request = request.header("x-dimelo-secret", secret);
            }
            let status = request.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
            (i, status, expected)
        }
    };
    let mut rss = Vec::new();
    for (from, to) in [(0, 1_000), (1_000, REQUESTS)] {
        let answers: Vec<_> = futures::stream::iter(from..to).map(send).buffer_unordered(32).collect().await;
        for (i, status, expected) in answers {
            assert_eq!(status, expected, "request {i}");
        }
        rss.push(rss_kib());
    }
    app.settle().await;
    assert!(app.engage_calls().await.is_empty(), "no call to the platform");
    assert!(app.bot_requests().await.is_empty(), "no call to the bot");
    assert_eq!(app.thread().await.version, 0, "nothing written");
    let queue = app.functions.queue.as_ref().unwrap().snapshot();
    assert!(queue.pending.is_empty() && queue.dead_letters.is_empty(), "nothing queued");
    // After a first thousand (buffers and pools warmed up), 9,000 more add no memory to speak of.
    let growth_kib = rss[1].saturating_sub(rss[0]);
    assert!(growth_kib < 16 * 1024, "RSS grew by {growth_kib} KiB over 9,000 requests: {rss:?}");
}
