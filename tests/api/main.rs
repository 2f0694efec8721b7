//! Integration tests: one binary, real HTTP everywhere (wiremock fakes for Engage Digital and
//! the bot), and Amazon's DynamoDB Local for the DynamoDB store.

mod helpers;

mod analytics;
mod bots;
mod briefing;
mod budget;
mod concurrency;
mod console;
mod dedup;
mod delivery;
mod devserver;
mod emergency;
mod emergency_sweep;
mod faults;
mod faults_zenvia;
mod handover;
mod hours;
mod ingest;
mod language;
mod queue;
mod rebot;
mod replay_events;
mod source_shape;
mod sqs;
mod store_suite;
mod template;
mod uncertain;
mod verification;
mod volume;
mod zenvia;
