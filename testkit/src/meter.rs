//! Counts the DynamoDB requests of a client, and the capacity they consume: it asks DynamoDB
//! for `ReturnConsumedCapacity: TOTAL` on every data operation and adds up the answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_types::body::SdkBody;
use serde_json::Value;

/// Data operations that accept `ReturnConsumedCapacity`.
const METERED: [&str; 9] = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

#[derive(Debug, Default, Clone)]
pub struct DynamoMeter {
    requests: Arc<AtomicU64>,
    /// Thousandths of capacity units.
    capacity_milli: Arc<AtomicU64>,
    items_read: Arc<AtomicU64>,
    /// Thousandths of the capacity units of reads (GetItem, BatchGetItem, Query, Scan).
    read_milli: Arc<AtomicU64>,
    operations: Arc<std::sync::Mutex<Vec<String>>>,
}

impl DynamoMeter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests sent since the last reset.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Capacity units consumed since the last reset (reads and writes together).
    pub fn capacity(&self) -> f64 {
        self.capacity_milli.load(Ordering::SeqCst) as f64 / 1000.0
    }

    /// Capacity units of reads since the last reset (the rest are writes: priced 5x more).
    pub fn read_capacity(&self) -> f64 {
        self.read_milli.load(Ordering::SeqCst) as f64 / 1000.0
    }

    /// Items the reads returned since the last reset (`GetItem`, `BatchGetItem`, `Query`).
    pub fn items_read(&self) -> u64 {
        self.items_read.load(Ordering::SeqCst)
    }

    /// The operations sent since the last reset, in order (`UpdateItem`, ...).
    pub fn operations(&self) -> Vec<String> {
        self.operations.lock().unwrap().clone()
    }

    pub fn reset(&self) {
        self.requests.store(0, Ordering::SeqCst);
        self.capacity_milli.store(0, Ordering::SeqCst);
        self.items_read.store(0, Ordering::SeqCst);
        self.read_milli.store(0, Ordering::SeqCst);
        self.operations.lock().unwrap().clear();
    }
}

impl Intercept for DynamoMeter {
    fn name(&self) -> &'static str {
        "DynamoMeter"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("")
            .to_string();
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.operations.lock().unwrap().push(operation.clone());
        if !METERED.contains(&operation.as_str()) {
            return Ok(());
        }
        let Some(mut body) = request.body().bytes().and_then(|b| serde_json::from_slice::<Value>(b).ok())
        else {
            return Ok(());
        };
        body["ReturnConsumedCapacity"] = Value::String("TOTAL".into());
        let bytes = serde_json::to_vec(&body)?;
        request.headers_mut().insert("content-length", bytes.len().to_string());
        *request.body_mut() = SdkBody::from(bytes);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            batch_get_item::BatchGetItemOutput, batch_write_item::BatchWriteItemOutput,
            get_item::GetItemOutput, put_item::PutItemOutput, query::QueryOutput,
            transact_write_items::TransactWriteItemsOutput, update_item::UpdateItemOutput,
        };
        use aws_sdk_dynamodb::types::ConsumedCapacity;
        let Ok(output) = context.output_or_error() else { return Ok(()) };
        let units = |c: Option<&ConsumedCapacity>| c.and_then(|c| c.capacity_units()).unwrap_or(0.0);
        let all =
            |list: &[ConsumedCapacity]| list.iter().map(|c| c.capacity_units().unwrap_or(0.0)).sum::<f64>();
        let items_read = if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            u64::from(o.item().is_some())
        } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
            o.items().len() as u64
        } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
            o.responses().map_or(0, |r| r.values().map(|items| items.len() as u64).sum())
        } else {
            0
        };
        self.items_read.fetch_add(items_read, Ordering::SeqCst);
        let consumed = if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
            units(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            units(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<PutItemOutput>() {
            units(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
            units(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() {
            all(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
            all(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<BatchWriteItemOutput>() {
            all(o.consumed_capacity())
        } else {
            0.0
        };
        self.capacity_milli.fetch_add((consumed * 1000.0).round() as u64, Ordering::SeqCst);
        let read = output.downcast_ref::<GetItemOutput>().is_some()
            || output.downcast_ref::<BatchGetItemOutput>().is_some()
            || output.downcast_ref::<QueryOutput>().is_some();
        if read {
            self.read_milli.fetch_add((consumed * 1000.0).round() as u64, Ordering::SeqCst);
        }
        Ok(())
    }
}
