//! `handover`: the local dev server and CLI.
//!
//! - `handover serve [--host 127.0.0.1] [--port 3000]` (the default): every function's routes
//!   on one server, with an embedded store, the builtin bot and, when `ENGAGE_API_URL` is
//!   unset, a simulated Engage Digital.
//! - `handover replay <function> <events/file.json>`: one sample API Gateway event through a
//!   function, printing the HTTP response.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, bail};
use handover::sandbox::{SANDBOX_TOKEN, Sandbox};
use handover::{Functions, replay, router, spawn_emergency_schedule};
use handover_core::config::{EmergencySettings, Env, ProcessEnv, WebhookSettings, ZenviaSettings};
use handover_core::edge::emergency::Authorization;
use handover_core::secret::Secret;
use handover_core::store::{DynamoStore, MemoryStore, Store};
use handover_core::{telemetry, wiring};

const USAGE: &str = "usage:
  handover [serve] [--host HOST] [--port PORT]   run every function locally (default 127.0.0.1:3000)
  handover replay <function> <event.json>        run one API Gateway event through a function (function: webhook, rebot, emergency, zenvia, analytics)
  handover emergency on|off [--reason TEXT] [--url URL]
  handover emergency status [--url URL]          switch or read the emergency handover of a running dev server
                                                 (default URL http://127.0.0.1:3000; sends Bearer $EMERGENCY_TOKEN)";

// The same values as the sample events in `events/`, so `replay` works with no configuration.
const DEFAULT_VERIFY_TOKEN: &str = "sample-verify-token";
const DEFAULT_BOT_CATEGORY: &str = "5be59e0a13047d01f46caa62";
const DEFAULT_AGENT_CATEGORY: &str = "5be59e0a13047d01f46caa63";

#[tokio::main]
async fn main() {
    telemetry::init();
    if let Err(err) = run(std::env::args().skip(1).collect()).await {
        eprintln!("{err:#}");
        std::process::exit(2);
    }
}

async fn run(args: Vec<String>) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("replay") => {
            let [_, function, file] = args.as_slice() else { bail!("{USAGE}") };
            let event = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
            let (functions, _server) = start(&["--port".into(), "0".into()], true).await?;
            let response = replay::replay(&functions, function, &event).await?;
            println!("HTTP {}", response.status());
            for (name, value) in response.headers() {
                println!("{}: {}", name, value.to_str().unwrap_or("?"));
            }
            println!();
            println!("{}", response.body());
            Ok(())
        }
        Some("serve") => serve(&args[1..]).await,
        Some("emergency") => emergency(&args[1..]).await,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => serve(&args).await,
    }
}

/// `handover emergency on|off|status`: the dev server's `/emergency`, as an operator would call
/// it.
async fn emergency(args: &[String]) -> anyhow::Result<()> {
    let (action, rest) = args.split_first().with_context(|| USAGE.to_string())?;
    let mut url = "http://127.0.0.1:3000".to_string();
    let mut reason: Option<String> = None;
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--url" => url = rest.next().context("--url needs a value")?.trim_end_matches('/').to_string(),
            "--reason" => reason = Some(rest.next().context("--reason needs a value")?.clone()),
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    let token = ProcessEnv.var("EMERGENCY_TOKEN").context("set EMERGENCY_TOKEN to the dev server's token")?;
    let client = reqwest::Client::new();
    let endpoint = format!("{url}/emergency");
    let request = match action.as_str() {
        "status" => client.get(&endpoint),
        "on" | "off" => {
            client.post(&endpoint).json(&serde_json::json!({"active": action == "on", "reason": reason}))
        }
        other => bail!("unknown emergency action `{other}`\n{USAGE}"),
    };
    let response =
        request.bearer_auth(token.trim()).send().await.with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("the answer is not JSON")?;
    println!("{}", serde_json::to_string_pretty(&body)?);
    if !status.is_success() {
        bail!("HTTP {status}");
    }
    Ok(())
}

async fn serve(args: &[String]) -> anyhow::Result<()> {
    let (_functions, server) = start(args, false).await?;
    server.await.context("the server stopped")??;
    Ok(())
}

/// Builds the functions from the environment (with the sandbox when `ENGAGE_API_URL` is unset)
/// and starts the server; returns the functions and the running server.
async fn start(
    args: &[String],
    quiet: bool,
) -> anyhow::Result<(Functions, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let (host, port) = parse_address(args)?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    let address = listener.local_addr()?;

    let mut env: HashMap<String, String> = std::env::vars().collect();
    let sandbox = if ProcessEnv.var("ENGAGE_API_URL").is_none_or(|v| v.trim().is_empty()) {
        env.insert("ENGAGE_API_URL".into(), format!("http://{address}/sandbox/1.0"));
        env.insert("ENGAGE_ACCESS_TOKEN".into(), SANDBOX_TOKEN.into());
        env.entry("ENGAGE_VERIFY_TOKEN".into()).or_insert_with(|| DEFAULT_VERIFY_TOKEN.into());
        env.entry("BOT_CATEGORY_ID".into()).or_insert_with(|| DEFAULT_BOT_CATEGORY.into());
        env.entry("AGENT_CATEGORY_ID".into()).or_insert_with(|| DEFAULT_AGENT_CATEGORY.into());
        Some(Sandbox::new(&env["BOT_CATEGORY_ID"]))
    } else {
        None
    };

    let http = wiring::http_client();
    let store = local_store(&env).await?;
    let flow = wiring::engage_flow(WebhookSettings::from_env(&env)?, store.clone(), &http)?;
    let shared_store = store.clone();
    let emergency = wiring::emergency_flow(EmergencySettings::from_env(&env)?, store, &http);
    let emergency_authorization = match env.get("EMERGENCY_TOKEN").filter(|t| !t.trim().is_empty()) {
        Some(token) => Authorization::Bearer(Secret::new(token.trim())),
        None => Authorization::Refuse,
    };
    let zenvia_configured = ["ZENVIA_API_TOKEN", "ZENVIA_WEBHOOK_TOKEN"].iter().all(|v| env.contains_key(*v));
    let zenvia = match zenvia_configured {
        true => {
            Some(Arc::new(wiring::zenvia_flow(ZenviaSettings::from_env(&env)?, shared_store.clone(), &http)?))
        }
        false => None,
    };
    let functions = Functions {
        engage: Arc::new(flow),
        emergency: Arc::new(emergency),
        emergency_authorization: Arc::new(emergency_authorization),
        zenvia,
        store: shared_store,
        analytics_token: env
            .get("ANALYTICS_ACCESS_TOKEN")
            .filter(|t| !t.trim().is_empty())
            .map(|t| Secret::new(t.trim())),
    };
    spawn_emergency_schedule(&functions, std::time::Duration::from_secs(5));
    let mut app = router(functions.clone());
    if let Some(sandbox) = sandbox.clone() {
        app = app.merge(sandbox.router(functions.clone()));
    }
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    if !quiet {
        println!("handover dev server on http://{address}");
        println!("  GET|POST http://{address}/engage/webhook         (Engage Digital: content.imported)");
        println!(
            "  GET|POST http://{address}/engage/interventions   (Engage Digital: intervention.closed/reopened)"
        );
        if sandbox.is_some() {
            println!("  Engage Digital sandbox at http://{address}/sandbox/1.0 (ENGAGE_API_URL is unset)");
            println!("  Play the customer:");
            println!(
                "    curl -s http://{address}/sandbox/customer -H 'content-type: application/json' -d '{{\"thread\":\"t1\",\"text\":\"hello\"}}'"
            );
            println!("  Calls the sandbox received: curl -s http://{address}/sandbox/calls");
        }
    }
    Ok((functions, server))
}

/// `STORE=memory` (default) or `STORE=dynamodb` (with `DYNAMODB_ENDPOINT`, table created if
/// missing).
async fn local_store(env: &HashMap<String, String>) -> anyhow::Result<Arc<dyn Store>> {
    match env.get("STORE").map(String::as_str).unwrap_or("memory") {
        "memory" => Ok(Arc::new(MemoryStore::new())),
        "dynamodb" => {
            let table = env.get("TABLE_NAME").cloned().unwrap_or_else(|| "handover-local".into());
            let endpoint = env.get("DYNAMODB_ENDPOINT").map(String::as_str);
            let client = DynamoStore::client_for(endpoint).await;
            DynamoStore::create_table_if_missing(&client, &table).await?;
            Ok(Arc::new(DynamoStore::new(client, table)))
        }
        other => {
            bail!("configuration error: STORE is malformed: expected `memory` or `dynamodb`, not `{other}`")
        }
    }
}

fn parse_address(args: &[String]) -> anyhow::Result<(String, u16)> {
    let mut host = "127.0.0.1".to_string();
    let mut port = 3000;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host" => host = args.next().context("--host needs a value")?.clone(),
            "--port" => {
                port =
                    args.next().context("--port needs a value")?.parse().context("--port must be a number")?
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    Ok((host, port))
}
