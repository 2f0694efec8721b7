#![no_main]
//! Any answer a model server could send: read as the bot's answer or refused as malformed,
//! never a panic; a handover's reason is always one of the known few.

use handover_core::bot::BotAction;
use handover_core::bot::openai::{HANDOVER_REASONS, answer_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(answer) = answer_from(data)
        && answer.action == BotAction::Handover
    {
        let reason = answer.reason.as_deref().unwrap_or_default();
        assert!(HANDOVER_REASONS.contains(&reason) || reason == "bot_handover", "{reason}");
    }
});
