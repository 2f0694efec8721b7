//! Issue 15, item 5: least privilege, read from `template.yaml` itself. Each function may use
//! only the DynamoDB actions it needs, only on its own key prefixes (`dynamodb:LeadingKeys`);
//! the receivers have no table access at all and may only send to the queue.

use std::collections::{BTreeMap, BTreeSet};

use std::time::Duration;

use handover_core::wiring;
use serde_yaml::Value;

pub(crate) fn template() -> Value {
    let path = format!("{}/template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).expect("template.yaml is YAML")
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(list) => list.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// Per function: its DynamoDB actions, with the leading keys each statement allows.
fn dynamodb_statements(template: &Value) -> BTreeMap<String, Vec<(BTreeSet<String>, Vec<String>)>> {
    let mut functions = BTreeMap::new();
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let mut statements = Vec::new();
        for policy in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            for statement in policy_statements(policy) {
                let actions: BTreeSet<String> = strings(&statement["Action"])
                    .into_iter()
                    .filter(|a| a.starts_with("dynamodb:"))
                    .collect();
                if actions.is_empty() {
                    continue;
                }
                let condition = statement["Condition"].as_mapping().and_then(|c| c.values().next());
                let keys = condition.map(|c| strings(&c["dynamodb:LeadingKeys"])).unwrap_or_default();
                statements.push((actions, keys));
            }
        }
        functions.insert(name.as_str().unwrap().to_string(), statements);
    }
    functions
}

/// Asserts that `function`'s policy grants every DynamoDB operation of `used` (the requests a
/// test saw the function's code make against DynamoDB Local): a grant missing from the template
/// fails in AWS only, with `AccessDeniedException`.
pub(crate) fn assert_grants(function: &str, used: &[String]) {
    let granted: BTreeSet<String> = dynamodb_statements(&template())[function]
        .iter()
        .flat_map(|(actions, _)| actions.iter().map(|a| a.trim_start_matches("dynamodb:").to_string()))
        .collect();
    let missing: BTreeSet<&String> = used.iter().filter(|op| !granted.contains(*op)).collect();
    assert!(missing.is_empty(), "{function} makes {missing:?}, which its policy does not grant");
}

/// A policy's statements, those under `!If [condition, statement, AWS::NoValue]` included.
fn policy_statements(policy: &Value) -> Vec<&Value> {
    policy["Statement"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|statement| match statement {
            Value::Tagged(tagged) if tagged.tag == "!If" => &tagged.value[1],
            plain => plain,
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| format!("dynamodb:{s}")).collect()
}

#[test]
fn each_function_may_touch_only_its_key_prefixes_with_only_the_actions_it_uses() {
    let template = template();
    let functions = dynamodb_statements(&template);
    for receiver in ["WebhookFunction", "RebotFunction", "ZenviaFunction"] {
        assert!(functions[receiver].is_empty(), "{receiver} has table access: {:?}", functions[receiver]);
        let policies = &template["Resources"][receiver]["Properties"]["Policies"];
        let kinds: Vec<String> = policies
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_mapping()?.keys().next()?.as_str().map(String::from))
            .collect();
        assert_eq!(kinds, vec!["SQSSendMessagePolicy", "Statement"], "{receiver}: the queue and its secrets");
    }
    let expected: [(&str, Vec<(BTreeSet<String>, Vec<&str>)>); 3] = [
        (
            "ProcessFunction",
            vec![
                (
                    set(&["BatchGetItem", "GetItem", "PutItem", "UpdateItem", "BatchWriteItem"]),
                    vec!["thread#*", "event#*", "stat#*"],
                ),
                (set(&["GetItem"]), vec!["settings#emergency"]),
            ],
        ),
        (
            "EmergencyFunction",
            vec![
                (
                    set(&["GetItem", "PutItem", "UpdateItem", "BatchWriteItem"]),
                    vec!["settings#emergency", "thread#*", "stat#*"],
                ),
                (set(&["Query"]), vec!["bot"]),
            ],
        ),
        (
            "AnalyticsFunction",
            vec![
                (set(&["Query"]), vec!["*.?"]),
                (set(&["BatchGetItem", "BatchWriteItem", "PutItem"]), vec!["stat#sum#*"]),
            ],
        ),
    ];
    for (function, statements) in expected {
        let actual = &functions[function];
        let expected: Vec<(BTreeSet<String>, Vec<String>)> =
            statements.into_iter().map(|(a, k)| (a, k.into_iter().map(String::from).collect())).collect();
        assert_eq!(actual, &expected, "{function}");
    }
    // No function is left out of the check.
    let checked: BTreeSet<&str> = [
        "WebhookFunction",
        "RebotFunction",
        "ZenviaFunction",
        "ProcessFunction",
        "EmergencyFunction",
        "AnalyticsFunction",
    ]
    .into();
    assert_eq!(functions.keys().map(String::as_str).collect::<BTreeSet<_>>(), checked);
}

#[test]
fn the_webhook_secret_has_no_default_and_optional_platforms_have_no_default_token() {
    let parameters = &template()["Parameters"];
    assert!(parameters["EngageWebhookSecret"].get("Default").is_none());
    assert_eq!(parameters["EngageWebhookSecret"]["MinLength"], 16);
    for token in ["ZenviaApiToken", "ZenviaWebhookToken", "AnalyticsAccessToken"] {
        assert_eq!(parameters[token]["Default"], "", "{token}: empty means not deployed");
    }
}

/// Every `Ref` target below `value` (through `!If` and lists).
fn refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => {
            if let Value::String(target) = &tagged.value
                && !target.starts_with("AWS::")
            {
                found.insert(target.clone());
            }
        }
        Value::Tagged(tagged) => refs(&tagged.value, found),
        Value::Sequence(list) => list.iter().for_each(|v| refs(v, found)),
        Value::Mapping(map) => map.values().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[test]
fn each_function_reads_its_secrets_from_secrets_manager_and_may_read_only_those() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let secrets: BTreeSet<String> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::SecretsManager::Secret")
        .map(|(name, _)| name.as_str().unwrap().to_string())
        .collect();
    assert_eq!(secrets.len(), 7);
    for (name, resource) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::Serverless::Function") {
        let name = name.as_str().unwrap();
        let variables =
            resource["Properties"]["Environment"]["Variables"].as_mapping().cloned().unwrap_or_default();
        let mut read = BTreeSet::new();
        for (variable, value) in &variables {
            let variable = variable.as_str().unwrap();
            let plain = handover_core::secret_store::SECRET_VARIABLES.contains(&variable);
            assert!(!plain, "{name} gets the secret {variable} in plain text");
            if variable.ends_with("_SECRET_ARN") {
                refs(value, &mut read);
            }
        }
        let mut granted = BTreeSet::new();
        for policy in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            for statement in policy_statements(policy) {
                if strings(&statement["Action"]).iter().any(|a| a.starts_with("secretsmanager:")) {
                    assert_eq!(
                        strings(&statement["Action"]),
                        vec!["secretsmanager:GetSecretValue"],
                        "{name}"
                    );
                    refs(&statement["Resource"], &mut granted);
                }
            }
        }
        assert_eq!(granted, read, "{name} may read exactly the secrets it is given");
        assert!(read.is_subset(&secrets), "{name}");
    }
}

#[test]
fn only_the_worker_may_call_lex_and_only_recognize_text_on_the_configured_alias() {
    let template = template();
    let mut lex_statements = vec![];
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        for policy in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            for statement in policy_statements(policy) {
                if strings(&statement["Action"]).iter().any(|a| a.starts_with("lex:")) {
                    lex_statements.push((name.as_str().unwrap().to_string(), statement.clone()));
                }
            }
        }
    }
    assert_eq!(lex_statements.len(), 1, "{lex_statements:?}");
    let (function, statement) = &lex_statements[0];
    assert_eq!(function, "ProcessFunction");
    assert_eq!(strings(&statement["Action"]), vec!["lex:RecognizeText"]);
    let Value::Tagged(resource) = &statement["Resource"] else { panic!("the alias ARN is built with !Sub") };
    assert_eq!(resource.tag, "!Sub");
    assert_eq!(
        resource.value,
        "arn:${AWS::Partition}:lex:${AWS::Region}:${AWS::AccountId}:bot-alias/${LexBotId}/${LexBotAliasId}"
    );
}

/// Every `Resource` of every policy statement the template grants, with the function it is for.
fn granted_resources(template: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        let name = name.as_str().unwrap_or_default().to_string();
        for policy in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            for statement in policy_statements(policy) {
                found.push((name.clone(), statement["Resource"].clone()));
            }
        }
    }
    found
}

fn all_strings(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(s) => found.push(s.clone()),
        Value::Sequence(list) => list.iter().for_each(|v| all_strings(v, found)),
        Value::Mapping(map) => map.values().for_each(|v| all_strings(v, found)),
        Value::Tagged(tagged) => all_strings(&tagged.value, found),
        _ => {}
    }
}

/// Issue 24: no role may act on every resource, and the worker's queue permissions name the
/// queue (its event source is declared, not SAM's SQS event and its `*` managed policy).
#[test]
fn no_role_grants_a_wildcard_resource_and_the_worker_consumes_only_its_queue() {
    let template = template();
    let granted = granted_resources(&template);
    assert!(granted.len() > 10, "statements were found");
    for (function, resource) in &granted {
        let mut names = Vec::new();
        all_strings(resource, &mut names);
        assert!(!names.iter().any(|n| n == "*"), "{function} grants {resource:?}");
    }
    let process = &template["Resources"]["ProcessFunction"]["Properties"];
    assert!(process["Events"].is_null(), "no SAM SQS event (its managed policy allows every queue)");
    let mapping = &template["Resources"]["ProcessQueueMapping"]["Properties"];
    assert_eq!(mapping["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    assert_eq!(mapping["BatchSize"].as_u64(), Some(10));
    assert!(!mapping["ScalingConfig"]["MaximumConcurrency"].is_null(), "the worker's concurrency is bounded");
    let worker_env = &process["Environment"]["Variables"];
    assert!(!worker_env["DEAD_LETTER_QUEUE_URL"].is_null() && !worker_env["MAX_ATTEMPTS"].is_null());
}

fn timeout_of(template: &Value, function: &str) -> u64 {
    let own = &template["Resources"][function]["Properties"]["Timeout"];
    own.as_u64().or(template["Globals"]["Function"]["Timeout"].as_u64()).expect("a timeout")
}

/// Issue 24: each function's Timeout exceeds what its code may take, so none is killed while
/// it works; the queue never hands a message to a second worker while the first may run.
#[test]
fn every_function_outlives_its_time_budget_and_the_queue_outlives_the_worker() {
    let template = template();
    let longest_bot_ms = template["Parameters"]["BotTimeoutMs"]["MaxValue"].as_u64().unwrap();
    assert_eq!(longest_bot_ms, handover_core::config::MAX_BOT_TIMEOUT_MS);
    let worker_budget = Duration::from_millis(longest_bot_ms) + handover_core::queue::JOB_TIME_BESIDES_BOT;
    let worker = timeout_of(&template, "ProcessFunction");
    assert!(Duration::from_secs(worker) > worker_budget, "worker {worker} s, a job up to {worker_budget:?}");

    let emergency = Duration::from_secs(timeout_of(&template, "EmergencyFunction"));
    assert!(emergency > wiring::EMERGENCY_TIME_BUDGET + wiring::EMERGENCY_STOP_MARGIN, "{emergency:?}");
    let schedule =
        &template["Resources"]["EmergencyFunction"]["Properties"]["Events"]["Continue"]["Properties"];
    assert_eq!(
        schedule["RetryPolicy"]["MaximumRetryAttempts"].as_u64(),
        Some(0),
        "no second run beside a first"
    );
    // The receivers check, parse and queue: each within the API's 30 s, and their own Timeout.
    for receiver in ["WebhookFunction", "RebotFunction", "ZenviaFunction", "AnalyticsFunction"] {
        let timeout = timeout_of(&template, receiver);
        assert!((5..=29).contains(&timeout), "{receiver}: {timeout} s");
    }

    // A late fact's spans are not rolled up for keeping while one may still be on its way: the
    // fact is written after its spans move on, in the same invocation, whichever runs longest.
    let settle = handover_core::analytics::rollup::LATE_FACT_SETTLE_SECONDS as u64;
    for function in ["ProcessFunction", "EmergencyFunction", "WebhookFunction", "ZenviaFunction"] {
        let timeout = timeout_of(&template, function);
        assert!(settle > timeout, "late facts settle {settle} s, {function} may run {timeout} s");
    }

    let queue = &template["Resources"]["EventsQueue"]["Properties"];
    let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
    assert!(visibility >= 6 * worker, "visibility {visibility} s, worker {worker} s");
    let receives = queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap();
    let attempts = template["Parameters"]["MaxAttempts"]["MaxValue"].as_u64().unwrap();
    assert!(
        receives > attempts,
        "the redrive ({receives}) is a backstop above the worker's attempts ({attempts})"
    );
}

/// Issue 24: one budget of Engage Digital requests: the workers' total (each container paces
/// its share) and the emergency sweep's stay under the platform's 500 a minute.
#[test]
fn the_default_request_rates_add_up_below_the_platforms_limit() {
    let template = template();
    let default = |name: &str| template["Parameters"][name]["Default"].as_u64().unwrap();
    let total = default("WorkerRequestsPerMinute") + default("EmergencyRequestsPerMinute");
    assert!(total <= 450, "{total} a minute by default");
    let env = &template["Resources"]["ProcessFunction"]["Properties"]["Environment"]["Variables"];
    assert!(!env["ENGAGE_REQUESTS_PER_MINUTE"].is_null() && !env["WORKER_MAX_CONCURRENCY"].is_null());
}

/// Issue 24: what the platform takes is checked at deploy time.
#[test]
fn secrets_and_urls_are_checked_at_deploy_time() {
    let template = template();
    let parameter = |name: &str| &template["Parameters"][name];
    assert_eq!(parameter("EngageWebhookSecret")["MaxLength"].as_u64(), Some(255));
    assert_eq!(parameter("EngageWebhookSecret")["AllowedPattern"].as_str(), Some("^[!-~]+$"));
    assert!(parameter("EngageVerifyToken")["MinLength"].as_u64().is_some_and(|n| n >= 8));
    for url in ["EngageApiUrl", "ZenviaApiUrl", "LlmBaseUrl"] {
        assert_eq!(parameter(url)["AllowedPattern"].as_str(), Some("^https://.+"), "{url}");
    }
}

/// Issue 26 (the template's part): every function logs as JSON to a log group of its own,
/// kept `LogRetentionDays`; alarms that page someone through the stack's topic; what holds
/// data survives the stack; the emergency switch's operators and readers have policies of
/// their own.
#[test]
fn operations_log_groups_alarms_retained_data_and_operator_policies() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let functions: Vec<&str> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, _)| name.as_str().unwrap())
        .collect();
    assert_eq!(functions.len(), 6);
    for function in &functions {
        let logging = &template["Resources"][*function]["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"], "JSON", "{function}");
        let group = &template["Resources"][function.replace("Function", "LogGroup").as_str()];
        assert_eq!(group["Type"], "AWS::Logs::LogGroup", "{function}");
        assert!(!group["Properties"]["RetentionInDays"].is_null(), "{function}: kept for a bounded time");
        assert_eq!(
            group["Condition"], template["Resources"][*function]["Condition"],
            "{function}: its log group exists exactly when it does"
        );
    }

    let alarms: Vec<(&str, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(name, r)| (name.as_str().unwrap(), &r["Properties"]))
        .collect();
    let watched: BTreeSet<String> = alarms
        .iter()
        .map(|(_, a)| format!("{}/{}", a["Namespace"].as_str().unwrap(), a["MetricName"].as_str().unwrap()))
        .collect();
    for metric in [
        "AWS/ApiGateway/5xx",
        "AWS/SQS/ApproximateAgeOfOldestMessage",
        "AWS/SQS/ApproximateNumberOfMessagesVisible",
        "AWS/Lambda/Errors",
        "AWS/Lambda/Throttles",
        "AWS/DynamoDB/ReadThrottleEvents",
        "AWS/DynamoDB/WriteThrottleEvents",
    ] {
        assert!(watched.contains(metric), "no alarm on {metric}: {watched:?}");
    }
    for (name, alarm) in &alarms {
        let tagged = format!("{:?}", alarm["AlarmActions"]);
        assert!(tagged.contains("AlarmTopic"), "{name} notifies the stack's topic: {tagged}");
    }
    assert_eq!(template["Resources"]["AlarmTopic"]["Type"], "AWS::SNS::Topic");
    assert_eq!(template["Resources"]["AlarmEmailSubscription"]["Condition"], "HasAlarmEmail");

    for (name, resource) in resources {
        let kind = resource["Type"].as_str().unwrap_or_default();
        if ["AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SecretsManager::Secret"].contains(&kind) {
            assert_eq!(resource["DeletionPolicy"], "Retain", "{name:?} survives the stack");
        }
    }

    let statement =
        |policy: &str| template["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"][0].clone();
    let routes = |policy: &str| {
        let mut found = Vec::new();
        all_strings(&statement(policy)["Resource"], &mut found);
        found.iter().map(|arn| arn.rsplit("/$default/").next().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(routes("EmergencyOperatorPolicy"), ["GET/emergency", "POST/emergency"]);
    assert_eq!(routes("EmergencyReaderPolicy"), ["GET/emergency"], "a reader may not switch");
}

/// Issue 26: the dashboard and the product's alarms read metrics the code emits (namespace,
/// names and the `Stack` dimension of `handover_core::metrics`), and the functions give the
/// stack's name for that dimension.
#[test]
fn the_dashboard_and_alarms_read_the_metrics_the_code_emits() {
    use handover_core::metrics::{ALL, NAMESPACE, STACK_DIMENSION};
    let template = template();
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert!(format!("{:?}", variables["HANDOVER_STACK"]).contains("AWS::StackName"));

    let alarms: Vec<&Value> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm" && r["Properties"]["Namespace"] == NAMESPACE)
        .map(|r| &r["Properties"])
        .collect();
    let alarmed: Vec<&str> = alarms.iter().map(|a| a["MetricName"].as_str().unwrap()).collect();
    assert!(alarmed.contains(&"ParkedConversations"), "{alarmed:?}");
    for alarm in &alarms {
        assert!(ALL.contains(&alarm["MetricName"].as_str().unwrap()), "{alarm:?}");
        assert_eq!(alarm["Dimensions"][0]["Name"], STACK_DIMENSION);
    }

    let dashboard = &template["Resources"]["Dashboard"];
    assert_eq!(dashboard["Type"], "AWS::CloudWatch::Dashboard");
    let mut body = Vec::new();
    all_strings(&dashboard["Properties"]["DashboardBody"], &mut body);
    let body: serde_json::Value = serde_json::from_str(&body[0]).expect("the dashboard is JSON");
    let widgets = body["widgets"].as_array().unwrap();
    let titles: Vec<&str> = widgets.iter().map(|w| w["properties"]["title"].as_str().unwrap()).collect();
    for wanted in ["Traffic", "Decisions", "Handovers by reason", "Latency p50 / p99", "Errors", "Queue"] {
        assert!(titles.iter().any(|t| t.starts_with(wanted)), "no {wanted} widget: {titles:?}");
    }
    // Every product metric a widget names, directly or in a SEARCH, is one the code emits.
    let mut named = BTreeSet::new();
    for line in widgets.iter().flat_map(|w| w["properties"]["metrics"].as_array().unwrap()) {
        let parts = line.as_array().unwrap();
        if parts[0] == NAMESPACE {
            assert_eq!(parts[2], STACK_DIMENSION, "{line}");
            named.insert(parts[1].as_str().unwrap().to_string());
        } else if let Some(expression) = parts[0]["expression"].as_str() {
            assert!(expression.contains(&format!("{{{NAMESPACE},{STACK_DIMENSION}")), "{expression}");
            let name = expression.split("MetricName=\"").nth(1).unwrap().split('"').next().unwrap();
            named.insert(name.to_string());
        }
    }
    for name in &named {
        assert!(ALL.contains(&name.as_str()), "{name} is not a metric the code emits");
    }
    for wanted in
        ["EventsReceived", "EventsProcessed", "Handovers", "EventLatency", "BotLatency", "DeadLetters"]
    {
        assert!(named.contains(wanted), "the dashboard leaves out {wanted}");
    }
}

/// Issue 26: closed hours rolled up "by the analytics function or a schedule": both. The
/// schedule invokes the same function (its binary's scheduled path is tested in
/// `functions/analytics/tests/lambda.rs`) often enough that a report finds yesterday kept.
#[test]
fn the_analytics_function_rolls_closed_hours_up_every_hour() {
    let template = template();
    let events = &template["Resources"]["AnalyticsFunction"]["Properties"]["Events"];
    assert_eq!(events["Report"]["Type"], "HttpApi");
    assert_eq!(events["RollUp"]["Type"], "ScheduleV2");
    assert_eq!(events["RollUp"]["Properties"]["ScheduleExpression"], "rate(1 hour)");
    // A run starts no roll-up within its stop margin of the Timeout, which one roll-up fits in
    // (DynamoDB Local: 2.5 s for 100,000 sessions in one hour, in docs/performance.md), and
    // has as long again to work.
    let margin = handover_core::edge::analytics::ROLL_UP_STOP_MARGIN;
    assert!(margin >= Duration::from_secs(3));
    assert!(Duration::from_secs(timeout_of(&template, "AnalyticsFunction")) >= 2 * margin);
}
