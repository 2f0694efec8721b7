//! The DynamoDB store: one table, partition key `pk` (string), TTL attribute `expires_at`.
//! Every item has a bounded size; none grows with a thread's history or an hour's traffic.
//!
//! - `thread#<thread id>`: `version` (number; absent for a thread never saved), `owner`
//!   (`bot`/`agent`), `state` (JSON of [`ThreadState`], bounded), `seq` (events committed),
//!   `bot_owned` (only while the bot owns it: the sparse index `bot-owned`), `expires_at`
//!   (90 days after the last change).
//! - `event#<thread id>#<event id>`: one webhook event's record, `lease_until` (ms), `token`,
//!   `claimed_at` (the thread's `seq` when claimed), `progress` (JSON of the event's [`Journal`]),
//!   `expires_at` (72 hours: beyond the platform's retry window).
//! - `stat#<hour>#<set>#<entry>`: one statistics fact, `stat_day` (`<days since the epoch>.
//!   <shard 0-3>`: the sparse index `stats-by-day`, keys only), `expires_at` (400 days). Written with a plain put,
//!   so a repeated fact counts once; no item takes every session's write.
//! - `stat#sum#<first hour>#<hours>` (and `...#g<generation>#<part>` from part 1): a closed
//!   day's or hour's statistics rolled up ([`Summary`]): `sessions`, `interventions` (counts),
//!   `reasons` (list), `parts`, `data` (binary, at most 350 KB an item), `generation`,
//!   `expires_at` (400 days). A late fact first moves its hour's and day's header to the next
//!   `generation` (with `late_at`, its data removed), and the next report rolls them up again,
//!   written on the condition that the generation is still the one it read.
//! - `settings#emergency`: the emergency switch, `state` (JSON of [`EmergencyState`]).
//!
//! A follow-up message costs three requests: the load (thread and record, one `BatchGetItem`),
//! the claim with the bot's answer (one conditional `PutItem`), the finish (one conditional
//! `UpdateItem` of the thread).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    KeysAndAttributes, Projection, ProjectionType, PutRequest, ScalarAttributeType, Select,
    TimeToLiveSpecification, WriteRequest,
};

use super::{
    EVENT_RECORD_TTL_SECONDS, EmergencyState, EventRecord, EventStore, Generation, HourStats, Journal, Lease,
    STATS_TTL_SECONDS, Span, StatsEntry, StatsSet, StatsStore, StoreError, SummariesRead, Summary,
    SweepStore, SwitchStore, THREAD_TTL_SECONDS, ThreadState, ThreadStore,
};

/// The sparse index of bot-owned threads: `bot_owned` is set only on them.
pub const BOT_OWNED_INDEX: &str = "bot-owned";
/// The sparse index of statistics facts by day.
pub const STATS_INDEX: &str = "stats-by-day";
const BOT_OWNED: &str = "bot";
/// The emergency switch's item.
const EMERGENCY_KEY: &str = "settings#emergency";
/// A day's statistics are spread over this many partitions of the `stats-by-day` index, read
/// at once: a busy hour's pages come in parallel instead of one after the other.
const STATS_SHARDS: u64 = 4;
/// BatchWriteItem takes 25 items.
const BATCH_WRITE_LIMIT: usize = 25;

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

fn thread_key(thread_id: &str) -> AttributeValue {
    s(format!("thread#{thread_id}"))
}

fn event_key(thread_id: &str, event_id: &str) -> AttributeValue {
    s(format!("event#{thread_id}#{event_id}"))
}

fn set_name(set: StatsSet) -> &'static str {
    match set {
        StatsSet::Sessions => "s",
        StatsSet::Interventions => "i",
    }
}

/// The index partition of a day's shard: `<days since the epoch>.<shard>`.
fn stat_day(day: i64, shard: u64) -> String {
    format!("{day}.{shard}")
}

/// A stable shard for an entry (FNV-1a: the same entry always lands on the same shard, so a
/// repeated fact overwrites itself).
fn shard_of(value: &str) -> u64 {
    let hash = value
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    hash % STATS_SHARDS
}

fn stat_key(entry: &StatsEntry) -> String {
    format!("stat#{}#{}#{}", entry.hour, set_name(entry.set), entry.value)
}

/// The entry a statistics key holds (`None`: not one).
fn stat_of_key(key: &str) -> Option<(i64, StatsSet, String)> {
    let mut parts = key.strip_prefix("stat#")?.splitn(3, '#');
    let hour = parts.next()?.parse().ok()?;
    let set = match parts.next()? {
        "s" => StatsSet::Sessions,
        "i" => StatsSet::Interventions,
        _ => return None,
    };
    Some((hour, set, parts.next()?.to_string()))
}

/// A summary's header: its counts, reasons, generation and first bytes.
fn summary_key(span: Span) -> String {
    format!("stat#sum#{}#{}", span.first_hour, span.hours)
}

/// A further part (from 1) of a summary rolled up at `generation`: a roll-up of an older
/// generation, refused at its header, never writes over the parts of a newer one.
fn summary_part_key(span: Span, generation: u64, part: i64) -> String {
    format!("stat#sum#{}#{}#g{generation}#{part}", span.first_hour, span.hours)
}

/// Bytes of summary per item (DynamoDB's item limit is 400 KB).
const PART_BYTES: usize = crate::analytics::rollup::PART_BYTES;
/// BatchGetItem takes 100 keys.
const BATCH_GET_LIMIT: usize = 100;

fn unavailable<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

/// A conditional write's error (`PutItem`, `UpdateItem`, as the service answered it): `failed`
/// when its condition did not hold.
fn conditional_error<E>(err: E, failed: impl FnOnce() -> StoreError) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match err.code() {
        Some("ConditionalCheckFailedException") => failed(),
        _ => unavailable(err),
    }
}

/// A summary header's generation (a header written before generations were kept has 0).
fn generation_of(header: &Item) -> Generation {
    Generation {
        count: get_n(header, "generation").and_then(|g| u64::try_from(g).ok()).unwrap_or(0),
        late_at_ms: get_n(header, "late_at"),
    }
}

/// The summary a header and its parts hold; `None` when its data is gone or does not add up.
fn summary_of(span: Span, header: &Item, parts: &HashMap<String, Item>) -> Option<Summary> {
    let generation = generation_of(header).count;
    let mut data = header.get("data")?.as_b().ok()?.as_ref().to_vec();
    for part in 1..get_n(header, "parts")? {
        let key = summary_part_key(span, generation, part);
        data.extend_from_slice(parts.get(&key)?.get("data")?.as_b().ok()?.as_ref());
    }
    let reasons = header.get("reasons")?.as_l().ok()?;
    let reasons = reasons.iter().filter_map(|r| r.as_s().ok().cloned()).collect();
    let count = |name| get_n(header, name).and_then(|v| u32::try_from(v).ok());
    Summary::decode(span, count("sessions")?, count("interventions")?, reasons, &data)
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
    let committed = get_n(item, "seq").unwrap_or(0) as u64;
    let Some(json) = get_s(item, "state") else {
        return Ok(ThreadState { events_committed: committed, ..ThreadState::new(thread_id) });
    };
    let mut thread: ThreadState =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    thread.version = get_n(item, "version").unwrap_or(0) as u64;
    thread.events_committed = committed;
    Ok(thread)
}

fn record_of(item: &Item) -> Result<EventRecord, StoreError> {
    let journal = match get_s(item, "progress") {
        None => Journal::default(),
        Some(json) => serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    };
    Ok(EventRecord {
        lease_until: get_n(item, "lease_until").unwrap_or(0),
        token: get_s(item, "token").unwrap_or_default().to_string(),
        claimed_at: get_n(item, "claimed_at").unwrap_or(0) as u64,
        journal,
    })
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// A client for `endpoint` (DynamoDB Local) or, without one, for AWS from the environment.
    pub async fn client_for(endpoint: Option<&str>) -> Client {
        Client::new(&crate::aws::config_for(endpoint).await)
    }

    /// Creates the table as template.yaml declares it (for DynamoDB Local and tests).
    /// An existing table is left as it is.
    pub async fn create_table_if_missing(client: &Client, table: &str) -> Result<(), StoreError> {
        let created = client
            .create_table()
            .table_name(table)
            .attribute_definitions(string_attribute("pk"))
            .attribute_definitions(string_attribute("bot_owned"))
            .attribute_definitions(string_attribute("stat_day"))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(BOT_OWNED_INDEX)
                    .key_schema(key("bot_owned", KeyType::Hash))
                    .key_schema(key("pk", KeyType::Range))
                    .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                    .build()
                    .expect("complete index"),
            )
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(STATS_INDEX)
                    .key_schema(key("stat_day", KeyType::Hash))
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

    /// Moves a closed span to its next generation: its summary's data goes (the header keeps the
    /// generation and when the late fact came), and a roll-up that read the older generation
    /// cannot keep its summary.
    async fn mark_late(&self, span: Span, now_ms: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(summary_key(span)))
            .update_expression(
                "SET late_at = :now, expires_at = :expires \
                 REMOVE #data, parts, sessions, interventions, reasons ADD generation :one",
            )
            .expression_attribute_names("#data", "data")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":expires", n(now_ms / 1000 + STATS_TTL_SECONDS))
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    /// Puts items 25 at a time; items left unprocessed (throttling) are sent again a few times,
    /// then it fails: statistics callers log it, an event never waits on it.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(BATCH_WRITE_LIMIT) {
            let mut pending = Some(HashMap::from([(self.table.clone(), chunk.to_vec())]));
            for _ in 0..4 {
                let Some(request) = pending.take().filter(|r| r.values().any(|v| !v.is_empty())) else {
                    break;
                };
                let output = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(request))
                    .send()
                    .await
                    .map_err(|e| unavailable(e.into_service_error()))?;
                pending = output.unprocessed_items;
            }
            if pending.is_some_and(|r| r.values().any(|v| !v.is_empty())) {
                return Err(StoreError::Unavailable("statistics writes were throttled".into()));
            }
        }
        Ok(())
    }

    /// The items of `keys` that exist, by key: 100 keys a request, unprocessed ones asked again.
    async fn batch_get(&self, keys: Vec<String>) -> Result<HashMap<String, Item>, StoreError> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(BATCH_GET_LIMIT) {
            let keys: Vec<Item> = chunk.iter().map(|k| HashMap::from([("pk".to_string(), s(k))])).collect();
            let request = KeysAndAttributes::builder().set_keys(Some(keys)).build().expect("keys");
            let mut pending = Some(HashMap::from([(self.table.clone(), request)]));
            for _ in 0..5 {
                let Some(request) = pending.take().filter(|r| !r.is_empty()) else { break };
                let output = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(request))
                    .send()
                    .await
                    .map_err(|e| unavailable(e.into_service_error()))?;
                for item in output.responses.unwrap_or_default().into_values().flatten() {
                    if let Some(key) = get_s(&item, "pk") {
                        found.insert(key.to_string(), item);
                    }
                }
                pending = output.unprocessed_keys;
            }
            if pending.is_some_and(|r| !r.is_empty()) {
                return Err(StoreError::Unavailable("statistics reads were throttled".into()));
            }
        }
        Ok(found)
    }

    fn table_update(
        &self,
        key: AttributeValue,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).key("pk", key)
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

    /// The statistics keys of hours `from..=to` in one shard of a day: one query, page after page.
    async fn stat_keys_of_day(
        client: Client,
        table: String,
        day: String,
        (from_hour, to_hour): (i64, i64),
    ) -> Result<Vec<String>, StoreError> {
        // Keys sort by hour when the hours have as many digits (until the year 2084): the
        // query reads only the hours asked for.
        let (low, high) = (format!("stat#{from_hour}#"), format!("stat#{to_hour}$"));
        let by_hour = from_hour.to_string().len() == to_hour.to_string().len();
        let mut values = HashMap::from([(":day".to_string(), s(&day))]);
        if by_hour {
            values.insert(":low".to_string(), s(low));
            values.insert(":high".to_string(), s(high));
        }
        let mut keys = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = client
                .query()
                .table_name(&table)
                .index_name(STATS_INDEX)
                .key_condition_expression(if by_hour {
                    "stat_day = :day AND pk BETWEEN :low AND :high"
                } else {
                    "stat_day = :day"
                })
                .set_expression_attribute_values(Some(values.clone()))
                .projection_expression("pk")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            keys.extend(output.items().iter().filter_map(|item| get_s(item, "pk")).map(String::from));
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(keys),
            }
        }
    }

    /// Saves the thread's state (conditional on the version it was read at) and, for an event
    /// whose record was written, counts the event as committed: one `UpdateItem`.
    async fn write_thread(&self, thread: &ThreadState, committed_event: bool) -> Result<(), StoreError> {
        let stored = ThreadState { version: thread.version + 1, ..thread.clone() };
        let mut set = vec!["#state = :state", "#owner = :owner", "version = :next", "expires_at = :expires"];
        let mut update = self
            .table_update(thread_key(&thread.thread_id))
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":state", s(to_json(&stored)))
            .expression_attribute_values(":owner", s(stored.owner.as_str()))
            .expression_attribute_values(":next", n(stored.version as i64))
            .expression_attribute_values(":expires", n(crate::now_millis() / 1000 + THREAD_TTL_SECONDS));
        let mut remove = "";
        // The sparse index of bot-owned threads follows the owner.
        if stored.bot_is_in_it() {
            set.push("bot_owned = :bot_owned");
            update = update.expression_attribute_values(":bot_owned", s(BOT_OWNED));
        } else {
            remove = " REMOVE bot_owned";
        }
        let add = if committed_event {
            update = update.expression_attribute_values(":one", n(1));
            " ADD seq :one"
        } else {
            ""
        };
        update = if thread.version == 0 {
            update.condition_expression("attribute_not_exists(version)")
        } else {
            update
                .condition_expression("version = :read")
                .expression_attribute_values(":read", n(thread.version as i64))
        };
        let conflict = || StoreError::ThreadConflict(thread.thread_id.clone());
        update
            .update_expression(format!("SET {}{remove}{add}", set.join(", ")))
            .send()
            .await
            .map_err(|e| conditional_error(e.into_service_error(), conflict))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ThreadStore for DynamoStore {
    async fn get_thread(&self, thread_id: &str) -> Result<ThreadState, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", thread_key(thread_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        thread_of(thread_id, &output.item.unwrap_or_default())
    }
    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError> {
        self.write_thread(thread, false).await
    }
}

#[async_trait::async_trait]
impl EventStore for DynamoStore {
    async fn load_event(
        &self,
        thread_id: &str,
        event_id: &str,
    ) -> Result<(ThreadState, Option<EventRecord>), StoreError> {
        let (thread_pk, event_pk) = (thread_key(thread_id), event_key(thread_id, event_id));
        let keys = KeysAndAttributes::builder()
            .keys(HashMap::from([("pk".to_string(), thread_pk.clone())]))
            .keys(HashMap::from([("pk".to_string(), event_pk.clone())]))
            .consistent_read(true)
            .build()
            .expect("keys given");
        let mut pending = Some(HashMap::from([(self.table.clone(), keys)]));
        let mut items: Vec<Item> = Vec::with_capacity(2);
        while let Some(request) = pending.take().filter(|r| !r.is_empty()) {
            let output = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            items.extend(output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
            pending = output.unprocessed_keys;
        }
        let find = |key: &AttributeValue| items.iter().find(|item| item.get("pk") == Some(key));
        let thread = thread_of(thread_id, find(&thread_pk).unwrap_or(&Item::new()))?;
        let record = find(&event_pk).map(record_of).transpose()?;
        Ok((thread, record))
    }
    async fn save_journal(&self, lease: &mut Lease, journal: &Journal) -> Result<(), StoreError> {
        let now = crate::now_millis();
        let key = event_key(&lease.thread_id, &lease.event_id);
        let lost = || StoreError::LeaseLost(lease.event_id.clone());
        if lease.written {
            self.table_update(key)
                .update_expression("SET progress = :progress, lease_until = :until")
                .condition_expression("#token = :token")
                .expression_attribute_names("#token", "token")
                .expression_attribute_values(":token", s(&lease.token))
                .expression_attribute_values(":progress", s(to_json(journal)))
                .expression_attribute_values(":until", n(now + lease.lease_ms))
                .send()
                .await
                .map_err(|e| conditional_error(e.into_service_error(), lost))?;
            return Ok(());
        }
        // The claim: the record must not exist yet, or still be the one this claim takes over.
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", key)
            .item("lease_until", n(now + lease.lease_ms))
            .item("token", s(&lease.token))
            .item("claimed_at", n(lease.claimed_at as i64))
            .item("progress", s(to_json(journal)))
            .item("expires_at", n(now / 1000 + EVENT_RECORD_TTL_SECONDS));
        let put = match lease.replaces {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(old) => {
                put.condition_expression("lease_until = :old").expression_attribute_values(":old", n(old))
            }
        };
        put.send().await.map_err(|e| conditional_error(e.into_service_error(), lost))?;
        lease.written = true;
        Ok(())
    }
    async fn release_event(&self, lease: &Lease, journal: &Journal) -> Result<(), StoreError> {
        if !lease.written {
            return Ok(());
        }
        self.table_update(event_key(&lease.thread_id, &lease.event_id))
            .update_expression("SET progress = :progress, lease_until = :zero")
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(&lease.token))
            .expression_attribute_values(":progress", s(to_json(journal)))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map_err(|e| {
                conditional_error(e.into_service_error(), || StoreError::LeaseLost(lease.event_id.clone()))
            })?;
        Ok(())
    }
    async fn finish_event(&self, lease: &Lease, thread: Option<&ThreadState>) -> Result<(), StoreError> {
        match thread {
            Some(thread) => self.write_thread(thread, lease.written).await,
            None if lease.written => {
                self.table_update(thread_key(&lease.thread_id))
                    .update_expression("ADD seq :one")
                    .expression_attribute_values(":one", n(1))
                    .send()
                    .await
                    .map_err(|e| unavailable(e.into_service_error()))?;
                Ok(())
            }
            // Nothing was written for it and nothing changes: redoing it is harmless.
            None => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl StatsStore for DynamoStore {
    async fn record_stats(&self, entries: &[StatsEntry], now: i64) -> Result<(), StoreError> {
        let expires = n(now / 1000 + STATS_TTL_SECONDS);
        let requests: Vec<WriteRequest> = entries
            .iter()
            .map(|entry| {
                let put = PutRequest::builder()
                    .item("pk", s(stat_key(entry)))
                    .item("stat_day", s(stat_day(entry.hour.div_euclid(24), shard_of(&entry.value))))
                    .item("expires_at", expires.clone())
                    .build()
                    .expect("complete put");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        // A late fact (its hour already closed) moves its spans on before it is written: a
        // roll-up that read the facts without it cannot keep its summary. The facts are written
        // even when that fails (throttled): a summary already kept misses them, and the caller
        // is told so apart from facts not written.
        let stale = crate::analytics::rollup::spans_made_stale(entries, now);
        let marked =
            futures_util::future::try_join_all(stale.iter().map(|span| self.mark_late(*span, now))).await;
        self.batch_write(requests).await?;
        marked
            .map(drop)
            .map_err(|err| StoreError::LateFactsNotMarked { spans: stale.len(), cause: err.to_string() })
    }
    async fn read_summaries(&self, spans: &[Span]) -> Result<SummariesRead, StoreError> {
        let headers = self.batch_get(spans.iter().map(|span| summary_key(*span)).collect()).await?;
        let header_of = |span: &Span| headers.get(&summary_key(*span));
        let parts_wanted: Vec<String> = spans
            .iter()
            .filter_map(|span| Some((*span, header_of(span)?)))
            .flat_map(|(span, header)| {
                let generation = generation_of(header).count;
                (1..get_n(header, "parts").unwrap_or(1)).map(move |p| summary_part_key(span, generation, p))
            })
            .collect();
        let parts = self.batch_get(parts_wanted).await?;
        let mut read = SummariesRead::default();
        for span in spans {
            let Some(header) = header_of(span) else {
                read.missing.push((*span, Generation::default()));
                continue;
            };
            // A header without its data was made stale by a late fact; one whose parts do not
            // add up (written over while read) is rolled up again too.
            match summary_of(*span, header, &parts) {
                Some(summary) => read.found.push(summary),
                None => read.missing.push((*span, generation_of(header))),
            }
        }
        Ok(read)
    }
    async fn write_summary(&self, summary: &Summary, read: Generation) -> Result<(), StoreError> {
        let (sessions, interventions, bytes) = summary.encode();
        let chunks: Vec<&[u8]> =
            if bytes.is_empty() { vec![&[]] } else { bytes.chunks(PART_BYTES).collect() };
        let expires = n(crate::now_millis() / 1000 + STATS_TTL_SECONDS);
        let generation = n(read.count as i64);
        let blob = |data: &[u8]| AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(data));
        // The parts before the header: a header names only parts already written.
        let parts = chunks
            .iter()
            .enumerate()
            .skip(1)
            .map(|(part, data)| {
                let put = PutRequest::builder()
                    .item("pk", s(summary_part_key(summary.span, read.count, part as i64)))
                    .item("data", blob(data))
                    .item("expires_at", expires.clone())
                    .build()
                    .expect("complete put");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        self.batch_write(parts).await?;
        let reasons = summary.reasons().iter().map(|r| s(r.as_str())).collect();
        let header = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(summary_key(summary.span)))
            .item("data", blob(chunks[0]))
            .item("expires_at", expires)
            .item("sessions", n(i64::from(sessions)))
            .item("interventions", n(i64::from(interventions)))
            .item("reasons", AttributeValue::L(reasons))
            .item("parts", n(chunks.len() as i64))
            .item("generation", generation.clone())
            .expression_attribute_values(":read", generation);
        let header = match read.count {
            0 => header.condition_expression("attribute_not_exists(generation) OR generation = :read"),
            _ => header.condition_expression("generation = :read"),
        };
        let span = summary.span;
        header.send().await.map_err(|e| {
            conditional_error(e.into_service_error(), || StoreError::SpanChanged {
                first_hour: span.first_hour,
                hours: span.hours,
            })
        })?;
        Ok(())
    }
    async fn read_stats(&self, from_hour: i64, to_hour: i64) -> Result<Vec<HourStats>, StoreError> {
        // One query per day of the window, at once: the requests grow with the window's days,
        // the pages with its traffic.
        let mut days = tokio::task::JoinSet::new();
        for day in from_hour.div_euclid(24)..=to_hour.div_euclid(24) {
            for shard in 0..STATS_SHARDS {
                days.spawn(Self::stat_keys_of_day(
                    self.client.clone(),
                    self.table.clone(),
                    stat_day(day, shard),
                    (from_hour.max(day * 24), to_hour.min(day * 24 + 23)),
                ));
            }
        }
        let mut hours: BTreeMap<i64, HourStats> = BTreeMap::new();
        while let Some(keys) = days.join_next().await {
            let keys = keys.map_err(|e| StoreError::Unavailable(e.to_string()))??;
            for (hour, set, value) in keys.iter().filter_map(|key| stat_of_key(key)) {
                if !(from_hour..=to_hour).contains(&hour) {
                    continue;
                }
                let stats = hours.entry(hour).or_insert_with(|| HourStats { hour, ..HourStats::default() });
                match set {
                    StatsSet::Sessions => stats.sessions.push(value),
                    StatsSet::Interventions => stats.interventions.push(value),
                }
            }
        }
        Ok(hours.into_values().collect())
    }
}

#[async_trait::async_trait]
impl SwitchStore for DynamoStore {
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
        request
            .send()
            .await
            .map_err(|e| conditional_error(e.into_service_error(), || StoreError::EmergencyConflict))?;
        Ok(stored.version)
    }
}

#[async_trait::async_trait]
impl SweepStore for DynamoStore {
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
    async fn leave_bot_index(&self, thread: &ThreadState) -> Result<(), StoreError> {
        let conflict = || StoreError::ThreadConflict(thread.thread_id.clone());
        self.table_update(thread_key(&thread.thread_id))
            .update_expression("REMOVE bot_owned")
            .condition_expression("version = :read")
            .expression_attribute_values(":read", n(thread.version as i64))
            .send()
            .await
            .map_err(|e| conditional_error(e.into_service_error(), conflict))?;
        Ok(())
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
