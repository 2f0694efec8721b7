//! The bot protocol (CONTRACT C12) and its backends.

pub mod builtin;
pub mod http;
pub mod lex;
pub mod openai;

use serde::{Deserialize, Serialize};

pub use builtin::{BuiltinBot, RulesError};
pub use http::HttpBot;
pub use lex::LexBot;
pub use openai::OpenAiBot;

/// Which platform a conversation lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Engage,
    Zenvia,
}

/// What the bot is asked (the body of `POST BOT_URL`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BotRequest {
    pub conversation_id: String,
    pub channel: Channel,
    pub message: BotMessage,
    /// The conversation's recent messages, oldest first; only for a backend that keeps them
    /// ([`Bot::memory`]), so the http protocol (C12) never carries it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
}

/// One message of the conversation as the bot remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryEntry {
    // Shared, not owned: the thread's state carries up to its whole kept history, and is
    // cloned as it is loaded, planned and saved on every turn.
    Customer(std::sync::Arc<str>),
    Bot(std::sync::Arc<str>),
}

impl HistoryEntry {
    pub fn text(&self) -> &str {
        match self {
            Self::Customer(text) | Self::Bot(text) => text,
        }
    }
}

/// How much of a conversation a backend that needs it keeps in the thread's state: the item
/// must stay bounded however long the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    pub messages: usize,
    pub chars: usize,
}

/// `history` with the customer's message and the bot's replies added, the oldest messages
/// dropped until both limits hold (a single message longer than `chars` is cut).
pub fn remember(
    history: &[HistoryEntry],
    customer: &str,
    replies: &[String],
    limits: MemoryLimits,
) -> Vec<HistoryEntry> {
    let cut = |text: &str| match text.char_indices().nth(limits.chars) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    };
    let added: Vec<HistoryEntry> = std::iter::once(HistoryEntry::Customer(cut(customer).into()))
        .chain(replies.iter().map(|reply| HistoryEntry::Bot(cut(reply).into())))
        .collect();
    // Walk back from the newest message, counting each one's characters once, and keep what
    // fits; only the kept part of the old history is cloned (this runs on every turn).
    let newest_first = added.iter().rev().chain(history.iter().rev());
    let (mut kept_count, mut chars) = (0, 0);
    for entry in newest_first.take(limits.messages) {
        chars += entry.text().chars().count();
        if chars > limits.chars {
            break;
        }
        kept_count += 1;
    }
    let added_dropped = added.len().saturating_sub(kept_count);
    let from_history = kept_count.saturating_sub(added.len());
    let mut kept = Vec::with_capacity(kept_count);
    kept.extend_from_slice(&history[history.len() - from_history..]);
    kept.extend(added.into_iter().skip(added_dropped));
    kept
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BotMessage {
    pub id: String,
    pub text: String,
    /// `text`, or the platform's type for other messages (`image`, `chat/message`, ...).
    #[serde(rename = "type")]
    pub message_type: String,
    pub language: Option<String>,
    pub author_id: Option<String>,
    pub first: bool,
}

/// What the bot wants done after its replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BotAction {
    #[default]
    None,
    Handover,
    Resolve,
}

/// The bot's answer (`200` body of `POST BOT_URL`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BotAnswer {
    #[serde(default)]
    pub replies: Vec<String>,
    #[serde(default)]
    pub action: BotAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With a handover: a paragraph for the agent (what the customer wants, what was tried),
    /// first in the agent's briefing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// The reason a bot gives when it did not understand; counts toward `MAX_BOT_FAILURES`.
pub const FALLBACK_REASON: &str = "fallback";

impl BotAnswer {
    pub fn is_fallback(&self) -> bool {
        self.action == BotAction::None && self.reason.as_deref() == Some(FALLBACK_REASON)
    }

    /// The answer when it stays within [`AnswerBounds`]: an answer past them is a bot failure
    /// (handed over like one), never stored or posted, so no record, statistics key or
    /// platform call sees an unbounded text.
    pub fn within_bounds(self) -> Result<Self, BotError> {
        let bounds = AnswerBounds::PRODUCT;
        if self.replies.len() > bounds.replies {
            return Err(BotError::TooLarge(format!(
                "{} replies (at most {})",
                self.replies.len(),
                bounds.replies
            )));
        }
        if let Some(long) = self.replies.iter().map(|r| r.chars().count()).find(|n| *n > bounds.reply_chars) {
            return Err(BotError::TooLarge(format!(
                "a reply of {long} characters (at most {})",
                bounds.reply_chars
            )));
        }
        if let Some(n) =
            self.summary.as_deref().map(|s| s.chars().count()).filter(|n| *n > bounds.summary_chars)
        {
            return Err(BotError::TooLarge(format!(
                "a summary of {n} characters (at most {})",
                bounds.summary_chars
            )));
        }
        match self.reason.as_deref().map(|r| r.chars().count()) {
            Some(n) if n > bounds.reason_chars => Err(BotError::TooLarge(format!(
                "a reason of {n} characters (at most {})",
                bounds.reason_chars
            ))),
            _ => Ok(self),
        }
    }
}

/// What the product takes from a bot's answer, whatever the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerBounds {
    pub replies: usize,
    pub reply_chars: usize,
    /// A reason becomes part of a statistics key (DynamoDB keys stop at 2 KB).
    pub reason_chars: usize,
    pub summary_chars: usize,
    /// The most of an HTTP answer's body that is read.
    pub body_bytes: usize,
}

impl AnswerBounds {
    pub const PRODUCT: Self =
        Self { replies: 10, reply_chars: 4_000, reason_chars: 64, summary_chars: 1_000, body_bytes: 1 << 20 };
}

/// A bot that could not answer. Each is a reason to hand the conversation over.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BotError {
    #[error("the bot did not answer within {0} ms")]
    Timeout(u64),
    #[error("the bot answered HTTP {0}")]
    Status(u16),
    #[error("the bot's answer could not be read: {0}")]
    Malformed(String),
    #[error("the bot could not be reached: {0}")]
    Unreachable(String),
    #[error("the bot's answer is past the product's bounds: {0}")]
    TooLarge(String),
}

impl BotError {
    /// A short reason for the thread's record and the analytics.
    pub fn reason(&self) -> String {
        match self {
            Self::Timeout(_) => "bot_timeout".into(),
            Self::Status(code) => format!("bot_http_{code}"),
            Self::Malformed(_) => "bot_malformed_answer".into(),
            Self::Unreachable(_) => "bot_unreachable".into(),
            Self::TooLarge(_) => "bot_answer_too_large".into(),
        }
    }
}

#[async_trait::async_trait]
pub trait Bot: Send + Sync {
    /// The backend's answer as it came. Callers use [`ask_within_bounds`].
    async fn ask(&self, request: &BotRequest) -> Result<BotAnswer, BotError>;

    /// `Some` when the backend needs the conversation's recent messages with each request
    /// (a language model has no memory of its own); they are then kept in the thread's state.
    fn memory(&self) -> Option<MemoryLimits> {
        None
    }
}

/// Asks `bot`, an answer past [`AnswerBounds`] being a failure like any other.
pub async fn ask_within_bounds(bot: &dyn Bot, request: &BotRequest) -> Result<BotAnswer, BotError> {
    bot.ask(request).await.and_then(BotAnswer::within_bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_past_the_bounds_are_failures() {
        let answer = |replies: Vec<String>, reason: Option<String>| BotAnswer {
            summary: None,
            replies,
            action: BotAction::Handover,
            reason,
        };
        let at_bounds = answer(vec!["r".repeat(4_000); 10], Some("x".repeat(64)));
        assert_eq!(at_bounds.clone().within_bounds(), Ok(at_bounds));
        for past in [
            answer(vec!["r".into(); 11], None),
            answer(vec!["r".repeat(4_001)], None),
            answer(vec![], Some("x".repeat(65))),
        ] {
            let err = past.within_bounds().unwrap_err();
            assert_eq!(err.reason(), "bot_answer_too_large", "{err}");
        }
        // Characters, not bytes: 4,000 accented letters are within.
        assert!(answer(vec!["é".repeat(4_000)], None).within_bounds().is_ok());
    }

    #[test]
    fn remembered_history_stays_within_both_limits() {
        let limits = MemoryLimits { messages: 4, chars: 30 };
        let history = remember(&[], "hello", &["hi there".into()], limits);
        assert_eq!(
            history,
            vec![HistoryEntry::Customer("hello".into()), HistoryEntry::Bot("hi there".into())]
        );

        // Five messages: the oldest goes.
        let history = remember(&history, "order?", &["which one".into(), "?".into()], limits);
        assert_eq!(history.len(), 4);
        assert_eq!(history[0], HistoryEntry::Bot("hi there".into()));

        // Past 30 characters: the oldest go until it fits.
        let history = remember(&history, "a longer message here", &[], limits);
        assert_eq!(
            history,
            vec![HistoryEntry::Bot("?".into()), HistoryEntry::Customer("a longer message here".into())]
        );

        // A message longer than the whole budget is cut, never kept whole.
        let history = remember(&history, &"x".repeat(100), &[], limits);
        assert_eq!(history, vec![HistoryEntry::Customer("x".repeat(30).into())]);
    }

    #[test]
    fn remembering_keeps_the_longest_recent_run_that_fits_whatever_the_sizes() {
        // The plain statement of the rule (append, then drop the oldest until both limits
        // hold), against the one-pass version on many shapes of history.
        fn by_the_rule(
            history: &[HistoryEntry],
            customer: &str,
            replies: &[String],
            limits: MemoryLimits,
        ) -> Vec<HistoryEntry> {
            let cut = |text: &str| text.chars().take(limits.chars).collect::<String>();
            let mut kept = history.to_vec();
            kept.push(HistoryEntry::Customer(cut(customer).into()));
            kept.extend(replies.iter().map(|reply| HistoryEntry::Bot(cut(reply).into())));
            while kept.len() > limits.messages
                || kept.iter().map(|e| e.text().chars().count()).sum::<usize>() > limits.chars
            {
                kept.remove(0);
            }
            kept
        }
        let mut seed = 7u64;
        let mut next = move |below: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) % below) as usize
        };
        for _ in 0..2_000 {
            let limits = MemoryLimits { messages: 1 + next(6), chars: 1 + next(40) };
            let history: Vec<HistoryEntry> = (0..next(8))
                .map(|i| HistoryEntry::Bot(format!("{i}{}", "é".repeat(next(12))).into()))
                .collect();
            let customer = "c".repeat(next(50));
            let replies: Vec<String> = (0..next(4)).map(|_| "r".repeat(next(20))).collect();
            assert_eq!(
                remember(&history, &customer, &replies, limits),
                by_the_rule(&history, &customer, &replies, limits),
                "{history:?} {customer:?} {replies:?} {limits:?}"
            );
        }
    }

    #[test]
    fn history_is_not_part_of_the_http_protocol_when_empty() {
        let request = BotRequest {
            conversation_id: "t1".into(),
            channel: Channel::Engage,
            message: BotMessage {
                id: "m1".into(),
                text: "hi".into(),
                message_type: "text".into(),
                language: None,
                author_id: None,
                first: true,
            },
            history: vec![],
        };
        let body = serde_json::to_value(&request).unwrap();
        assert!(body.get("history").is_none(), "{body}");
    }
}
