//! Typed configuration, read once at start-up from environment variables (CONTRACT C4).
//!
//! Every reader takes an [`Env`] so tests can pass a plain map instead of mutating the process
//! environment. A missing or malformed required variable is a [`ConfigError`] whose message
//! names the variable and never repeats its value (it may be a secret).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::bot::MemoryLimits;
pub use crate::bot::lex::LexSettings;
use crate::secret::Secret;

/// Where configuration values come from.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;

    /// Every variable's name (for families such as `CLOSED_MESSAGE_<LANGUAGE>`).
    fn names(&self) -> Vec<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn names(&self) -> Vec<String> {
        std::env::vars_os().filter_map(|(name, _)| name.into_string().ok()).collect()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

impl Env for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.to_string())
    }

    fn names(&self) -> Vec<String> {
        self.keys().map(|k| k.to_string()).collect()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("configuration error: {0} is required but not set")]
    Missing(&'static str),
    #[error("configuration error: {name} is malformed: {reason}")]
    Malformed { name: &'static str, reason: String },
}

/// What the webhook and rebot functions need to talk to Engage Digital.
#[derive(Debug, Clone)]
pub struct EngageSettings {
    /// API root including the version, without a trailing slash.
    pub api_url: String,
    pub access_token: Secret,
    pub bot_category_id: String,
    pub agent_category_id: String,
    /// `None`: every source is bot-managed.
    pub bot_source_ids: Option<Vec<String>>,
    pub async_source_ids: Vec<String>,
    /// The time budget of one Engage Digital call.
    pub timeout: Duration,
    /// This process's share of the platform's requests a minute (`ENGAGE_REQUESTS_PER_MINUTE`,
    /// the workers' total, over `WORKER_MAX_CONCURRENCY` containers); `None`: unpaced.
    pub requests_per_minute: Option<u32>,
}

impl EngageSettings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            api_url: api_url(env)?,
            access_token: Secret::new(required(env, "ENGAGE_ACCESS_TOKEN")?),
            bot_category_id: required(env, "BOT_CATEGORY_ID")?,
            agent_category_id: required(env, "AGENT_CATEGORY_ID")?,
            bot_source_ids: optional(env, "ENGAGE_SOURCE_IDS").map(|v| comma_list(&v)),
            async_source_ids: optional(env, "ENGAGE_ASYNC_SOURCE_IDS")
                .map(|v| comma_list(&v))
                .unwrap_or_default(),
            timeout: Duration::from_millis(number(env, "ENGAGE_TIMEOUT_MS", 10_000)?),
            requests_per_minute: requests_share(env)?,
        })
    }

    pub fn is_bot_source(&self, source_id: &str) -> bool {
        match &self.bot_source_ids {
            None => true,
            Some(ids) => ids.iter().any(|id| id == source_id),
        }
    }

    pub fn is_async_source(&self, source_id: &str) -> bool {
        self.async_source_ids.iter().any(|id| id == source_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReopenPolicy {
    /// On `intervention.closed`, give the thread back to the bot.
    Bot,
    /// Leave the thread with the agents.
    Agent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAgentPolicy {
    /// No agent available: the bot keeps the thread and tells the customer.
    Stay,
    /// Recategorize anyway.
    Handover,
}

/// The rules of the conversation flows.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    pub open_interventions: bool,
    pub close_thread_on_resolve: bool,
    pub reopen_policy: ReopenPolicy,
    pub no_agent_policy: NoAgentPolicy,
    /// The handover, no-agent and closed-hours messages in every language (empty: send
    /// nothing), and the language of a customer whose language is not known.
    pub texts: Texts,
    pub default_language: String,
    /// `AGENT_BRIEFING`: at a handover, a comment on the bot's intervention for the agent.
    pub agent_briefing: bool,
    pub availability_cache: Duration,
    pub max_bot_failures: u32,
    /// How long one read of the emergency switch is reused by a running function.
    pub emergency_cache: Duration,
    /// `BUSINESS_HOURS=platform`: the platform's time sheets say when the agents are there.
    pub business_hours: bool,
    pub closed_policy: ClosedPolicy,
}

/// What a handover does while the contact center is closed (CONTRACT C16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedPolicy {
    /// The bot keeps the conversation.
    Stay,
    /// Recategorize, so the agents find it when they open.
    Handover,
    /// Recategorize only on the asynchronous sources (`ENGAGE_ASYNC_SOURCE_IDS`); stay otherwise.
    Async,
}

pub use crate::texts::{DEFAULT_CLOSED_MESSAGE, DEFAULT_HANDOVER_MESSAGE, DEFAULT_NO_AGENT_MESSAGE, Texts};

/// `AGENT_BRIEFING`: at a handover, a comment on the bot's intervention for the agent.
fn agent_briefing(env: &dyn Env) -> Result<bool, ConfigError> {
    match optional(env, "AGENT_BRIEFING").as_deref() {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(_) => Err(malformed("AGENT_BRIEFING", "expected `on` or `off`")),
    }
}

/// `DEFAULT_LANGUAGE`: the language of a customer whose language is not known.
fn default_language(env: &dyn Env) -> Result<String, ConfigError> {
    let language = optional(env, "DEFAULT_LANGUAGE").unwrap_or_else(|| "en".into()).to_lowercase();
    if !(2..=8).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(malformed("DEFAULT_LANGUAGE", "expected a language code such as `en` or `fr`"));
    }
    Ok(language)
}

impl FlowSettings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            open_interventions: boolean(env, "OPEN_INTERVENTIONS", true)?,
            close_thread_on_resolve: boolean(env, "CLOSE_THREAD_ON_RESOLVE", false)?,
            reopen_policy: match optional(env, "REOPEN_POLICY").as_deref() {
                None | Some("bot") => ReopenPolicy::Bot,
                Some("agent") => ReopenPolicy::Agent,
                Some(_) => return Err(malformed("REOPEN_POLICY", "expected `bot` or `agent`")),
            },
            no_agent_policy: match optional(env, "NO_AGENT_POLICY").as_deref() {
                None | Some("stay") => NoAgentPolicy::Stay,
                Some("handover") => NoAgentPolicy::Handover,
                Some(_) => {
                    return Err(malformed("NO_AGENT_POLICY", "expected `stay` or `handover`"));
                }
            },
            // An empty value is meaningful (send nothing), so only an unset variable defaults.
            texts: Texts::from_env(env, &default_language(env)?),
            default_language: default_language(env)?,
            agent_briefing: agent_briefing(env)?,
            availability_cache: Duration::from_secs(number(env, "AVAILABILITY_CACHE_SECONDS", 30)?),
            max_bot_failures: number(env, "MAX_BOT_FAILURES", 2)? as u32,
            emergency_cache: Duration::from_secs(number(env, "EMERGENCY_CACHE_SECONDS", 5)?),
            business_hours: match optional(env, "BUSINESS_HOURS").as_deref() {
                None | Some("platform") => true,
                Some("off") => false,
                Some(_) => return Err(malformed("BUSINESS_HOURS", "expected `platform` or `off`")),
            },
            closed_policy: match optional(env, "CLOSED_POLICY").as_deref() {
                None | Some("stay") => ClosedPolicy::Stay,
                Some("handover") => ClosedPolicy::Handover,
                Some("async") => ClosedPolicy::Async,
                Some(_) => return Err(malformed("CLOSED_POLICY", "expected `stay`, `handover` or `async`")),
            },
        })
    }
}

/// Which bot answers.
#[derive(Debug, Clone)]
pub enum BotSettings {
    /// Keyword rules; `None` uses the rules shipped in the binary.
    Builtin {
        rules_file: Option<PathBuf>,
    },
    Http {
        url: String,
        timeout: Duration,
    },
    OpenAi(OpenAiSettings),
    Lex(LexSettings),
}

/// An OpenAI-compatible Chat Completions endpoint (CONTRACT C15).
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// The root `/chat/completions` is appended to.
    pub base_url: String,
    /// `None` for a server that wants none (a local Ollama or vLLM).
    pub api_key: Option<Secret>,
    pub model: String,
    /// `None`: the prompt shipped in the binary.
    pub system_prompt_file: Option<PathBuf>,
    pub timeout: Duration,
    /// The conversation kept for the model in the thread's state.
    pub memory: MemoryLimits,
}

impl BotSettings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        match optional(env, "BOT_BACKEND").as_deref() {
            None | Some("builtin") => {
                Ok(Self::Builtin { rules_file: optional(env, "BOT_RULES_FILE").map(PathBuf::from) })
            }
            Some("http") => Ok(Self::Http { url: http_url(env, "BOT_URL")?, timeout: bot_timeout(env)? }),
            Some("openai") => Ok(Self::OpenAi(OpenAiSettings {
                base_url: http_url(env, "LLM_BASE_URL")?,
                api_key: optional(env, "LLM_API_KEY").map(Secret::new),
                model: required(env, "LLM_MODEL")?,
                system_prompt_file: optional(env, "LLM_SYSTEM_PROMPT_FILE").map(PathBuf::from),
                timeout: bot_timeout(env)?,
                memory: MemoryLimits {
                    messages: bounded(env, "LLM_HISTORY_MESSAGES", 12, MAX_HISTORY_MESSAGES)?,
                    chars: bounded(env, "LLM_HISTORY_CHARS", 4000, MAX_HISTORY_CHARS)?,
                },
            })),
            Some("lex") => Ok(Self::Lex(LexSettings {
                bot_id: required(env, "LEX_BOT_ID")?,
                bot_alias_id: required(env, "LEX_BOT_ALIAS_ID")?,
                locale_id: required(env, "LEX_LOCALE_ID")?,
                locales: lex_locales(env)?,
                handover_intent: required(env, "LEX_HANDOVER_INTENT")?,
                resolve_intents: optional(env, "LEX_RESOLVE_INTENTS")
                    .map(|v| comma_list(&v))
                    .unwrap_or_default(),
                timeout: bot_timeout(env)?,
                endpoint: optional(env, "LEX_ENDPOINT"),
            })),
            Some(_) => Err(malformed("BOT_BACKEND", "expected `builtin`, `http`, `openai` or `lex`")),
        }
    }

    /// The longest a turn may wait for this bot (the builtin rules answer at once).
    pub fn timeout(&self) -> Duration {
        match self {
            Self::Builtin { .. } => Duration::ZERO,
            Self::Http { timeout, .. } => *timeout,
            Self::OpenAi(settings) => settings.timeout,
            Self::Lex(settings) => settings.timeout,
        }
    }
}

/// The most a thread may keep for the model, whatever the conversation's length (CONTRACT
/// C14's bounded items): about 4 KB of Latin text at the default 4,000 characters, at most
/// about 24 KB at this ceiling in a 4-byte script.
pub const MAX_HISTORY_MESSAGES: usize = 40;
pub const MAX_HISTORY_CHARS: usize = 6000;

fn bounded(env: &dyn Env, name: &'static str, default: usize, max: usize) -> Result<usize, ConfigError> {
    let value = number(env, name, default as u64)? as usize;
    if value == 0 || value > max {
        return Err(ConfigError::Malformed { name, reason: format!("expected 1 to {max}") });
    }
    Ok(value)
}

fn http_url(env: &dyn Env, name: &'static str) -> Result<String, ConfigError> {
    outside_url(env, name, required(env, name)?)
}

/// A URL the product calls outside its own network with a secret: `https://` in Lambda
/// (`AWS_LAMBDA_FUNCTION_NAME` set), `http://` allowed only locally (fakes, the dev server).
fn outside_url(env: &dyn Env, name: &'static str, url: String) -> Result<String, ConfigError> {
    let in_lambda = env.var("AWS_LAMBDA_FUNCTION_NAME").is_some();
    match (url.starts_with("https://"), url.starts_with("http://")) {
        (true, _) => Ok(url),
        (false, true) if !in_lambda => Ok(url),
        (false, true) => Err(malformed(name, "must be an https:// URL in AWS")),
        _ => Err(malformed(name, "must be an http(s) URL")),
    }
}

/// `LEX_LOCALES`: `language=locale` pairs (`fr=fr_FR,es=es_US`).
fn lex_locales(env: &dyn Env) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(value) = optional(env, "LEX_LOCALES") else {
        return Ok(vec![]);
    };
    comma_list(&value)
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((language, locale)) if !language.trim().is_empty() && !locale.trim().is_empty() => {
                Ok((language.trim().to_string(), locale.trim().to_string()))
            }
            _ => Err(malformed("LEX_LOCALES", "expected language=locale pairs, e.g. fr=fr_FR,es=es_US")),
        })
        .collect()
}

/// The longest `BOT_TIMEOUT_MS` (an LLM bot can take tens of seconds): the worker's timeout
/// in the template follows from it.
pub const MAX_BOT_TIMEOUT_MS: u64 = 60_000;

fn bot_timeout(env: &dyn Env) -> Result<Duration, ConfigError> {
    let ms = number(env, "BOT_TIMEOUT_MS", 8000)?;
    if ms == 0 || ms > MAX_BOT_TIMEOUT_MS {
        return Err(malformed("BOT_TIMEOUT_MS", "expected 1 to 60000 milliseconds"));
    }
    Ok(Duration::from_millis(ms))
}

/// The queue between the receiving functions and the worker (CONTRACT C14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// The SQS FIFO queue's URL.
    pub queue_url: String,
    /// A local SQS endpoint (moto's server) instead of AWS.
    pub sqs_endpoint: Option<String>,
    /// Where the worker sends an event that failed `MAX_ATTEMPTS` times (`DEAD_LETTER_QUEUE_URL`;
    /// `None`: left to the queue's redrive policy).
    pub dead_letter_url: Option<String>,
}

impl QueueSettings {
    /// `None` when `QUEUE_URL` is unset (the dev server then uses its in-process queue).
    pub fn optional_from_env(env: &dyn Env) -> Result<Option<Self>, ConfigError> {
        let Some(queue_url) = optional(env, "QUEUE_URL") else { return Ok(None) };
        if !(queue_url.starts_with("http://") || queue_url.starts_with("https://")) {
            return Err(malformed("QUEUE_URL", "must be the queue's http(s) URL"));
        }
        if !queue_url.ends_with(".fifo") {
            return Err(malformed("QUEUE_URL", "must be a FIFO queue (its name ends in .fifo)"));
        }
        let dead_letter_url = optional(env, "DEAD_LETTER_QUEUE_URL");
        if dead_letter_url.as_deref().is_some_and(|url| !url.ends_with(".fifo")) {
            return Err(malformed("DEAD_LETTER_QUEUE_URL", "must be a FIFO queue (its name ends in .fifo)"));
        }
        Ok(Some(Self { queue_url, sqs_endpoint: optional(env, "SQS_ENDPOINT"), dead_letter_url }))
    }

    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Self::optional_from_env(env)?.ok_or(ConfigError::Missing("QUEUE_URL"))
    }
}

/// A worker container's share of the platform's rate: `ENGAGE_REQUESTS_PER_MINUTE` (all the
/// workers together) over `WORKER_MAX_CONCURRENCY` (the most containers at once), at least 1.
fn requests_share(env: &dyn Env) -> Result<Option<u32>, ConfigError> {
    if optional(env, "ENGAGE_REQUESTS_PER_MINUTE").is_none() {
        return Ok(None);
    }
    let total = number(env, "ENGAGE_REQUESTS_PER_MINUTE", 150)?;
    if !(1..=MAX_EMERGENCY_REQUESTS_PER_MINUTE).contains(&total) {
        return Err(malformed("ENGAGE_REQUESTS_PER_MINUTE", "expected 1 to 450 (the platform allows 500)"));
    }
    let containers = number(env, "WORKER_MAX_CONCURRENCY", 1)?.max(1);
    Ok(Some((total / containers).max(1) as u32))
}

/// Failed deliveries of an event before the worker dead-letters it (`MAX_ATTEMPTS`, 1 to 20,
/// default 5).
pub fn max_attempts(env: &dyn Env) -> Result<u32, ConfigError> {
    let attempts = number(env, "MAX_ATTEMPTS", 5)?;
    if !(1..=20).contains(&attempts) {
        return Err(malformed(
            "MAX_ATTEMPTS",
            "expected 1 to 20 (the queue's redrive is the backstop above it)",
        ));
    }
    Ok(attempts as u32)
}

/// The token every inbound Zenvia POST must carry (all the `zenvia` receiver needs of Zenvia).
pub fn zenvia_webhook_token(env: &dyn Env) -> Result<Secret, ConfigError> {
    Ok(Secret::new(deployed_secret(env, "ZENVIA_WEBHOOK_TOKEN")?))
}

/// The shortest secret a deployed function accepts (the template asks for as much).
pub const MIN_SECRET_CHARS: usize = 16;

/// Values that once stood in this project's template or docs as placeholders: anyone can read
/// them, so a deployed function refuses them.
const KNOWN_PLACEHOLDERS: [&str; 4] = ["change-me-not-configured", "not-configured", "change-me", "changeme"];

/// A secret a deployed function needs: set, at least [`MIN_SECRET_CHARS`] long, not a
/// placeholder. The error names the variable, never the value.
pub fn deployed_secret(env: &dyn Env, name: &'static str) -> Result<String, ConfigError> {
    let value = required(env, name)?;
    if KNOWN_PLACEHOLDERS.contains(&value.to_ascii_lowercase().as_str()) {
        return Err(malformed(name, "is a known placeholder: set a secret of your own"));
    }
    if value.chars().count() < MIN_SECRET_CHARS {
        return Err(malformed(name, "must be at least 16 characters"));
    }
    Ok(value)
}

/// What the receivers check on every request: the verify token and the webhook's secret. All
/// a receiver needs of Engage Digital: it holds no API token.
#[derive(Debug, Clone)]
pub struct WebhookAuth {
    pub verify_token: Secret,
    /// The secrets a request's `X-Dimelo-Secret` may carry: the current one, and the previous
    /// one during a rotation. Empty: requests need none (the dev server only).
    pub webhook_secrets: Vec<Secret>,
}

impl WebhookAuth {
    /// The dev server's: the secret optional.
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            verify_token: Secret::new(required(env, "ENGAGE_VERIFY_TOKEN")?),
            webhook_secrets: optional(env, "ENGAGE_WEBHOOK_SECRET").map(Secret::new).into_iter().collect(),
        })
    }

    /// A deployed receiver's: the secret required.
    pub fn deployed_from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let verify_token = Secret::new(required(env, "ENGAGE_VERIFY_TOKEN")?);
        Ok(Self { verify_token, webhook_secrets: vec![required_webhook_secret(env)?] })
    }
}

/// The webhook's secret, which the deployed receivers require (every request must carry it
/// in `X-Dimelo-Secret`): without one, anybody could post events into real threads.
pub fn required_webhook_secret(env: &dyn Env) -> Result<Secret, ConfigError> {
    Ok(Secret::new(deployed_secret(env, "ENGAGE_WEBHOOK_SECRET")?))
}

/// Where state is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoSettings {
    pub table_name: String,
    /// DynamoDB Local or another endpoint instead of AWS.
    pub endpoint: Option<String>,
}

impl DynamoSettings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self { table_name: required(env, "TABLE_NAME")?, endpoint: optional(env, "DYNAMODB_ENDPOINT") })
    }
}

/// Everything the Engage webhook function needs.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub engage: EngageSettings,
    pub flow: FlowSettings,
    pub bot: BotSettings,
}

impl WebhookSettings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            engage: EngageSettings::from_env(env)?,
            flow: FlowSettings::from_env(env)?,
            bot: BotSettings::from_env(env)?,
        })
    }
}

/// Everything the emergency function needs (CONTRACT C9).
#[derive(Debug, Clone)]
pub struct EmergencySettings {
    /// Engage Digital as the webhook reads it (`bot_source_ids` `None`: every source whose
    /// default categories include BOT).
    pub engage: EngageSettings,
    /// Engage Digital requests per minute while recategorizing, below the platform's 500.
    pub requests_per_minute: u32,
    /// A conversation idle for longer is not handed over by the sweep (its next message is, at
    /// once): it only leaves the bot-owned index.
    pub idle_after: Duration,
    /// Zenvia's API, when Zenvia is used: its interactions are transferred through it.
    pub zenvia: Option<ZenviaApi>,
    /// `AGENT_BRIEFING`: a comment on the bot's intervention of each conversation handed over.
    pub agent_briefing: bool,
}

/// What the emergency switch needs of Zenvia to transfer interactions.
#[derive(Debug, Clone)]
pub struct ZenviaApi {
    pub api_url: String,
    pub api_token: Secret,
    /// `None`: transfers go to the interaction's own department.
    pub transfer_department_id: Option<i64>,
}

impl ZenviaApi {
    /// `None` when `ZENVIA_API_TOKEN` is unset.
    pub fn optional_from_env(env: &dyn Env) -> Result<Option<Self>, ConfigError> {
        let Some(api_token) = optional(env, "ZENVIA_API_TOKEN") else { return Ok(None) };
        Ok(Some(Self {
            api_url: zenvia_api_url(env)?,
            api_token: Secret::new(api_token),
            transfer_department_id: zenvia_department(env)?,
        }))
    }
}

/// The platform allows 500 requests per minute; the switch must leave room for the webhooks.
pub const MAX_EMERGENCY_REQUESTS_PER_MINUTE: u64 = 450;

impl EmergencySettings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let requests_per_minute = number(env, "EMERGENCY_REQUESTS_PER_MINUTE", 300)?;
        if requests_per_minute == 0 || requests_per_minute > MAX_EMERGENCY_REQUESTS_PER_MINUTE {
            return Err(malformed(
                "EMERGENCY_REQUESTS_PER_MINUTE",
                "expected 1 to 450 (the platform allows 500)",
            ));
        }
        Ok(Self {
            engage: EngageSettings::from_env(env)?,
            requests_per_minute: requests_per_minute as u32,
            idle_after: Duration::from_secs(3600 * number(env, "EMERGENCY_IDLE_HOURS", 24)?),
            zenvia: ZenviaApi::optional_from_env(env)?,
            agent_briefing: agent_briefing(env)?,
        })
    }
}

/// Everything the Zenvia function needs (CONTRACT C10).
#[derive(Debug, Clone)]
pub struct ZenviaSettings {
    pub api_url: String,
    pub api_token: Secret,
    /// `None`: transfers go to the interaction's own department.
    pub transfer_department_id: Option<i64>,
    /// The customers' language on Zenvia, whose events carry none (`ZENVIA_LANGUAGE`, `pt`).
    pub language: String,
    pub flow: FlowSettings,
    pub bot: BotSettings,
}

pub const DEFAULT_ZENVIA_API_URL: &str = "https://zchat.zenvia.io/core/api/v1";

impl ZenviaSettings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let api_url = zenvia_api_url(env)?;
        let transfer_department_id = zenvia_department(env)?;
        Ok(Self {
            api_url,
            api_token: Secret::new(required(env, "ZENVIA_API_TOKEN")?),
            transfer_department_id,
            language: optional(env, "ZENVIA_LANGUAGE").unwrap_or_else(|| "pt".into()).to_lowercase(),
            flow: FlowSettings::from_env(env)?,
            bot: BotSettings::from_env(env)?,
        })
    }
}

fn zenvia_api_url(env: &dyn Env) -> Result<String, ConfigError> {
    let api_url = optional(env, "ZENVIA_API_URL").unwrap_or_else(|| DEFAULT_ZENVIA_API_URL.into());
    Ok(outside_url(env, "ZENVIA_API_URL", api_url)?.trim_end_matches('/').to_string())
}

fn zenvia_department(env: &dyn Env) -> Result<Option<i64>, ConfigError> {
    optional(env, "ZENVIA_TRANSFER_DEPARTMENT_ID")
        .map(|v| v.parse().map_err(|_| malformed("ZENVIA_TRANSFER_DEPARTMENT_ID", "expected a whole number")))
        .transpose()
}

/// The analytics function's one secret: the required `Access-Token` header value.
pub fn analytics_access_token(env: &dyn Env) -> Result<Secret, ConfigError> {
    Ok(Secret::new(deployed_secret(env, "ANALYTICS_ACCESS_TOKEN")?))
}

fn api_url(env: &dyn Env) -> Result<String, ConfigError> {
    let api_url = required(env, "ENGAGE_API_URL")?;
    if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
        return Err(ConfigError::Malformed {
            name: "ENGAGE_API_URL",
            reason: "must start with https:// (or http:// for a local sandbox)".into(),
        });
    }
    // Checked here so a bad value stops the start-up rather than failing every call. Host
    // names are ASCII only, as HTTP/1.1 sends them.
    if let Err(error) = api_url.parse::<http::Uri>() {
        return Err(ConfigError::Malformed {
            name: "ENGAGE_API_URL",
            reason: format!(
                "is not a URL ({error}); a host name outside ASCII goes in its punycode form (xn--...)"
            ),
        });
    }
    Ok(api_url.trim_end_matches('/').to_string())
}

fn optional(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn required(env: &dyn Env, name: &'static str) -> Result<String, ConfigError> {
    optional(env, name).ok_or(ConfigError::Missing(name))
}

fn malformed(name: &'static str, reason: &str) -> ConfigError {
    ConfigError::Malformed { name, reason: reason.into() }
}

fn boolean(env: &dyn Env, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match optional(env, name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(_) => Err(malformed(name, "expected `true` or `false`")),
    }
}

fn number(env: &dyn Env, name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match optional(env, name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| malformed(name, "expected a whole number")),
    }
}

fn comma_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engage_env() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("ENGAGE_API_URL", "https://acme.api.engagement.dimelo.com/1.0/"),
            ("ENGAGE_ACCESS_TOKEN", "token-value"),
            ("ENGAGE_VERIFY_TOKEN", "verify-value"),
            ("BOT_CATEGORY_ID", "bot-cat"),
            ("AGENT_CATEGORY_ID", "agent-cat"),
        ])
    }

    #[test]
    fn reads_engage_settings_with_defaults() {
        let settings = WebhookSettings::from_env(&engage_env()).unwrap();
        assert_eq!(settings.engage.api_url, "https://acme.api.engagement.dimelo.com/1.0");
        assert!(settings.engage.is_bot_source("any"));
        assert!(!settings.engage.is_async_source("any"));
        assert!(settings.flow.open_interventions);
        assert!(!settings.flow.close_thread_on_resolve);
        assert_eq!(settings.flow.reopen_policy, ReopenPolicy::Bot);
        assert_eq!(settings.flow.no_agent_policy, NoAgentPolicy::Stay);
        assert_eq!(settings.flow.max_bot_failures, 2);
        assert_eq!(settings.flow.availability_cache, Duration::from_secs(30));
        assert!(matches!(settings.bot, BotSettings::Builtin { rules_file: None }));
        assert!(settings.flow.business_hours, "time sheets are read unless BUSINESS_HOURS=off");
        assert_eq!(settings.flow.closed_policy, ClosedPolicy::Stay);
        assert_eq!(settings.flow.texts.closed.text(Some("en")), DEFAULT_CLOSED_MESSAGE);
        assert_eq!(settings.flow.default_language, "en");
    }

    #[test]
    fn business_hours_settings() {
        let mut env = engage_env();
        env.insert("BUSINESS_HOURS", "off");
        env.insert("CLOSED_POLICY", "async");
        env.insert("CLOSED_MESSAGE", "Back {next_open}.");
        env.insert("CLOSED_MESSAGE_FR", "De retour {next_open}.");
        let flow = WebhookSettings::from_env(&env).unwrap().flow;
        assert!(!flow.business_hours);
        assert_eq!(flow.closed_policy, ClosedPolicy::Async);
        assert_eq!(flow.texts.closed.text(Some("fr")), "De retour {next_open}.");
        assert_eq!(flow.texts.closed.text(Some("en")), "Back {next_open}.");
        // Spanish keeps its own default; a language the product does not speak gets English.
        assert!(flow.texts.closed.text(Some("es")).starts_with("Nuestros agentes"));
        assert_eq!(flow.texts.closed.text(Some("ja")), "Back {next_open}.");
        for (name, value) in [("BUSINESS_HOURS", "sometimes"), ("CLOSED_POLICY", "later")] {
            let mut env = engage_env();
            env.insert(name, value);
            assert!(
                matches!(WebhookSettings::from_env(&env).unwrap_err(), ConfigError::Malformed { name: n, .. } if n == name)
            );
        }
    }

    #[test]
    fn each_missing_required_variable_is_named() {
        for name in ["ENGAGE_API_URL", "ENGAGE_ACCESS_TOKEN", "BOT_CATEGORY_ID", "AGENT_CATEGORY_ID"] {
            let mut env = engage_env();
            env.remove(name);
            let err = WebhookSettings::from_env(&env).unwrap_err();
            assert_eq!(err, ConfigError::Missing(name));
            assert_eq!(err.to_string(), format!("configuration error: {name} is required but not set"));
        }
        let mut env = engage_env();
        env.remove("ENGAGE_VERIFY_TOKEN");
        assert_eq!(WebhookAuth::from_env(&env).unwrap_err(), ConfigError::Missing("ENGAGE_VERIFY_TOKEN"));
    }

    #[test]
    fn a_deployed_receiver_needs_a_webhook_secret_of_its_own() {
        let mut env = engage_env();
        assert_eq!(
            WebhookAuth::deployed_from_env(&env).unwrap_err(),
            ConfigError::Missing("ENGAGE_WEBHOOK_SECRET")
        );
        env.insert("ENGAGE_WEBHOOK_SECRET", "change-me-not-configured");
        assert!(WebhookAuth::deployed_from_env(&env).unwrap_err().to_string().contains("placeholder"));
        env.insert("ENGAGE_WEBHOOK_SECRET", "short");
        assert!(WebhookAuth::deployed_from_env(&env).unwrap_err().to_string().contains("16 characters"));
        env.insert("ENGAGE_WEBHOOK_SECRET", "a-real-secret-of-some-length");
        assert!(WebhookAuth::deployed_from_env(&env).unwrap().webhook_secrets.len() == 1);
    }

    #[test]
    fn malformed_values_are_named_without_echoing_them() {
        let cases = [
            ("MAX_BOT_FAILURES", "two"),
            ("OPEN_INTERVENTIONS", "maybe"),
            ("REOPEN_POLICY", "sometimes"),
            ("NO_AGENT_POLICY", "panic"),
            ("BOT_BACKEND", "gpt"),
            ("ENGAGE_API_URL", "ftp://x"),
            ("ENGAGE_API_URL", "https://exa mple.api.engagement.dimelo.com/1.0"),
            ("ENGAGE_API_URL", "https://bücher.api.engagement.dimelo.com/1.0"),
        ];
        for (name, value) in cases {
            let mut env = engage_env();
            env.insert(name, value);
            let err = WebhookSettings::from_env(&env).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(name), "{message}");
            assert!(!message.contains(value), "{message} repeats the value");
        }
    }

    #[test]
    fn a_host_name_outside_ascii_is_given_in_punycode() {
        let mut env = engage_env();
        env.insert("ENGAGE_API_URL", "https://bücher.example/1.0");
        let message = WebhookSettings::from_env(&env).unwrap_err().to_string();
        assert!(message.contains("punycode"), "{message}");
        env.insert("ENGAGE_API_URL", "https://xn--bcher-kva.example/1.0");
        assert!(WebhookSettings::from_env(&env).is_ok());
    }

    #[test]
    fn http_bot_needs_its_url() {
        let mut env = engage_env();
        env.insert("BOT_BACKEND", "http");
        assert_eq!(WebhookSettings::from_env(&env).unwrap_err(), ConfigError::Missing("BOT_URL"));
        env.insert("BOT_URL", "http://127.0.0.1:9/bot");
        env.insert("BOT_TIMEOUT_MS", "250");
        let settings = WebhookSettings::from_env(&env).unwrap();
        assert!(matches!(
            &settings.bot,
            BotSettings::Http { url, timeout } if url == "http://127.0.0.1:9/bot" && *timeout == Duration::from_millis(250)
        ));
    }

    #[test]
    fn openai_bot_settings() {
        let mut env = engage_env();
        env.insert("BOT_BACKEND", "openai");
        assert_eq!(WebhookSettings::from_env(&env).unwrap_err(), ConfigError::Missing("LLM_BASE_URL"));
        env.insert("LLM_BASE_URL", "ftp://models");
        assert!(matches!(
            WebhookSettings::from_env(&env).unwrap_err(),
            ConfigError::Malformed { name: "LLM_BASE_URL", .. }
        ));
        // Plain http for a local model, never in AWS: the key would travel in clear.
        env.insert("LLM_BASE_URL", "http://127.0.0.1:11434/v1");
        assert_eq!(WebhookSettings::from_env(&env).unwrap_err(), ConfigError::Missing("LLM_MODEL"));
        env.insert("AWS_LAMBDA_FUNCTION_NAME", "handover-process");
        assert!(matches!(
            WebhookSettings::from_env(&env).unwrap_err(),
            ConfigError::Malformed { name: "LLM_BASE_URL", .. }
        ));
        env.remove("AWS_LAMBDA_FUNCTION_NAME");
        env.insert("LLM_BASE_URL", "https://api.openai.com/v1");
        assert_eq!(WebhookSettings::from_env(&env).unwrap_err(), ConfigError::Missing("LLM_MODEL"));
        env.insert("LLM_MODEL", "gpt-4o-mini");
        env.insert("LLM_API_KEY", "sk-test-key");
        let BotSettings::OpenAi(openai) = WebhookSettings::from_env(&env).unwrap().bot else {
            panic!("not the openai backend");
        };
        assert_eq!(openai.memory, MemoryLimits { messages: 12, chars: 4000 });
        assert_eq!(openai.api_key.unwrap().expose(), "sk-test-key");
        assert!(!format!("{:?}", WebhookSettings::from_env(&env).unwrap().bot).contains("sk-test-key"));
        env.insert("LLM_HISTORY_CHARS", "100000");
        assert!(matches!(
            WebhookSettings::from_env(&env).unwrap_err(),
            ConfigError::Malformed { name: "LLM_HISTORY_CHARS", .. }
        ));
    }

    #[test]
    fn lex_bot_settings() {
        let mut env = engage_env();
        env.insert("BOT_BACKEND", "lex");
        for (name, value) in [
            ("LEX_BOT_ID", "B1"),
            ("LEX_BOT_ALIAS_ID", "A1"),
            ("LEX_LOCALE_ID", "en_US"),
            ("LEX_HANDOVER_INTENT", "TalkToAgent"),
        ] {
            assert_eq!(WebhookSettings::from_env(&env).unwrap_err(), ConfigError::Missing(name));
            env.insert(name, value);
        }
        env.insert("LEX_RESOLVE_INTENTS", "Goodbye, Thanks");
        env.insert("LEX_LOCALES", "fr=fr_FR, es=es_US");
        let BotSettings::Lex(lex) = WebhookSettings::from_env(&env).unwrap().bot else {
            panic!("not the lex backend");
        };
        assert_eq!(lex.resolve_intents, vec!["Goodbye".to_string(), "Thanks".to_string()]);
        assert_eq!(lex.locales, vec![("fr".into(), "fr_FR".into()), ("es".into(), "es_US".into())]);
        env.insert("LEX_LOCALES", "fr");
        assert!(matches!(
            WebhookSettings::from_env(&env).unwrap_err(),
            ConfigError::Malformed { name: "LEX_LOCALES", .. }
        ));
    }

    #[test]
    fn source_lists_and_empty_messages() {
        let mut env = engage_env();
        env.insert("ENGAGE_SOURCE_IDS", " s1, s2 ,,");
        env.insert("ENGAGE_ASYNC_SOURCE_IDS", "s2");
        env.insert("NO_AGENT_MESSAGE", "");
        let settings = WebhookSettings::from_env(&env).unwrap();
        assert!(settings.engage.is_bot_source("s1"));
        assert!(settings.engage.is_bot_source("s2"));
        assert!(!settings.engage.is_bot_source("s3"));
        assert!(settings.engage.is_async_source("s2"));
        assert_eq!(settings.flow.texts.no_agent.text(None), "");
        assert_eq!(settings.flow.texts.handover.text(None), DEFAULT_HANDOVER_MESSAGE);
    }
}
