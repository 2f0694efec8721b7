//! Issue 15, item 5: least privilege, read from `template.yaml` itself. Each function may use
//! only the DynamoDB actions it needs, only on its own key prefixes (`dynamodb:LeadingKeys`);
//! the receivers have no table access at all and may only send to the queue.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

fn template() -> Value {
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
        ("AnalyticsFunction", vec![(set(&["Query"]), vec!["*.?"])]),
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
