//! Parsing of Engage Digital webhook bodies: `{id, domain_id, events: [...]}`.
//!
//! Parsing is tolerant where the platform varies (`domain_id` string or number, unknown fields,
//! unknown event types) and strict where processing needs a value (an event without an `id`
//! cannot be deduplicated, a content without a thread cannot be answered). The whole body is
//! parsed before anything is done, so a malformed body changes nothing.

use serde::Deserialize;

/// A webhook POST body.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub id: Option<String>,
    pub domain_id: Option<String>,
    pub events: Vec<WebhookEvent>,
}

/// One event of a body, typed by what the product does with it. Serialized as the queue's
/// message between the receiver and the worker.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebhookEvent {
    ContentImported(ContentEvent),
    InterventionClosed(InterventionEvent),
    InterventionReopened(InterventionEvent),
    /// Acknowledged and logged, nothing else.
    Unknown {
        id: String,
        event_type: String,
    },
}

impl WebhookEvent {
    pub fn id(&self) -> &str {
        match self {
            Self::ContentImported(e) => &e.event_id,
            Self::InterventionClosed(e) | Self::InterventionReopened(e) => &e.event_id,
            Self::Unknown { id, .. } => id,
        }
    }

    /// The thread the event belongs to: the store's thread and the queue's group. Events
    /// without one get a scope of their own.
    pub fn thread_scope(&self) -> String {
        match self {
            Self::ContentImported(c) => c.thread_id.clone(),
            Self::InterventionClosed(i) | Self::InterventionReopened(i) => {
                i.thread_id.clone().unwrap_or_else(|| format!("no-thread:{}", i.event_id))
            }
            Self::Unknown { id, .. } => format!("no-thread:{id}"),
        }
    }

    pub fn event_type(&self) -> &str {
        match self {
            Self::ContentImported(_) => "content.imported",
            Self::InterventionClosed(_) => "intervention.closed",
            Self::InterventionReopened(_) => "intervention.reopened",
            Self::Unknown { event_type, .. } => event_type,
        }
    }
}

/// A `content.imported` event: a message arrived on a source.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, Deserialize)]
pub struct ContentEvent {
    pub event_id: String,
    pub issued_at: Option<String>,
    /// The content's id (`resource.id`).
    pub content_id: String,
    pub thread_id: String,
    pub source_id: String,
    pub author_id: Option<String>,
    /// Set when the content was created through the API or by an agent.
    pub creator_id: Option<String>,
    pub body: String,
    pub body_input_format: Option<String>,
    pub category_ids: Vec<String>,
    pub first_in_thread: bool,
    pub intervention_id: Option<String>,
    pub language: Option<String>,
    pub status: Option<String>,
    /// `resource.type`, e.g. `chat/message`.
    pub resource_type: Option<String>,
}

/// An `intervention.closed` or `intervention.reopened` event.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, Deserialize)]
pub struct InterventionEvent {
    pub event_id: String,
    pub issued_at: Option<String>,
    pub intervention_id: String,
    pub thread_id: Option<String>,
    pub source_id: Option<String>,
    pub user_id: Option<String>,
    pub category_ids: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    #[error("the body has no `events` array")]
    NoEvents,
    #[error("event {index}: {problem}")]
    Event { index: usize, problem: String },
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(default)]
    id: Id,
    #[serde(default)]
    domain_id: Id,
    // Kept raw, so each event is parsed on its own (an error names its index) without
    // building a tree of JSON values first.
    #[serde(borrow, default)]
    events: RawEvents<'a>,
}

/// `events` as sent: an array, its events kept raw; anything else is no events.
#[derive(Default)]
struct RawEvents<'a>(Option<Vec<&'a serde_json::value::RawValue>>);

impl<'de: 'a, 'a> Deserialize<'de> for RawEvents<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EventsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for EventsVisitor<'a> {
            type Value = RawEvents<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of events")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(event) = seq.next_element::<&'de serde_json::value::RawValue>()? {
                    events.push(event);
                }
                Ok(RawEvents(Some(events)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(RawEvents(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(RawEvents(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(RawEvents(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(RawEvents(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(RawEvents(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(RawEvents(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(RawEvents(None))
            }
        }
        deserializer.deserialize_any(EventsVisitor(std::marker::PhantomData))
    }
}

/// An id as the platform sends it: a string (hex) or, in older payloads, a number; anything
/// else (absent, null, empty, an object) is no id.
#[derive(Default)]
struct Id(Option<String>);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl<'de> serde::de::Visitor<'de> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an id")
            }
            fn visit_str<E>(self, v: &str) -> Result<Id, E> {
                Ok(Id((!v.is_empty()).then(|| v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Id, E> {
                Ok(Id(Some(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Id, E> {
                Ok(Id(Some(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Id, E> {
                Ok(Id(Some(serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string()))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Id, E> {
                Ok(Id(None))
            }
            fn visit_unit<E>(self) -> Result<Id, E> {
                Ok(Id(None))
            }
            fn visit_none<E>(self) -> Result<Id, E> {
                Ok(Id(None))
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Id, D::Error> {
                d.deserialize_any(IdVisitor)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Id, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Id(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Id, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(Id(None))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    id: Id,
    #[serde(default, rename = "type")]
    event_type: Option<String>,
    #[serde(default)]
    issued_at: Option<String>,
    #[serde(default)]
    resource: Option<RawResource>,
}

#[derive(Deserialize, Default)]
struct RawResource {
    #[serde(default)]
    id: Id,
    #[serde(default, rename = "type")]
    resource_type: Option<String>,
    #[serde(default)]
    metadata: RawMetadata,
    // An intervention's own fields: the platform's sample (seed 004) carries them here, with
    // only custom fields in `metadata`; other payloads carry them in `metadata`.
    #[serde(default)]
    thread_id: Id,
    #[serde(default)]
    category_ids: Option<Vec<Id>>,
    #[serde(default)]
    source_id: Id,
    #[serde(default)]
    user_id: Id,
}

/// The metadata fields the product reads; the platform sends many more.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMetadata {
    author_id: Id,
    creator_id: Id,
    body: Option<String>,
    body_input_format: Option<String>,
    category_ids: Option<Vec<Id>>,
    first_in_thread: Option<bool>,
    intervention_id: Id,
    language: Option<String>,
    source_id: Id,
    status: Option<String>,
    thread_id: Id,
    user_id: Id,
}

/// Ids come as hex strings; older payloads had numbers. Both become strings.
fn id_string(value: Id) -> Option<String> {
    value.0
}

fn id_list(values: Option<Vec<Id>>) -> Vec<String> {
    values.into_iter().flatten().filter_map(id_string).collect()
}

impl Envelope {
    /// Parses a whole body; any problem rejects the whole body, so nothing is half-processed.
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let raw: RawEnvelope =
            serde_json::from_slice(body).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        let events = raw
            .events
            .0
            .ok_or(EnvelopeError::NoEvents)?
            .into_iter()
            .enumerate()
            .map(|(index, value)| {
                parse_event(value.get()).map_err(|problem| EnvelopeError::Event { index, problem })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { id: id_string(raw.id), domain_id: id_string(raw.domain_id), events })
    }
}

fn parse_event(json: &str) -> Result<WebhookEvent, String> {
    let raw: RawEvent = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let id = id_string(raw.id).ok_or("missing `id`")?;
    let event_type = raw.event_type.ok_or("missing `type`")?;
    match event_type.as_str() {
        "content.imported" => {
            let resource = raw.resource.ok_or("missing `resource`")?;
            let m = resource.metadata;
            Ok(WebhookEvent::ContentImported(ContentEvent {
                event_id: id,
                issued_at: raw.issued_at,
                content_id: id_string(resource.id).ok_or("missing `resource.id`")?,
                thread_id: id_string(m.thread_id).ok_or("missing `resource.metadata.thread_id`")?,
                source_id: id_string(m.source_id).ok_or("missing `resource.metadata.source_id`")?,
                author_id: id_string(m.author_id),
                creator_id: id_string(m.creator_id),
                body: m.body.unwrap_or_default(),
                body_input_format: m.body_input_format,
                category_ids: id_list(m.category_ids),
                first_in_thread: m.first_in_thread.unwrap_or(false),
                intervention_id: id_string(m.intervention_id),
                language: m.language.filter(|l| !l.is_empty()),
                status: m.status,
                resource_type: resource.resource_type,
            }))
        }
        "intervention.closed" | "intervention.reopened" => {
            let resource = raw.resource.ok_or("missing `resource`")?;
            let m = resource.metadata;
            // Under `resource` or under `resource.metadata`, whichever the payload has.
            let categories = match id_list(resource.category_ids) {
                direct if !direct.is_empty() => direct,
                _ => id_list(m.category_ids),
            };
            let event = InterventionEvent {
                event_id: id,
                issued_at: raw.issued_at,
                intervention_id: id_string(resource.id).ok_or("missing `resource.id`")?,
                thread_id: id_string(resource.thread_id).or_else(|| id_string(m.thread_id)),
                source_id: id_string(resource.source_id).or_else(|| id_string(m.source_id)),
                user_id: id_string(resource.user_id).or_else(|| id_string(m.user_id)),
                category_ids: categories,
            };
            Ok(if event_type == "intervention.closed" {
                WebhookEvent::InterventionClosed(event)
            } else {
                WebhookEvent::InterventionReopened(event)
            })
        }
        _ => Ok(WebhookEvent::Unknown { id, event_type }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use serde_json::json;

    fn content_body(domain_id: Value) -> Vec<u8> {
        json!({
            "id": "50df05692c64ac7799f09a98",
            "domain_id": domain_id,
            "unknown_top_level": {"ignored": true},
            "events": [{
                "type": "content.imported",
                "id": "ev1",
                "issued_at": "2018-11-09T15:59:59.770Z",
                "resource": {
                    "type": "chat/message",
                    "id": "c1",
                    "metadata": {
                        "author_id": "a1", "body": "hello", "creator_id": null,
                        "first_in_thread": true, "category_ids": ["other", "bot"],
                        "intervention_id": null, "language": "fr", "source_id": "s1",
                        "status": "assigned", "thread_id": "t1", "extra": [1, 2]
                    }
                }
            }]
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn parses_a_content_event_with_string_or_number_domain() {
        for domain in [json!("48cc6703bdae1462ce06a555"), json!(42)] {
            let envelope = Envelope::parse(&content_body(domain.clone())).unwrap();
            assert_eq!(envelope.domain_id.as_deref(), Some(domain.to_string().trim_matches('"')));
            let WebhookEvent::ContentImported(c) = &envelope.events[0] else { panic!() };
            assert_eq!(c.content_id, "c1");
            assert_eq!(c.thread_id, "t1");
            assert_eq!(c.category_ids, vec!["other", "bot"]);
            assert!(c.first_in_thread);
            assert_eq!(c.creator_id, None);
            assert_eq!(c.intervention_id, None);
            assert_eq!(c.language.as_deref(), Some("fr"));
        }
    }

    #[test]
    fn unknown_event_types_are_kept_as_unknown() {
        let body = json!({"events": [{"type": "content.updated", "id": "e9", "resource": {}}]});
        let envelope = Envelope::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            envelope.events,
            vec![WebhookEvent::Unknown { id: "e9".into(), event_type: "content.updated".into() }]
        );
    }

    #[test]
    fn rejects_bodies_that_cannot_be_processed() {
        assert!(matches!(Envelope::parse(b"{not json"), Err(EnvelopeError::Json(_))));
        assert_eq!(Envelope::parse(b"{}").unwrap_err(), EnvelopeError::NoEvents);
        for not_an_array in
            [r#"{}"#, r#"{"a": [1, {"b": null}]}"#, "null", "5", "-5", "1.5", r#""x""#, "true"]
        {
            let body = format!(r#"{{"events": {not_an_array}}}"#);
            assert_eq!(Envelope::parse(body.as_bytes()).unwrap_err(), EnvelopeError::NoEvents, "{body}");
        }
        // An array that is not JSON to its end is a JSON error, not a missing array.
        assert!(matches!(Envelope::parse(br#"{"events": [{"id": "e"}, ]}"#), Err(EnvelopeError::Json(_))));
        let no_id = br#"{"events": [{"type": "content.imported"}]}"#;
        assert_eq!(
            Envelope::parse(no_id).unwrap_err(),
            EnvelopeError::Event { index: 0, problem: "missing `id`".into() }
        );
        let no_thread = br#"{"events": [{"type": "content.imported", "id": "e", "resource": {"id": "c", "metadata": {"source_id": "s"}}}]}"#;
        assert_eq!(
            Envelope::parse(no_thread).unwrap_err(),
            EnvelopeError::Event { index: 0, problem: "missing `resource.metadata.thread_id`".into() }
        );
    }

    #[test]
    fn parses_intervention_events() {
        let body = json!({"events": [{
            "type": "intervention.closed", "id": "e2", "issued_at": "2024-01-01T00:00:00Z",
            "resource": {"type": "intervention", "id": "i1",
                "metadata": {"thread_id": "t1", "category_ids": ["agent"], "source_id": "s1", "user_id": "u1"}}
        }]});
        let envelope = Envelope::parse(body.to_string().as_bytes()).unwrap();
        let WebhookEvent::InterventionClosed(i) = &envelope.events[0] else { panic!() };
        assert_eq!(i.intervention_id, "i1");
        assert_eq!(i.thread_id.as_deref(), Some("t1"));
        assert_eq!(i.user_id.as_deref(), Some("u1"));
    }
}
