#![no_main]
//! Any time sheet the platform could send: read or refused, and when read, "open now?" and
//! "next opening" answer for any instant without a panic, and the next opening is later than
//! now. The input picks a time zone among awkward ones (half-hour offsets and DST, a date-line
//! jump), an instant, then each weekday's hours and the holidays as `|`-separated text.

use handover_core::hours::{HolidayRecord, TimeSheet, TimeSheetRecord, render_next_open};
use libfuzzer_sys::fuzz_target;

const ZONES: [&str; 8] = [
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "Pacific/Apia",
    "Eastern Time (US & Canada)",
    "UTC",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let zone = ZONES[data[0] as usize % ZONES.len()];
    // Any instant from 1900 to 2200.
    let seconds = i64::from_le_bytes(data[1..9].try_into().unwrap()).rem_euclid(9_467_280_000) - 2_208_988_800;
    let text = String::from_utf8_lossy(&data[9..]);
    let mut parts = text.split('|').map(str::to_string);
    let mut day = || parts.next();
    let record = TimeSheetRecord {
        id: "fuzz".into(),
        active: true,
        label: None,
        source_ids: vec!["s".into()],
        timezone: Some(zone.into()),
        monday_hours: day(),
        tuesday_hours: day(),
        wednesday_hours: day(),
        thursday_hours: day(),
        friday_hours: day(),
        saturday_hours: day(),
        sunday_hours: day(),
        holidays: parts.map(|date| HolidayRecord { name: None, date }).collect(),
    };
    let Ok(sheet) = TimeSheet::from_record(&record) else { return };
    let Ok(now) = jiff::Timestamp::from_second(seconds) else { return };
    let _ = sheet.is_open(now);
    if let Some(next) = sheet.next_open(now) {
        assert!(next.timestamp() > now, "the next opening is after now");
        let _ = render_next_open(&next, now, "fr");
    }
});
