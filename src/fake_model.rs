//! A scripted stand-in for an OpenAI-compatible model, so `BOT_BACKEND=openai` works in the dev
//! server and the demo with no key and no network. It speaks the Chat Completions protocol the
//! real backend uses (tools included) and answers by keywords, not by thinking.

use axum::Json;
use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};

/// Where the dev server serves it; `LLM_BASE_URL` points here when unset.
pub const FAKE_MODEL_PATH: &str = "/sandbox/model/v1";
pub const FAKE_MODEL_NAME: &str = "sandbox-scripted-model";

pub fn router() -> Router {
    Router::new().route(&format!("{FAKE_MODEL_PATH}/chat/completions"), post(chat_completions))
}

async fn chat_completions(Json(request): Json<Value>) -> Json<Value> {
    Json(completion(&request))
}

/// The answer to a Chat Completions request: a handover for a person, a resolve for a
/// goodbye, otherwise an echo that shows what the model was given of the conversation.
pub fn completion(request: &Value) -> Value {
    let said: Vec<&str> = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .collect();
    let last = said.last().copied().unwrap_or_default();
    let lower = last.to_lowercase();
    let mentions = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let (content, tool) = if mentions(&["person", "human", "agent", "conseiller", "humain"]) {
        ("I'll find you a person.".to_string(), Some(("handover", r#"{"reason":"asked_for_agent"}"#)))
    } else if mentions(&["bye", "thank", "merci", "au revoir"]) {
        ("You're welcome. Goodbye!".to_string(), Some(("resolve", "{}")))
    } else if said.len() > 1 {
        (format!("(scripted model) You said \"{last}\"; earlier, \"{}\".", said[said.len() - 2]), None)
    } else {
        (format!("(scripted model) You said \"{last}\". Ask for a person, or say bye."), None)
    };
    let mut message = json!({"role": "assistant", "content": content});
    if let Some((name, arguments)) = tool {
        message["tool_calls"] =
            json!([{"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]);
    }
    json!({
        "id": "chatcmpl-sandbox", "object": "chat.completion", "model": FAKE_MODEL_NAME,
        "choices": [{"index": 0, "message": message, "finish_reason": if tool.is_some() { "tool_calls" } else { "stop" }}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use handover_core::bot::BotAction;
    use handover_core::bot::openai::answer_from;

    fn ask(texts: &[&str]) -> handover_core::bot::BotAnswer {
        let messages: Vec<Value> = texts.iter().map(|t| json!({"role": "user", "content": t})).collect();
        let body = serde_json::to_vec(&completion(&json!({"messages": messages}))).unwrap();
        answer_from(&body).unwrap()
    }

    #[test]
    fn the_real_backend_reads_the_scripted_answers() {
        assert_eq!(ask(&["hi", "a human please"]).action, BotAction::Handover);
        assert_eq!(ask(&["thanks, bye"]).action, BotAction::Resolve);
        let echo = ask(&["hi", "my order"]);
        assert_eq!(echo.action, BotAction::None);
        assert_eq!(echo.replies, vec![r#"(scripted model) You said "my order"; earlier, "hi"."#.to_string()]);
    }
}
