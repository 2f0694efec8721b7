//! The DynamoDB store: one table, partition key `pk` (string), TTL attribute `expires_at`.
//!
//! One item per thread, `pk = "thread#<thread id>"`:
//! - `version` (number; absent for a thread the product never saved), `owner` (`bot`/`agent`),
//!   `state` (JSON of [`ThreadState`]), `expires_at` (seconds; 90 days after the last event);
//! - one attribute per webhook event of the thread, `ev#<event id>`, a map: `status`
//!   (`in_progress`/`done`), `at` (claim time, ms), `lease_until` (ms), `lease_token`,
//!   `progress` (JSON of [`EventProgress`]). Records older than 72 hours are removed when a later
//!   event of the thread finishes.
//!
//! - `turn_until`, `turn_token`: the event holding the thread's turn (see [`Claim`]).
//!
//! `pk = "settings#emergency"`: the emergency switch, `state` (JSON of [`EmergencyState`]).
//!
//! Keeping the event records in the thread's item makes the common path two requests: the
//! claim (a conditional update that returns the thread) and the finish (one conditional update
//! that marks the event done and saves the thread, atomically, on the version claimed).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    KeysAndAttributes, Projection, ProjectionType, ReturnValue, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, Select, TimeToLiveSpecification, TransactWriteItem, Update,
};

use super::{
    Claim, EVENT_RECORD_TTL_SECONDS, EmergencyState, EventProgress, HourStats, Lease, Owner,
    STATS_TTL_SECONDS, StatsEntry, StatsSet, Store, StoreError, THREAD_TTL_SECONDS, ThreadState,
    new_lease_token,
};

const STATUS_IN_PROGRESS: &str = "in_progress";
const STATUS_DONE: &str = "done";
const EVENT_PREFIX: &str = "ev#";
/// The sparse index of bot-owned threads: `bot_owned` is set only on them.
pub const BOT_OWNED_INDEX: &str = "bot-owned";
const BOT_OWNED: &str = "bot";
/// The emergency switch's item.
const EMERGENCY_KEY: &str = "settings#emergency";

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

/// The AWS SDK's HTTPS client: rustls with ring, the same TLS stack as the rest of the process.
pub fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("complete definition")
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().expect("complete key")
}

fn stats_key(hour: i64) -> String {
    format!("stats#{hour}")
}

fn hour_stats_of(item: &Item) -> HourStats {
    let set = |name: &str| item.get(name).and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default();
    let hour =
        get_s(item, "pk").and_then(|pk| pk.strip_prefix("stats#")).and_then(|h| h.parse().ok()).unwrap_or(0);
    HourStats {
        hour,
        sessions: set(StatsSet::Sessions.attribute()),
        users: set(StatsSet::Users.attribute()),
        interventions: set(StatsSet::Interventions.attribute()),
    }
}

fn thread_key(thread_id: &str) -> AttributeValue {
    s(format!("thread#{thread_id}"))
}

fn event_attribute(event_id: &str) -> String {
    format!("{EVENT_PREFIX}{event_id}")
}

fn unavailable<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

/// The thread held by an item (new when the item holds no state yet).
fn thread_of(thread_id: &str, item: &Item) -> Result<ThreadState, StoreError> {
    let Some(json) = get_s(item, "state") else { return Ok(ThreadState::new(thread_id)) };
    let mut thread: ThreadState =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    thread.version = get_n(item, "version").unwrap_or(0) as u64;
    Ok(thread)
}

/// An event's record inside a thread's item.
struct EventRecord<'a>(&'a Item);

impl<'a> EventRecord<'a> {
    fn of(item: &'a Item, event_id: &str) -> Option<Self> {
        item.get(&event_attribute(event_id)).and_then(|v| v.as_m().ok()).map(EventRecord)
    }
    fn done(&self) -> bool {
        get_s(self.0, "status") == Some(STATUS_DONE)
    }
    fn lease_until(&self) -> i64 {
        get_n(self.0, "lease_until").unwrap_or(0)
    }
    fn holds(&self, token: &str) -> bool {
        get_s(self.0, "lease_token") == Some(token)
    }
    fn progress(&self) -> Result<EventProgress, StoreError> {
        match get_s(self.0, "progress") {
            None => Ok(EventProgress::default()),
            Some(json) => serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string())),
        }
    }
}

/// Finished event records of an item older than the retention, to remove.
fn expired_events(item: &Item, now_ms: i64) -> Vec<String> {
    let horizon = now_ms - EVENT_RECORD_TTL_SECONDS * 1000;
    item.iter()
        .filter(|(name, _)| name.starts_with(EVENT_PREFIX))
        .filter_map(|(name, value)| value.as_m().ok().map(|m| (name, m)))
        .filter(|(_, record)| {
            get_s(record, "status") == Some(STATUS_DONE) && get_n(record, "at").unwrap_or(0) < horizon
        })
        .map(|(name, _)| name.clone())
        .collect()
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// A client for `endpoint` (DynamoDB Local) or, without one, for AWS from the environment.
    /// DynamoDB Local accepts any credentials: without AWS ones in the environment, local
    /// placeholders and `us-east-1` are used, so nobody needs an AWS account to run it.
    pub async fn client_for(endpoint: Option<&str>) -> Client {
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(aws_http_client());
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
                loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "dynamodb-local",
                ));
            }
            if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
                loader = loader.region(aws_config::Region::new("us-east-1"));
            }
        }
        Client::new(&loader.load().await)
    }

    /// Creates the table as template.yaml declares it (for DynamoDB Local and tests).
    /// An existing table is left as it is.
    pub async fn create_table_if_missing(client: &Client, table: &str) -> Result<(), StoreError> {
        let created = client
            .create_table()
            .table_name(table)
            .attribute_definitions(string_attribute("pk"))
            .attribute_definitions(string_attribute("bot_owned"))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(BOT_OWNED_INDEX)
                    .key_schema(key("bot_owned", KeyType::Hash))
                    .key_schema(key("pk", KeyType::Range))
                    .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                    .build()
                    .expect("complete index"),
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
        if let Err(err) = created {
            let service = err.into_service_error();
            return if service.is_resource_in_use_exception() { Ok(()) } else { Err(unavailable(service)) };
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

    fn update(&self, thread_id: &str) -> UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).key("pk", thread_key(thread_id))
    }

    /// Adds statistics entries outside of any event (backfills, benchmarks): one `UpdateItem`
    /// per hour touched.
    pub async fn add_stats(&self, entries: &[StatsEntry]) -> Result<(), StoreError> {
        for update in self.stats_updates(entries) {
            self.send_update(update).await.map_err(|e| unavailable(e.into_service_error()))?;
        }
        Ok(())
    }

    /// One conditional update of a thread's item: finishing an event (conditional on its
    /// lease) and/or saving the thread (conditional on its version), in one write.
    fn thread_item_update(
        &self,
        thread_id: &str,
        event: Option<(&Lease, &EventProgress)>,
        thread: Option<&ThreadState>,
    ) -> Update {
        let mut set: Vec<&str> = Vec::new();
        let mut remove: Vec<String> = Vec::new();
        let mut conditions: Vec<&str> = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", thread_key(thread_id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some((lease, progress)) = event {
            set.extend(["#ev.#status = :done", "#ev.progress = :progress"]);
            remove.extend([
                "#ev.lease_token".to_string(),
                "turn_until".to_string(),
                "turn_token".to_string(),
            ]);
            conditions.push("#ev.lease_token = :token");
            update = update
                .expression_attribute_names("#ev", event_attribute(&lease.event_id))
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":token", s(&lease.token))
                .expression_attribute_values(":done", s(STATUS_DONE))
                .expression_attribute_values(":progress", s(to_json(progress)));
            for (i, name) in lease.expired_events.iter().enumerate() {
                let placeholder = format!("#old{i}");
                update = update.expression_attribute_names(&placeholder, name);
                remove.push(placeholder);
            }
        }
        if let Some(thread) = thread {
            let stored = ThreadState { version: thread.version + 1, ..thread.clone() };
            set.extend(["#state = :state", "#owner = :owner", "version = :next", "expires_at = :expires"]);
            // The sparse index of bot-owned threads follows the owner.
            if stored.owner == Owner::Bot {
                set.push("bot_owned = :bot_owned");
                update = update.expression_attribute_values(":bot_owned", s(BOT_OWNED));
            } else {
                remove.push("bot_owned".to_string());
            }
            update = update
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":state", s(to_json(&stored)))
                .expression_attribute_values(":owner", s(stored.owner.as_str()))
                .expression_attribute_values(":next", n(stored.version as i64))
                .expression_attribute_values(":expires", n(crate::now_millis() / 1000 + THREAD_TTL_SECONDS));
            if thread.version == 0 {
                conditions.push("attribute_not_exists(version)");
            } else {
                conditions.push("version = :read");
                update = update.expression_attribute_values(":read", n(thread.version as i64));
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        update
            .update_expression(expression)
            .condition_expression(conditions.join(" AND "))
            .build()
            .expect("complete update")
    }

    /// A query of the sparse index of bot-owned threads.
    fn bot_owned_query(&self) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(BOT_OWNED_INDEX)
            .key_condition_expression("bot_owned = :bot")
            .expression_attribute_values(":bot", s(BOT_OWNED))
    }

    /// Sends one `Update` on its own (outside a transaction).
    async fn send_update(&self, update: Update) -> Result<(), SdkError<UpdateItemError>> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(update.key().clone()))
            .update_expression(update.update_expression())
            .set_condition_expression(update.condition_expression().map(String::from))
            .set_expression_attribute_names(update.expression_attribute_names().cloned())
            .set_expression_attribute_values(update.expression_attribute_values().cloned())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map(|_| ())
    }

    /// One `ADD` per hour item touched by `entries`.
    fn stats_updates(&self, entries: &[StatsEntry]) -> Vec<Update> {
        let mut by_hour: std::collections::BTreeMap<i64, std::collections::BTreeMap<StatsSet, Vec<String>>> =
            Default::default();
        for entry in entries {
            by_hour.entry(entry.hour).or_default().entry(entry.set).or_default().push(entry.value.clone());
        }
        by_hour
            .into_iter()
            .map(|(hour, sets)| {
                let mut update = Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(stats_key(hour)))
                    .expression_attribute_values(":expires", n(hour * 3600 + STATS_TTL_SECONDS));
                let mut adds = Vec::new();
                for (i, (set, values)) in sets.into_iter().enumerate() {
                    adds.push(format!("#set{i} :values{i}"));
                    update = update
                        .expression_attribute_names(format!("#set{i}"), set.attribute())
                        .expression_attribute_values(format!(":values{i}"), AttributeValue::Ss(values));
                }
                update
                    .update_expression(format!("SET expires_at = :expires ADD {}", adds.join(", ")))
                    .build()
                    .expect("complete update")
            })
            .collect()
    }

    /// An update of an event's record, conditional on holding its lease.
    fn leased_update(&self, lease: &Lease) -> UpdateItemFluentBuilder {
        self.update(&lease.thread_id)
            .condition_expression("#ev.lease_token = :token")
            .expression_attribute_names("#ev", event_attribute(&lease.event_id))
            .expression_attribute_values(":token", s(&lease.token))
    }
}

/// Tells a lost lease from a version conflict, from the item as it was when the condition
/// failed.
fn condition_failure(err: SdkError<UpdateItemError>, lease: &Lease) -> StoreError {
    match err.into_service_error() {
        UpdateItemError::ConditionalCheckFailedException(failed) => {
            let item = failed.item.unwrap_or_default();
            match EventRecord::of(&item, &lease.event_id) {
                Some(record) if record.holds(&lease.token) => {
                    StoreError::ThreadConflict(lease.thread_id.clone())
                }
                _ => StoreError::LeaseLost(lease.event_id.clone()),
            }
        }
        other => unavailable(other),
    }
}

#[async_trait::async_trait]
impl Store for DynamoStore {
    async fn claim_event(
        &self,
        thread_id: &str,
        event_id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, StoreError> {
        let token = new_lease_token();
        let record = AttributeValue::M(HashMap::from([
            ("status".to_string(), s(STATUS_IN_PROGRESS)),
            ("at".to_string(), n(now_ms)),
            ("lease_until".to_string(), n(now_ms + lease_ms)),
            ("lease_token".to_string(), s(&token)),
        ]));
        let claimed = self
            .update(thread_id)
            .update_expression(
                "SET #ev = :record, expires_at = :expires, turn_until = :until, turn_token = :token",
            )
            .condition_expression(
                "attribute_not_exists(#ev) AND (attribute_not_exists(turn_until) OR turn_until <= :now)",
            )
            .expression_attribute_names("#ev", event_attribute(event_id))
            .expression_attribute_values(":record", record)
            .expression_attribute_values(":until", n(now_ms + lease_ms))
            .expression_attribute_values(":token", s(&token))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":expires", n(now_ms / 1000 + THREAD_TTL_SECONDS))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let lease = |item: &Item| Lease {
            thread_id: thread_id.to_string(),
            event_id: event_id.to_string(),
            token: token.clone(),
            expired_events: expired_events(item, now_ms),
            after_crash: false,
        };
        let existing = match claimed {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                let thread = thread_of(thread_id, &item)?;
                return Ok(Claim::Granted {
                    lease: lease(&item),
                    progress: EventProgress::default(),
                    thread,
                });
            }
            Err(err) => match err.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(e) => e.item.unwrap_or_default(),
                other => return Err(unavailable(other)),
            },
        };
        // Either the event has a record, or another event holds the thread's turn.
        let Some(record) = EventRecord::of(&existing, event_id) else { return Ok(Claim::Busy) };
        if record.done() {
            return Ok(Claim::Done);
        }
        let lease_until = record.lease_until();
        if lease_until > now_ms {
            return Ok(Claim::Busy);
        }
        // The lease expired (a crash, a timeout) or was released: take it over, unless
        // another delivery just did.
        let takeover = self
            .update(thread_id)
            .update_expression(
                "SET #ev.lease_until = :until, #ev.lease_token = :token, turn_until = :until, turn_token = :token",
            )
            .condition_expression(
                "#ev.lease_until = :old AND #ev.#status = :in_progress AND (attribute_not_exists(turn_until) OR turn_until <= :now)",
            )
            .expression_attribute_names("#ev", event_attribute(event_id))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":until", n(now_ms + lease_ms))
            .expression_attribute_values(":token", s(&token))
            .expression_attribute_values(":old", n(lease_until))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":in_progress", s(STATUS_IN_PROGRESS))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match takeover {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                let progress =
                    EventRecord::of(&item, event_id).map(|r| r.progress()).transpose()?.unwrap_or_default();
                let thread = thread_of(thread_id, &item)?;
                // A released event's lease is 0; a crashed holder's is a past time.
                let lease = Lease { after_crash: lease_until > 0, ..lease(&item) };
                Ok(Claim::Granted { lease, progress, thread })
            }
            Err(err) => match err.into_service_error() {
                e if e.is_conditional_check_failed_exception() => Ok(Claim::Busy),
                other => Err(unavailable(other)),
            },
        }
    }

    async fn save_progress(&self, lease: &Lease, progress: &EventProgress) -> Result<(), StoreError> {
        self.leased_update(lease)
            .update_expression("SET #ev.progress = :progress")
            .expression_attribute_values(":progress", s(to_json(progress)))
            .send()
            .await
            .map_err(|e| condition_failure(e, lease))?;
        Ok(())
    }

    async fn finish_event(
        &self,
        lease: &Lease,
        progress: &EventProgress,
        thread: Option<&ThreadState>,
        stats: &[StatsEntry],
    ) -> Result<(), StoreError> {
        let finish = self.thread_item_update(&lease.thread_id, Some((lease, progress)), thread);
        if stats.is_empty() {
            return self.send_update(finish).await.map_err(|e| condition_failure(e, lease));
        }
        // The statistics go with the finish in one transaction: counted exactly when the event
        // is done, still one request.
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(finish).build());
        for update in self.stats_updates(stats) {
            transaction = transaction.transact_items(TransactWriteItem::builder().update(update).build());
        }
        match transaction.send().await {
            Ok(_) => Ok(()),
            Err(err) => match err.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let first = cancelled.cancellation_reasons().first();
                    if first.and_then(|r| r.code()) != Some("ConditionalCheckFailed") {
                        return Err(unavailable(cancelled));
                    }
                    let old = first.and_then(|r| r.item()).cloned().unwrap_or_default();
                    Err(match EventRecord::of(&old, &lease.event_id) {
                        Some(record) if record.holds(&lease.token) => {
                            StoreError::ThreadConflict(lease.thread_id.clone())
                        }
                        _ => StoreError::LeaseLost(lease.event_id.clone()),
                    })
                }
                other => Err(unavailable(other)),
            },
        }
    }

    async fn read_stats(&self, from_hour: i64, to_hour: i64) -> Result<Vec<HourStats>, StoreError> {
        let mut hours = Vec::new();
        let all: Vec<i64> = (from_hour..=to_hour).collect();
        // BatchGetItem takes 100 keys: the requests grow with the hours of the window.
        for chunk in all.chunks(100) {
            let mut keys = KeysAndAttributes::builder();
            for hour in chunk {
                keys = keys.keys(HashMap::from([("pk".to_string(), s(stats_key(*hour)))]));
            }
            let mut pending = Some(HashMap::from([(self.table.clone(), keys.build().expect("keys given"))]));
            while let Some(request) = pending.take().filter(|r| !r.is_empty()) {
                let output = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(request))
                    .send()
                    .await
                    .map_err(|e| unavailable(e.into_service_error()))?;
                for item in output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    hours.push(hour_stats_of(&item));
                }
                pending = output.unprocessed_keys;
            }
        }
        hours.sort_by_key(|h| h.hour);
        Ok(hours)
    }

    async fn release_event(&self, lease: &Lease, progress: &EventProgress) -> Result<(), StoreError> {
        self.leased_update(lease)
            .update_expression(
                "SET #ev.lease_until = :zero, #ev.progress = :progress REMOVE #ev.lease_token, turn_until, turn_token",
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":progress", s(to_json(progress)))
            .send()
            .await
            .map_err(|e| condition_failure(e, lease))?;
        Ok(())
    }

    async fn get_thread(&self, thread_id: &str) -> Result<ThreadState, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", thread_key(thread_id))
            // The thread only, not its event records.
            .projection_expression("version, #state")
            .expression_attribute_names("#state", "state")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        thread_of(thread_id, &output.item.unwrap_or_default())
    }

    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError> {
        let update = self.thread_item_update(&thread.thread_id, None, Some(thread));
        match self.send_update(update).await {
            Ok(()) => Ok(()),
            Err(err) => match err.into_service_error() {
                e if e.is_conditional_check_failed_exception() => {
                    Err(StoreError::ThreadConflict(thread.thread_id.clone()))
                }
                other => Err(unavailable(other)),
            },
        }
    }

    async fn get_emergency(&self) -> Result<EmergencyState, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(EMERGENCY_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        match output.item.as_ref().and_then(|item| get_s(item, "state")) {
            None => Ok(EmergencyState::default()),
            Some(json) => serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string())),
        }
    }

    async fn set_emergency(&self, state: &EmergencyState) -> Result<u64, StoreError> {
        let stored = EmergencyState { version: state.version + 1, ..state.clone() };
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(EMERGENCY_KEY))
            .item("version", n(stored.version as i64))
            .item("state", s(to_json(&stored)));
        let request = if state.version == 0 {
            request.condition_expression("attribute_not_exists(pk)")
        } else {
            request
                .condition_expression("version = :read")
                .expression_attribute_values(":read", n(state.version as i64))
        };
        match request.send().await {
            Ok(_) => Ok(stored.version),
            Err(err) => match err.into_service_error() {
                e if e.is_conditional_check_failed_exception() => Err(StoreError::EmergencyConflict),
                other => Err(unavailable(other)),
            },
        }
    }

    async fn bot_owned_threads(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let mut request = self.bot_owned_query().limit(limit as i32);
        if let Some(after) = after {
            request = request
                .exclusive_start_key("pk", thread_key(after))
                .exclusive_start_key("bot_owned", s(BOT_OWNED));
        }
        let output = request.send().await.map_err(|e| unavailable(e.into_service_error()))?;
        let ids: Vec<String> = output
            .items()
            .iter()
            .filter_map(|item| get_s(item, "pk"))
            .filter_map(|pk| pk.strip_prefix("thread#"))
            .map(String::from)
            .collect();
        let next = output
            .last_evaluated_key()
            .and_then(|k| get_s(k, "pk"))
            .and_then(|pk| pk.strip_prefix("thread#"))
            .map(String::from);
        Ok((ids, next))
    }

    async fn count_bot_owned(&self) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .bot_owned_query()
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            count += output.count() as u64;
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(count),
            }
        }
    }
}
