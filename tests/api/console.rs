//! Issue 17: the dev server's console in a real browser. Headless Chromium (the Debian package)
//! loads `/` from a dev server, plays a conversation to a handover and back through the page's
//! own controls, checks what the page shows (transcripts, owner, live log, chart), and saves a
//! screenshot. Driven over the DevTools protocol on loopback.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The browser, found on PATH (or at `$CHROMIUM`).
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Ends the browser with the test, whatever happens (then its profile directory goes).
struct Browser {
    process: Child,
    _profile: tempdir::Dir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

mod tempdir {
    /// A directory removed when dropped (the browser's profile).
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Starts headless Chromium with a DevTools port on loopback; returns the port.
fn start_browser(binary: &PathBuf) -> (Browser, u16) {
    let profile = tempdir::Dir::new("handover-chromium");
    let mut child = Command::new(binary)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1440,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let stderr = child.stderr.take().unwrap();
    let browser = Browser { process: child, _profile: profile };
    let mut port = None;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("DevTools listening on ws://127.0.0.1:").nth(1) {
            port = rest.split('/').next().and_then(|p| p.parse().ok());
            break;
        }
    }
    (browser, port.expect("Chromium prints its DevTools address"))
}

/// A DevTools session with one page.
struct Page {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    next_id: u64,
}

impl Page {
    async fn connect(port: u16) -> Self {
        let targets: Vec<Value> =
            reqwest::get(format!("http://127.0.0.1:{port}/json/list")).await.unwrap().json().await.unwrap();
        let page = targets.iter().find(|t| t["type"] == "page").expect("a page target");
        let url = page["webSocketDebuggerUrl"].as_str().unwrap();
        let (socket, _) = tokio_tungstenite::connect_async(url).await.expect("DevTools websocket");
        Self { socket, next_id: 0 }
    }

    async fn send(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(Message::Text(message.into())).await.unwrap();
        loop {
            let Message::Text(text) = self.socket.next().await.expect("an answer").unwrap() else { continue };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// Evaluates JavaScript in the page (promises awaited) and returns its value.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .send(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        assert!(result.get("exceptionDetails").is_none(), "{expression}: {result}");
        result["result"]["value"].clone()
    }

    /// Waits until `condition` (JavaScript) is true in the page; fails naming it after 20 s.
    async fn wait_for(&mut self, what: &str, condition: &str) {
        for _ in 0..200 {
            if self.eval(&format!("Boolean({condition})")).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = self.eval("document.querySelector('main').innerText").await;
        panic!(
            "the page never showed {what} ({condition}); it shows:\n{}",
            page.as_str().unwrap_or_default()
        );
    }

    /// Types `text` into the input `input` and submits its form, as a person would.
    async fn submit(&mut self, input: &str, text: &str) {
        self.eval(&format!(
            "(() => {{ const i = document.querySelector('{input}'); i.value = {text}; i.form.requestSubmit(); }})()",
            text = json!(text)
        ))
        .await;
    }

    async fn click(&mut self, selector: &str) {
        self.eval(&format!("document.querySelector('{selector}').click()")).await;
    }
}

fn count(selector: &str) -> String {
    format!("document.querySelectorAll('{selector}').length")
}

/// A headless Chromium with one page, or `None` (said on stderr) when none is installed.
async fn browser(test: &str) -> Option<(Browser, Page)> {
    let Some(binary) = chromium() else {
        eprintln!(
            "SKIPPED {test}: Chromium is not installed (Debian: apt-get install chromium; or set CHROMIUM)"
        );
        return None;
    };
    let (browser, port) = start_browser(&binary);
    // The DevTools listing is read with reqwest, which needs rustls' crypto (ring) installed.
    handover_core::wiring::install_crypto_provider();
    let mut page = Page::connect(port).await;
    page.send("Page.enable", json!({})).await;
    Some((browser, page))
}

#[tokio::test]
async fn the_console_plays_a_conversation_to_a_handover_and_back_in_a_real_browser() {
    let Some((_browser, mut page)) = browser("the console's test").await else { return };
    let dev = handover::devserver::start("127.0.0.1", 0, HashMap::new()).await.unwrap();
    page.send("Page.navigate", json!({"url": format!("http://{}/", dev.address)})).await;
    page.wait_for("the customer pane", "document.querySelector('#thread-select option[value=t1]')").await;
    assert_eq!(page.eval("document.title").await, "handover console");

    // The customer says hello: the bot answers.
    page.submit("#customer-text", "hello").await;
    page.wait_for("the bot's answer", &format!("{} === 1", count("#customer-transcript .from-bot"))).await;
    let answer = page.eval("document.querySelector('#customer-transcript .from-bot').innerText").await;
    assert!(answer.as_str().unwrap().contains("virtual assistant"), "{answer}");
    page.wait_for("the thread with the bot", "document.querySelector('#thread-owner').innerText === 'bot'")
        .await;

    // The customer asks for a person: the thread goes to the agents.
    page.submit("#customer-text", "I want to talk to a human").await;
    page.wait_for(
        "the thread with the agents",
        "document.querySelector('#thread-owner').innerText === 'agent'",
    )
    .await;
    page.wait_for("t1 in the agent pane", "document.querySelector('#agent-threads li[data-thread=t1]')")
        .await;
    page.wait_for(
        "the agent's briefing in the agent pane",
        "(document.querySelector('#agent-transcript .from-note') || {}).textContent?.includes('Handed over by the bot')",
    )
        .await;

    // The agent answers; the bot stays quiet.
    let bot_lines = page.eval(&count("#customer-transcript .from-bot")).await;
    page.submit("#agent-text", "Hi, I am Ana. How can I help?").await;
    page.wait_for("the agent's reply", &format!("{} === 1", count("#customer-transcript .from-agent"))).await;
    assert_eq!(
        page.eval(&count("#customer-transcript .from-bot")).await,
        bot_lines,
        "the bot never talks over the agent"
    );

    // The agent closes the intervention: the thread is the bot's again, and the bot answers.
    page.click("#agent-close").await;
    page.wait_for(
        "the thread back with the bot",
        "document.querySelector('#thread-owner').innerText === 'bot'",
    )
    .await;
    page.submit("#customer-text", "hello again").await;
    let more = bot_lines.as_u64().unwrap() + 1;
    page.wait_for(
        "the bot answering again",
        &format!("{} === {more}", count("#customer-transcript .from-bot")),
    )
    .await;

    // The live log shows the calls to the platform, the bot and the store.
    page.wait_for("the recategorization in the live log", "[...document.querySelectorAll('#log tr[data-kind=platform]')].some(r => r.innerText.includes('update_categories'))").await;
    for kind in ["bot", "store"] {
        page.wait_for(
            &format!("{kind} calls in the live log"),
            &format!("{} > 0", count(&format!("#log tr[data-kind={kind}]"))),
        )
        .await;
    }
    // The chart, from the analytics route: one conversation, one handover.
    page.wait_for(
        "the analytics",
        "document.querySelector('#containment').innerText.includes('handovers 1')",
    )
    .await;
    page.wait_for(
        "a conversation bar",
        "document.querySelector('#chart rect[data-series=conversations][data-value=\"1\"]')",
    )
    .await;

    // Agents away: the page's buttons reach the sandbox at once.
    page.click("[data-status=away]").await;
    page.wait_for("the agents away", "document.querySelector('[data-status=away]').className === 'on'").await;
    let agents: Value =
        reqwest::get(format!("http://{}/sandbox/agents", dev.address)).await.unwrap().json().await.unwrap();
    assert_eq!(agents["status"], "away");
    page.click("[data-status=available]").await;

    let shot = page.send("Page.captureScreenshot", json!({"format": "png"})).await;
    let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("console screenshot: {}", path.display());

    // The emergency switch, from its button: the bot's conversation goes to the agents.
    page.click("#emergency-toggle").await;
    page.wait_for(
        "the switch on",
        "document.querySelector('#emergency-status').innerText.startsWith('emergency ON')",
    )
    .await;
    page.wait_for(
        "t1 handed over by the switch",
        "document.querySelector('#thread-owner').innerText === 'agent'",
    )
    .await;
    page.wait_for(
        "the switch's progress",
        "document.querySelector('#emergency-status').innerText.includes('1 handed over')",
    )
    .await;
    page.click("#emergency-toggle").await;
    page.wait_for(
        "the switch off",
        "document.querySelector('#emergency-status').innerText === 'emergency: off'",
    )
    .await;

    // The contact center closed: a new conversation asking for a person hears when the
    // agents are back, and stays with the bot.
    page.click("[data-hours=closed]").await;
    page.wait_for(
        "the contact center closed",
        "document.querySelector('[data-hours=closed]').className === 'on'",
    )
    .await;
    page.click("#new-thread").await;
    page.submit("#customer-text", "I want to talk to a human").await;
    page.wait_for(
        "the closed message",
        "[...document.querySelectorAll('#customer-transcript .from-bot')].some(m => m.innerText.includes('they will be back'))",
    )
    .await;
    page.wait_for(
        "the new thread with the bot",
        "document.querySelector('#thread-owner').innerText === 'bot'",
    )
    .await;
    page.click("[data-hours=open]").await;
    dev.server.abort();
}

/// Issue 19, item 5: the website script of `examples/` runs the configured chat trigger once
/// the chat library has started, and only when the chat window is not shown already. Run in
/// the browser against a stand-in for the chat library's manager.
#[tokio::test]
async fn the_example_chat_trigger_script_opens_the_chat_only_when_it_is_not_shown() {
    let Some((_browser, mut page)) = browser("the chat trigger example's test").await else { return };
    let script =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/open-chat-outside-hours.js"))
            .unwrap()
            .replace("\"xxxxxxxxxx\"", "\"trigger-42\"");
    // The chat library's stand-in: two triggers, and `_chatq`'s `started` event fired by hand.
    let run = |window_shown: bool| {
        format!(
            r#"(() => {{
                document.body.innerHTML = {window_shown} ? '<div class="dimelo-chat-window"></div>' : '';
                window._chatq = [];
                const manager = {{ triggers: [{{ id: "trigger-1" }}, {{ id: "trigger-42" }}], activated: [],
                    activateTrigger(trigger) {{ this.activated.push(trigger.id); }} }};
                window.Dimelo = {{ Chat: {{ Manager: {{ ChatQLoader: {{ manager }} }} }} }};
                (0, eval)({script});
                if (manager.activated.length !== 0) return "ran before the library started";
                for (const [kind, event, callback] of window._chatq) {{
                    if (kind === "_onEvent" && event === "started") callback({{}});
                }}
                return manager.activated;
            }})()"#,
            script = json!(script)
        )
    };
    assert_eq!(page.eval(&run(false)).await, json!(["trigger-42"]));
    assert_eq!(page.eval(&run(true)).await, json!([]), "the chat is shown already: nothing to open");
}
