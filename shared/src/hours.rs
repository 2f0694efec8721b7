//! Business hours (CONTRACT C16): Engage Digital's time sheets, and whether the contact
//! center is open at an instant, and when it opens next. Pure: the time sheets come from the
//! platform (`GET /time_sheets`), the instant from the caller.
//!
//! A time sheet gives each weekday's hours as second ranges of the local day
//! (`"32400-64800,68400-72000"`: 09:00 to 18:00 and 19:00 to 20:00), in its time zone, with
//! holidays. Ranges are wall-clock times: on a daylight-saving day, 09:00 is still 09:00. A
//! range that ends at or before its start (`"79200-7200"`) or past midnight (`"79200-93600"`)
//! runs into the next day. A holiday closes its whole local date.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime as Zoned};
use serde::Deserialize;

const DAY: u32 = 86_400;
/// How far ahead the next opening is looked for (a sheet closed longer says "unknown").
const LOOK_AHEAD_DAYS: i32 = 62;

/// A time sheet as the platform sends it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TimeSheetRecord {
    pub id: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub source_ids: Vec<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub monday_hours: Option<String>,
    #[serde(default)]
    pub tuesday_hours: Option<String>,
    #[serde(default)]
    pub wednesday_hours: Option<String>,
    #[serde(default)]
    pub thursday_hours: Option<String>,
    #[serde(default)]
    pub friday_hours: Option<String>,
    #[serde(default)]
    pub saturday_hours: Option<String>,
    #[serde(default)]
    pub sunday_hours: Option<String>,
    /// The API names the field `holidays[]` in its description, `holidays` elsewhere.
    #[serde(default, alias = "holidays[]")]
    pub holidays: Vec<HolidayRecord>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct HolidayRecord {
    #[serde(default)]
    pub name: Option<String>,
    pub date: String,
}

/// Why a time sheet cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    #[error("time sheet {sheet}: unknown time zone {zone:?}")]
    UnknownTimeZone { sheet: String, zone: String },
    #[error("time sheet {sheet}: {day} hours {hours:?} are not second ranges like 32400-64800")]
    BadHours { sheet: String, day: &'static str, hours: String },
}

/// A time sheet ready to answer "open now?".
#[derive(Debug, Clone)]
pub struct TimeSheet {
    pub id: String,
    pub source_ids: Vec<String>,
    pub time_zone: TimeZone,
    /// The zone's name as shown to customers' agents (`Europe/Paris`).
    pub time_zone_name: String,
    /// Open ranges of each weekday's local time, Monday first, in seconds `[start, end)`
    /// within `0..=86400` (ranges running past midnight already moved to the next day).
    week: [Vec<(u32, u32)>; 7],
    holidays: Vec<Date>,
    /// Holiday dates that could not be read (kept for the log).
    pub unreadable_holidays: Vec<String>,
}

/// Parses `"a-b,c-d"` (seconds of the local day); an empty string is a closed day.
pub fn parse_ranges(text: &str) -> Option<Vec<(u32, u32)>> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (start, end) = part.split_once('-')?;
            let (start, end): (u32, u32) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
            (start < DAY && end <= 2 * DAY).then_some((start, end))
        })
        .collect()
}

/// A holiday's date: `YYYY-MM-DD` or the European `DD/MM/YYYY` (the domain's locale decides
/// the platform's format).
pub fn parse_holiday(text: &str) -> Option<Date> {
    let text = text.trim();
    let (year, month, day) = if let Some((y, rest)) = text.split_once('-') {
        let (m, d) = rest.split_once('-')?;
        (y.parse().ok()?, m.parse().ok()?, d.get(..2).unwrap_or(d).parse().ok()?)
    } else {
        let mut parts = text.split('/');
        let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
        (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    };
    Date::new(year, month, day).ok()
}

/// The time zone of a sheet: an IANA name (`Europe/Paris`), or the Rails name Engage Digital
/// shows (`Paris`, `Eastern Time (US & Canada)`, `(GMT+01:00) Paris`). Empty or unknown: `None`.
pub fn time_zone(name: &str) -> Option<(TimeZone, String)> {
    let name = name.trim();
    let name = match name.strip_prefix("(GMT") {
        Some(rest) => rest.split_once(')').map_or(name, |(_, zone)| zone.trim()),
        None => name,
    };
    if name.is_empty() {
        return None;
    }
    let iana = RAILS_ZONES.iter().find(|(rails, _)| *rails == name).map_or(name, |(_, iana)| *iana);
    TimeZone::get(iana).ok().map(|zone| (zone, iana.to_string()))
}

impl TimeSheet {
    pub fn from_record(record: &TimeSheetRecord) -> Result<Self, SheetError> {
        let zone_name = record.timezone.clone().unwrap_or_default();
        let (time_zone, time_zone_name) = time_zone(&zone_name)
            .ok_or_else(|| SheetError::UnknownTimeZone { sheet: record.id.clone(), zone: zone_name })?;
        let days = [
            ("monday", &record.monday_hours),
            ("tuesday", &record.tuesday_hours),
            ("wednesday", &record.wednesday_hours),
            ("thursday", &record.thursday_hours),
            ("friday", &record.friday_hours),
            ("saturday", &record.saturday_hours),
            ("sunday", &record.sunday_hours),
        ];
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (index, (day, hours)) in days.iter().enumerate() {
            let text = hours.as_deref().unwrap_or_default();
            let ranges = parse_ranges(text).ok_or_else(|| SheetError::BadHours {
                sheet: record.id.clone(),
                day,
                hours: text.to_string(),
            })?;
            for (start, end) in ranges {
                // Past midnight: the rest belongs to the next day's early hours.
                let end = if end <= start { end + DAY } else { end };
                week[index].push((start, end.min(DAY)));
                if end > DAY {
                    week[(index + 1) % 7].push((0, end - DAY));
                }
            }
        }
        let (holidays, unreadable_holidays) =
            record.holidays.iter().fold((vec![], vec![]), |(mut ok, mut bad), h| {
                match parse_holiday(&h.date) {
                    Some(date) => ok.push(date),
                    None => bad.push(h.date.clone()),
                }
                (ok, bad)
            });
        Ok(Self {
            id: record.id.clone(),
            source_ids: record.source_ids.clone(),
            time_zone,
            time_zone_name,
            week,
            holidays,
            unreadable_holidays,
        })
    }

    fn ranges_of(&self, date: Date) -> &[(u32, u32)] {
        if self.holidays.contains(&date) {
            return &[];
        }
        &self.week[date.weekday().to_monday_zero_offset() as usize]
    }

    /// Whether the contact center is open at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let local = at.to_zoned_datetime(self.time_zone.clone());
        let time = local.time();
        let second = time.hour() as u32 * 3600 + time.minute() as u32 * 60 + time.second() as u32;
        self.ranges_of(local.date()).iter().any(|(start, end)| (*start..*end).contains(&second))
    }

    /// When it opens next after `at` (`None`: not within two months). A range starting in a
    /// daylight-saving gap opens at the first instant after it.
    pub fn next_open(&self, at: Timestamp) -> Option<Zoned> {
        let mut date = at.to_zoned_datetime(self.time_zone.clone()).date();
        for _ in 0..LOOK_AHEAD_DAYS {
            let mut starts: Vec<u32> = self.ranges_of(date).iter().map(|(start, _)| *start).collect();
            starts.sort_unstable();
            for start in starts {
                let civil = date.at((start / 3600) as i8, ((start % 3600) / 60) as i8, (start % 60) as i8, 0);
                let Ok(opening) = civil.to_zoned_datetime(self.time_zone.clone()) else { continue };
                // A range continuing from the day before (start 0) is no opening if it was open.
                let continued =
                    start == 0 && self.is_open(opening.timestamp() - jiff::SignedDuration::from_secs(1));
                if opening.timestamp() > at && !continued {
                    return Some(opening);
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// The sheet that covers `source_id`: the first listing it (inactive sheets are left out when
/// the sheets are loaded).
pub fn sheet_for<'a>(sheets: &'a [TimeSheet], source_id: &str) -> Option<&'a TimeSheet> {
    sheets.iter().find(|sheet| sheet.source_ids.iter().any(|s| s == source_id))
}

/// Weekday names in the languages the closed message is most often written in; others get
/// English.
fn weekday_name(weekday: Weekday, language: &str) -> &'static str {
    let names: [&str; 7] = match language {
        "fr" => ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
        "es" => ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
        "pt" => [
            "segunda-feira",
            "terça-feira",
            "quarta-feira",
            "quinta-feira",
            "sexta-feira",
            "sábado",
            "domingo",
        ],
        "de" => ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
        "it" => ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"],
        _ => ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    };
    names[weekday.to_monday_zero_offset() as usize]
}

/// `{next_open}` as the customer reads it, in the sheet's time zone: `Monday 09:00 (CET)`,
/// with the date (`2026-12-28`) when it is a week or more away.
pub fn render_next_open(next: &Zoned, now: Timestamp, language: &str) -> String {
    let weekday = weekday_name(next.weekday(), language);
    let time = next.strftime("%H:%M");
    let zone = next.strftime("%Z");
    let far = next.timestamp().as_second() - now.as_second() >= 6 * i64::from(DAY);
    if far {
        format!("{weekday} {} {time} ({zone})", next.date())
    } else {
        format!("{weekday} {time} ({zone})")
    }
}

/// Rails' time zone names (ActiveSupport::TimeZone::MAPPING), which Engage Digital's
/// `/timezones` lists, to IANA names.
const RAILS_ZONES: &[(&str, &str)] = &[
    ("International Date Line West", "Etc/GMT+12"),
    ("Midway Island", "Pacific/Midway"),
    ("American Samoa", "Pacific/Pago_Pago"),
    ("Hawaii", "Pacific/Honolulu"),
    ("Alaska", "America/Juneau"),
    ("Pacific Time (US & Canada)", "America/Los_Angeles"),
    ("Tijuana", "America/Tijuana"),
    ("Mountain Time (US & Canada)", "America/Denver"),
    ("Arizona", "America/Phoenix"),
    ("Chihuahua", "America/Chihuahua"),
    ("Mazatlan", "America/Mazatlan"),
    ("Central Time (US & Canada)", "America/Chicago"),
    ("Saskatchewan", "America/Regina"),
    ("Guadalajara", "America/Mexico_City"),
    ("Mexico City", "America/Mexico_City"),
    ("Monterrey", "America/Monterrey"),
    ("Central America", "America/Guatemala"),
    ("Eastern Time (US & Canada)", "America/New_York"),
    ("Indiana (East)", "America/Indiana/Indianapolis"),
    ("Bogota", "America/Bogota"),
    ("Lima", "America/Lima"),
    ("Quito", "America/Lima"),
    ("Atlantic Time (Canada)", "America/Halifax"),
    ("Caracas", "America/Caracas"),
    ("La Paz", "America/La_Paz"),
    ("Santiago", "America/Santiago"),
    ("Newfoundland", "America/St_Johns"),
    ("Brasilia", "America/Sao_Paulo"),
    ("Buenos Aires", "America/Argentina/Buenos_Aires"),
    ("Montevideo", "America/Montevideo"),
    ("Georgetown", "America/Guyana"),
    ("Puerto Rico", "America/Puerto_Rico"),
    ("Greenland", "America/Godthab"),
    ("Mid-Atlantic", "Atlantic/South_Georgia"),
    ("Azores", "Atlantic/Azores"),
    ("Cape Verde Is.", "Atlantic/Cape_Verde"),
    ("Dublin", "Europe/Dublin"),
    ("Edinburgh", "Europe/London"),
    ("Lisbon", "Europe/Lisbon"),
    ("London", "Europe/London"),
    ("Casablanca", "Africa/Casablanca"),
    ("Monrovia", "Africa/Monrovia"),
    ("UTC", "Etc/UTC"),
    ("Belgrade", "Europe/Belgrade"),
    ("Bratislava", "Europe/Bratislava"),
    ("Budapest", "Europe/Budapest"),
    ("Ljubljana", "Europe/Ljubljana"),
    ("Prague", "Europe/Prague"),
    ("Sarajevo", "Europe/Sarajevo"),
    ("Skopje", "Europe/Skopje"),
    ("Warsaw", "Europe/Warsaw"),
    ("Zagreb", "Europe/Zagreb"),
    ("Brussels", "Europe/Brussels"),
    ("Copenhagen", "Europe/Copenhagen"),
    ("Madrid", "Europe/Madrid"),
    ("Paris", "Europe/Paris"),
    ("Amsterdam", "Europe/Amsterdam"),
    ("Berlin", "Europe/Berlin"),
    ("Bern", "Europe/Zurich"),
    ("Zurich", "Europe/Zurich"),
    ("Rome", "Europe/Rome"),
    ("Stockholm", "Europe/Stockholm"),
    ("Vienna", "Europe/Vienna"),
    ("West Central Africa", "Africa/Algiers"),
    ("Bucharest", "Europe/Bucharest"),
    ("Cairo", "Africa/Cairo"),
    ("Helsinki", "Europe/Helsinki"),
    ("Kyiv", "Europe/Kiev"),
    ("Riga", "Europe/Riga"),
    ("Sofia", "Europe/Sofia"),
    ("Tallinn", "Europe/Tallinn"),
    ("Vilnius", "Europe/Vilnius"),
    ("Athens", "Europe/Athens"),
    ("Istanbul", "Europe/Istanbul"),
    ("Minsk", "Europe/Minsk"),
    ("Jerusalem", "Asia/Jerusalem"),
    ("Harare", "Africa/Harare"),
    ("Pretoria", "Africa/Johannesburg"),
    ("Kaliningrad", "Europe/Kaliningrad"),
    ("Moscow", "Europe/Moscow"),
    ("St. Petersburg", "Europe/Moscow"),
    ("Volgograd", "Europe/Volgograd"),
    ("Samara", "Europe/Samara"),
    ("Kuwait", "Asia/Kuwait"),
    ("Riyadh", "Asia/Riyadh"),
    ("Nairobi", "Africa/Nairobi"),
    ("Baghdad", "Asia/Baghdad"),
    ("Tehran", "Asia/Tehran"),
    ("Abu Dhabi", "Asia/Muscat"),
    ("Muscat", "Asia/Muscat"),
    ("Baku", "Asia/Baku"),
    ("Tbilisi", "Asia/Tbilisi"),
    ("Yerevan", "Asia/Yerevan"),
    ("Kabul", "Asia/Kabul"),
    ("Ekaterinburg", "Asia/Yekaterinburg"),
    ("Islamabad", "Asia/Karachi"),
    ("Karachi", "Asia/Karachi"),
    ("Tashkent", "Asia/Tashkent"),
    ("Chennai", "Asia/Kolkata"),
    ("Kolkata", "Asia/Kolkata"),
    ("Mumbai", "Asia/Kolkata"),
    ("New Delhi", "Asia/Kolkata"),
    ("Kathmandu", "Asia/Kathmandu"),
    ("Astana", "Asia/Dhaka"),
    ("Dhaka", "Asia/Dhaka"),
    ("Sri Jayawardenepura", "Asia/Colombo"),
    ("Almaty", "Asia/Almaty"),
    ("Novosibirsk", "Asia/Novosibirsk"),
    ("Rangoon", "Asia/Rangoon"),
    ("Bangkok", "Asia/Bangkok"),
    ("Hanoi", "Asia/Bangkok"),
    ("Jakarta", "Asia/Jakarta"),
    ("Krasnoyarsk", "Asia/Krasnoyarsk"),
    ("Beijing", "Asia/Shanghai"),
    ("Chongqing", "Asia/Chongqing"),
    ("Hong Kong", "Asia/Hong_Kong"),
    ("Urumqi", "Asia/Urumqi"),
    ("Kuala Lumpur", "Asia/Kuala_Lumpur"),
    ("Singapore", "Asia/Singapore"),
    ("Taipei", "Asia/Taipei"),
    ("Perth", "Australia/Perth"),
    ("Irkutsk", "Asia/Irkutsk"),
    ("Ulaanbaatar", "Asia/Ulaanbaatar"),
    ("Seoul", "Asia/Seoul"),
    ("Osaka", "Asia/Tokyo"),
    ("Sapporo", "Asia/Tokyo"),
    ("Tokyo", "Asia/Tokyo"),
    ("Yakutsk", "Asia/Yakutsk"),
    ("Darwin", "Australia/Darwin"),
    ("Adelaide", "Australia/Adelaide"),
    ("Canberra", "Australia/Melbourne"),
    ("Melbourne", "Australia/Melbourne"),
    ("Sydney", "Australia/Sydney"),
    ("Brisbane", "Australia/Brisbane"),
    ("Hobart", "Australia/Hobart"),
    ("Vladivostok", "Asia/Vladivostok"),
    ("Guam", "Pacific/Guam"),
    ("Port Moresby", "Pacific/Port_Moresby"),
    ("Magadan", "Asia/Magadan"),
    ("Srednekolymsk", "Asia/Srednekolymsk"),
    ("Solomon Is.", "Pacific/Guadalcanal"),
    ("New Caledonia", "Pacific/Noumea"),
    ("Fiji", "Pacific/Fiji"),
    ("Kamchatka", "Asia/Kamchatka"),
    ("Marshall Is.", "Pacific/Majuro"),
    ("Auckland", "Pacific/Auckland"),
    ("Wellington", "Pacific/Auckland"),
    ("Nuku'alofa", "Pacific/Tongatapu"),
    ("Tokelau Is.", "Pacific/Fakaofo"),
    ("Chatham Is.", "Pacific/Chatham"),
    ("Samoa", "Pacific/Apia"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(zone: &str, hours: [&str; 7], holidays: &[&str]) -> TimeSheet {
        let [mo, tu, we, th, fr, sa, su] = hours.map(|h| Some(h.to_string()));
        TimeSheet::from_record(&TimeSheetRecord {
            id: "ts1".into(),
            active: true,
            label: None,
            source_ids: vec!["s1".into()],
            timezone: Some(zone.into()),
            monday_hours: mo,
            tuesday_hours: tu,
            wednesday_hours: we,
            thursday_hours: th,
            friday_hours: fr,
            saturday_hours: sa,
            sunday_hours: su,
            holidays: holidays.iter().map(|d| HolidayRecord { name: None, date: d.to_string() }).collect(),
        })
        .unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// 09:00-18:00 on weekdays, closed on weekends, Christmas a holiday, in Paris.
    fn office() -> TimeSheet {
        let weekday = "32400-64800";
        sheet("Europe/Paris", [weekday, weekday, weekday, weekday, weekday, "", ""], &["2026-12-25"])
    }

    #[test]
    fn open_and_closed_around_each_edge() {
        let sheet = office();
        // (instant, open?, next opening in Paris when closed)
        let table = [
            // Monday 2026-11-23, CET (UTC+1): 09:00 local is 08:00Z.
            ("2026-11-23T07:59:59Z", false, Some("2026-11-23T09:00:00+01:00[Europe/Paris]")),
            ("2026-11-23T08:00:00Z", true, None),
            ("2026-11-23T16:59:59Z", true, None),
            ("2026-11-23T17:00:00Z", false, Some("2026-11-24T09:00:00+01:00[Europe/Paris]")),
            // Friday evening to Monday morning: a day without hours is closed all day.
            ("2026-11-27T17:00:00Z", false, Some("2026-11-30T09:00:00+01:00[Europe/Paris]")),
            ("2026-11-29T12:00:00Z", false, Some("2026-11-30T09:00:00+01:00[Europe/Paris]")),
            // Christmas, a Friday: closed all day, open again Monday.
            ("2026-12-25T10:00:00Z", false, Some("2026-12-28T09:00:00+01:00[Europe/Paris]")),
            ("2026-12-24T10:00:00Z", true, None),
        ];
        for (instant, open, next) in table {
            assert_eq!(sheet.is_open(at(instant)), open, "{instant}");
            if let Some(next) = next {
                assert_eq!(sheet.next_open(at(instant)).unwrap().to_string(), next, "{instant}");
            }
        }
    }

    #[test]
    fn hours_are_wall_clock_across_daylight_saving_changes() {
        let sheet = office();
        // Summer time (CEST, UTC+2) ends Sunday 2026-10-25: 09:00 is 07:00Z on the Friday
        // before and 08:00Z on the Monday after.
        let table = [
            ("2026-10-23T06:59:59Z", false),
            ("2026-10-23T07:00:00Z", true),
            ("2026-10-23T15:59:59Z", true),
            ("2026-10-23T16:00:00Z", false),
            ("2026-10-26T07:30:00Z", false),
            ("2026-10-26T08:00:00Z", true),
            ("2026-10-26T16:30:00Z", true),
            ("2026-10-26T17:00:00Z", false),
            // Summer time starts Sunday 2026-03-29: Friday in CET, Monday in CEST.
            ("2026-03-27T08:00:00Z", true),
            ("2026-03-30T07:00:00Z", true),
            ("2026-03-30T06:59:59Z", false),
        ];
        for (instant, open) in table {
            assert_eq!(sheet.is_open(at(instant)), open, "{instant}");
        }
        assert_eq!(
            sheet.next_open(at("2026-10-23T18:00:00Z")).unwrap().to_string(),
            "2026-10-26T09:00:00+01:00[Europe/Paris]"
        );
    }

    #[test]
    fn a_range_starting_in_the_spring_gap_opens_when_the_clock_jumps() {
        // 02:30 does not exist in Paris on 2026-03-29: the hour is skipped to 03:00 CEST.
        let sheet = sheet("Europe/Paris", ["", "", "", "", "", "", "9000-18000"], &[]);
        let next = sheet.next_open(at("2026-03-29T00:00:00Z")).unwrap();
        assert_eq!(next.timestamp(), at("2026-03-29T01:30:00Z"));
        assert!(sheet.is_open(at("2026-03-29T01:30:00Z")), "03:30 CEST is within 02:30-05:00");
    }

    #[test]
    fn ranges_crossing_midnight_run_into_the_next_day() {
        // Friday 22:00 to 02:00, written both ways the platform allows.
        for friday in ["79200-7200", "79200-93600"] {
            let sheet = sheet("UTC", ["", "", "", "", friday, "", ""], &[]);
            let table = [
                ("2026-11-27T21:59:59Z", false),
                ("2026-11-27T22:00:00Z", true),
                ("2026-11-28T01:59:59Z", true),
                ("2026-11-28T02:00:00Z", false),
                ("2026-11-28T12:00:00Z", false),
            ];
            for (instant, open) in table {
                assert_eq!(sheet.is_open(at(instant)), open, "{friday} at {instant}");
            }
            // Saturday 00:00 continues Friday's range: it is no new opening.
            assert_eq!(
                sheet.next_open(at("2026-11-27T23:00:00Z")).unwrap().to_string(),
                "2026-12-04T22:00:00+00:00[Etc/UTC]"
            );
        }
    }

    #[test]
    fn several_ranges_a_day_and_a_sheet_never_open() {
        let split = "32400-43200,50400-64800";
        let sheet = sheet("America/New_York", [split, split, split, split, split, "", ""], &[]);
        // Lunch break, Monday 2026-11-23 (EST, UTC-5): 12:00-14:00 local is 17:00-19:00Z.
        assert!(!sheet.is_open(at("2026-11-23T17:30:00Z")));
        assert_eq!(
            sheet.next_open(at("2026-11-23T17:30:00Z")).unwrap().to_string(),
            "2026-11-23T14:00:00-05:00[America/New_York]"
        );
        let never = self::sheet("UTC", ["", "", "", "", "", "", ""], &[]);
        assert!(!never.is_open(at("2026-11-23T12:00:00Z")));
        assert_eq!(never.next_open(at("2026-11-23T12:00:00Z")), None);
    }

    #[test]
    fn time_zones_holidays_and_hours_are_read_as_the_platform_writes_them() {
        assert_eq!(time_zone("Paris").unwrap().1, "Europe/Paris");
        assert_eq!(time_zone("Eastern Time (US & Canada)").unwrap().1, "America/New_York");
        assert_eq!(time_zone("(GMT+01:00) Paris").unwrap().1, "Europe/Paris");
        assert_eq!(time_zone("America/Sao_Paulo").unwrap().1, "America/Sao_Paulo");
        assert!(time_zone("").is_none() && time_zone("Atlantis").is_none());
        assert_eq!(parse_holiday("2026-12-25"), Date::new(2026, 12, 25).ok());
        assert_eq!(parse_holiday("25/12/2026"), Date::new(2026, 12, 25).ok());
        assert_eq!(parse_holiday("2026-12-25T00:00:00Z"), Date::new(2026, 12, 25).ok());
        assert_eq!(parse_holiday("Christmas"), None);
        assert_eq!(parse_ranges(""), Some(vec![]));
        assert_eq!(parse_ranges("32400-64800, 68400-72000"), Some(vec![(32400, 64800), (68400, 72000)]));
        assert_eq!(parse_ranges("9h-18h"), None);
        assert_eq!(parse_ranges("90000-95000"), None);
        let record: TimeSheetRecord = serde_json::from_value(serde_json::json!({
            "id": "ts9", "timezone": "Atlantis", "monday_hours": "32400-64800"
        }))
        .unwrap();
        assert!(matches!(TimeSheet::from_record(&record), Err(SheetError::UnknownTimeZone { .. })));
    }

    #[test]
    fn next_open_is_rendered_in_the_sheets_zone_and_the_customers_language() {
        let sheet = office();
        let now = at("2026-11-27T20:00:00Z");
        let next = sheet.next_open(now).unwrap();
        assert_eq!(render_next_open(&next, now, "en"), "Monday 09:00 (CET)");
        assert_eq!(render_next_open(&next, now, "fr"), "lundi 09:00 (CET)");
        let christmas = at("2026-12-21T20:00:00Z");
        let after = sheet.next_open(at("2026-12-24T20:00:00Z")).unwrap();
        assert_eq!(render_next_open(&after, christmas, "en"), "Monday 2026-12-28 09:00 (CET)");
    }
}
