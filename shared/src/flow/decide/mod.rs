//! Decisions as pure functions over plain data: the event, the thread's state, the
//! configuration and the bot's answer in; what to do out. Every rule of the contract is a unit
//! test here; the turn engine ([`super::turn`]) and the platforms only perform what these
//! functions say. One module per concern:
//!
//! - [`turn`]: is a message the bot's, what its answer leads to, the thread after a turn;
//! - [`handover`]: availability, business hours, where a handover goes, the categories;
//! - [`rebot`]: an agent closed an intervention: back to the bot?
//! - [`emergency`]: the switch's sweep of bot conversations;
//! - [`zenvia`]: Zenvia's interactions.

pub mod emergency;
pub mod handover;
pub mod rebot;
pub mod turn;
pub mod zenvia;

pub use emergency::*;
pub use handover::*;
pub use rebot::*;
pub use turn::*;
pub use zenvia::*;

#[cfg(test)]
mod tests;
