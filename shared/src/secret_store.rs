//! Secrets from AWS Secrets Manager, read once per cold start (issue 15); the webhook's secret
//! kept current through a rotation ([`RotatingSecret`]). A secret variable
//! `NAME` may be given as `NAME_SECRET_ARN` instead: the function then reads the secret's value
//! with the AWS SDK before anything else, so the value never sits in the function's
//! configuration (readable with `lambda:GetFunctionConfiguration`). Plain variables still work,
//! which is what the dev server uses.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::{ConfigError, Env};
use crate::secret::Secret;

/// The variables that hold secrets.
pub const SECRET_VARIABLES: [&str; 7] = [
    "ENGAGE_ACCESS_TOKEN",
    "ENGAGE_VERIFY_TOKEN",
    "ENGAGE_WEBHOOK_SECRET",
    "ZENVIA_API_TOKEN",
    "ZENVIA_WEBHOOK_TOKEN",
    "ANALYTICS_ACCESS_TOKEN",
    "LLM_API_KEY",
];

/// An environment whose secrets were read from Secrets Manager, falling back to `base`.
pub struct WithSecrets<'a> {
    base: &'a dyn Env,
    secrets: HashMap<&'static str, String>,
}

impl Env for WithSecrets<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.secrets.get(name).cloned().or_else(|| self.base.var(name))
    }

    fn names(&self) -> Vec<String> {
        self.base.names()
    }
}

/// Reads every `NAME_SECRET_ARN` of `base` (at once: one request each, in parallel). A secret
/// that cannot be read stops the function with one line naming the variable.
pub async fn resolve(base: &dyn Env) -> Result<WithSecrets<'_>, ConfigError> {
    let wanted: Vec<(&'static str, String)> = SECRET_VARIABLES
        .iter()
        .filter_map(|name| {
            let arn = base.var(&format!("{name}_SECRET_ARN"))?;
            let arn = arn.trim().to_string();
            (!arn.is_empty()).then_some((*name, arn))
        })
        .collect();
    let mut secrets = HashMap::new();
    if wanted.is_empty() {
        return Ok(WithSecrets { base, secrets });
    }
    let client = client(base.var("SECRETS_ENDPOINT").as_deref()).await;
    let mut reads = tokio::task::JoinSet::new();
    for (name, arn) in wanted {
        let client = client.clone();
        reads.spawn(async move {
            let read = client.get_secret_value().secret_id(arn).send().await;
            (name, read.map(|output| output.secret_string).map_err(|e| e.into_service_error()))
        });
    }
    while let Some(read) = reads.join_next().await {
        let (name, read) = read.map_err(|_| ConfigError::Missing("a secret read task"))?;
        let unreadable = |reason: &str| ConfigError::Malformed { name, reason: reason.to_string() };
        match read {
            Ok(Some(value)) => secrets.insert(name, value),
            Ok(None) => return Err(unreadable("its secret has no string value")),
            // The error kind only: its message may quote the secret's ARN, which is no secret,
            // but stays out of a one-line start-up error all the same.
            Err(err) => {
                return Err(unreadable(&format!("its secret could not be read ({})", error_kind(&err))));
            }
        };
    }
    Ok(WithSecrets { base, secrets })
}

fn error_kind(
    err: &aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError,
) -> &'static str {
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError as E;
    match err {
        E::ResourceNotFoundException(_) => "not found",
        E::DecryptionFailure(_) => "cannot be decrypted",
        E::InvalidRequestException(_) | E::InvalidParameterException(_) => "invalid request",
        _ => "access denied or service unavailable",
    }
}

/// How often a receiver reads the webhook's secret again: a rotation is taken up within this.
pub const SECRET_REFRESH: Duration = Duration::from_secs(300);
/// How long after a rotation the previous value is still accepted (the time to change it on
/// Engage Digital's side).
pub const ROTATION_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// A secret that may be rotated while functions run: read again at most every
/// [`SECRET_REFRESH`], the previous value accepted beside the current one for
/// [`ROTATION_WINDOW`] after a rotation (Secrets Manager's `AWSPREVIOUS` version). When a read
/// fails, the values known are kept (logged): a Secrets Manager outage never refuses requests.
pub struct RotatingSecret {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    refresh: Duration,
    known: tokio::sync::Mutex<(Instant, Vec<Secret>)>,
}

impl RotatingSecret {
    /// `read_at_start`: the values the function started with (read again after `SECRET_REFRESH`).
    pub async fn new(arn: &str, endpoint: Option<&str>, read_at_start: Vec<Secret>) -> Self {
        Self::refreshing_every(arn, endpoint, read_at_start, SECRET_REFRESH).await
    }

    pub async fn refreshing_every(
        arn: &str,
        endpoint: Option<&str>,
        known: Vec<Secret>,
        refresh: Duration,
    ) -> Self {
        let client = client(endpoint).await;
        Self {
            client,
            arn: arn.to_string(),
            refresh,
            known: tokio::sync::Mutex::new((Instant::now(), known)),
        }
    }

    /// The values accepted now.
    pub async fn values(&self) -> Vec<Secret> {
        let mut known = self.known.lock().await;
        if known.0.elapsed() >= self.refresh {
            match self.read().await {
                Ok(values) => *known = (Instant::now(), values),
                Err(kind) => {
                    tracing::warn!(
                        error = kind,
                        "the webhook secret could not be read again; the known values stay"
                    );
                    known.0 = Instant::now();
                }
            }
        }
        known.1.clone()
    }

    async fn read(&self) -> Result<Vec<Secret>, &'static str> {
        let version = |stage: &'static str| {
            self.client.get_secret_value().secret_id(&self.arn).version_stage(stage).send()
        };
        let current = version("AWSCURRENT").await.map_err(|e| error_kind(&e.into_service_error()))?;
        let mut values: Vec<Secret> = current.secret_string.iter().map(Secret::new).collect();
        let rotated_at = current.created_date.and_then(|d| u64::try_from(d.secs()).ok());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if rotated_at.is_some_and(|at| now.saturating_sub(at) < ROTATION_WINDOW.as_secs())
            && let Ok(previous) = version("AWSPREVIOUS").await
        {
            values.extend(previous.secret_string.iter().map(Secret::new));
        }
        if values.is_empty() {
            return Err("its secret has no string value");
        }
        Ok(values)
    }
}

/// A client for `endpoint` (moto's server) or, without one, for AWS from the environment.
async fn client(endpoint: Option<&str>) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&crate::aws::config_for(endpoint).await)
}
