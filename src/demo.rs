//! `handover demo`: scripted conversations against the sandbox, printed as a transcript of
//! what the customer says, what the bot answers, and every call the platform receives.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Context;
use serde_json::{Value, json};

use crate::devserver::{self, DEFAULT_AGENT_CATEGORY, DEFAULT_BOT_CATEGORY};

const DEMO_TOKEN: &str = "demo-emergency-token";

struct Demo<'a, W: Write> {
    out: &'a mut W,
    http: reqwest::Client,
    base: String,
    calls_seen: usize,
    /// Notes already shown, per thread.
    notes_seen: HashMap<String, usize>,
}

impl<'a, W: Write> Demo<'a, W> {
    /// A demo writing to `out`, talking to the dev server `dev`.
    fn on(out: &'a mut W, dev: &devserver::DevServer) -> Self {
        let base = format!("http://{}", dev.address);
        Demo { out, http: reqwest::Client::new(), base, calls_seen: 0, notes_seen: HashMap::new() }
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(DEMO_TOKEN)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        Ok(response.json().await?)
    }

    fn line(&mut self, text: impl AsRef<str>) -> anyhow::Result<()> {
        writeln!(self.out, "{}", text.as_ref())?;
        Ok(())
    }

    fn title(&mut self, text: &str) -> anyhow::Result<()> {
        self.line("")?;
        self.line(format!("== {text}"))
    }

    /// The platform calls made since the last time, indented under what caused them.
    async fn platform_calls(&mut self) -> anyhow::Result<()> {
        let calls: Vec<String> =
            self.http.get(format!("{}/sandbox/calls", self.base)).send().await?.json().await?;
        for call in &calls[self.calls_seen..] {
            self.line(format!("     platform: {call}"))?;
        }
        self.calls_seen = calls.len();
        Ok(())
    }

    async fn customer(&mut self, thread: &str, text: &str, language: &str) -> anyhow::Result<()> {
        self.line(format!("[{thread}] customer> {text}"))?;
        let answer = self
            .post("/sandbox/customer", json!({"thread": thread, "text": text, "language": language}))
            .await?;
        let replies = answer["bot_replies"].as_array().cloned().unwrap_or_default();
        if replies.is_empty() {
            self.line(format!("[{thread}] (no bot reply)"))?;
        }
        for reply in replies {
            self.line(format!("[{thread}] bot> {}", reply.as_str().unwrap_or_default()))?;
        }
        self.platform_calls().await?;
        self.notes(thread).await?;
        self.categories(thread, &answer["thread_categories"])
    }

    /// The notes the agents find on the thread (the agent's briefing at a handover).
    async fn notes(&mut self, thread: &str) -> anyhow::Result<()> {
        let threads: Vec<Value> =
            self.http.get(format!("{}/sandbox/threads", self.base)).send().await?.json().await?;
        let notes =
            threads.iter().find(|t| t["id"] == thread).map(|t| t["notes"].clone()).unwrap_or_default();
        let notes: Vec<String> =
            notes.as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect();
        let seen = self.notes_seen.entry(thread.to_string()).or_default();
        let new: Vec<String> = notes.into_iter().skip(*seen).collect();
        *seen += new.len();
        for note in new {
            for line in note.lines() {
                self.line(format!("[{thread}] note for the agent> {line}"))?;
            }
        }
        Ok(())
    }

    fn categories(&mut self, thread: &str, categories: &Value) -> anyhow::Result<()> {
        let names: Vec<&str> = categories
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|c| match c {
                DEFAULT_BOT_CATEGORY => "BOT",
                DEFAULT_AGENT_CATEGORY => "AGENT",
                other => other,
            })
            .collect();
        self.line(format!("[{thread}] thread category: {}", names.join(", ")))
    }
}

/// Runs the demo on a private dev server (any free port) and writes the transcript.
pub async fn run(out: &mut impl Write) -> anyhow::Result<()> {
    let env = HashMap::from([
        ("EMERGENCY_TOKEN".to_string(), DEMO_TOKEN.to_string()),
        // The switch takes effect on the next message, not a few seconds later.
        ("EMERGENCY_CACHE_SECONDS".to_string(), "0".to_string()),
    ]);
    let dev = devserver::start("127.0.0.1", 0, env).await?;
    let mut demo = Demo::on(out, &dev);
    demo.line("handover demo: a simulated Engage Digital, the builtin bot, an in-memory store")?;

    demo.title("1. The bot answers, then the customer says goodbye")?;
    demo.customer("t1", "Hello", "en").await?;
    demo.customer("t1", "What are your opening hours?", "en").await?;
    demo.customer("t1", "Thanks, bye", "en").await?;

    demo.title("2. The customer asks for a person; an agent is available")?;
    demo.customer("t2", "Hi, where is my order?", "en").await?;
    demo.customer("t2", "I want to talk to a human", "en").await?;
    demo.customer("t2", "Hello? Anyone?", "en").await?;

    demo.title("3. The customer asks for a person; every agent is away")?;
    demo.post("/sandbox/agents", json!({"available": false})).await?;
    demo.line("(every agent is away)")?;
    demo.customer("t3", "Bonjour", "fr").await?;
    demo.customer("t3", "Je veux parler à un conseiller", "fr").await?;
    demo.post("/sandbox/agents", json!({"available": true})).await?;
    demo.line("(the agents are back)")?;

    demo.title("4. The agent closes the conversation; the bot takes over again")?;
    let closed = demo.post("/sandbox/agent/close", json!({"thread": "t2"})).await?;
    demo.line("[t2] agent closes the intervention")?;
    demo.platform_calls().await?;
    demo.categories("t2", &closed["thread_categories"])?;
    demo.customer("t2", "Hello again", "en").await?;

    demo.title("5. Emergency: every conversation goes to the agents")?;
    demo.customer("t5", "Hello", "en").await?;
    let on = demo.post("/emergency", json!({"active": true, "reason": "the bot answers nonsense"})).await?;
    demo.line(format!(
        "emergency on: active={} handed_over={} remaining={}",
        on["active"], on["handed_over"], on["remaining"]
    ))?;
    demo.platform_calls().await?;
    demo.customer("t6", "Hello", "en").await?;
    let off = demo.post("/emergency", json!({"active": false, "reason": "fixed"})).await?;
    demo.line(format!("emergency off: active={}", off["active"]))?;
    demo.platform_calls().await?;
    demo.customer("t7", "Hello", "en").await?;

    demo.title("6. Outside business hours: the bot says when the agents are back")?;
    demo.post("/sandbox/hours", json!({"open": false})).await?;
    demo.line("(the contact center closes: the sandbox's time sheet opens in two hours)")?;
    demo.customer("t9", "I want to talk to a human", "en").await?;
    demo.post("/sandbox/hours", json!({"open": true})).await?;
    demo.line("(open again)")?;
    dev.server.abort();

    llm_conversation(demo.out).await
}

/// A conversation with `BOT_BACKEND=openai`: the real model when `LLM_API_KEY` (with
/// `LLM_BASE_URL` and `LLM_MODEL`) is set, otherwise the dev server's scripted fake model.
async fn llm_conversation(out: &mut impl Write) -> anyhow::Result<()> {
    let mut env = HashMap::from([("BOT_BACKEND".to_string(), "openai".to_string())]);
    let real_model = std::env::var("LLM_API_KEY").is_ok_and(|key| !key.trim().is_empty());
    if real_model {
        for name in ["LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL", "LLM_SYSTEM_PROMPT_FILE"] {
            if let Ok(value) = std::env::var(name) {
                env.insert(name.to_string(), value);
            }
        }
    }
    let dev = devserver::start("127.0.0.1", 0, env).await?;
    let mut demo = Demo::on(out, &dev);
    demo.title(if real_model {
        "7. An LLM bot (BOT_BACKEND=openai, your model)"
    } else {
        "7. An LLM bot (BOT_BACKEND=openai, a scripted fake model: set LLM_BASE_URL, LLM_API_KEY, LLM_MODEL for yours)"
    })?;
    demo.customer("t8", "Hi, I have a question about my order", "en").await?;
    demo.customer("t8", "It has not arrived", "en").await?;
    demo.customer("t8", "Can I talk to a person?", "en").await?;
    dev.server.abort();
    Ok(())
}
