//! The `lex` backend: an Amazon Lex V2 bot through `RecognizeText`, one Lex session per
//! conversation (Lex keeps the dialog's state itself).

use std::time::Duration;

use aws_sdk_lexruntimev2::config::http::HttpResponse;
use aws_sdk_lexruntimev2::error::{DisplayErrorContext, SdkError};
use aws_sdk_lexruntimev2::operation::recognize_text::{RecognizeTextError, RecognizeTextOutput};
use aws_sdk_lexruntimev2::types::{DialogActionType, IntentState, MessageContentType};

use super::{Bot, BotAction, BotAnswer, BotError, BotRequest, FALLBACK_REASON};

/// Lex's built-in intent for "not understood".
pub const FALLBACK_INTENT: &str = "FallbackIntent";

/// Which Lex bot answers, and what its intents mean to the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexSettings {
    pub bot_id: String,
    pub bot_alias_id: String,
    /// The locale when the message's language has none in `locales`.
    pub locale_id: String,
    /// Message language → Lex locale (`fr` → `fr_FR`).
    pub locales: Vec<(String, String)>,
    /// The intent that hands the conversation over (its name is the handover's reason).
    pub handover_intent: String,
    /// Intents that, closed and fulfilled, resolve the conversation.
    pub resolve_intents: Vec<String>,
    pub timeout: Duration,
    /// `LEX_ENDPOINT`: another endpoint than AWS's (tests).
    pub endpoint: Option<String>,
}

pub struct LexBot {
    client: aws_sdk_lexruntimev2::Client,
    settings: LexSettings,
}

impl LexBot {
    pub async fn new(settings: LexSettings) -> Self {
        let config = crate::aws::config_for(settings.endpoint.as_deref()).await;
        Self { client: aws_sdk_lexruntimev2::Client::new(&config), settings }
    }

    fn locale_for(&self, language: Option<&str>) -> &str {
        language
            .and_then(|language| self.settings.locales.iter().find(|(l, _)| l.eq_ignore_ascii_case(language)))
            .map_or(self.settings.locale_id.as_str(), |(_, locale)| locale.as_str())
    }
}

#[async_trait::async_trait]
impl Bot for LexBot {
    async fn ask(&self, request: &BotRequest) -> Result<BotAnswer, BotError> {
        let timeout = self.settings.timeout;
        let call = self
            .client
            .recognize_text()
            .bot_id(&self.settings.bot_id)
            .bot_alias_id(&self.settings.bot_alias_id)
            .locale_id(self.locale_for(request.message.language.as_deref()))
            .session_id(session_id(&request.conversation_id))
            .text(&request.message.text)
            .send();
        let output = match tokio::time::timeout(timeout, call).await {
            Err(_) => return Err(BotError::Timeout(timeout.as_millis() as u64)),
            Ok(result) => result.map_err(bot_error)?,
        };
        Ok(answer_from(&LexTurn::from(&output), &self.settings))
    }
}

fn bot_error(err: SdkError<RecognizeTextError, HttpResponse>) -> BotError {
    match &err {
        // An answer the SDK could not read comes back as a "service error" with status 200.
        SdkError::ServiceError(service) if !service.raw().status().is_success() => {
            BotError::Status(service.raw().status().as_u16())
        }
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            BotError::Malformed("Lex's answer could not be read".into())
        }
        _ => BotError::Unreachable(DisplayErrorContext(&err).to_string()),
    }
}

/// What a Lex turn said and did, without the SDK's types: the input of [`answer_from`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LexTurn {
    pub messages: Vec<String>,
    pub intent: Option<String>,
    pub intent_fulfilled: bool,
    pub dialog_closed: bool,
}

impl From<&RecognizeTextOutput> for LexTurn {
    fn from(output: &RecognizeTextOutput) -> Self {
        let messages = output
            .messages()
            .iter()
            .filter_map(|message| match message.content_type() {
                MessageContentType::ImageResponseCard => message.image_response_card().map(|card| {
                    let mut lines = vec![card.title().to_string()];
                    lines.extend(card.subtitle().map(str::to_string));
                    lines.extend(card.buttons().iter().map(|button| format!("- {}", button.text())));
                    lines.join("\n")
                }),
                // A custom payload is for a custom client: nothing a customer can read.
                MessageContentType::CustomPayload => None,
                // Plain text, and SSML read as text (its tags are removed before posting).
                _ => message.content().map(str::to_string),
            })
            .filter(|text| !text.trim().is_empty())
            .collect();
        let state = output.session_state();
        let intent = state.and_then(|s| s.intent());
        Self {
            messages,
            intent: intent.map(|i| i.name().to_string()),
            intent_fulfilled: intent.and_then(|i| i.state()) == Some(&IntentState::Fulfilled),
            dialog_closed: state.and_then(|s| s.dialog_action()).map(|d| d.r#type())
                == Some(&DialogActionType::Close),
        }
    }
}

/// The bot's answer for a Lex turn: the handover intent hands over, a resolve intent closed
/// and fulfilled resolves, `FallbackIntent` is a fallback (counts toward `MAX_BOT_FAILURES`).
pub fn answer_from(turn: &LexTurn, settings: &LexSettings) -> BotAnswer {
    let replies = turn.messages.clone();
    let intent = turn.intent.as_deref().unwrap_or_default();
    if intent == settings.handover_intent {
        return BotAnswer {
            summary: None,
            replies,
            action: BotAction::Handover,
            reason: Some(intent.to_string()),
        };
    }
    if turn.dialog_closed && turn.intent_fulfilled && settings.resolve_intents.iter().any(|i| i == intent) {
        return BotAnswer { summary: None, replies, action: BotAction::Resolve, reason: None };
    }
    if intent == FALLBACK_INTENT || turn.intent.is_none() {
        return BotAnswer {
            summary: None,
            replies,
            action: BotAction::None,
            reason: Some(FALLBACK_REASON.into()),
        };
    }
    BotAnswer { summary: None, replies, action: BotAction::None, reason: None }
}

/// A Lex session id (2 to 100 of `[0-9a-zA-Z._:-]`) for a conversation: the id itself when it
/// fits, otherwise its other characters escaped, and past 100 characters a stable hash.
pub fn session_id(conversation_id: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-');
    let mut id = String::with_capacity(conversation_id.len() + 2);
    for c in conversation_id.chars() {
        if allowed(c) {
            id.push(c);
        } else {
            // `_` starts an escape, so two ids never meet in one session.
            for byte in c.to_string().bytes() {
                id.push_str(&format!("_{byte:02x}"));
            }
        }
    }
    if id.len() < 2 {
        id.insert_str(0, "c-");
    }
    if id.len() > 100 {
        id = format!("h-{:016x}", fnv1a(conversation_id.as_bytes()));
    }
    id
}

/// FNV-1a, 64 bits: stable across builds and platforms (unlike std's hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LexSettings {
        LexSettings {
            bot_id: "BOT".into(),
            bot_alias_id: "ALIAS".into(),
            locale_id: "en_US".into(),
            locales: vec![("fr".into(), "fr_FR".into())],
            handover_intent: "TalkToAgent".into(),
            resolve_intents: vec!["Goodbye".into()],
            timeout: Duration::from_secs(1),
            endpoint: None,
        }
    }

    fn turn(intent: &str, fulfilled: bool, closed: bool) -> LexTurn {
        LexTurn {
            messages: vec!["ok".into()],
            intent: Some(intent.into()),
            intent_fulfilled: fulfilled,
            dialog_closed: closed,
        }
    }

    #[test]
    fn intents_decide_the_action() {
        let s = settings();
        let handover = answer_from(&turn("TalkToAgent", false, false), &s);
        assert_eq!((handover.action, handover.reason.as_deref()), (BotAction::Handover, Some("TalkToAgent")));
        assert_eq!(answer_from(&turn("Goodbye", true, true), &s).action, BotAction::Resolve);
        // A resolve intent still in progress, or not closed, resolves nothing yet.
        assert_eq!(answer_from(&turn("Goodbye", false, true), &s).action, BotAction::None);
        assert_eq!(answer_from(&turn("Goodbye", true, false), &s).action, BotAction::None);
        // Another intent, closed and fulfilled, is an answer.
        let answered = answer_from(&turn("OrderStatus", true, true), &s);
        assert_eq!((answered.action, answered.is_fallback()), (BotAction::None, false));
        assert!(answer_from(&turn(FALLBACK_INTENT, false, true), &s).is_fallback());
        assert!(answer_from(&LexTurn::default(), &s).is_fallback());
    }

    #[test]
    fn session_ids_fit_lex_and_never_collide() {
        assert_eq!(session_id("5f1a2b3c"), "5f1a2b3c");
        assert_eq!(session_id("zenvia:ab12"), "zenvia:ab12");
        assert_eq!(session_id("a/b"), "a_2fb");
        assert_ne!(session_id("a_b"), session_id("a b"));
        assert_eq!(session_id("x"), "c-x");
        let long = session_id(&"t".repeat(150));
        assert!(long.len() <= 100 && long.starts_with("h-"), "{long}");
        assert_eq!(long, session_id(&"t".repeat(150)));
    }
}
