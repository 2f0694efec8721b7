//! `handover`: the local dev server and CLI.
//!
//! - `handover serve [--host 127.0.0.1] [--port 3000]` (the default): every function's routes
//!   on one server, with an embedded store, the builtin bot and, when `ENGAGE_API_URL` is
//!   unset, a simulated Engage Digital.
//! - `handover replay <function> <events/file.json>`: one sample API Gateway event through a
//!   function, printing the HTTP response.
//! - `handover demo`: scripted conversations against the sandbox, as a transcript.
//! - `handover emergency on|off|status`: the emergency switch of a running dev server.

use anyhow::{Context, bail};
use handover::{devserver, replay};
use handover_core::config::{Env, ProcessEnv};
use handover_core::telemetry;

const USAGE: &str = "usage:
  handover [serve] [--host HOST] [--port PORT]   run every function locally (default 127.0.0.1:3000)
  handover replay <function> <event.json>        run one API Gateway event through a function (function: webhook, rebot, emergency, zenvia, analytics)
  handover demo                                  scripted conversations against the sandbox, printed as a transcript
  handover emergency on|off [--reason TEXT] [--url URL]
  handover emergency status [--url URL]          switch or read the emergency handover of a running dev server
                                                 (default URL http://127.0.0.1:3000; sends Bearer $EMERGENCY_TOKEN)";

// A long-running server allocating small buffers per event: mimalloc's thread-local free lists
// cost a fraction of glibc malloc's (15% of the dev server's CPU under the side-by-side load).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        // Warnings only, so the transcript reads cleanly.
        Some("demo") => telemetry::init_with(tracing::level_filters::LevelFilter::WARN),
        _ => telemetry::init(),
    }
    if let Err(err) = run(args).await {
        eprintln!("{err:#}");
        std::process::exit(2);
    }
}

async fn run(args: Vec<String>) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("replay") => {
            let [_, function, file] = args.as_slice() else { bail!("{USAGE}") };
            let event = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
            let dev = devserver::start("127.0.0.1", 0, std::env::vars().collect()).await?;
            let response = replay::replay(&dev.functions, function, &event).await?;
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
        Some("demo") => handover::demo::run(&mut std::io::stdout()).await,
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
    let (host, port) = parse_address(args)?;
    let dev = devserver::start(&host, port, std::env::vars().collect()).await?;
    println!("{}", dev.banner());
    dev.server.await.context("the server stopped")??;
    Ok(())
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
