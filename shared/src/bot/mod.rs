//! The bot protocol (CONTRACT C12) and its backends.

pub mod builtin;
pub mod http;

use serde::{Deserialize, Serialize};

pub use builtin::{BuiltinBot, RulesError};
pub use http::HttpBot;

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
}

/// The reason a bot gives when it did not understand; counts toward `MAX_BOT_FAILURES`.
pub const FALLBACK_REASON: &str = "fallback";

impl BotAnswer {
    pub fn is_fallback(&self) -> bool {
        self.action == BotAction::None && self.reason.as_deref() == Some(FALLBACK_REASON)
    }
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
}

impl BotError {
    /// A short reason for the thread's record and the analytics.
    pub fn reason(&self) -> String {
        match self {
            Self::Timeout(_) => "bot_timeout".into(),
            Self::Status(code) => format!("bot_http_{code}"),
            Self::Malformed(_) => "bot_malformed_answer".into(),
            Self::Unreachable(_) => "bot_unreachable".into(),
        }
    }
}

#[async_trait::async_trait]
pub trait Bot: Send + Sync {
    async fn ask(&self, request: &BotRequest) -> Result<BotAnswer, BotError>;
}
