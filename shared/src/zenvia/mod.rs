//! Zenvia Chat's external-bot API (seed 003): the events it posts to the bot URL and the
//! calls the bot makes back (accept, message, transfer, finish).

pub mod client;
pub mod events;

pub use client::{ZenviaClient, ZenviaError};
pub use events::{ZenviaEvent, ZenviaEventError};
