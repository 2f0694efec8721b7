//! The `builtin` backend: keyword rules from a TOML file, so the product works with no bot
//! service at all (and the dev server has a bot out of the box).

use std::path::Path;

use serde::Deserialize;

use super::{Bot, BotAction, BotAnswer, BotError, BotRequest, FALLBACK_REASON};

/// The rules shipped in the binary (`shared/rules/default.toml`).
pub const DEFAULT_RULES: &str = include_str!("../../rules/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("bot rules file {path} could not be read: {reason}")]
    Read { path: String, reason: String },
    #[error("bot rules are invalid: {0}")]
    Invalid(String),
}

/// A rule: when any keyword appears in the message (whole words, case and accents as typed
/// folded to lower case), answer with `replies` and do `action`.
#[derive(Debug, Clone, Deserialize)]
pub struct Rule {
    pub name: String,
    pub keywords: Vec<String>,
    #[serde(default)]
    pub replies: Vec<String>,
    #[serde(default)]
    pub action: BotAction,
}

#[derive(Debug, Clone, Deserialize)]
struct RulesFile {
    fallback: Vec<String>,
    /// The fallback in other languages (`fr = ["..."]`), chosen by the message's language.
    #[serde(default)]
    fallback_by_language: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(rename = "rule", default)]
    rules: Vec<Rule>,
}

/// Keyword rules; the first rule that matches wins, otherwise the fallback answers, in the
/// customer's language when the rules have it.
#[derive(Debug, Clone)]
pub struct BuiltinBot {
    rules: Vec<Rule>,
    /// Each rule's keywords as words, split once at load rather than for every message.
    phrases: Vec<Vec<Vec<String>>>,
    fallback: Vec<String>,
    fallback_by_language: std::collections::BTreeMap<String, Vec<String>>,
}

impl BuiltinBot {
    pub fn from_toml(text: &str) -> Result<Self, RulesError> {
        let file: RulesFile = toml::from_str(text).map_err(|e| RulesError::Invalid(e.to_string()))?;
        if let Some(rule) = file.rules.iter().find(|r| r.keywords.iter().all(|k| k.trim().is_empty())) {
            return Err(RulesError::Invalid(format!("rule `{}` has no keywords", rule.name)));
        }
        let fallback_by_language = file
            .fallback_by_language
            .into_iter()
            .map(|(language, texts)| (language.to_lowercase(), texts))
            .collect();
        let phrases =
            file.rules.iter().map(|rule| rule.keywords.iter().map(|k| words(k)).collect()).collect();
        Ok(Self { rules: file.rules, phrases, fallback: file.fallback, fallback_by_language })
    }

    pub fn from_file(path: &Path) -> Result<Self, RulesError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RulesError::Read { path: path.display().to_string(), reason: e.to_string() })?;
        Self::from_toml(&text)
    }

    pub fn default_rules() -> Self {
        Self::from_toml(DEFAULT_RULES).expect("the shipped rules are valid (tested)")
    }

    /// The answer to one message: a pure function of its text (and its language, for the
    /// fallback).
    pub fn answer_in(&self, text: &str, language: Option<&str>) -> BotAnswer {
        let mut answer = self.answer(text);
        let primary = language.map(|l| l.split(['-', '_']).next().unwrap_or(l).to_lowercase());
        if answer.is_fallback()
            && let Some(texts) = primary.and_then(|language| self.fallback_by_language.get(&language))
        {
            answer.replies = texts.clone();
        }
        answer
    }

    /// The answer to one message: a pure function of its text.
    pub fn answer(&self, text: &str) -> BotAnswer {
        let words = words(text);
        for (rule, phrases) in self.rules.iter().zip(&self.phrases) {
            if phrases.iter().any(|phrase| contains_phrase(&words, phrase)) {
                return BotAnswer {
                    summary: None,
                    replies: rule.replies.clone(),
                    action: rule.action,
                    reason: Some(rule.name.clone()),
                };
            }
        }
        BotAnswer {
            summary: None,
            replies: self.fallback.clone(),
            action: BotAction::None,
            reason: Some(FALLBACK_REASON.into()),
        }
    }
}

#[async_trait::async_trait]
impl Bot for BuiltinBot {
    async fn ask(&self, request: &BotRequest) -> Result<BotAnswer, BotError> {
        Ok(self.answer_in(&request.message.text, request.message.language.as_deref()))
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

fn contains_phrase(words: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && words.windows(phrase.len()).any(|window| window == phrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_cover_greeting_faq_handover_resolve_and_fallback() {
        let bot = BuiltinBot::default_rules();
        let greeting = bot.answer("Hello there");
        assert_eq!(greeting.action, BotAction::None);
        assert!(!greeting.replies.is_empty());
        assert!(!greeting.is_fallback());

        assert!(!bot.answer("What are your opening hours?").replies.is_empty());
        for ask in [
            "I want to talk to an agent",
            "a HUMAN please",
            "je veux parler à un conseiller",
            "un humain svp",
            "quiero hablar con un agente",
            "quero falar com um atendente",
            "ich möchte einen Mitarbeiter",
            "vorrei parlare con un operatore",
        ] {
            assert_eq!(bot.answer(ask).action, BotAction::Handover, "{ask}");
        }
        for bye in ["ok bye", "Thanks, goodbye!", "au revoir"] {
            assert_eq!(bot.answer(bye).action, BotAction::Resolve, "{bye}");
        }
        let fallback = bot.answer("qwertyuiop");
        assert!(fallback.is_fallback());
        assert!(!fallback.replies.is_empty());
        // The fallback in the customer's language; English for one the rules do not speak.
        for (language, start) in [
            ("fr", "Désolé"),
            ("es", "Disculpe"),
            ("pt-BR", "Desculpe"),
            ("de", "Entschuldigung"),
            ("it", "Mi scusi"),
        ] {
            let answer = bot.answer_in("qwertyuiop", Some(language));
            assert!(answer.is_fallback() && answer.replies[0].starts_with(start), "{language}: {answer:?}");
        }
        assert_eq!(bot.answer_in("qwertyuiop", Some("ja")).replies, fallback.replies);
    }

    #[test]
    fn keywords_match_whole_words_only() {
        let bot = BuiltinBot::from_toml(
            r#"
            fallback = ["?"]
            [[rule]]
            name = "agent"
            keywords = ["agent", "real person"]
            action = "handover"
            "#,
        )
        .unwrap();
        assert_eq!(bot.answer("agents").action, BotAction::None);
        assert_eq!(bot.answer("reagent").action, BotAction::None);
        assert_eq!(bot.answer("a real person!").action, BotAction::Handover);
        assert_eq!(bot.answer("a real, person").action, BotAction::Handover);
    }

    #[test]
    fn invalid_rules_are_reported() {
        assert!(matches!(BuiltinBot::from_toml("fallback = 3"), Err(RulesError::Invalid(_))));
        let empty = "fallback=[\"?\"]\n[[rule]]\nname=\"x\"\nkeywords=[\"\"]\n";
        assert!(BuiltinBot::from_toml(empty).unwrap_err().to_string().contains("`x` has no keywords"));
        assert!(matches!(
            BuiltinBot::from_file(Path::new("/nonexistent/rules.toml")),
            Err(RulesError::Read { .. })
        ));
    }
}
