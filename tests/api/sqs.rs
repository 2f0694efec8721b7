//! CONTRACT C14 with a real SQS API: the dev server with `QUEUE_URL` and `SQS_ENDPOINT` queues
//! on a FIFO queue of moto's server and polls it as Lambda's event source would. Two threads
//! interleaved: each thread's messages are answered once each, in their order.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use handover::devserver;
use serde_json::json;

fn message(thread: &str, n: usize) -> serde_json::Value {
    json!({"id": format!("d-{thread}-{n}"), "domain_id": "sandbox", "events": [{
        "type": "content.imported", "id": format!("ev-{thread}-{n}"), "issued_at": "2026-11-23T10:00:00Z",
        "resource": {"type": "chat/message", "id": format!("c-{thread}-{n}"), "metadata": {
            "author_id": "customer", "body": "what are your opening hours?", "creator_id": null,
            "first_in_thread": n == 0, "category_ids": [devserver::DEFAULT_BOT_CATEGORY], "intervention_id": null,
            "language": "en", "source_id": "sandbox-source", "status": "new", "thread_id": thread}}}]})
}

#[tokio::test]
async fn two_interleaved_threads_through_sqs_are_answered_once_each_in_order() {
    let endpoint = handover_testkit::moto::endpoint();
    let queue_url = handover_testkit::moto::create_fifo_queue(2).await;
    let env = HashMap::from([
        ("QUEUE_URL".to_string(), queue_url.clone()),
        ("SQS_ENDPOINT".to_string(), endpoint.to_string()),
    ]);
    let dev = devserver::start("127.0.0.1", 0, env).await.unwrap();
    let http = reqwest::Client::new();
    let webhook = format!("http://{}/engage/webhook", dev.address);
    for n in 0..3 {
        for thread in ["ta", "tb"] {
            let response = http.post(&webhook).json(&message(thread, n)).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.json::<serde_json::Value>().await.unwrap(), json!({"queued": 1}));
        }
    }
    // A redelivery by the platform: the queue drops it.
    http.post(&webhook).json(&message("ta", 1)).send().await.unwrap();

    let replies = |calls: &[String]| -> Vec<String> {
        calls.iter().filter(|c| c.starts_with("POST /contents")).cloned().collect()
    };
    let calls_url = format!("http://{}/sandbox/calls", dev.address);
    let calls = || async { http.get(&calls_url).send().await.unwrap().json::<Vec<String>>().await.unwrap() };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && replies(&calls().await).len() < 6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate the time to show up if one were coming.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let calls = calls().await;
    let replies = replies(&calls);
    assert_eq!(replies.len(), 6, "each message answered once: {replies:#?}");
    for thread in ["ta", "tb"] {
        let order: Vec<usize> = (0..3)
            .map(|n| {
                replies.iter().position(|c| c.contains(&format!("in_reply_to_id=c-{thread}-{n} "))).unwrap()
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{thread} in order: {replies:#?}");
    }

    // Nothing is left on the queue: every message was deleted once done.
    let client = handover_core::queue::sqs_client(Some(endpoint)).await;
    let left = client
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let count = |name: QueueAttributeName| left.attributes().and_then(|a| a.get(&name)).cloned();
    assert_eq!(count(QueueAttributeName::ApproximateNumberOfMessages).as_deref(), Some("0"));
    assert_eq!(count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible).as_deref(), Some("0"));
}
