//! The DynamoDB store: one table, partition key `pk` (string), TTL attribute `expires_at`.
//!
//! Items:
//! - `pk = "event#<event id>"`: `status` (`in_progress` | `done`), `lease_until` (ms),
//!   `lease_token`, `progress` (JSON of [`EventProgress`]), `expires_at` (s, 72 h).
//! - `pk = "thread#<thread id>"`: `version`, `owner`, `state` (JSON of [`ThreadState`]),
//!   `expires_at` (s, 90 days after the last change).
//!
//! Every write is conditional: a claim on `attribute_not_exists(pk)`, progress on the lease
//! token, a thread on its version. Finishing an event and saving its thread is one transaction.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update,
};

use super::{
    Claim, EVENT_RECORD_TTL_SECONDS, EventProgress, Lease, Store, StoreError, THREAD_TTL_SECONDS,
    ThreadState, new_lease_token,
};

const STATUS_IN_PROGRESS: &str = "in_progress";
const STATUS_DONE: &str = "done";

pub struct DynamoStore {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn event_key(event_id: &str) -> String {
    format!("event#{event_id}")
}

fn thread_key(thread_id: &str) -> String {
    format!("thread#{thread_id}")
}

fn unavailable<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn progress_of(item: &Item) -> Result<EventProgress, StoreError> {
    match get_s(item, "progress") {
        None => Ok(EventProgress::default()),
        Some(json) => serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string())),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A client for `endpoint` (DynamoDB Local) or, without one, for AWS from the environment.
    pub async fn client_for(endpoint: Option<&str>) -> Client {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        Client::new(&loader.load().await)
    }

    /// Creates the table as template.yaml declares it (for DynamoDB Local and tests).
    /// An existing table is left as it is.
    pub async fn create_table_if_missing(client: &Client, table: &str) -> Result<(), StoreError> {
        let created = client
            .create_table()
            .table_name(table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("complete definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("complete key"),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(err) => {
                let service = err.into_service_error();
                if !service.is_resource_in_use_exception() {
                    return Err(unavailable(service));
                }
                return Ok(());
            }
        }
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expires_at")
                    .build()
                    .expect("complete spec"),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn lease_condition(
        &self,
        update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        lease: &Lease,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        update
            .table_name(&self.table)
            .key("pk", s(event_key(&lease.event_id)))
            .condition_expression("lease_token = :token AND #status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":token", s(&lease.token))
            .expression_attribute_values(":in_progress", s(STATUS_IN_PROGRESS))
    }

    fn thread_put(&self, thread: &ThreadState) -> Put {
        let stored = ThreadState {
            version: thread.version + 1,
            ..thread.clone()
        };
        let expires_at = stored.updated_at_ms / 1000 + THREAD_TTL_SECONDS;
        let builder = Put::builder()
            .table_name(&self.table)
            .item("pk", s(thread_key(&thread.thread_id)))
            .item("version", n(stored.version as i64))
            .item("owner", s(stored.owner.as_str()))
            .item("state", s(to_json(&stored)))
            .item("expires_at", n(expires_at));
        let builder = if thread.version == 0 {
            builder.condition_expression("attribute_not_exists(pk)")
        } else {
            builder
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(thread.version as i64))
        };
        builder.build().expect("complete put")
    }
}

fn lease_lost_or<E>(
    err: SdkError<E>,
    lease: &Lease,
    is_condition: impl Fn(&E) -> bool,
) -> StoreError
where
    E: std::error::Error + 'static,
{
    let service = match err {
        SdkError::ServiceError(service) => service.into_err(),
        other => return unavailable(other),
    };
    if is_condition(&service) {
        StoreError::LeaseLost(lease.event_id.clone())
    } else {
        unavailable(service)
    }
}

#[async_trait::async_trait]
impl Store for DynamoStore {
    async fn claim_event(
        &self,
        event_id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, StoreError> {
        let token = new_lease_token();
        let lease = Lease {
            event_id: event_id.to_string(),
            token: token.clone(),
        };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(event_key(event_id)))
            .item("status", s(STATUS_IN_PROGRESS))
            .item("lease_until", n(now_ms + lease_ms))
            .item("lease_token", s(&token))
            .item("expires_at", n(now_ms / 1000 + EVENT_RECORD_TTL_SECONDS))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let existing = match put {
            Ok(_) => {
                return Ok(Claim::Granted {
                    lease,
                    progress: EventProgress::default(),
                });
            }
            Err(err) => match err.into_service_error() {
                PutItemError::ConditionalCheckFailedException(e) => e.item.unwrap_or_default(),
                other => return Err(unavailable(other)),
            },
        };
        if get_s(&existing, "status") == Some(STATUS_DONE) {
            return Ok(Claim::Done);
        }
        let lease_until = get_n(&existing, "lease_until").unwrap_or(0);
        if lease_until > now_ms {
            return Ok(Claim::Busy);
        }
        // The lease expired (a crash or a timeout): take it over, unless someone else just did.
        let takeover = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_key(event_id)))
            .update_expression("SET lease_until = :until, lease_token = :token")
            .condition_expression("lease_until = :old AND #status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":until", n(now_ms + lease_ms))
            .expression_attribute_values(":token", s(&token))
            .expression_attribute_values(":old", n(lease_until))
            .expression_attribute_values(":in_progress", s(STATUS_IN_PROGRESS))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match takeover {
            Ok(output) => {
                let progress = progress_of(&output.attributes.unwrap_or_default())?;
                Ok(Claim::Granted { lease, progress })
            }
            Err(err) => match err.into_service_error() {
                e if e.is_conditional_check_failed_exception() => Ok(Claim::Busy),
                other => Err(unavailable(other)),
            },
        }
    }

    async fn save_progress(
        &self,
        lease: &Lease,
        progress: &EventProgress,
    ) -> Result<(), StoreError> {
        self.lease_condition(self.client.update_item(), lease)
            .update_expression("SET progress = :progress")
            .expression_attribute_values(":progress", s(to_json(progress)))
            .send()
            .await
            .map_err(|e| lease_lost_or(e, lease, |e| e.is_conditional_check_failed_exception()))?;
        Ok(())
    }

    async fn finish_event(
        &self,
        lease: &Lease,
        progress: &EventProgress,
        thread: Option<&ThreadState>,
    ) -> Result<(), StoreError> {
        let update_expression = "SET #status = :done, progress = :progress REMOVE lease_token";
        let Some(thread) = thread else {
            self.lease_condition(self.client.update_item(), lease)
                .update_expression(update_expression)
                .expression_attribute_values(":done", s(STATUS_DONE))
                .expression_attribute_values(":progress", s(to_json(progress)))
                .send()
                .await
                .map_err(|e| {
                    lease_lost_or(e, lease, |e| e.is_conditional_check_failed_exception())
                })?;
            return Ok(());
        };
        let finish = Update::builder()
            .table_name(&self.table)
            .key("pk", s(event_key(&lease.event_id)))
            .update_expression(update_expression)
            .condition_expression("lease_token = :token AND #status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":token", s(&lease.token))
            .expression_attribute_values(":in_progress", s(STATUS_IN_PROGRESS))
            .expression_attribute_values(":done", s(STATUS_DONE))
            .expression_attribute_values(":progress", s(to_json(progress)))
            .build()
            .expect("complete update");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(finish).build())
            .transact_items(
                TransactWriteItem::builder()
                    .put(self.thread_put(thread))
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let reasons = cancelled.cancellation_reasons();
                    let failed = |i: usize| {
                        reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
                    };
                    if failed(0) {
                        Err(StoreError::LeaseLost(lease.event_id.clone()))
                    } else if failed(1) {
                        Err(StoreError::ThreadConflict(thread.thread_id.clone()))
                    } else {
                        Err(unavailable(cancelled))
                    }
                }
                other => Err(unavailable(other)),
            },
        }
    }

    async fn release_event(&self, lease: &Lease) -> Result<(), StoreError> {
        self.lease_condition(self.client.update_item(), lease)
            .update_expression("SET lease_until = :zero REMOVE lease_token")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map_err(|e| lease_lost_or(e, lease, |e| e.is_conditional_check_failed_exception()))?;
        Ok(())
    }

    async fn get_thread(&self, thread_id: &str) -> Result<Option<ThreadState>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(thread_key(thread_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let json = get_s(&item, "state")
            .ok_or_else(|| StoreError::Corrupt(format!("thread {thread_id} has no state")))?;
        serde_json::from_str(json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError> {
        let put = self.thread_put(thread);
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(put.item().clone()))
            .set_condition_expression(put.condition_expression().map(String::from));
        if let Some(values) = put.expression_attribute_values() {
            request = request.set_expression_attribute_values(Some(values.clone()));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) => match err.into_service_error() {
                e if e.is_conditional_check_failed_exception() => {
                    Err(StoreError::ThreadConflict(thread.thread_id.clone()))
                }
                other => Err(unavailable(other)),
            },
        }
    }
}
