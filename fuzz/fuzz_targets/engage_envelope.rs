#![no_main]
//! Any webhook body: parsed or refused, never a panic.

use handover_core::engage::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::parse(data) {
        for event in &envelope.events {
            let _ = (event.id(), event.event_type());
        }
    }
});
