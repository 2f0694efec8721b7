//! The events Zenvia posts to the bot URL. They carry no id and no signature: the URL's own
//! `?token=` authenticates them, and the interaction hash is checked against stored state.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ZenviaEvent {
    NewInteraction {
        interaction_hash: String,
        department_id: Option<i64>,
    },
    NewMessage {
        interaction_hash: String,
        content: String,
        content_type: String,
    },
    FinishedInteraction {
        interaction_hash: String,
    },
    /// Acknowledged and logged.
    Unknown {
        event_type: String,
    },
}

impl ZenviaEvent {
    pub fn event_type(&self) -> &str {
        match self {
            Self::NewInteraction { .. } => "new_interaction",
            Self::NewMessage { .. } => "new_message",
            Self::FinishedInteraction { .. } => "finished_interaction",
            Self::Unknown { event_type } => event_type,
        }
    }

    pub fn interaction_hash(&self) -> Option<&str> {
        match self {
            Self::NewInteraction { interaction_hash, .. }
            | Self::NewMessage { interaction_hash, .. }
            | Self::FinishedInteraction { interaction_hash } => Some(interaction_hash),
            Self::Unknown { .. } => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZenviaEventError {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    #[error("missing `{0}`")]
    Missing(&'static str),
    #[error("`interaction_hash` must be 1 to 100 characters of letters, digits and dashes")]
    BadHash,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    event_type: Option<String>,
    interaction_hash: Option<String>,
    department_id: Option<Value>,
    content: Option<String>,
    content_type: Option<String>,
}

impl ZenviaEvent {
    pub fn parse(body: &[u8]) -> Result<Self, ZenviaEventError> {
        let raw: Raw = serde_json::from_slice(body).map_err(|e| ZenviaEventError::Json(e.to_string()))?;
        let event_type = raw.event_type.ok_or(ZenviaEventError::Missing("type"))?;
        let hash = || -> Result<String, ZenviaEventError> {
            let hash = raw.interaction_hash.clone().ok_or(ZenviaEventError::Missing("interaction_hash"))?;
            let valid = !hash.is_empty()
                && hash.len() <= 100
                && hash.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if valid { Ok(hash) } else { Err(ZenviaEventError::BadHash) }
        };
        Ok(match event_type.as_str() {
            "new_interaction" => Self::NewInteraction {
                interaction_hash: hash()?,
                department_id: match &raw.department_id {
                    Some(Value::Number(n)) => n.as_i64(),
                    Some(Value::String(s)) => s.parse().ok(),
                    _ => None,
                },
            },
            "new_message" => Self::NewMessage {
                interaction_hash: hash()?,
                content: raw.content.unwrap_or_default(),
                content_type: raw.content_type.filter(|t| !t.is_empty()).unwrap_or_else(|| "text".into()),
            },
            "finished_interaction" => Self::FinishedInteraction { interaction_hash: hash()? },
            _ => Self::Unknown { event_type },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_events() {
        let new = br#"{"type": "new_interaction", "interaction_hash": "0000a-000b-0c00-0d0e-f00d00f11111", "department_id": 1}"#;
        assert_eq!(
            ZenviaEvent::parse(new).unwrap(),
            ZenviaEvent::NewInteraction {
                interaction_hash: "0000a-000b-0c00-0d0e-f00d00f11111".into(),
                department_id: Some(1)
            }
        );
        let message = br#"{"type": "new_message", "interaction_hash": "h-1", "content": "Test message", "content_type": "image"}"#;
        assert_eq!(
            ZenviaEvent::parse(message).unwrap(),
            ZenviaEvent::NewMessage {
                interaction_hash: "h-1".into(),
                content: "Test message".into(),
                content_type: "image".into()
            }
        );
        let plain = br#"{"type": "new_message", "interaction_hash": "h-1", "content": "hi"}"#;
        assert!(
            matches!(ZenviaEvent::parse(plain).unwrap(), ZenviaEvent::NewMessage { content_type, .. } if content_type == "text")
        );
        let finished = br#"{"type": "finished_interaction", "interaction_hash": "h-1", "extra": 1}"#;
        assert_eq!(
            ZenviaEvent::parse(finished).unwrap(),
            ZenviaEvent::FinishedInteraction { interaction_hash: "h-1".into() }
        );
        let other = br#"{"type": "typing"}"#;
        assert_eq!(ZenviaEvent::parse(other).unwrap(), ZenviaEvent::Unknown { event_type: "typing".into() });
    }

    #[test]
    fn rejects_what_cannot_be_handled() {
        assert!(matches!(ZenviaEvent::parse(b"{"), Err(ZenviaEventError::Json(_))));
        assert_eq!(
            ZenviaEvent::parse(br#"{"interaction_hash": "h"}"#),
            Err(ZenviaEventError::Missing("type"))
        );
        assert_eq!(
            ZenviaEvent::parse(br#"{"type": "new_message"}"#),
            Err(ZenviaEventError::Missing("interaction_hash"))
        );
        assert_eq!(
            ZenviaEvent::parse(br#"{"type": "new_message", "interaction_hash": "../x"}"#),
            Err(ZenviaEventError::BadHash)
        );
    }
}
