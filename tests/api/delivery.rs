//! Issue 24: delivery as AWS runs it, on moto's SQS with the queue settings of template.yaml
//! (its visibility timeout and redrive policy). The worker's batch handling (the code the
//! Lambda worker and the dev server's SQS mode share) sets each failure's visibility to its
//! backoff, dead-letters one message alone after its attempts, and hands a job back for time
//! visible again at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use handover_core::queue::{SqsDelivery, receive_and_process};
use handover_core::store::MemoryStore;
use handover_core::wiring;
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{ACCESS_TOKEN, AGENT_CATEGORY, BOT_CATEGORY, content_body_with};

/// The template's queue settings: visibility timeout, the redrive policy's receives.
fn template_queue_settings() -> (String, String) {
    let template = crate::template::template();
    let queue = &template["Resources"]["EventsQueue"]["Properties"];
    let visibility = queue["VisibilityTimeout"].as_u64().expect("a visibility timeout");
    let receives = queue["RedrivePolicy"]["maxReceiveCount"].as_u64().expect("a redrive policy");
    (visibility.to_string(), receives.to_string())
}

/// A FIFO queue and its dead-letter queue on moto, as the template declares them.
async fn queues(client: &aws_sdk_sqs::Client) -> (String, String) {
    let (visibility, receives) = template_queue_settings();
    let name = uuid::Uuid::new_v4().simple().to_string();
    let create = |name: String| {
        client.create_queue().queue_name(name).attributes(QueueAttributeName::FifoQueue, "true")
    };
    let dead = create(format!("dead-{name}.fifo")).send().await.unwrap().queue_url.unwrap();
    let dead_arn = client
        .get_queue_attributes()
        .queue_url(&dead)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap();
    let redrive = json!({"deadLetterTargetArn": dead_arn, "maxReceiveCount": receives}).to_string();
    let queue = create(format!("events-{name}.fifo"))
        .attributes(QueueAttributeName::VisibilityTimeout, visibility)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (queue, dead)
}

struct Worker {
    processor: handover_core::queue::Processor,
    delivery: SqsDelivery,
    engage: MockServer,
}

/// The worker's processor (DynamoDB is not what is tested here: the memory store) over a fake
/// Engage Digital, settling batches on moto's queues.
async fn worker() -> Worker {
    let engage = MockServer::start().await;
    let env: HashMap<String, String> = HashMap::from([
        ("ENGAGE_API_URL".into(), format!("{}/1.0", engage.uri())),
        ("ENGAGE_ACCESS_TOKEN".into(), ACCESS_TOKEN.into()),
        ("ENGAGE_VERIFY_TOKEN".into(), "verify-token".into()),
        ("BOT_CATEGORY_ID".into(), BOT_CATEGORY.into()),
        ("AGENT_CATEGORY_ID".into(), AGENT_CATEGORY.into()),
        ("BUSINESS_HOURS".into(), "off".into()),
        ("EMERGENCY_CACHE_SECONDS".into(), "300".into()),
    ]);
    let settings = wiring::ProcessorSettings::from_env(&env).unwrap();
    let processor =
        wiring::processor(settings, Arc::new(MemoryStore::new()), &wiring::http_client()).await.unwrap();
    let client = handover_core::queue::sqs_client(Some(handover_testkit::moto::endpoint())).await;
    let (queue_url, dead_letter_url) = queues(&client).await;
    let delivery = SqsDelivery { client, queue_url, dead_letter_url: Some(dead_letter_url) };
    Worker { processor, delivery, engage }
}

impl Worker {
    async fn send(&self, thread: &str, n: usize) {
        let body =
            content_body_with(&format!("ev-{thread}-{n}"), &format!("c-{thread}-{n}"), "hello", false, |m| {
                m["thread_id"] = json!(thread)
            });
        let event = handover_core::engage::Envelope::parse(body.as_bytes()).unwrap().events.remove(0);
        let job = handover_core::queue::Job::engage(event);
        let queue =
            handover_core::queue::SqsQueue::new(self.delivery.client.clone(), &self.delivery.queue_url);
        handover_core::queue::JobQueue::enqueue(&queue, vec![job]).await.unwrap();
    }

    /// Runs the worker as the event source would until `done` holds or `limit` passes.
    async fn run_until(&self, limit: Duration, done: impl AsyncFn() -> bool) -> Duration {
        let started = Instant::now();
        while !done().await {
            assert!(started.elapsed() < limit, "not done within {limit:?}");
            receive_and_process(&self.processor, &self.delivery, || true).await;
        }
        started.elapsed()
    }

    /// The replies Engage Digital received, as the content each answered.
    async fn replies(&self) -> Vec<String> {
        let requests = self.engage.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/1.0/contents")
            .map(|r| {
                form_urlencoded::parse(&r.body).find(|(k, _)| k == "in_reply_to_id").unwrap().1.into_owned()
            })
            .collect()
    }

    async fn messages_in(&self, url: &str) -> (u64, u64) {
        let attributes = self
            .delivery
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let count = |name| {
            attributes.attributes().and_then(|a| a.get(&name)).and_then(|n| n.parse().ok()).unwrap_or(0)
        };
        (
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }
}

/// The platform's answers: replies accepted except where `refused` says; no reply read back.
async fn platform(engage: &MockServer, refused: Option<(&str, ResponseTemplate, u64)>) {
    if let Some((content, answer, times)) = refused {
        Mock::given(method("POST"))
            .and(path("/1.0/contents"))
            .and(body_string_contains(format!("in_reply_to_id={content}")))
            .respond_with(answer)
            .up_to_n_times(times)
            .with_priority(1)
            .mount(engage)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/1.0/contents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "r"})))
        .mount(engage)
        .await;
    Mock::given(method("GET"))
        .and(path("/1.0/contents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"records": []})))
        .mount(engage)
        .await;
}

fn unavailable() -> ResponseTemplate {
    ResponseTemplate::new(503)
        .set_body_json(json!({"error": "unavailable", "message": "down", "status": 503}))
}

#[tokio::test]
async fn a_transient_failure_is_retried_within_seconds_not_after_the_visibility_timeout() {
    let worker = worker().await;
    platform(&worker.engage, Some(("c-t-0", unavailable(), 1))).await;
    worker.send("t", 0).await;
    let took = worker.run_until(Duration::from_secs(10), async || worker.replies().await.len() == 2).await;
    assert_eq!(worker.replies().await, ["c-t-0", "c-t-0"], "the failed try, then the answer");
    assert!(took < Duration::from_secs(10), "answered after {took:?}, not after 720 s");
    assert_eq!(worker.messages_in(&worker.delivery.queue_url).await, (0, 0), "deleted once done");
}

#[tokio::test]
async fn a_message_failing_for_good_is_dead_lettered_alone_and_its_group_goes_on_in_order() {
    let worker = worker().await;
    platform(&worker.engage, Some(("c-g-0", unavailable(), u64::MAX))).await;
    for n in 0..6 {
        worker.send("g", n).await;
    }
    worker
        .run_until(Duration::from_secs(90), async || {
            worker.replies().await.iter().filter(|c| *c != "c-g-0").count() == 5
        })
        .await;
    let replies = worker.replies().await;
    let tries = replies.iter().filter(|c| *c == "c-g-0").count();
    assert_eq!(tries, 5, "MAX_ATTEMPTS tries: {replies:?}");
    let behind: Vec<&String> = replies.iter().filter(|c| *c != "c-g-0").collect();
    assert_eq!(behind, ["c-g-1", "c-g-2", "c-g-3", "c-g-4", "c-g-5"], "each once, in order");

    let dead_letter_url = worker.delivery.dead_letter_url.clone().unwrap();
    let dead = worker
        .delivery
        .client
        .receive_message()
        .queue_url(&dead_letter_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 1, "only the failing message");
    assert!(dead[0].body().unwrap().contains("ev-g-0"));
    let attribute = |name: &str| {
        dead[0]
            .message_attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value().map(String::from))
    };
    assert_eq!(attribute("attempts").as_deref(), Some("5"));
    assert!(attribute("error").unwrap().contains("503"), "{:?}", attribute("error"));
    assert_eq!(worker.messages_in(&worker.delivery.queue_url).await, (0, 0));
}

#[tokio::test]
async fn a_job_handed_back_for_time_is_tried_again_at_once() {
    let worker = worker().await;
    platform(&worker.engage, None).await;
    worker.send("h", 0).await;
    // The invocation has no time left for it: handed back, visible again at once.
    while !receive_and_process(&worker.processor, &worker.delivery, || false).await {}
    assert!(worker.replies().await.is_empty());
    let took = worker.run_until(Duration::from_secs(5), async || worker.replies().await.len() == 1).await;
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// Issue 24: a 429 with `Retry-After` is tried again when the platform says, not before.
#[tokio::test]
async fn a_rate_limited_call_waits_as_long_as_the_platform_says() {
    let engage = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(429).insert_header("Retry-After", "2").set_body_json(
                json!({"error": "rate_limit_exceeded", "message": "slow down", "status": 429}),
            ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&engage)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "t"})))
        .mount(&engage)
        .await;
    let client = handover_core::engage::EngageClient::new(
        wiring::http_client(),
        &format!("{}/1.0", engage.uri()),
        handover_core::secret::Secret::new(ACCESS_TOKEN),
    );
    let started = Instant::now();
    client.update_thread_categories("t", &[AGENT_CATEGORY.to_string()]).await.unwrap();
    // Its own backoff would have tried again within 0.2 s.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1_900), "waited {waited:?}");
    assert_eq!(engage.received_requests().await.unwrap().len(), 2);
}

/// Issue 24: rotating the webhook's secret never takes the endpoint down. Engage Digital
/// checks a new secret at once; the receivers read the secret again (every few minutes; at
/// once here) and accept the new value and, during the rotation, the previous one.
#[tokio::test]
async fn a_rotated_webhook_secret_is_accepted_with_the_previous_one_during_the_rotation() {
    use handover_core::config::WebhookAuth;
    use handover_core::edge::engage::{Endpoint, EngageReceiver};
    use handover_core::secret::Secret;
    use handover_core::secret_store::RotatingSecret;
    use handover_testkit::moto;

    let (old, new) = ("the-old-webhook-secret-1", "the-new-webhook-secret-2");
    let arn = moto::create_secret("rotated-webhook", old).await;
    let rotating = RotatingSecret::refreshing_every(
        &arn,
        Some(moto::endpoint()),
        vec![Secret::new(old)],
        Duration::ZERO,
    )
    .await;
    let auth =
        WebhookAuth { verify_token: Secret::new("verify-token"), webhook_secrets: vec![Secret::new(old)] };
    let queue = std::sync::Arc::new(handover_core::queue::SqsQueue::new(
        handover_core::queue::sqs_client(Some(moto::endpoint())).await,
        "http://127.0.0.1:1/not-used.fifo",
    ));
    let receiver = EngageReceiver {
        rotating_secret: Some(std::sync::Arc::new(rotating)),
        ..EngageReceiver::new(auth, queue)
    };
    let verify = |secret: &str| {
        http::Request::builder()
            .uri("/engage/webhook?hub.mode=subscribe&hub.challenge=ok&hub.verify_token=verify-token")
            .header("x-dimelo-secret", secret)
            .body(bytes::Bytes::new())
            .unwrap()
    };
    let status = async |secret: &str| {
        handover_core::edge::engage::handle(&receiver, Endpoint::Webhook, verify(secret))
            .await
            .status()
            .as_u16()
    };
    assert_eq!(status(old).await, 200);
    assert_eq!(status(new).await, 403, "not yet rotated");

    moto::put_secret_value(&arn, new).await;
    assert_eq!(status(new).await, 200, "the new secret, as Engage Digital checks it at once");
    assert_eq!(status(old).await, 200, "the previous one during the rotation");
    assert_eq!(status("some-other-secret-value").await, 403);
}

/// Issue 24: a job not done by its invocation's deadline is released before it rather than
/// killed with the batch; what it was making is read back by the next delivery.
#[tokio::test]
async fn a_job_not_done_by_its_deadline_is_released_and_the_next_delivery_finishes_it() {
    use handover_core::queue::{Job, QueueMessage, Verdict};
    let worker = worker().await;
    // The reply is made, its answer slow to come.
    Mock::given(method("POST"))
        .and(path("/1.0/contents"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "r"})).set_delay(Duration::from_secs(3)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&worker.engage)
        .await;
    platform(&worker.engage, None).await;
    let body = content_body_with("ev-d", "c-d", "hello", false, |m| m["thread_id"] = json!("t-d"));
    let event = handover_core::engage::Envelope::parse(body.as_bytes()).unwrap().events.remove(0);
    let message = QueueMessage {
        id: "m-d".into(),
        group: "t-d".into(),
        body: serde_json::to_string(&Job::engage(event)).unwrap(),
        receipt_handle: "r-d".into(),
        receive_count: 1,
    };
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    let verdicts = worker.processor.process_batch_until(vec![message.clone()], || true, Some(deadline)).await;
    assert!(started.elapsed() < Duration::from_secs(2), "released at its deadline: {:?}", started.elapsed());
    assert!(matches!(verdicts[0].1, Verdict::RetryAfter(_)), "{:?}", verdicts[0].1);

    let verdicts = worker.processor.process_batch(vec![message], || true).await;
    assert_eq!(verdicts[0].1, Verdict::Done);
    let calls: Vec<String> = worker
        .engage
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    // Read back before it is made again (this fake shows no reply, so it is posted again).
    assert_eq!(calls, ["POST /1.0/contents", "GET /1.0/contents", "POST /1.0/contents"]);
}
