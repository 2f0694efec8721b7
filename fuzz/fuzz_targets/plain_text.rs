#![no_main]
//! Any bot reply: turned into plain text, never a panic.

use handover_core::text::to_plain_text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let plain = to_plain_text(text);
        assert!(plain.len() <= text.len() * 2 + 16);
    }
});
