//! What 1,000 conversations cost at AWS list prices, and what the stack costs a month idle.
//! Prices: us-east-1, arm64, on-demand, read 2026-12-04 (the AWS pricing pages; DynamoDB after
//! its November 2024 on-demand cut). Change them here when they change.

/// One list price.
pub struct Price {
    pub what: &'static str,
    pub dollars: f64,
    pub per: &'static str,
}

pub const READ_ON: &str = "2026-12-04";
pub const LAMBDA_GB_SECOND: Price =
    Price { what: "Lambda (arm64) compute", dollars: 0.000_013_333_4, per: "GB-second" };
pub const LAMBDA_REQUEST: Price = Price { what: "Lambda requests", dollars: 0.20 / 1e6, per: "request" };
pub const HTTP_API_REQUEST: Price =
    Price { what: "API Gateway HTTP API", dollars: 1.00 / 1e6, per: "request" };
pub const SQS_FIFO_REQUEST: Price = Price { what: "SQS FIFO", dollars: 0.50 / 1e6, per: "request (64 KB)" };
pub const DYNAMODB_WRITE_UNIT: Price =
    Price { what: "DynamoDB on-demand writes", dollars: 0.625 / 1e6, per: "write request unit" };
pub const DYNAMODB_READ_UNIT: Price =
    Price { what: "DynamoDB on-demand reads", dollars: 0.125 / 1e6, per: "read request unit" };
pub const LOGS_INGESTED_GB: Price = Price { what: "CloudWatch Logs ingestion", dollars: 0.50, per: "GB" };
pub const SECRET_MONTH: Price = Price { what: "Secrets Manager", dollars: 0.40, per: "secret-month" };
pub const ALARM_MONTH: Price =
    Price { what: "CloudWatch alarm (standard)", dollars: 0.10, per: "alarm-month" };
pub const DASHBOARD_MONTH: Price =
    Price { what: "CloudWatch dashboard (past the 3 free)", dollars: 3.00, per: "dashboard-month" };
pub const CUSTOM_METRIC_MONTH: Price =
    Price { what: "CloudWatch custom metric", dollars: 0.30, per: "metric-month" };

/// Every price above, for the bench's table.
pub const PRICES: [Price; 11] = [
    LAMBDA_GB_SECOND,
    LAMBDA_REQUEST,
    HTTP_API_REQUEST,
    SQS_FIFO_REQUEST,
    DYNAMODB_WRITE_UNIT,
    DYNAMODB_READ_UNIT,
    LOGS_INGESTED_GB,
    SECRET_MONTH,
    ALARM_MONTH,
    DASHBOARD_MONTH,
    CUSTOM_METRIC_MONTH,
];

/// What one conversation of the measured kind uses.
pub struct Usage {
    pub events: f64,
    /// Billed milliseconds per receiver invocation (one per event).
    pub receiver_ms: f64,
    /// Billed milliseconds per event in the worker (one invocation per event: no batching
    /// assumed, the dearest case).
    pub worker_ms: f64,
    pub memory_gb: f64,
    /// SQS requests per event: the send, the poller's receive, the delete.
    pub sqs_requests: f64,
    /// DynamoDB capacity units per conversation: writes (indexes included) and reads.
    pub dynamodb_write_units: f64,
    pub dynamodb_read_units: f64,
    /// Log bytes per event (the product's lines, the EMF lines, Lambda's START/END/REPORT).
    pub log_bytes: f64,
}

/// Dollars per 1,000 conversations, by service.
pub fn per_thousand(u: &Usage) -> Vec<(&'static str, f64)> {
    let events = u.events * 1000.0;
    vec![
        (HTTP_API_REQUEST.what, events * HTTP_API_REQUEST.dollars),
        (LAMBDA_REQUEST.what, 2.0 * events * LAMBDA_REQUEST.dollars),
        (
            LAMBDA_GB_SECOND.what,
            events * (u.receiver_ms + u.worker_ms) / 1000.0 * u.memory_gb * LAMBDA_GB_SECOND.dollars,
        ),
        (SQS_FIFO_REQUEST.what, events * u.sqs_requests * SQS_FIFO_REQUEST.dollars),
        (DYNAMODB_WRITE_UNIT.what, 1000.0 * u.dynamodb_write_units * DYNAMODB_WRITE_UNIT.dollars),
        (DYNAMODB_READ_UNIT.what, 1000.0 * u.dynamodb_read_units * DYNAMODB_READ_UNIT.dollars),
        (LOGS_INGESTED_GB.what, events * u.log_bytes / 1e9 * LOGS_INGESTED_GB.dollars),
    ]
}

/// The stack's fixed monthly cost: secrets, alarms, the dashboard, the custom metrics, the
/// emergency function's minute schedule, the analytics roll-up's hourly one and the queue's
/// idle polling.
pub fn fixed_monthly(secrets: f64, alarms: f64, metrics: f64) -> Vec<(&'static str, f64)> {
    let minutes = 30.0 * 24.0 * 60.0;
    // Lambda's SQS pollers (5 at the start) long-poll 20 s: 3 receives a minute each.
    let idle_receives = 5.0 * 3.0 * minutes;
    // The emergency schedule: one invocation a minute, about 20 ms at 128 MB, one GetItem.
    let schedule = minutes * (LAMBDA_REQUEST.dollars + 0.020 * 0.125 * LAMBDA_GB_SECOND.dollars);
    // The analytics roll-up (when analytics is on): one invocation an hour, about 100 ms at
    // 128 MB, a read of the last 15 days' and today's summary headers (about 40 of a few KB;
    // the facts it rolls up are read once, by it or by a report).
    let roll_up = minutes / 60.0
        * (LAMBDA_REQUEST.dollars
            + 0.100 * 0.125 * LAMBDA_GB_SECOND.dollars
            + 20.0 * DYNAMODB_READ_UNIT.dollars);
    vec![
        (SECRET_MONTH.what, secrets * SECRET_MONTH.dollars),
        (ALARM_MONTH.what, alarms * ALARM_MONTH.dollars),
        (DASHBOARD_MONTH.what, DASHBOARD_MONTH.dollars),
        (CUSTOM_METRIC_MONTH.what, metrics * CUSTOM_METRIC_MONTH.dollars),
        ("SQS idle polling", idle_receives * SQS_FIFO_REQUEST.dollars),
        ("emergency schedule (Lambda)", schedule),
        ("analytics roll-up schedule (Lambda, DynamoDB reads)", roll_up),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_conversations_add_up_by_service() {
        let usage = Usage {
            events: 5.0,
            receiver_ms: 2.0,
            worker_ms: 100.0,
            memory_gb: 0.125,
            sqs_requests: 3.0,
            dynamodb_write_units: 12.0,
            dynamodb_read_units: 5.0,
            log_bytes: 2000.0,
        };
        let lines = per_thousand(&usage);
        let total: f64 = lines.iter().map(|(_, d)| d).sum();
        // 5,000 API requests at $1 a million.
        assert!((lines[0].1 - 0.005).abs() < 1e-9);
        assert!(total > 0.02 && total < 0.04, "{total}");
    }
}
