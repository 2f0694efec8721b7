//! Building the clients once, at start-up, from the configuration.

use std::sync::Arc;
use std::time::Duration;

use crate::bot::{Bot, BuiltinBot, HttpBot, RulesError};
use crate::config::{
    BotSettings, ConfigError, DynamoSettings, EmergencySettings, Env, WebhookSettings, ZenviaSettings,
};
use crate::engage::EngageClient;
use crate::flow::EngageFlow;
use crate::flow::emergency::EmergencyFlow;
use crate::flow::zenvia_flow::ZenviaFlow;
use crate::store::{DynamoStore, Store};
use crate::zenvia::ZenviaClient;

/// A start-up failure: one line, naming what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// The value of a function's start-up, or the process ends with one line naming what is
/// wrong (exit code 2): a function never runs half-configured.
pub fn or_exit<T>(startup: Result<T, StartupError>) -> T {
    startup.unwrap_or_else(|err| {
        eprintln!("{err}");
        std::process::exit(2)
    })
}

/// The one HTTP client of a process: rustls, bounded connect and request times.
pub fn http_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(15))
        .pool_idle_timeout(Duration::from_secs(50))
        .build()
        .expect("the TLS backend initializes")
}

/// rustls' crypto for the whole process: ring (see the workspace manifest). Installing it
/// twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn bot(settings: &BotSettings, http: &reqwest::Client) -> Result<Arc<dyn Bot>, RulesError> {
    Ok(match settings {
        BotSettings::Builtin { rules_file: None } => Arc::new(BuiltinBot::default_rules()),
        BotSettings::Builtin { rules_file: Some(path) } => Arc::new(BuiltinBot::from_file(path)?),
        BotSettings::Http { url, timeout } => Arc::new(HttpBot::new(http.clone(), url.clone(), *timeout)),
    })
}

/// The DynamoDB store for `settings` (AWS, or `DYNAMODB_ENDPOINT`).
pub async fn dynamo_store(settings: &DynamoSettings) -> Arc<dyn Store> {
    let client = DynamoStore::client_for(settings.endpoint.as_deref()).await;
    Arc::new(DynamoStore::new(client, settings.table_name.clone()))
}

/// The webhook's flow with the given store.
pub fn engage_flow(
    settings: WebhookSettings,
    store: Arc<dyn Store>,
    http: &reqwest::Client,
) -> Result<EngageFlow, StartupError> {
    let bot = bot(&settings.bot, http)?;
    let engage =
        EngageClient::new(http.clone(), &settings.engage.api_url, settings.engage.access_token.clone())
            .with_timeout(settings.engage.timeout);
    Ok(EngageFlow::new(settings, store, bot, engage))
}

/// Everything the `webhook` Lambda needs, from its environment: the whole configuration is
/// read and checked before any client is built.
pub async fn webhook_function(env: &dyn Env, http: &reqwest::Client) -> Result<EngageFlow, StartupError> {
    let settings = WebhookSettings::from_env(env)?;
    let dynamo = DynamoSettings::from_env(env)?;
    engage_flow(settings, dynamo_store(&dynamo).await, http)
}

/// How long one emergency invocation works before answering (API Gateway waits 30 s at most);
/// the rest continues on the next invocation.
pub const EMERGENCY_TIME_BUDGET: Duration = Duration::from_secs(20);

/// The emergency switch's flow with the given store.
pub fn emergency_flow(
    settings: EmergencySettings,
    store: Arc<dyn Store>,
    http: &reqwest::Client,
) -> EmergencyFlow {
    let engage = EngageClient::new(http.clone(), &settings.api_url, settings.access_token.clone());
    EmergencyFlow::new(settings, store, engage, EMERGENCY_TIME_BUDGET)
}

/// Everything the `emergency` Lambda needs, from its environment.
pub async fn emergency_function(
    env: &dyn Env,
    http: &reqwest::Client,
) -> Result<EmergencyFlow, StartupError> {
    let settings = EmergencySettings::from_env(env)?;
    let dynamo = DynamoSettings::from_env(env)?;
    Ok(emergency_flow(settings, dynamo_store(&dynamo).await, http))
}

/// The Zenvia flow with the given store.
pub fn zenvia_flow(
    settings: ZenviaSettings,
    store: Arc<dyn Store>,
    http: &reqwest::Client,
) -> Result<ZenviaFlow, StartupError> {
    let bot = bot(&settings.bot, http)?;
    let zenvia = ZenviaClient::new(http.clone(), &settings.api_url, settings.api_token.clone());
    Ok(ZenviaFlow::new(settings, store, bot, zenvia))
}

/// Everything the `zenvia` Lambda needs, from its environment.
pub async fn zenvia_function(env: &dyn Env, http: &reqwest::Client) -> Result<ZenviaFlow, StartupError> {
    let settings = ZenviaSettings::from_env(env)?;
    let dynamo = DynamoSettings::from_env(env)?;
    zenvia_flow(settings, dynamo_store(&dynamo).await, http)
}

/// Everything the `analytics` Lambda needs: the store and the access token.
pub async fn analytics_function(
    env: &dyn Env,
) -> Result<(Arc<dyn Store>, crate::secret::Secret), StartupError> {
    let token = crate::config::analytics_access_token(env)?;
    let dynamo = DynamoSettings::from_env(env)?;
    Ok((dynamo_store(&dynamo).await, token))
}
