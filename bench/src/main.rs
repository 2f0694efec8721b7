//! `cargo run --release -p handover-bench`: the numbers behind the README's performance budget.
//!
//! 1. Per-event time of the core (in-memory store, builtin bot, a fake Engage Digital on
//!    loopback that answers at once), p50 and p99, per scenario (`--core-only`).
//! 2. Requests per scenario: Engage Digital (counted by the fake) and DynamoDB (counted at the
//!    client, against DynamoDB Local), with the capacity DynamoDB Local reports.
//! 3. Size of each release binary, and its cold start: process start to first response
//!    written, through a minimal fake Lambda Runtime API on loopback, reading the secrets
//!    template.yaml gives the function (`--binaries-only`, after `cargo build --release`).
//! 4. Receiving: the webhook's answer time on the dev server (in-process queue), and its
//!    requests with SQS (moto's server) and DynamoDB.
//! 5. Volume: 2,000 events on one thread against DynamoDB Local (cost of the 2nd and 2,000th),
//!    and the largest item of the table afterwards; with the builtin bot, then with the LLM
//!    backend and long messages, whose history the thread's item keeps (`--volume-only`).
//! 6. Analytics at scale: 100,000 sessions in one hour in DynamoDB Local, then a 7-day report.
//! 7. The emergency sweep: 10,000 bot conversations and 2,000 leftovers on DynamoDB Local, at
//!    the configured rate (about 23 minutes at 450 requests a minute; `--emergency-only`).
//!
//! 8. Bot backends: the per-event time with each backend against fakes on loopback, and what
//!    the openai and lex backends add over the http one (`--bots-only`).
//!
//! `--quick` runs fewer iterations (a smoke run); `--requests-only` prints the requests table alone.

mod cost;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::{Request, State};
use axum::routing::any;
use handover_core::config::WebhookSettings;
use handover_core::engage::{Envelope, WebhookEvent};
use handover_core::flow::EngageFlow;
use handover_core::store::{DynamoStore, MemoryStore, Owner, StatsStore, Store, ThreadState};
use handover_core::{analytics, wiring};
use handover_testkit::meter::DynamoMeter;
use handover_testkit::{dynamodb_local, lambda_runtime};
use serde_json::{Value, json};

const BOT: &str = "bot-category";
const AGENT: &str = "agent-category";
const SOURCE: &str = handover_testkit::fake_engage::SOURCE;
/// Distinct customers in the analytics load: most come back several times.
const CUSTOMERS: usize = 40_000;
const FUNCTIONS: [&str; 6] = ["webhook", "rebot", "process", "emergency", "zenvia", "analytics"];

/// A fake Engage Digital that answers every call the product makes at once, and counts them.
async fn fake_engage() -> anyhow::Result<(String, Arc<AtomicUsize>)> {
    Ok(handover_testkit::fake_engage::start(BOT).await?)
}

async fn flow(engage_url: &str, store: Arc<dyn Store>) -> anyhow::Result<EngageFlow> {
    flow_with(engage_url, store, &[]).await
}

/// The flow with `extra` settings (a bot backend) over the defaults.
async fn flow_with(
    engage_url: &str,
    store: Arc<dyn Store>,
    extra: &[(&str, String)],
) -> anyhow::Result<EngageFlow> {
    let mut env: HashMap<&str, &str> = HashMap::from([
        ("ENGAGE_API_URL", engage_url),
        ("ENGAGE_ACCESS_TOKEN", "bench-token"),
        ("ENGAGE_VERIFY_TOKEN", "bench-verify"),
        ("BOT_CATEGORY_ID", BOT),
        ("AGENT_CATEGORY_ID", AGENT),
        ("HANDOVER_MESSAGE", ""),
        ("EMERGENCY_CACHE_SECONDS", "300"),
    ]);
    env.extend(extra.iter().map(|(name, value)| (*name, value.as_str())));
    Ok(wiring::engage_flow(WebhookSettings::from_env(&env)?, store, &wiring::http_client()).await?)
}

/// Events are issued now, as production's are: their statistics facts land in the open hour
/// (a fact for a closed hour also marks its hour and day late, dropping their summaries: a late delivery's
/// cost, not a live event's).
fn issued_now(later_by_ms: i64) -> String {
    handover_core::time::format_rfc3339_ms(handover_core::now_millis() + later_by_ms)
}

fn content(event: &str, thread: &str, text: &str, first: bool) -> WebhookEvent {
    let body = json!({"events": [{"type": "content.imported", "id": event, "issued_at": issued_now(0),
        "resource": {"type": "chat/message", "id": format!("c-{event}"), "metadata": {
            "author_id": "customer-1", "body": text, "creator_id": null, "first_in_thread": first,
            "category_ids": [BOT], "intervention_id": null, "language": "en", "source_id": SOURCE,
            "status": "new", "thread_id": thread}}}]});
    Envelope::parse(body.to_string().as_bytes()).expect("valid").events.remove(0)
}

fn closed(event: &str, thread: &str) -> WebhookEvent {
    // A millisecond after any message before it: the agent's close is never older.
    let body = json!({"events": [{"type": "intervention.closed", "id": event, "issued_at": issued_now(1),
        "resource": {"type": "intervention", "id": format!("agent-{event}"), "metadata": {
            "thread_id": thread, "category_ids": ["other", AGENT], "source_id": SOURCE}}}]});
    Envelope::parse(body.to_string().as_bytes()).expect("valid").events.remove(0)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    FollowUp,
    FirstMessage,
    Handover,
    Rebot,
}

const SCENARIOS: [Scenario; 4] =
    [Scenario::FollowUp, Scenario::FirstMessage, Scenario::Handover, Scenario::Rebot];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::FollowUp => "follow-up message (bot reply)",
            Self::FirstMessage => "first message (intervention + reply)",
            Self::Handover => "handover (availability cached)",
            Self::Rebot => "rebot (intervention.closed)",
        }
    }

    /// Prepares iteration `i` (not timed) and returns its event.
    async fn prepare(self, flow: &EngageFlow, i: usize) -> anyhow::Result<WebhookEvent> {
        let thread = format!("{:?}-{i}", self);
        Ok(match self {
            Self::FollowUp => {
                // A thread the bot already talks on.
                flow.process(&content(&format!("{thread}-a"), &thread, "hello", true)).await?;
                content(&format!("{thread}-b"), &thread, "what are your opening hours?", false)
            }
            Self::FirstMessage => content(&format!("{thread}-a"), &thread, "hello", true),
            Self::Handover => {
                flow.process(&content(&format!("{thread}-a"), &thread, "hello", true)).await?;
                content(&format!("{thread}-b"), &thread, "I want to talk to a human", false)
            }
            Self::Rebot => {
                let with_agents = ThreadState {
                    owner: Owner::Agent,
                    categories: Some(vec!["other".into(), AGENT.into()]),
                    ..ThreadState::new(&thread)
                };
                flow.store().save_thread(&with_agents).await?;
                closed(&format!("{thread}-c"), &thread)
            }
        })
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The core's time per event as a function runs it: the flow on a current-thread runtime (the
/// functions' runtime), twice. First with the fake Engage Digital on the same thread: the core's
/// work and the fake's, no thread wake-up (the budget's figure). Then with the fake on its own
/// OS thread, as the platform is elsewhere: each platform call adds two thread wake-ups, the
/// machine's scheduling latency more than the product's work.
fn core_latency(iterations: usize) -> anyhow::Result<()> {
    println!("\n## Per-event processing time of the core\n");
    println!(
        "In-memory store, builtin bot, a fake Engage Digital on loopback answering at once; the flow on a current-thread runtime, as the functions run; {iterations} events per scenario. One thread: the fake on the flow's thread (the core's work and the fake's; the budget's figure). Two threads: the fake on its own (two thread wake-ups per platform call).\n"
    );
    println!(
        "| scenario | p50, one thread | p99, one thread | p50, two threads | p99, two threads |\n|---|---|---|---|---|"
    );
    let one_thread = core_times(iterations, None)?;
    let two_threads = core_times(iterations, Some(fake_engage_on_its_own_thread()?))?;
    for ((scenario, one), (_, two)) in one_thread.iter().zip(&two_threads) {
        println!(
            "| {scenario} | {} | {} | {} | {} |",
            ms(percentile(one, 0.5)),
            ms(percentile(one, 0.99)),
            ms(percentile(two, 0.5)),
            ms(percentile(two, 0.99))
        );
    }
    Ok(())
}

/// Each scenario's sorted times per event, the flow on a current-thread runtime of its own OS
/// thread, calling `engage` (or, without it, a fake on that same thread).
fn core_times(
    iterations: usize,
    engage: Option<String>,
) -> anyhow::Result<Vec<(&'static str, Vec<Duration>)>> {
    let core = std::thread::spawn(move || -> anyhow::Result<Vec<(&'static str, Vec<Duration>)>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let engage = match engage {
                Some(url) => url,
                None => fake_engage().await?.0,
            };
            let flow = flow(&engage, Arc::new(MemoryStore::new())).await?;
            // Warm the caches a running container has: emergency switch, channels, agent status.
            let warm = Scenario::Handover.prepare(&flow, usize::MAX).await?;
            flow.process(&warm).await?;
            let mut all = Vec::new();
            for scenario in SCENARIOS {
                let mut times = Vec::with_capacity(iterations);
                for i in 0..iterations {
                    let event = scenario.prepare(&flow, i).await?;
                    let started = Instant::now();
                    flow.process(&event).await?;
                    times.push(started.elapsed());
                }
                times.sort();
                all.push((scenario.name(), times));
            }
            Ok(all)
        })
    });
    core.join().map_err(|_| anyhow::anyhow!("the core panicked"))?
}

/// The fake Engage Digital on a current-thread runtime of its own OS thread: its URL.
fn fake_engage_on_its_own_thread() -> anyhow::Result<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let _ = sender.send(fake_engage().await.map(|(url, _)| url).map_err(|e| e.to_string()));
            std::future::pending::<()>().await
        })
    });
    receiver.recv()?.map_err(|e| anyhow::anyhow!(e))
}

/// A fake of every bot backend on loopback, answering at once: the http protocol at `/bot`,
/// Chat Completions at `/v1/chat/completions`, Lex's RecognizeText anywhere else.
async fn fake_bots() -> anyhow::Result<String> {
    const ANSWER: &str = "We are open from 9 to 6, Monday to Saturday.";
    async fn answer(request: Request) -> axum::Json<Value> {
        axum::Json(match request.uri().path() {
            "/bot" => json!({"replies": [ANSWER]}),
            "/v1/chat/completions" => json!({"id": "c1", "object": "chat.completion", "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 420, "completion_tokens": 12, "total_tokens": 432}}),
            _ => json!({"messages": [{"contentType": "PlainText", "content": ANSWER}],
                "sessionState": {"dialogAction": {"type": "Close"}, "intent": {"name": "OpeningHours", "state": "Fulfilled"}},
                "interpretations": [{"intent": {"name": "OpeningHours", "state": "Fulfilled"}}], "sessionId": "s"}),
        })
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, Router::new().fallback(any(answer))).await });
    Ok(format!("http://{address}"))
}

/// Each bot backend's settings, against the fakes of [`fake_bots`] at `bots`.
fn backends(bots: &str) -> [(&'static str, Vec<(&'static str, String)>); 4] {
    [
        ("builtin", vec![]),
        ("http", vec![("BOT_BACKEND", "http".into()), ("BOT_URL", format!("{bots}/bot"))]),
        (
            "openai",
            vec![
                ("BOT_BACKEND", "openai".into()),
                ("LLM_BASE_URL", format!("{bots}/v1")),
                ("LLM_API_KEY", "bench-key".into()),
                ("LLM_MODEL", "bench-model".into()),
            ],
        ),
        (
            "lex",
            vec![
                ("BOT_BACKEND", "lex".into()),
                ("LEX_ENDPOINT", bots.to_string()),
                ("LEX_BOT_ID", "BOT1".into()),
                ("LEX_BOT_ALIAS_ID", "ALIAS1".into()),
                ("LEX_LOCALE_ID", "en_US".into()),
                ("LEX_HANDOVER_INTENT", "TalkToAgent".into()),
            ],
        ),
    ]
}

/// The per-event time of each bot backend: follow-ups on one thread (the LLM's history full
/// after six turns), each fake answering at once; "added" is the difference with the http
/// backend, which has the same loopback round trip.
async fn bot_backends(iterations: usize) -> anyhow::Result<()> {
    println!("\n## Per-event time by bot backend\n");
    println!(
        "In-memory store, fake Engage Digital and fake bots on loopback answering at once; {iterations} follow-ups on one thread per backend.\n"
    );
    println!("| backend | p50 | p99 | added vs http (p50) |\n|---|---|---|---|");
    let (engage, _) = fake_engage().await?;
    let bots = fake_bots().await?;
    let backends = backends(&bots);
    let mut http_p50 = None;
    for (name, env) in backends {
        let flow = flow_with(&engage, Arc::new(MemoryStore::new()), &env).await?;
        let thread = format!("bots-{name}");
        flow.process(&content(&format!("{thread}-0"), &thread, "hello", true)).await?;
        let mut times = Vec::with_capacity(iterations);
        for i in 1..=iterations {
            let event = content(&format!("{thread}-{i}"), &thread, "what are your opening hours?", false);
            let started = Instant::now();
            flow.process(&event).await?;
            times.push(started.elapsed());
        }
        times.sort();
        let p50 = percentile(&times, 0.5);
        if name == "http" {
            http_p50 = Some(p50);
        }
        let added = match (name, http_p50) {
            ("openai" | "lex", Some(http)) => {
                format!("{:+.3} ms", (p50.as_secs_f64() - http.as_secs_f64()) * 1000.0)
            }
            _ => "".into(),
        };
        println!("| {name} | {} | {} | {added} |", ms(p50), ms(percentile(&times, 0.99)));
    }
    Ok(())
}

async fn request_counts() -> anyhow::Result<()> {
    println!("\n## Requests per event\n");
    println!(
        "DynamoDB Local through a metered client; Engage Digital requests counted by the fake; a warm container.\n"
    );
    println!(
        "| scenario | Engage Digital requests | DynamoDB requests | DynamoDB operations | capacity units |\n|---|---|---|---|---|"
    );
    let (engage, engage_calls) = fake_engage().await?;
    let meter = DynamoMeter::new();
    let (client, table) = dynamodb_local::fresh_table_with(dynamodb_local::metered_client(&meter)).await;
    let flow = flow(&engage, Arc::new(DynamoStore::new(client, table))).await?;
    let warm = Scenario::Handover.prepare(&flow, usize::MAX).await?;
    flow.process(&warm).await?;
    for scenario in SCENARIOS {
        let event = scenario.prepare(&flow, 0).await?;
        meter.reset();
        let before = engage_calls.load(Ordering::SeqCst);
        flow.process(&event).await?;
        println!(
            "| {} | {} | {} | {} | {:.1} |",
            scenario.name(),
            engage_calls.load(Ordering::SeqCst) - before,
            meter.requests(),
            meter.operations().join(", "),
            meter.capacity()
        );
    }
    Ok(())
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("inside the repository").to_path_buf()
}

fn release_binaries() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.current_dir(repository_root()).args(["build", "--release", "--quiet"]);
    for function in FUNCTIONS {
        build.args(["-p", function]);
    }
    if !build.status().context("cargo build")?.success() {
        bail!("the release build failed");
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repository_root().join("target"));
    Ok(target.join("release"))
}

/// An event each function answers without any network call but the Runtime API's, so the
/// figure is the function's own start-up (configuration, SDK and HTTP clients, TLS).
fn cold_start_event(function: &str) -> anyhow::Result<Value> {
    let sample = |name: &str| -> anyhow::Result<Value> {
        let path = repository_root().join("events").join(name);
        Ok(serde_json::from_str(
            &std::fs::read_to_string(&path).with_context(|| path.display().to_string())?,
        )?)
    };
    let mut event = match function {
        "webhook" => sample("engage-verify-ok.json")?,
        "rebot" => sample("engage-interventions-verify-ok.json")?,
        "zenvia" => sample("zenvia-new-interaction.json")?,
        "analytics" => sample("analytics-report.json")?,
        // An SQS batch with an event type the product only acknowledges: one DynamoDB write (the
        // event's mark, against DynamoDB Local), no platform call.
        "process" => {
            // A new event each run, as a new container's first event is.
            static RUN: AtomicUsize = AtomicUsize::new(0);
            let job = handover_core::queue::Job::engage(WebhookEvent::Unknown {
                id: format!("cold-start-{}-{}", std::process::id(), RUN.fetch_add(1, Ordering::SeqCst)),
                event_type: "content.updated".into(),
            });
            return Ok(
                json!({"Records": [{"messageId": "m1", "body": serde_json::to_string(&job)?, "eventSource": "aws:sqs"}]}),
            );
        }
        _ => sample("emergency-status.json")?,
    };
    if matches!(function, "webhook" | "rebot") {
        event["headers"]["x-dimelo-secret"] = json!("bench-webhook-secret-0123");
    }
    match function {
        // Refused before any call: wrong token, no IAM identity.
        "zenvia" => event["rawQueryString"] = json!("token=not-the-token"),
        "analytics" => event["headers"]["access-token"] = json!("not-the-token"),
        "emergency" => event["requestContext"]
            .as_object_mut()
            .expect("object")
            .remove("authorizer")
            .map(|_| ())
            .unwrap_or(()),
        _ => {}
    }
    Ok(event)
}

/// The functions' own configuration (secrets are placeholders: nothing is called).
const FUNCTION_ENV: [(&str, &str); 11] = [
    ("RUST_LOG", "warn"),
    ("ENGAGE_WEBHOOK_SECRET", "bench-webhook-secret-0123"),
    ("QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/handover-events.fifo"),
    ("ENGAGE_API_URL", "https://bench.api.engagement.dimelo.com/1.0"),
    ("ENGAGE_ACCESS_TOKEN", "bench-token"),
    ("ENGAGE_VERIFY_TOKEN", "sample-verify-token"),
    ("BOT_CATEGORY_ID", BOT),
    ("AGENT_CATEGORY_ID", AGENT),
    ("ZENVIA_API_TOKEN", "bench-zenvia"),
    ("ZENVIA_WEBHOOK_TOKEN", "sample-zenvia-webhook-token"),
    ("ANALYTICS_ACCESS_TOKEN", "sample-analytics-token"),
];

/// The secrets template.yaml gives `function` (its `NAME_SECRET_ARN` variables, the optional
/// ones included): what it reads from Secrets Manager at a cold start.
fn secrets_in_template(function: &str) -> anyhow::Result<Vec<String>> {
    let template = std::fs::read_to_string(repository_root().join("template.yaml"))?;
    let resource = format!("  {}{}Function:", function[..1].to_uppercase(), &function[1..]);
    let mut lines = template.lines().skip_while(|line| *line != resource);
    if lines.next().is_none() {
        bail!("template.yaml has no {resource}");
    }
    // The resource's lines: indented deeper than its name, up to the next resource.
    let body = lines.take_while(|line| line.is_empty() || line.starts_with("   "));
    Ok(body
        .filter_map(|line| line.trim().split_once("_SECRET_ARN:").map(|(name, _)| name.to_string()))
        .collect())
}

async fn binaries(runs: usize) -> anyhow::Result<()> {
    println!("\n## Release binaries: size and cold start\n");
    let dir = release_binaries()?;
    println!(
        "Stripped release binaries for this machine ({}); cold start = process start to first response written, including reading the secrets template.yaml gives the function from Secrets Manager (moto's server on loopback), median of {runs} runs.\n",
        std::env::consts::ARCH
    );
    println!(
        "| function | size | secrets read | cold start (median) | min | max |\n|---|---|---|---|---|---|"
    );
    // As deployed: each function's secrets come from Secrets Manager (moto's server here), read
    // at cold start; the others it does not have.
    let (_, table) = handover_testkit::dynamodb_local::fresh_table().await;
    let mut arns: HashMap<&str, String> = HashMap::new();
    for (name, value) in FUNCTION_ENV {
        if handover_core::secret_store::SECRET_VARIABLES.contains(&name) {
            arns.insert(name, handover_testkit::moto::create_secret(name, value).await);
        }
    }
    for function in FUNCTIONS {
        let secrets = secrets_in_template(function)?;
        let mut env: Vec<(String, String)> =
            vec![("SECRETS_ENDPOINT".into(), handover_testkit::moto::endpoint().to_string())];
        for (name, value) in FUNCTION_ENV {
            match arns.get(name) {
                Some(arn) if secrets.iter().any(|s| s == name) => {
                    env.push((format!("{name}_SECRET_ARN"), arn.clone()))
                }
                // A secret the template does not give the function: it never reads it.
                Some(_) => {}
                None => env.push((name.to_string(), value.to_string())),
            }
        }
        let read = env.iter().filter(|(name, _)| name.ends_with("_SECRET_ARN")).count();
        env.push(("TABLE_NAME".into(), table.clone()));
        env.push(("DYNAMODB_ENDPOINT".into(), handover_testkit::dynamodb_local::endpoint().to_string()));
        let binary = dir.join(function);
        let size = std::fs::metadata(&binary).with_context(|| binary.display().to_string())?.len();
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            // The worker's Timeout (template.yaml): it starts a job only with the time one may take.
            let time_ms = if function == "process" { 120_000 } else { 30_000 };
            let (address, mut answers) =
                lambda_runtime::serve_one_with(cold_start_event(function)?, time_ms).await?;
            let started = Instant::now();
            let mut child = Command::new(&binary)
                .env_clear()
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .envs(lambda_runtime::lambda_environment(address))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let answer = tokio::time::timeout(Duration::from_secs(10), answers.recv()).await;
            let _ = child.kill();
            let _ = child.wait();
            match answer {
                Ok(Some(answer))
                    if answer.ok
                        && (answer.body["statusCode"].as_u64().is_some()
                            || answer.body["batchItemFailures"] == json!([])) =>
                {
                    times.push(answer.at - started)
                }
                other => bail!("{function} gave no response: {other:?}"),
            }
        }
        times.sort();
        println!(
            "| {function} | {:.2} MB | {read} | {} | {} | {} |",
            size as f64 / 1_000_000.0,
            ms(percentile(&times, 0.5)),
            ms(times[0]),
            ms(times[times.len() - 1])
        );
    }
    Ok(())
}

async fn receiving(posts: usize) -> anyhow::Result<()> {
    println!("\n## Receiving a webhook\n");
    // The dev server as a newcomer runs it: sandbox, builtin bot, in-process queue.
    let dev = handover::devserver::start("127.0.0.1", 0, HashMap::new()).await?;
    let http = reqwest::Client::new();
    let url = format!("http://{}/engage/webhook", dev.address);
    let mut times = Vec::with_capacity(posts);
    for i in 0..posts {
        let body = json!({"events": [{"type": "content.imported", "id": format!("r-{i}"), "issued_at": "2026-11-22T10:00:00Z",
            "resource": {"type": "chat/message", "id": format!("c-r-{i}"), "metadata": {
                "author_id": "customer", "body": "what are your opening hours?", "creator_id": null, "first_in_thread": false,
                "category_ids": [handover::devserver::DEFAULT_BOT_CATEGORY], "intervention_id": "i1", "language": "en",
                "source_id": "sandbox-source", "status": "new", "thread_id": format!("thread-{}", i % 50)}}}]});
        let started = Instant::now();
        let response = http.post(&url).json(&body).send().await?;
        times.push(started.elapsed());
        if response.status() != 200 {
            bail!("receive answered {}", response.status());
        }
    }
    dev.functions.settle().await;
    times.sort();
    println!(
        "Dev server, in-process queue, {posts} POSTs over 50 threads (the queue works meanwhile): answer time p50 {}, p99 {} (goal: p99 under 2 ms).\n",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99))
    );

    // The receiver as deployed: one SendMessageBatch per body, no DynamoDB request.
    let moto = handover_testkit::moto::endpoint();
    let meter = DynamoMeter::new();
    let local = handover_core::queue::sqs_client(Some(moto)).await;
    let sqs = aws_sdk_sqs::Client::from_conf(local.config().to_builder().interceptor(meter.clone()).build());
    let queue = sqs
        .create_queue()
        .queue_name("bench-events.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await?
        .queue_url
        .context("a queue URL")?;
    let receiver = handover_core::edge::engage::EngageReceiver::new(
        dev.functions.engage.auth.clone(),
        Arc::new(handover_core::queue::SqsQueue::new(sqs, queue)),
    );
    let body = json!({"events": [
        {"type": "content.imported", "id": "q1", "resource": {"type": "chat/message", "id": "c1", "metadata": {"thread_id": "t1", "source_id": "s", "category_ids": []}}},
        {"type": "content.imported", "id": "q2", "resource": {"type": "chat/message", "id": "c2", "metadata": {"thread_id": "t2", "source_id": "s", "category_ids": []}}}
    ]});
    meter.reset();
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/engage/webhook")
        .body(axum::body::Bytes::from(body.to_string()))?;
    let response = handover_core::edge::engage::handle(
        &receiver,
        handover_core::edge::engage::Endpoint::Webhook,
        request,
    )
    .await;
    println!("| path | answer | SQS requests | DynamoDB requests |\n|---|---|---|---|");
    println!(
        "| webhook receive, a body of 2 events (moto's SQS) | {} | {} ({}) | 0 (the receiver has no store) |",
        response.status(),
        meter.requests(),
        meter.operations().join(", ")
    );
    Ok(())
}

async fn volume(events: usize) -> anyhow::Result<()> {
    volume_with(events, "builtin", "what are your opening hours?").await?;
    // The LLM backend keeps the conversation in the thread's item: long messages fill its
    // history to the character limit, which bounds the item.
    volume_with(events, "openai", &"Where is my order? ".repeat(30)).await
}

async fn volume_with(events: usize, backend: &str, text: &str) -> anyhow::Result<()> {
    println!("\n## Volume: {events} events on one thread ({backend} bot)\n");
    let (engage, _) = fake_engage().await?;
    let bots = fake_bots().await?;
    let settings = backends(&bots).into_iter().find(|(name, _)| *name == backend).expect("a known backend").1;
    let meter = DynamoMeter::new();
    let (client, table) = dynamodb_local::fresh_table_with(dynamodb_local::metered_client(&meter)).await;
    let flow =
        flow_with(&engage, Arc::new(DynamoStore::new(client.clone(), table.clone())), &settings).await?;
    let mut costs = Vec::with_capacity(events);
    let started = Instant::now();
    for i in 0..events {
        let event = content(&format!("v-{i}"), "busy-thread", text, i == 0);
        meter.reset();
        flow.process(&event).await?;
        costs.push((meter.requests(), meter.capacity()));
    }
    let elapsed = started.elapsed();
    println!(
        "DynamoDB Local, {backend} bot; {events} customer messages of {} characters on one thread in {:.1} s.\n",
        text.chars().count(),
        elapsed.as_secs_f64()
    );
    println!("| event | DynamoDB requests | capacity units |\n|---|---|---|");
    for i in [1, events / 2, events - 1] {
        println!("| {} | {} | {:.1} |", i + 1, costs[i].0, costs[i].1);
    }
    let (largest, items) = largest_item(&client, &table).await?;
    println!("\nLargest item of the table afterwards: {largest} bytes, of {items} items (goal: under 8 KB).");
    Ok(())
}

/// The size of the largest item (DynamoDB's own rule: names and values in UTF-8), by a scan.
async fn largest_item(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<(usize, usize)> {
    use aws_sdk_dynamodb::types::AttributeValue;
    fn size(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| k.len() + size(v) + 1).sum::<usize>(),
            AttributeValue::L(list) => 3 + list.iter().map(|v| size(v) + 1).sum::<usize>(),
            AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
            _ => 0,
        }
    }
    let (mut largest, mut items) = (0, 0);
    let mut start = None;
    loop {
        let page = client.scan().table_name(table).set_exclusive_start_key(start).send().await?;
        for item in page.items() {
            items += 1;
            largest = largest.max(item.iter().map(|(k, v)| k.len() + size(v)).sum());
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok((largest, items)),
        }
    }
}

/// What a report read and gave once its hours were rolled up, at one traffic.
struct SteadyReport {
    latency: Duration,
    items: u64,
    capacity: f64,
    users: u64,
}

/// The 7-day report with every session in one hour, at each traffic in turn (each in a table of
/// its own): the largest in detail, then what the settled report costs at each.
async fn analytics_at_scale(largest: usize) -> anyhow::Result<()> {
    let traffic = [largest / 100, largest / 10, largest / 2, largest];
    let mut settled = Vec::new();
    for sessions in traffic {
        settled.push(analytics_report_runs(sessions, sessions == largest).await?);
    }
    println!("\nThe settled report (its third run) at each traffic of the busy hour:\n");
    println!(
        "| sessions in the hour | latency (read + report) | items read | capacity units | users (exact) | users reported | error |\n|---|---|---|---|---|---|---|"
    );
    for (sessions, run) in traffic.iter().zip(&settled) {
        let exact = (*sessions).min(CUSTOMERS) as u64;
        println!(
            "| {sessions} | {} | {} | {:.1} | {exact} | {} | {:+.2}% |",
            ms(run.latency),
            run.items,
            run.capacity,
            run.users,
            (run.users as f64 - exact as f64) / exact as f64 * 100.0
        );
    }
    Ok(())
}

async fn analytics_report_runs(sessions: usize, print: bool) -> anyhow::Result<SteadyReport> {
    if print {
        println!("\n## Analytics: a 7-day report, {sessions} sessions in one hour\n");
    }
    let meter = DynamoMeter::new();
    let (client, table) = dynamodb_local::fresh_table_with(dynamodb_local::metered_client(&meter)).await;
    let store = DynamoStore::new(client, table);
    // The last 7 days up to the end of today (UTC); every session in one busy hour of it.
    let now = handover_core::now_millis();
    let window = analytics::window(None, None, Some("0"), now)
        .map(|w| analytics::Window { start: w.end + 1 - 7 * 86_400, end: w.end })
        .map_err(|e| anyhow::anyhow!(e))?;
    let (start, span) = (window.start * 1000 + 3 * 86_400_000, 3_600_000);
    let mut entries = Vec::with_capacity(sessions * 2);
    for i in 0..sessions {
        let at = start + (i as i64 * span) / sessions as i64;
        entries.extend(analytics::session(
            at,
            &format!("thread-{i:06}"),
            &format!("customer-{:05}", i % CUSTOMERS),
        ));
        if i % 5 == 0 {
            entries.push(analytics::intervention(
                at,
                &format!("thread-{i:06}"),
                &format!("e{i}"),
                "asked_for_agent",
                false,
            ));
        }
    }
    let loading = Instant::now();
    // Written as the worker writes them, many at once, in their hour (a fact recorded after its
    // hour closed is late: its hour would not be kept for a while).
    let store = Arc::new(store);
    let mut writers = tokio::task::JoinSet::new();
    for chunk in entries.chunks(entries.len().div_ceil(16)).map(<[_]>::to_vec) {
        let store = store.clone();
        writers.spawn(async move { store.record_stats(&chunk, start + span).await });
    }
    while let Some(written) = writers.join_next().await {
        written??;
    }
    if print {
        println!(
            "{sessions} sessions of {} customers, one in five handed over; loaded in {:.1} s.\n",
            sessions.min(CUSTOMERS),
            loading.elapsed().as_secs_f64()
        );
        println!(
            "| run | latency (read + report) | of which the read | DynamoDB requests | items read | capacity units | sessions | interventions | users |\n|---|---|---|---|---|---|---|---|---|"
        );
    }
    // The first report rolls the closed days and hours up (once); the next ones read them.
    let mut last = None;
    for run in 1..=3 {
        meter.reset();
        let started = Instant::now();
        let (from, to) = window.hours();
        let summaries =
            handover_core::flow::report::summaries_for_report(store.as_ref(), from, to, now).await?;
        let read = started.elapsed();
        let report = analytics::report(window, &summaries);
        let latency = started.elapsed();
        let a = &report.aggregate_stats;
        if print {
            println!(
                "| {run}{} | {} | {} | {} | {} | {:.1} | {} | {} | {} |",
                if run == 1 { " (rolls up)" } else { "" },
                ms(latency),
                ms(read),
                meter.requests(),
                meter.items_read(),
                meter.capacity(),
                a.session_count,
                a.interventions_count,
                a.users_count
            );
        }
        last = Some(SteadyReport {
            latency,
            items: meter.items_read(),
            capacity: meter.capacity(),
            users: a.users_count,
        });
    }
    Ok(last.expect("three runs"))
}

/// Nanoseconds this OS thread has run on a CPU (Linux's schedstat): a process-wide figure
/// would count the fake platform and DynamoDB Local's client threads too.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The worker's CPU per event as Lambda runs it: `Processor::process_batch_until` and the
/// settling of the batch (what the `process` handler does) on batches of 10 SQS records of one
/// thread, against DynamoDB Local and a fake Engage Digital served from another OS thread. The
/// worker runs on a current-thread runtime of its own thread, whose CPU time is read.
fn worker_cpu(events: usize) -> anyhow::Result<()> {
    println!("\n## The worker's CPU per event (batches of 10 SQS records, one thread)\n");
    let engage = fake_engage_on_its_own_thread()?;
    let worker = std::thread::spawn(move || -> anyhow::Result<Vec<u64>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let (client, table) = dynamodb_local::fresh_table().await;
            let env: HashMap<&str, &str> = HashMap::from([
                ("ENGAGE_API_URL", engage.as_str()),
                ("ENGAGE_ACCESS_TOKEN", "bench-token"),
                ("BOT_CATEGORY_ID", BOT),
                ("AGENT_CATEGORY_ID", AGENT),
                ("HANDOVER_MESSAGE", ""),
                ("TABLE_NAME", table.as_str()),
            ]);
            let settings = wiring::ProcessorSettings::from_env(&env)?;
            let store: Arc<dyn Store> = Arc::new(DynamoStore::new(client, table));
            let processor = wiring::processor(settings, store, &wiring::http_client()).await?;
            let body = |i: usize| {
                let event =
                    content(&format!("w-{i}"), "worker-thread", "what are your opening hours?", i == 0);
                serde_json::to_string(&handover_core::queue::Job::engage(event)).expect("a job")
            };
            let mut per_batch = Vec::new();
            for batch in 0..events / 10 {
                let messages: Vec<_> = (batch * 10..batch * 10 + 10)
                    .map(|i| handover_core::queue::QueueMessage {
                        id: format!("m{i}"),
                        group: "worker-thread".into(),
                        body: body(i),
                        receipt_handle: format!("r{i}"),
                        receive_count: 1,
                    })
                    .collect();
                let before = thread_cpu_ns();
                let verdicts = processor.process_batch_until(messages, || true, None).await;
                let after = thread_cpu_ns();
                if verdicts.iter().any(|(_, v)| *v != handover_core::queue::Verdict::Done) {
                    bail!("batch {batch} not done: {verdicts:?}");
                }
                per_batch.push((after - before) / 10);
            }
            Ok(per_batch)
        })
    });
    let per_event = worker.join().map_err(|_| anyhow::anyhow!("the worker panicked"))??;
    let us = |ns: u64| format!("{:.1} µs", ns as f64 / 1000.0);
    let mean = per_event.iter().sum::<u64>() / per_event.len().max(1) as u64;
    println!("| events of the thread | CPU per event |\n|---|---|");
    println!("| 1-10 (cold caches, the thread's first) | {} |", us(per_event[0]));
    println!("| 11-20 | {} |", us(per_event[1]));
    println!("| {}-{} | {} |", events - 9, events, us(*per_event.last().expect("batches")));
    println!("| mean of {events} | {} |", us(mean));
    Ok(())
}

/// Milliseconds Lambda bills per Engage Digital call in production (the wall time a worker
/// waits on it): an assumption, not measured here.
const PLATFORM_CALL_MS: f64 = 100.0;
/// Log bytes of one event, each line counted with CloudWatch Logs' 26 bytes a log event. The
/// worker's lines (the EMF lines and `event processed`) and the receiver's (its EMF line) as the
/// function binaries write them through the Runtime API: `functions/process/tests/metrics.rs`
/// and `functions/webhook/tests/log_volume.rs` measure them and hold them to a budget (these
/// figures are their runs of 2026-12-04).
const WORKER_LOG_BYTES_FIRST_MESSAGE: f64 = 1_468.0;
const WORKER_LOG_BYTES_FOLLOW_UP: f64 = 1_103.0;
const RECEIVER_LOG_BYTES: f64 = 263.0;
/// Lambda's own records of an invocation with `LogFormat: JSON` and the default system log level
/// (INFO): `platform.start` (141 bytes) and `platform.report` (235 bytes, their documented
/// shape), with the 26 bytes each. Not measurable here: the one assumed figure of the logs.
const PLATFORM_LOG_BYTES_PER_INVOCATION: f64 = 141.0 + 235.0 + 2.0 * 26.0;

/// Log bytes per event of a conversation of `messages`: the receiver's and the worker's lines
/// and Lambda's records of both invocations.
fn log_bytes_per_event(messages: f64) -> f64 {
    let worker = (WORKER_LOG_BYTES_FIRST_MESSAGE + (messages - 1.0) * WORKER_LOG_BYTES_FOLLOW_UP) / messages;
    worker + RECEIVER_LOG_BYTES + 2.0 * PLATFORM_LOG_BYTES_PER_INVOCATION
}

/// The cost line: 1,000 conversations of 5 customer messages with the builtin bot. Measured:
/// the worker's wall time per event against DynamoDB Local and a fake Engage Digital answering
/// at once, the DynamoDB read and write units, the platform calls. Assumed: the platform's
/// latency, one invocation per event (no batching: the dearest case), the log bytes.
async fn conversation_cost(conversations: usize) -> anyhow::Result<()> {
    println!("\n## What 1,000 conversations cost\n");
    let (engage, calls) = fake_engage().await?;
    let meter = DynamoMeter::new();
    let (client, table) = dynamodb_local::fresh_table_with(dynamodb_local::metered_client(&meter)).await;
    let flow = flow(&engage, Arc::new(DynamoStore::new(client, table))).await?;
    // A warm container: the switch, the channels and the agents' status read once.
    flow.process(&content("cost-warm", "cost-warm", "hello", true)).await?;
    calls.store(0, Ordering::SeqCst);
    meter.reset();
    let started = Instant::now();
    for c in 0..conversations {
        let thread = format!("cost-{c}");
        for m in 0..5 {
            let text = if m == 0 { "hello" } else { "what are your opening hours?" };
            flow.process(&content(&format!("{thread}-{m}"), &thread, text, m == 0)).await?;
        }
    }
    let events = (conversations * 5) as f64;
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0 / events;
    let platform_calls = calls.load(Ordering::SeqCst) as f64 / events;
    let per_conversation = |units: f64| units / conversations as f64;
    let (reads, total) = (meter.read_capacity(), meter.capacity());
    let usage = cost::Usage {
        events: 5.0,
        receiver_ms: 2.0,
        worker_ms: wall_ms + platform_calls * PLATFORM_CALL_MS,
        memory_gb: 0.125,
        sqs_requests: 3.0,
        dynamodb_write_units: per_conversation(total - reads),
        dynamodb_read_units: per_conversation(reads),
        log_bytes: log_bytes_per_event(5.0),
    };
    println!(
        "Measured ({conversations} conversations, DynamoDB Local, a fake Engage Digital answering at once): {wall_ms:.2} ms of the worker's wall time, {platform_calls:.2} Engage Digital calls and {:.2} DynamoDB requests per event; {:.1} write and {:.1} read units per conversation. Assumed: {PLATFORM_CALL_MS} ms billed per platform call, 2 ms per receiver invocation, one worker invocation per event (no batching). Logs: {:.0} bytes per event (the functions' lines as their tests measure them, Lambda's platform.start and platform.report records of both invocations). Prices of {} (bench/src/cost.rs).\n",
        meter.requests() as f64 / events,
        usage.dynamodb_write_units,
        usage.dynamodb_read_units,
        usage.log_bytes,
        cost::READ_ON
    );
    println!("| price | dollars | per |\n|---|---|---|");
    for price in cost::PRICES {
        let dollars = if price.dollars < 0.01 {
            format!("{:.4} a million", price.dollars * 1e6)
        } else {
            format!("{:.2}", price.dollars)
        };
        println!("| {} | {dollars} | {} |", price.what, price.per);
    }
    println!("\n| per 1,000 conversations of 5 messages | dollars |\n|---|---|");
    let lines = cost::per_thousand(&usage);
    for (what, dollars) in &lines {
        println!("| {what} | {dollars:.5} |");
    }
    println!("| **total** (goal 0.03) | **{:.4}** |", lines.iter().map(|(_, d)| d).sum::<f64>());
    // 3 secrets (Engage token, verify token, webhook secret), the template's 10 alarms, the
    // product's metrics as a deployment sees them (names x the decisions, reasons, routes
    // that occur: about 40).
    println!("\n| fixed, per month | dollars |\n|---|---|");
    let fixed = cost::fixed_monthly(3.0, 10.0, 40.0);
    for (what, dollars) in &fixed {
        println!("| {what} | {dollars:.2} |");
    }
    println!("| **total** | **{:.2}** |", fixed.iter().map(|(_, d)| d).sum::<f64>());
    Ok(())
}

/// A fake Engage Digital for the sweep: counts the updates per thread and the requests of
/// every sliding minute.
async fn fake_engage_for_sweep() -> anyhow::Result<(String, Arc<std::sync::Mutex<SweepCalls>>)> {
    let calls = Arc::new(std::sync::Mutex::new(SweepCalls::default()));
    async fn answer(
        State(calls): State<Arc<std::sync::Mutex<SweepCalls>>>,
        request: Request,
    ) -> axum::Json<Value> {
        let path = request.uri().path().to_string();
        let mut calls = calls.lock().unwrap();
        calls.at.push(Instant::now());
        if let Some(thread) =
            path.strip_prefix("/1.0/content_threads/").and_then(|p| p.strip_suffix("/update_categories"))
        {
            *calls.updates.entry(thread.to_string()).or_insert(0) += 1;
        }
        axum::Json(json!({"id": "x"}))
    }
    let app = Router::new().fallback(any(answer)).with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{address}/1.0"), calls))
}

#[derive(Default)]
struct SweepCalls {
    at: Vec<Instant>,
    updates: HashMap<String, usize>,
}

impl SweepCalls {
    /// The most requests in any 60 s.
    fn busiest_minute(&self) -> usize {
        let mut start = 0;
        let mut most = 0;
        for end in 0..self.at.len() {
            while self.at[end] - self.at[start] >= Duration::from_secs(60) {
                start += 1;
            }
            most = most.max(end - start + 1);
        }
        most
    }
}

async fn emergency_sweep(conversations: usize, leftovers: usize) -> anyhow::Result<()> {
    use handover_core::store::EmergencyState;
    println!("\n## Emergency sweep: {conversations} bot conversations and {leftovers} leftovers\n");
    let (engage, calls) = fake_engage_for_sweep().await?;
    let meter = DynamoMeter::new();
    let (client, table) = dynamodb_local::fresh_table_with(dynamodb_local::metered_client(&meter)).await;
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(client, table));
    let now = handover_core::now_millis();
    let live = |id: String| ThreadState {
        categories: Some(vec!["other".into(), BOT.into()]),
        categories_at_ms: now,
        updated_at_ms: now,
        ..ThreadState::new(&id)
    };
    let mut threads: Vec<ThreadState> = (0..conversations).map(|i| live(format!("conv-{i:05}"))).collect();
    threads.extend((0..leftovers).map(|i| match i % 3 {
        0 => ThreadState { resolved: true, ..live(format!("resolved-{i:05}")) },
        1 => ThreadState { parked: true, ..live(format!("refused-{i:05}")) },
        _ => ThreadState { ended: true, ..live(format!("zenvia:ended-{i:05}")) },
    }));
    let mut writers = tokio::task::JoinSet::new();
    for chunk in threads.chunks(threads.len().div_ceil(16)).map(<[_]>::to_vec) {
        let store = store.clone();
        writers.spawn(async move {
            for thread in chunk {
                store.save_thread(&thread).await?;
            }
            Ok::<_, handover_core::store::StoreError>(())
        });
    }
    while let Some(written) = writers.join_next().await {
        written??;
    }
    // As deployed: the template's default rate, and scheduled runs of the function's Timeout
    // (60 s) less the margin they stop at.
    let rate: u32 = 300;
    let run_budget = Duration::from_secs(60) - wiring::EMERGENCY_STOP_MARGIN;
    let env: HashMap<&str, String> = HashMap::from([
        ("ENGAGE_API_URL", engage),
        ("ENGAGE_ACCESS_TOKEN", "bench-token".into()),
        ("BOT_CATEGORY_ID", BOT.into()),
        ("AGENT_CATEGORY_ID", AGENT.into()),
        ("EMERGENCY_REQUESTS_PER_MINUTE", rate.to_string()),
    ]);
    let env: HashMap<&str, &str> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let flow = wiring::emergency_flow(
        handover_core::config::EmergencySettings::from_env(&env)?,
        store.clone(),
        &wiring::http_client(),
    );
    let on = EmergencyState {
        active: true,
        since_ms: Some(now),
        sources_switched: true,
        ..EmergencyState::default()
    };
    store.set_emergency(&on).await?;
    meter.reset();
    let started = Instant::now();
    let mut runs = 0;
    let mut remaining = Vec::new();
    loop {
        runs += 1;
        flow.continue_work_for(run_budget).await?;
        let left = flow.status().await?.remaining;
        remaining.push(left);
        if left == 0 || runs > 10_000 {
            break;
        }
    }
    let elapsed = started.elapsed();
    let calls = calls.lock().unwrap();
    let once = calls.updates.values().filter(|&&n| n == 1).count();
    let leftovers_claimed = calls.updates.keys().filter(|t| !t.starts_with("conv-")).count();
    println!(
        "DynamoDB Local, a fake Engage Digital answering at once, EMERGENCY_REQUESTS_PER_MINUTE={rate}, runs of {} s (the function's Timeout less its stop margin).\n",
        run_budget.as_secs()
    );
    println!("| measure | value |\n|---|---|");
    println!("| runs until remaining = 0 | {runs} ({:.1} min) |", elapsed.as_secs_f64() / 60.0);
    println!("| remaining only went down | {} |", remaining.windows(2).all(|w| w[1] < w[0]));
    println!("| conversations recategorized exactly once | {once} of {conversations} |");
    println!("| leftovers claimed | {leftovers_claimed} |");
    println!(
        "| Engage Digital requests per conversation | {:.2} |",
        calls.at.len() as f64 / conversations as f64
    );
    println!(
        "| DynamoDB requests per conversation | {:.2} |",
        meter.requests() as f64 / conversations as f64
    );
    println!("| most requests in any 60 s (configured {rate}) | {} |", calls.busiest_minute());
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--analytics-only") {
        return analytics_at_scale(if quick { 10_000 } else { 100_000 }).await;
    }
    if std::env::args().any(|a| a == "--volume-only") {
        return volume(if quick { 200 } else { 2_000 }).await;
    }
    if std::env::args().any(|a| a == "--bots-only") {
        return bot_backends(if quick { 200 } else { 2_000 }).await;
    }
    if std::env::args().any(|a| a == "--worker-only") {
        return worker_cpu(if quick { 200 } else { 2_000 });
    }
    if std::env::args().any(|a| a == "--cost-only") {
        return conversation_cost(if quick { 100 } else { 1_000 }).await;
    }
    if std::env::args().any(|a| a == "--core-only") {
        return core_latency(if quick { 200 } else { 2_000 });
    }
    if std::env::args().any(|a| a == "--binaries-only") {
        return binaries(if quick { 3 } else { 11 }).await;
    }
    if std::env::args().any(|a| a == "--requests-only") {
        return request_counts().await;
    }
    if std::env::args().any(|a| a == "--emergency-only") {
        return if quick { emergency_sweep(500, 100).await } else { emergency_sweep(10_000, 2_000).await };
    }
    let (iterations, runs, sessions) = if quick { (200, 3, 10_000) } else { (2_000, 11, 100_000) };
    println!("# handover benchmark{}", if quick { " (quick)" } else { "" });
    tokio::task::block_in_place(|| core_latency(iterations))?;
    bot_backends(iterations).await?;
    request_counts().await?;
    receiving(if quick { 200 } else { 2_000 }).await?;
    volume(if quick { 200 } else { 2_000 }).await?;
    binaries(runs).await?;
    analytics_at_scale(sessions).await?;
    conversation_cost(if quick { 100 } else { 1_000 }).await?;
    tokio::task::block_in_place(|| worker_cpu(if quick { 200 } else { 2_000 }))?;
    // The full sweep takes about 23 minutes at the platform's pace: run it with --emergency-only.
    if quick {
        emergency_sweep(500, 100).await?;
    }
    Ok(())
}
