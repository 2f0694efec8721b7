//! Building the clients once, at start-up, from the configuration.

use std::sync::Arc;
use std::time::Duration;

use crate::bot::openai::DEFAULT_SYSTEM_PROMPT;
use crate::bot::{Bot, BuiltinBot, HttpBot, LexBot, OpenAiBot, RulesError};
use crate::config::{
    BotSettings, ConfigError, DynamoSettings, EmergencySettings, Env, QueueSettings, WebhookSettings,
    ZenviaSettings,
};
use crate::edge::engage::EngageReceiver;
use crate::edge::zenvia::ZenviaReceiver;
use crate::engage::EngageClient;
use crate::flow::EngageFlow;
use crate::flow::cache::EmergencyFlag;
use crate::flow::emergency::EmergencyFlow;
use crate::flow::zenvia::ZenviaFlow;
use crate::outbound::HttpClient;
use crate::queue::{JobQueue, Processor, SqsQueue};
use crate::store::{DynamoStore, EmergencyStore, StatsStore, Store, WorkerStore};
use crate::zenvia::ZenviaClient;

/// A start-up failure: one line, naming what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("LLM_SYSTEM_PROMPT_FILE {path} could not be read: {reason}")]
    Prompt { path: String, reason: String },
    #[error(
        "the system's time zone database (/usr/share/zoneinfo, or TZDIR) has no {0}: business hours need it (install tzdata)"
    )]
    NoTimeZones(&'static str),
}

/// Business hours read the system's time zone database (Lambda's provided.al2023 has tzdata;
/// bundling it would add 0.5 MB to the worker): without it the worker does not start.
fn check_time_zones() -> Result<(), StartupError> {
    const PROBE: &str = "America/Sao_Paulo";
    crate::hours::time_zone(PROBE).map(|_| ()).ok_or(StartupError::NoTimeZones(PROBE))
}

/// The value of a function's start-up, or the process ends with one line naming what is
/// wrong (exit code 2): a function never runs half-configured.
pub fn or_exit<T>(startup: Result<T, StartupError>) -> T {
    startup.unwrap_or_else(|err| {
        eprintln!("{err}");
        std::process::exit(2)
    })
}

/// The function's environment, with the secrets given as `NAME_SECRET_ARN` read from AWS
/// Secrets Manager (see [`crate::secret_store`]).
pub async fn environment(env: &dyn Env) -> Result<crate::secret_store::WithSecrets<'_>, StartupError> {
    Ok(crate::secret_store::resolve(env).await?)
}

/// The one HTTP client of a process: rustls, a bounded connect time. Each call sets its own
/// time budget (`ENGAGE_TIMEOUT_MS`, `BOT_TIMEOUT_MS`, Zenvia's): a client-wide one would cut
/// a bot allowed 60 s at whatever it says.
pub fn http_client() -> HttpClient {
    HttpClient::new()
}

/// rustls' crypto for the whole process: ring (see the workspace manifest). Installing it
/// twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub async fn bot(settings: &BotSettings, http: &HttpClient) -> Result<Arc<dyn Bot>, StartupError> {
    Ok(match settings {
        BotSettings::Builtin { rules_file: None } => Arc::new(BuiltinBot::default_rules()),
        BotSettings::Builtin { rules_file: Some(path) } => Arc::new(BuiltinBot::from_file(path)?),
        BotSettings::Http { url, timeout } => Arc::new(HttpBot::new(http.clone(), url.clone(), *timeout)),
        BotSettings::OpenAi(openai) => {
            let system_prompt = match &openai.system_prompt_file {
                None => DEFAULT_SYSTEM_PROMPT.to_string(),
                Some(path) => std::fs::read_to_string(path).map_err(|e| StartupError::Prompt {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?,
            };
            Arc::new(OpenAiBot::new(
                http.clone(),
                &openai.base_url,
                openai.api_key.clone(),
                &openai.model,
                system_prompt,
                openai.timeout,
                openai.memory,
            ))
        }
        BotSettings::Lex(lex) => Arc::new(LexBot::new(lex.clone()).await),
    })
}

/// The DynamoDB store for `settings` (AWS, or `DYNAMODB_ENDPOINT`).
pub async fn dynamo_store(settings: &DynamoSettings) -> Arc<dyn Store> {
    let client = DynamoStore::client_for(settings.endpoint.as_deref()).await;
    Arc::new(DynamoStore::new(client, settings.table_name.clone()))
}

/// The webhook's flow with the given store.
pub async fn engage_flow(
    settings: WebhookSettings,
    store: Arc<dyn WorkerStore>,
    http: &HttpClient,
) -> Result<EngageFlow, StartupError> {
    let bot = bot(&settings.bot, http).await?;
    Ok(engage_flow_with(settings, store, bot, http))
}

/// The webhook's flow with the given store and bot.
pub fn engage_flow_with(
    settings: WebhookSettings,
    store: Arc<dyn WorkerStore>,
    bot: Arc<dyn Bot>,
    http: &HttpClient,
) -> EngageFlow {
    let engage = engage_client(&settings.engage, http);
    EngageFlow::new(settings, store, bot, engage)
}

/// The Engage Digital client of `settings`, one per process.
pub fn engage_client(settings: &crate::config::EngageSettings, http: &HttpClient) -> EngageClient {
    EngageClient::new(http.clone(), &settings.api_url, settings.access_token.clone())
        .with_timeout(settings.timeout)
}

/// How the worker settles a batch on the SQS queue of `settings`.
pub async fn sqs_delivery(settings: &QueueSettings) -> crate::queue::SqsDelivery {
    crate::queue::SqsDelivery {
        client: crate::queue::sqs_client(settings.sqs_endpoint.as_deref()).await,
        queue_url: settings.queue_url.clone(),
        dead_letter_url: settings.dead_letter_url.clone(),
    }
}

/// The SQS FIFO queue of `settings`.
pub async fn sqs_queue(settings: &QueueSettings) -> Arc<dyn JobQueue> {
    let client = crate::queue::sqs_client(settings.sqs_endpoint.as_deref()).await;
    Arc::new(SqsQueue::new(client, settings.queue_url.clone()))
}

/// Everything the `webhook` and `rebot` Lambdas need: the webhook's tokens and the queue. No
/// store, no bot: they only receive.
pub async fn engage_receiver_function(env: &dyn Env) -> Result<EngageReceiver, StartupError> {
    let auth = crate::config::WebhookAuth::deployed_from_env(env)?;
    let queue = QueueSettings::from_env(env)?;
    let mut receiver = EngageReceiver::new(auth, sqs_queue(&queue).await);
    // Kept current from Secrets Manager, so a rotation never takes the endpoint down.
    if let Some(arn) = env.var("ENGAGE_WEBHOOK_SECRET_SECRET_ARN").filter(|arn| !arn.trim().is_empty()) {
        let read_at_start = receiver.auth.webhook_secrets.clone();
        let endpoint = env.var("SECRETS_ENDPOINT");
        let rotating =
            crate::secret_store::RotatingSecret::new(arn.trim(), endpoint.as_deref(), read_at_start).await;
        receiver.rotating_secret = Some(Arc::new(rotating));
    }
    Ok(receiver)
}

/// Everything the `zenvia` Lambda needs: its inbound token and the queue.
pub async fn zenvia_receiver_function(env: &dyn Env) -> Result<ZenviaReceiver, StartupError> {
    let webhook_token = crate::config::zenvia_webhook_token(env)?;
    let queue = QueueSettings::from_env(env)?;
    Ok(ZenviaReceiver { webhook_token, queue: sqs_queue(&queue).await })
}

/// What the worker runs: the Engage Digital flow when `ENGAGE_API_URL` is set, the Zenvia
/// flow when `ZENVIA_API_TOKEN` is set (at least one of them). Read and checked whole before
/// any client is built.
pub struct ProcessorSettings {
    pub engage: Option<WebhookSettings>,
    pub zenvia: Option<ZenviaSettings>,
    /// Failed deliveries before an event goes to the dead letters (`MAX_ATTEMPTS`).
    pub max_attempts: u32,
}

impl ProcessorSettings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let configured = |name: &str| env.var(name).is_some_and(|v| !v.trim().is_empty());
        let engage = configured("ENGAGE_API_URL").then(|| WebhookSettings::from_env(env)).transpose()?;
        let zenvia = configured("ZENVIA_API_TOKEN").then(|| ZenviaSettings::from_env(env)).transpose()?;
        if engage.is_none() && zenvia.is_none() {
            return Err(ConfigError::Missing("ENGAGE_API_URL"));
        }
        Ok(Self { engage, zenvia, max_attempts: crate::config::max_attempts(env)? })
    }

    /// The longest a job may take: the bot's time budget and the rest of a turn.
    fn time_needed(&self) -> Duration {
        let bots = self.engage.iter().map(|s| &s.bot).chain(self.zenvia.iter().map(|s| &s.bot));
        let bot_time = bots.map(BotSettings::timeout).max().unwrap_or_default();
        bot_time + crate::queue::JOB_TIME_BESIDES_BOT
    }
}

/// The worker's processor over `store`.
pub async fn processor(
    settings: ProcessorSettings,
    store: Arc<dyn WorkerStore>,
    http: &HttpClient,
) -> Result<Processor, StartupError> {
    processor_observing_bot(settings, store, http, |bot| bot).await
}

/// The worker's processor, its bot wrapped by `observe` (the dev server's console logs every
/// call). One bot for both platforms: both read the same `BOT_*` variables.
pub async fn processor_observing_bot(
    settings: ProcessorSettings,
    store: Arc<dyn WorkerStore>,
    http: &HttpClient,
    observe: impl FnOnce(Arc<dyn Bot>) -> Arc<dyn Bot>,
) -> Result<Processor, StartupError> {
    let time_needed = settings.time_needed();
    let delivery = crate::retry::Backoff { attempts: settings.max_attempts, ..crate::queue::DELIVERY };
    let first = settings
        .engage
        .as_ref()
        .map(|s| (&s.flow, &s.bot))
        .or(settings.zenvia.as_ref().map(|s| (&s.flow, &s.bot)));
    let (flow, bot_settings) = first.expect("one flow is configured");
    let emergency = Arc::new(EmergencyFlag::new(flow.emergency_cache));
    let bot = observe(bot(bot_settings, http).await?);
    let engage = settings.engage.map(|engage| {
        Arc::new(
            engage_flow_with(engage, store.clone(), bot.clone(), http)
                .sharing_emergency_flag(emergency.clone()),
        )
    });
    let zenvia = settings.zenvia.map(|zenvia| {
        Arc::new(zenvia_flow_with(zenvia, store, bot, http).sharing_emergency_flag(emergency.clone()))
    });
    Ok(Processor { engage, zenvia, time_needed, emergency, delivery })
}

/// Everything the `process` Lambda (the queue's worker) needs, from its environment: the
/// processor, and how it settles a batch on the queue.
pub async fn process_function(
    env: &dyn Env,
    http: &HttpClient,
) -> Result<(Processor, crate::queue::SqsDelivery), StartupError> {
    check_time_zones()?;
    let settings = ProcessorSettings::from_env(env)?;
    let dynamo = DynamoSettings::from_env(env)?;
    let queue = QueueSettings::from_env(env)?;
    let processor = processor(settings, dynamo_store(&dynamo).await, http).await?;
    Ok((processor, sqs_delivery(&queue).await))
}

/// How long one emergency invocation through `POST /emergency` works before answering (API
/// Gateway waits 30 s at most); the rest continues on the next run.
pub const EMERGENCY_TIME_BUDGET: Duration = Duration::from_secs(20);

/// A scheduled emergency run works until this long before its invocation's deadline, so it
/// saves its counters and releases its lease before the function's Timeout.
pub const EMERGENCY_STOP_MARGIN: Duration = Duration::from_secs(10);

/// The emergency switch's flow with the given store.
pub fn emergency_flow(
    settings: EmergencySettings,
    store: Arc<dyn EmergencyStore>,
    http: &HttpClient,
) -> EmergencyFlow {
    let engage = engage_client(&settings.engage, http);
    let zenvia =
        settings.zenvia.as_ref().map(|z| ZenviaClient::new(http.clone(), &z.api_url, z.api_token.clone()));
    EmergencyFlow::new(settings, store, engage, zenvia, EMERGENCY_TIME_BUDGET)
}

/// Everything the `emergency` Lambda needs, from its environment.
pub async fn emergency_function(env: &dyn Env, http: &HttpClient) -> Result<EmergencyFlow, StartupError> {
    let settings = EmergencySettings::from_env(env)?;
    let dynamo = DynamoSettings::from_env(env)?;
    Ok(emergency_flow(settings, dynamo_store(&dynamo).await, http))
}

/// The Zenvia flow with the given store and bot.
pub fn zenvia_flow_with(
    settings: ZenviaSettings,
    store: Arc<dyn WorkerStore>,
    bot: Arc<dyn Bot>,
    http: &HttpClient,
) -> ZenviaFlow {
    let zenvia = ZenviaClient::new(http.clone(), &settings.api_url, settings.api_token.clone());
    ZenviaFlow::new(settings, store, bot, zenvia)
}

/// Everything the `analytics` Lambda needs: the store and the access token.
pub async fn analytics_function(
    env: &dyn Env,
) -> Result<(Arc<dyn StatsStore>, crate::secret::Secret), StartupError> {
    let token = crate::config::analytics_access_token(env)?;
    let dynamo = DynamoSettings::from_env(env)?;
    Ok((dynamo_store(&dynamo).await, token))
}
