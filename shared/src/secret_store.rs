//! Secrets from AWS Secrets Manager, read once per cold start (issue 15). A secret variable
//! `NAME` may be given as `NAME_SECRET_ARN` instead: the function then reads the secret's value
//! with the AWS SDK before anything else, so the value never sits in the function's
//! configuration (readable with `lambda:GetFunctionConfiguration`). Plain variables still work,
//! which is what the dev server uses.

use std::collections::HashMap;

use crate::config::{ConfigError, Env};

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

/// A client for `endpoint` (moto's server) or, without one, for AWS from the environment.
async fn client(endpoint: Option<&str>) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&crate::aws::config_for(endpoint).await)
}
