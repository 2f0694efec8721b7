//! The conversation flows: pure decisions ([`decide`]) and the executor that carries them out
//! against Engage Digital, the bot and the store ([`engage_flow`]).

pub mod cache;
pub mod claim;
pub mod decide;
pub mod emergency;
pub mod engage_flow;
pub mod zenvia_flow;

pub use engage_flow::{EngageFlow, EventOutcome, ProcessError};
