//! RingCentral Engage Digital: the webhook payloads it sends and the REST API it exposes.

pub mod client;
pub mod webhook;

pub use client::{EngageClient, EngageError};
pub use webhook::{ContentEvent, Envelope, EnvelopeError, InterventionEvent, WebhookEvent};
