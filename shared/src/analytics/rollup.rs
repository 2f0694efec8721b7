//! Closed hours rolled up, so a report's cost stays flat however busy its hours were.
//!
//! A closed UTC day becomes one [`Summary`], and so does each closed hour of today; only the
//! open hour is read as facts. A summary is lossless for the report: every session and
//! intervention of its span stays, as a minute and 64-bit hashes of its conversation and
//! customer instead of their ids (18 and 12 bytes), so every count (distinct customers and the
//! containment rate too) is what the facts give. The store keeps it in one item, or in a few
//! when it holds more than [`PART_BYTES`] (about 19,000 sessions).
//!
//! A fact recorded late for a closed span (a delivery retried for hours) drops that span's
//! summary ([`spans_made_stale`]) and moves the span to its next [`Generation`], before the
//! fact is written; the next report rolls it up again. A roll-up keeps its summary only when
//! the span's generation is still the one it read before reading the facts (the store checks
//! that in the write), and not while a late fact may still be on its way to the index
//! ([`may_keep`]): a roll-up racing a late fact is never kept without it.

use std::collections::BTreeMap;

use crate::domain::{HourStats, StatsEntry};

/// Bytes of summary one stored item carries (DynamoDB's item limit is 400 KB).
pub const PART_BYTES: usize = 350_000;
/// How long after its end an hour is closed: facts of events delivered within this time land
/// before the roll-up; a later one makes the roll-up stale (and it is redone).
pub const CLOSING_GRACE_SECONDS: i64 = 300;

/// How long after a late fact its spans are not rolled up for keeping: longer than any function
/// runs (the template's largest `Timeout` is 120 s), so the fact written after its spans'
/// [`Generation`] moved, in the same invocation, and the index's propagation (eventually
/// consistent, usually under a second) both land inside it.
pub const LATE_FACT_SETTLE_SECONDS: i64 = 300;

/// Hours rolled up together: a whole UTC day, or one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// Hours since the epoch.
    pub first_hour: i64,
    /// 24 (a day starting at UTC midnight) or 1.
    pub hours: i64,
}

impl Span {
    pub fn day(day: i64) -> Self {
        Self { first_hour: day * 24, hours: 24 }
    }
    pub fn hour(hour: i64) -> Self {
        Self { first_hour: hour, hours: 1 }
    }
    fn last_hour(self) -> i64 {
        self.first_hour + self.hours - 1
    }
    fn closed(self, now_ms: i64) -> bool {
        (self.last_hour() + 1) * 3600 + CLOSING_GRACE_SECONDS <= now_ms.div_euclid(1000)
    }
}

/// How a report reads hours `from..=to`: the closed ones as summaries, the open ones as facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    pub summaries: Vec<Span>,
    /// Hours read as facts (the open ones: the current hour, and the future of the window).
    pub facts: Option<(i64, i64)>,
}

/// Whole closed days as one summary each, closed hours of other days as one each, the rest as
/// facts. A 7-day report (with its previous interval) reads about 15 day summaries, up to 23
/// hour summaries and the current hour's facts.
pub fn read_plan(from_hour: i64, to_hour: i64, now_ms: i64) -> ReadPlan {
    let mut summaries = Vec::new();
    let mut first_open = None;
    for day in from_hour.div_euclid(24)..=to_hour.div_euclid(24) {
        if Span::day(day).closed(now_ms) {
            summaries.push(Span::day(day));
            continue;
        }
        for hour in (day * 24).max(from_hour)..=(day * 24 + 23).min(to_hour) {
            if Span::hour(hour).closed(now_ms) {
                summaries.push(Span::hour(hour));
            } else {
                first_open.get_or_insert(hour);
            }
        }
    }
    ReadPlan { summaries, facts: first_open.map(|first| (first, to_hour)) }
}

/// How many late facts a closed span has taken, and when the last came: read before a roll-up
/// reads the facts, and checked when its summary is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Generation {
    /// Late facts recorded into the span (0: none).
    pub count: u64,
    /// When the last one was (ms since the epoch).
    pub late_at_ms: Option<i64>,
}

/// Whether a roll-up that read `generation` may keep its summary at `now_ms`: not while the
/// span's last late fact may still be on its way (see [`LATE_FACT_SETTLE_SECONDS`]).
pub fn may_keep(generation: Generation, now_ms: i64) -> bool {
    generation.late_at_ms.is_none_or(|late| now_ms - late >= LATE_FACT_SETTLE_SECONDS * 1000)
}

/// The summaries a late fact makes stale: its hour's and its day's, when they are closed.
pub fn spans_made_stale(entries: &[StatsEntry], now_ms: i64) -> Vec<Span> {
    let mut stale: Vec<Span> = entries
        .iter()
        .flat_map(|e| [Span::hour(e.hour), Span::day(e.hour.div_euclid(24))])
        .filter(|span| span.closed(now_ms))
        .collect();
    stale.sort();
    stale.dedup();
    stale
}

/// A conversation the bot started, in a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Session {
    /// Minutes since the span's first hour.
    minute: u16,
    conversation: u64,
    customer: u64,
}

/// A handover, in a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Intervention {
    minute: u16,
    conversation: u64,
    /// Index into [`Summary::reasons`].
    reason: u8,
    emergency: bool,
}

/// A closed span's facts, compact. Built from the facts ([`Summary::of_facts`]) and read back as
/// facts ([`Summary::to_hours`]), so the report is computed one way only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub span: Span,
    sessions: Vec<Session>,
    interventions: Vec<Intervention>,
    reasons: Vec<String>,
}

const SESSION_BYTES: usize = 18;
const INTERVENTION_BYTES: usize = 12;

/// A stable 64-bit hash of an id (FNV-1a, then a finalizer that spreads similar ids): two ids
/// of a report share one with a probability of about 1 in 10^9 at a million ids.
fn hash(id: &str) -> u64 {
    let h =
        id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl Summary {
    /// The summary of `span` from its hours' facts (facts outside the span are left out).
    pub fn of_facts(span: Span, hours: &[HourStats]) -> Self {
        let mut summary = Self { span, sessions: Vec::new(), interventions: Vec::new(), reasons: Vec::new() };
        let mut reason_index: BTreeMap<String, u8> = BTreeMap::new();
        for hour in hours.iter().filter(|h| (span.first_hour..=span.last_hour()).contains(&h.hour)) {
            let base = ((hour.hour - span.first_hour) * 60) as u16;
            for value in &hour.sessions {
                let Some((minute, rest)) = split_minute(value) else { continue };
                let (conversation, customer) = rest.split_once('|').unwrap_or((rest, ""));
                summary.sessions.push(Session {
                    minute: base + minute,
                    conversation: hash(conversation),
                    customer: hash(customer),
                });
            }
            for value in &hour.interventions {
                let Some((minute, rest)) = split_minute(value) else { continue };
                let mut parts = rest.split('|');
                let conversation = parts.next().unwrap_or("");
                let (_event, reason, flag) = (parts.next(), parts.next().unwrap_or(""), parts.next());
                // Reasons are a short list (the bot's and the product's); past 255 they share one.
                let next = reason_index.len().min(255) as u8;
                let reason = *reason_index.entry(reason.to_string()).or_insert(next);
                summary.interventions.push(Intervention {
                    minute: base + minute,
                    conversation: hash(conversation),
                    reason,
                    emergency: flag == Some("1"),
                });
            }
        }
        let mut reasons: Vec<(u8, String)> = reason_index.into_iter().map(|(r, i)| (i, r)).collect();
        reasons.sort();
        reasons.dedup_by_key(|(i, _)| *i);
        summary.reasons = reasons.into_iter().map(|(_, r)| r).collect();
        summary
    }

    /// One summary of `span` from summaries of spans inside it (a day from its hours).
    pub fn join(span: Span, parts: &[Summary]) -> Self {
        let mut joined = Self { span, sessions: Vec::new(), interventions: Vec::new(), reasons: Vec::new() };
        for part in parts
            .iter()
            .filter(|p| p.span.first_hour >= span.first_hour && p.span.last_hour() <= span.last_hour())
        {
            let shift = ((part.span.first_hour - span.first_hour) * 60) as u16;
            joined.sessions.extend(part.sessions.iter().map(|s| Session { minute: s.minute + shift, ..*s }));
            for i in &part.interventions {
                let name = part.reasons.get(usize::from(i.reason)).map_or("", String::as_str);
                let reason = match joined.reasons.iter().position(|r| r == name) {
                    Some(index) => index,
                    None if joined.reasons.len() < 256 => {
                        joined.reasons.push(name.to_string());
                        joined.reasons.len() - 1
                    }
                    None => 255,
                };
                joined.interventions.push(Intervention {
                    minute: i.minute + shift,
                    reason: reason as u8,
                    ..*i
                });
            }
        }
        joined
    }

    /// The summary as the report reads facts: ids are the hashes, in hexadecimal.
    pub fn to_hours(&self) -> Vec<HourStats> {
        let mut hours: BTreeMap<i64, HourStats> = BTreeMap::new();
        let first_hour = self.span.first_hour;
        fn hour_entry(hours: &mut BTreeMap<i64, HourStats>, hour: i64) -> &mut HourStats {
            hours.entry(hour).or_insert_with(|| HourStats { hour, ..HourStats::default() })
        }
        for s in &self.sessions {
            let value = format!("{:02}|{:016x}|{:016x}", s.minute % 60, s.conversation, s.customer);
            hour_entry(&mut hours, first_hour + i64::from(s.minute / 60)).sessions.push(value);
        }
        for (n, i) in self.interventions.iter().enumerate() {
            let reason = self.reasons.get(usize::from(i.reason)).map_or("", String::as_str);
            let value = format!(
                "{:02}|{:016x}|{n}|{reason}|{}",
                i.minute % 60,
                i.conversation,
                u8::from(i.emergency)
            );
            hour_entry(&mut hours, first_hour + i64::from(i.minute / 60)).interventions.push(value);
        }
        hours.into_values().collect()
    }

    /// The reasons, in the order the encoded interventions index them.
    pub fn reasons(&self) -> &[String] {
        &self.reasons
    }

    /// The sessions and interventions, encoded (little-endian, fixed width), to be stored in
    /// parts of at most [`PART_BYTES`].
    pub fn encode(&self) -> (u32, u32, Vec<u8>) {
        let mut bytes = Vec::with_capacity(
            self.sessions.len() * SESSION_BYTES + self.interventions.len() * INTERVENTION_BYTES,
        );
        for s in &self.sessions {
            bytes.extend_from_slice(&s.minute.to_le_bytes());
            bytes.extend_from_slice(&s.conversation.to_le_bytes());
            bytes.extend_from_slice(&s.customer.to_le_bytes());
        }
        for i in &self.interventions {
            bytes.extend_from_slice(&i.minute.to_le_bytes());
            bytes.extend_from_slice(&i.conversation.to_le_bytes());
            bytes.push(i.reason);
            bytes.push(u8::from(i.emergency));
        }
        (self.sessions.len() as u32, self.interventions.len() as u32, bytes)
    }

    /// The summary [`Summary::encode`] wrote; `None` when the bytes do not match the counts.
    pub fn decode(
        span: Span,
        sessions: u32,
        interventions: u32,
        reasons: Vec<String>,
        bytes: &[u8],
    ) -> Option<Self> {
        let (sessions, interventions) = (sessions as usize, interventions as usize);
        if bytes.len() != sessions * SESSION_BYTES + interventions * INTERVENTION_BYTES {
            return None;
        }
        let (session_bytes, intervention_bytes) = bytes.split_at(sessions * SESSION_BYTES);
        let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
        let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let sessions = session_bytes
            .chunks_exact(SESSION_BYTES)
            .map(|b| Session { minute: u16_at(b, 0), conversation: u64_at(b, 2), customer: u64_at(b, 10) })
            .collect();
        let interventions = intervention_bytes
            .chunks_exact(INTERVENTION_BYTES)
            .map(|b| Intervention {
                minute: u16_at(b, 0),
                conversation: u64_at(b, 2),
                reason: b[10],
                emergency: b[11] == 1,
            })
            .collect();
        Some(Self { span, sessions, interventions, reasons })
    }
}

fn split_minute(value: &str) -> Option<(u16, &str)> {
    let (minute, rest) = value.split_once('|')?;
    let minute: u16 = minute.parse().ok().filter(|m| *m < 60)?;
    Some((minute, rest))
}

/// Facts as a summary reads them back (ids hashed), so that a conversation counts once whether
/// its facts come from a summary or from the open hour.
pub fn facts_as_summarized(hours: &[HourStats]) -> Vec<HourStats> {
    let Some((first, last)) = hours.first().zip(hours.last()).map(|(f, l)| (f.hour, l.hour)) else {
        return Vec::new();
    };
    let span = Span { first_hour: first, hours: last - first + 1 };
    Summary::of_facts(span, hours).to_hours()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::tests::hours_of;
    use crate::analytics::{intervention, report, session, window};

    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn the_plan_reads_closed_days_and_hours_as_summaries_and_the_open_hour_as_facts() {
        let day = 20_000;
        let now = (day * 24 + 10) * HOUR_MS + 20 * 60_000; // 10:20 UTC
        let plan = read_plan((day - 2) * 24 + 5, day * 24 + 23, now);
        let mut expected = vec![Span::day(day - 2), Span::day(day - 1)];
        expected.extend((0..10).map(|h| Span::hour(day * 24 + h)));
        assert_eq!(plan.summaries, expected);
        assert_eq!(plan.facts, Some((day * 24 + 10, day * 24 + 23)));
        // Within the grace after the hour, the last hour is still read as facts.
        let just_after = (day * 24 + 10) * HOUR_MS + 60_000;
        let plan = read_plan(day * 24, day * 24 + 23, just_after);
        assert_eq!(plan.summaries.len(), 9);
        assert_eq!(plan.facts, Some((day * 24 + 9, day * 24 + 23)));
    }

    #[test]
    fn a_late_fact_makes_its_closed_hour_and_day_stale() {
        let day = 20_000;
        let now = (day * 24 + 1) * HOUR_MS + 10 * 60_000;
        let late = session((day * 24 - 3) * HOUR_MS, "t", "u");
        assert_eq!(spans_made_stale(&late, now), vec![Span::day(day - 1), Span::hour(day * 24 - 3)]);
        let current = session(now, "t", "u");
        assert_eq!(spans_made_stale(&current, now), vec![]);
    }

    #[test]
    fn a_roll_up_is_kept_only_once_the_last_late_fact_has_settled() {
        let late = 1_000_000_000;
        let settle = LATE_FACT_SETTLE_SECONDS * 1000;
        assert!(may_keep(Generation::default(), late));
        let generation = Generation { count: 3, late_at_ms: Some(late) };
        assert!(!may_keep(generation, late));
        assert!(!may_keep(generation, late + settle - 1));
        assert!(may_keep(generation, late + settle));
    }

    #[test]
    fn summaries_give_the_report_of_the_facts_exactly() {
        // Two days of traffic: customers coming back, handovers in other hours than their
        // sessions, the window starting mid-hour (UTC+5:30) and intervals crossing hours.
        let w = window(Some("10/04/2020"), Some("11/04/2020"), Some("19800"), 0).unwrap();
        let mut entries = Vec::new();
        for i in 0..3_000_i64 {
            let at = (w.start - 86_400) * 1000 + i * 97_000;
            entries.extend(session(at, &format!("thread-{i}"), &format!("customer-{}", i % 700)));
            if i % 3 == 0 {
                let reason = ["asked_for_agent", "bot_timeout", "emergency_switch"][(i % 9 / 3) as usize];
                entries.push(intervention(
                    at + 2 * HOUR_MS,
                    &format!("thread-{i}"),
                    &format!("e{i}"),
                    reason,
                    i % 9 == 6,
                ));
            }
        }
        let facts = hours_of(entries);
        let (from, to) = w.hours();
        let mut rolled = Vec::new();
        for day in from.div_euclid(24)..=to.div_euclid(24) + 1 {
            let summary = Summary::of_facts(Span::day(day), &facts);
            let (sessions, interventions, bytes) = summary.encode();
            let read =
                Summary::decode(summary.span, sessions, interventions, summary.reasons().to_vec(), &bytes);
            assert_eq!(read.as_ref(), Some(&summary));
            rolled.extend(summary.to_hours());
        }
        let expected = report(w, &facts);
        assert!(expected.aggregate_stats.session_count > 1_000);
        assert!(expected.aggregate_stats.users_count < expected.aggregate_stats.session_count);
        assert_eq!(report(w, &rolled), expected);
        assert_eq!(report(w, &facts_as_summarized(&facts)), expected);
    }

    #[test]
    fn a_day_joined_from_its_hours_is_the_day_rolled_up_from_facts() {
        let day = 18_362;
        let mut entries = Vec::new();
        for i in 0..500_i64 {
            let at = day * 86_400_000 + i * 170_000;
            entries.extend(session(at, &format!("t{i}"), &format!("c{}", i % 50)));
            let reason = if i % 2 == 0 { "bot_timeout" } else { "asked_for_agent" };
            entries.push(intervention(at, &format!("t{i}"), "e", reason, i % 7 == 0));
        }
        let facts = hours_of(entries);
        let hours: Vec<Summary> =
            (0..24).map(|h| Summary::of_facts(Span::hour(day * 24 + h), &facts)).collect();
        let joined = Summary::join(Span::day(day), &hours);
        let w = window(Some("10/04/2020"), Some("10/04/2020"), Some("-3600"), 0).unwrap();
        assert_eq!(report(w, &joined.to_hours()), report(w, &facts));
        assert_eq!(joined.sessions.len(), 500);
    }

    #[test]
    fn bytes_that_do_not_match_their_counts_are_refused() {
        assert_eq!(Summary::decode(Span::hour(1), 1, 0, Vec::new(), &[0; 17]), None);
    }
}
