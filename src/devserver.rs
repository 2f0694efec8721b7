//! Starting the local dev server: the functions built from an environment (with the Engage
//! Digital sandbox when `ENGAGE_API_URL` is unset), served on one address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use handover_core::config::{EmergencySettings, QueueSettings, WebhookAuth};
use handover_core::edge::emergency::Authorization;
use handover_core::edge::engage::EngageReceiver;
use handover_core::edge::zenvia::ZenviaReceiver;
use handover_core::queue::{InProcessQueue, JobQueue};
use handover_core::secret::Secret;
use handover_core::store::{DynamoStore, MemoryStore, Store};
use handover_core::wiring;

use crate::console::{LoggedBot, LoggedStore};
use crate::fake_model::{FAKE_MODEL_NAME, FAKE_MODEL_PATH};
use crate::sandbox::{SANDBOX_TOKEN, Sandbox};
use crate::{Functions, router, spawn_emergency_schedule};

// The same values as the sample events in `events/`, so `replay` works with no configuration.
pub const DEFAULT_VERIFY_TOKEN: &str = "sample-verify-token";
pub const DEFAULT_BOT_CATEGORY: &str = "5be59e0a13047d01f46caa62";
pub const DEFAULT_AGENT_CATEGORY: &str = "5be59e0a13047d01f46caa63";

/// A running dev server.
pub struct DevServer {
    pub address: SocketAddr,
    pub functions: Functions,
    /// The simulated Engage Digital, when `ENGAGE_API_URL` was unset.
    pub sandbox: Option<Sandbox>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    env: HashMap<String, String>,
}

fn set(env: &HashMap<String, String>, name: &str) -> Option<String> {
    env.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// Builds every function from `env` and serves them on `host:port` (port 0: any free port).
pub async fn start(host: &str, port: u16, mut env: HashMap<String, String>) -> anyhow::Result<DevServer> {
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    let address = listener.local_addr()?;

    let sandbox = if set(&env, "ENGAGE_API_URL").is_none() {
        env.insert("ENGAGE_API_URL".into(), format!("http://{address}/sandbox/1.0"));
        env.insert("ENGAGE_ACCESS_TOKEN".into(), SANDBOX_TOKEN.into());
        env.entry("ENGAGE_VERIFY_TOKEN".into()).or_insert_with(|| DEFAULT_VERIFY_TOKEN.into());
        env.entry("BOT_CATEGORY_ID".into()).or_insert_with(|| DEFAULT_BOT_CATEGORY.into());
        env.entry("AGENT_CATEGORY_ID".into()).or_insert_with(|| DEFAULT_AGENT_CATEGORY.into());
        Some(Sandbox::new(&env["BOT_CATEGORY_ID"], &env["AGENT_CATEGORY_ID"]))
    } else {
        None
    };

    // An LLM bot with no model configured talks to the scripted one served below.
    let fake_model =
        set(&env, "BOT_BACKEND").as_deref() == Some("openai") && set(&env, "LLM_BASE_URL").is_none();
    if fake_model {
        env.insert("LLM_BASE_URL".into(), format!("http://{address}{FAKE_MODEL_PATH}"));
        env.entry("LLM_MODEL".into()).or_insert_with(|| FAKE_MODEL_NAME.into());
    }

    let http = wiring::http_client();
    let mut store = local_store(&env).await?;
    // With the sandbox, the console logs every call to the store and the bot.
    let activity = sandbox.as_ref().map(|sandbox| sandbox.activity.clone());
    if let Some(activity) = &activity {
        store = Arc::new(LoggedStore { inner: store, activity: activity.clone() });
    }
    let settings = wiring::ProcessorSettings::from_env(&env)?;
    let processor = Arc::new(
        wiring::processor_observing_bot(settings, store.clone(), &http, |bot| match &activity {
            Some(activity) => Arc::new(LoggedBot { inner: bot, activity: activity.clone() }),
            None => bot,
        })
        .await?,
    );
    // The in-process queue by default; with QUEUE_URL, SQS polled as Lambda's event source would.
    let (queue, local_queue): (Arc<dyn JobQueue>, Option<InProcessQueue>) =
        match QueueSettings::optional_from_env(&env)? {
            None => {
                let queue = InProcessQueue::new(processor.clone());
                (Arc::new(queue.clone()), Some(queue))
            }
            Some(settings) => {
                let delivery = wiring::sqs_delivery(&settings).await;
                tokio::spawn(handover_core::queue::poll_sqs(processor.clone(), delivery));
                (wiring::sqs_queue(&settings).await, None)
            }
        };
    let engage = EngageReceiver::new(WebhookAuth::from_env(&env)?, queue.clone());
    let emergency = wiring::emergency_flow(EmergencySettings::from_env(&env)?, store.clone(), &http)
        .telling(processor.emergency.clone());
    let emergency_authorization = match set(&env, "EMERGENCY_TOKEN") {
        Some(token) => Authorization::Bearer(Secret::new(token)),
        None => Authorization::Refuse,
    };
    let zenvia = match (set(&env, "ZENVIA_API_TOKEN"), set(&env, "ZENVIA_WEBHOOK_TOKEN")) {
        (Some(_), Some(token)) => Some(Arc::new(ZenviaReceiver { webhook_token: Secret::new(token), queue })),
        _ => None,
    };
    let functions = Functions {
        engage: Arc::new(engage),
        processor,
        queue: local_queue,
        emergency: Arc::new(emergency),
        emergency_authorization: Arc::new(emergency_authorization),
        zenvia,
        store,
        analytics_token: set(&env, "ANALYTICS_ACCESS_TOKEN").map(Secret::new),
    };
    // What the one-minute schedule does in AWS.
    spawn_emergency_schedule(&functions, std::time::Duration::from_secs(5));
    let mut app = router(functions.clone());
    if let Some(sandbox) = &sandbox {
        app = app
            .merge(sandbox.clone().router(functions.clone()))
            .merge(crate::console::router(functions.clone(), sandbox.activity.clone()));
    }
    if fake_model {
        app = app.merge(crate::fake_model::router());
    }
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(DevServer { address, functions, sandbox, server, env })
}

impl DevServer {
    /// What the server tells a person on start-up: its routes and how to use the sandbox.
    pub fn banner(&self) -> String {
        let address = self.address;
        let mut lines = vec![match self.sandbox {
            Some(_) => format!("handover console: http://{address}/  (open it in a browser)"),
            None => format!("handover dev server on http://{address}"),
        }];
        if set(&self.env, "ENGAGE_WEBHOOK_SECRET").is_none() {
            lines.push(
                "  (no ENGAGE_WEBHOOK_SECRET: this dev server accepts webhooks without one; a deployed function refuses to start without it)"
                    .into(),
            );
        }
        lines.extend([
            format!("  GET|POST http://{address}/engage/webhook         (Engage Digital: content.imported)"),
            format!(
                "  GET|POST http://{address}/engage/interventions   (Engage Digital: intervention.closed/reopened)"
            ),
        ]);
        lines.push(match set(&self.env, "EMERGENCY_TOKEN") {
            Some(_) => {
                format!("  GET|POST http://{address}/emergency               (Bearer $EMERGENCY_TOKEN)")
            }
            None => format!(
                "  GET|POST http://{address}/emergency               (refused: EMERGENCY_TOKEN is unset)"
            ),
        });
        if self.functions.zenvia.is_some() {
            lines.push(format!(
                "  POST     http://{address}/zenvia/webhook?token=$ZENVIA_WEBHOOK_TOKEN   (Zenvia Chat)"
            ));
        }
        if self.functions.analytics_token.is_some() {
            lines.push(format!(
                "  GET      http://{address}/analytics/agent_intervention.json   (Access-Token: $ANALYTICS_ACCESS_TOKEN)"
            ));
        }
        if set(&self.env, "LLM_MODEL").as_deref() == Some(FAKE_MODEL_NAME) {
            lines.push(format!(
                "BOT_BACKEND=openai with no LLM_BASE_URL: a scripted fake model at http://{address}{FAKE_MODEL_PATH}"
            ));
        }
        if self.sandbox.is_some() {
            let post = |path: &str, body: &str| {
                format!("    curl -s http://{address}{path} -H 'content-type: application/json' -d '{body}'")
            };
            lines.extend([
                format!("Engage Digital sandbox at http://{address}/sandbox/1.0 (ENGAGE_API_URL is unset)"),
                "  play the customer:".into(),
                post("/sandbox/customer", r#"{"thread":"t1","text":"hello"}"#),
                post("/sandbox/customer", r#"{"thread":"t1","text":"I want to talk to a human"}"#),
                "  play the agent who closes the conversation (the thread goes back to the bot):".into(),
                post("/sandbox/agent/close", r#"{"thread":"t1"}"#),
                "  make every agent away (or available again with true):".into(),
                post("/sandbox/agents", r#"{"available":false}"#),
                "  the calls the platform received:".into(),
                format!("    curl -s http://{address}/sandbox/calls"),
            ]);
        }
        lines.join("\n")
    }
}

/// `STORE=memory` (default) or `STORE=dynamodb` (with `DYNAMODB_ENDPOINT`; the table is created
/// if missing).
async fn local_store(env: &HashMap<String, String>) -> anyhow::Result<Arc<dyn Store>> {
    match set(env, "STORE").as_deref().unwrap_or("memory") {
        "memory" => Ok(Arc::new(MemoryStore::new())),
        "dynamodb" => {
            let table = set(env, "TABLE_NAME").unwrap_or_else(|| "handover-local".into());
            let endpoint = set(env, "DYNAMODB_ENDPOINT");
            let client = DynamoStore::client_for(endpoint.as_deref()).await;
            DynamoStore::create_table_if_missing(&client, &table).await?;
            Ok(Arc::new(DynamoStore::new(client, table)))
        }
        other => {
            bail!("configuration error: STORE is malformed: expected `memory` or `dynamodb`, not `{other}`")
        }
    }
}
