#![no_main]
//! Any Zenvia body: parsed or refused, never a panic.

use handover_core::zenvia::ZenviaEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = ZenviaEvent::parse(data) {
        let _ = (event.event_type(), event.interaction_hash());
    }
});
