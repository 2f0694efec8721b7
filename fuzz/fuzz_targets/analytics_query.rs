#![no_main]
//! Any analytics query string: a report or a refusal, never a panic or an overflow.

use handover_core::analytics;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let now_ms = 1_795_341_600_000;
    if let Ok(window) = analytics::window(get("from_date"), get("to_date"), get("utc_offset"), now_ms) {
        assert!(window.start <= window.end);
        let report = analytics::report(window, &[]);
        assert_eq!(report.stats.len(), analytics::INTERVALS);
    }
});
