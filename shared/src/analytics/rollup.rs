//! Closed hours rolled up, so a report's cost stays flat however busy its hours were.
//!
//! A closed UTC day becomes one [`Summary`], and so does each closed hour of today; only the
//! open hour is read as facts (and summarized the same way). A summary's size is bounded
//! whatever its traffic: sessions and interventions are counted per minute (exact), customers
//! and conversations are kept as 64-bit hashes with their minute, every one up to a sample size
//! and a sample by hash beyond it ([`Sample`]), from which distinct customers and the
//! containment rate are estimated. The store keeps a summary in one item, or in two when it
//! holds more than [`PART_BYTES`].
//!
//! A fact recorded late for a closed span (a delivery retried for hours) drops that span's
//! summary ([`spans_made_stale`]) and moves the span to its next [`Generation`], before the
//! fact is written; the next report rolls it up again. A roll-up keeps its summary only when
//! the span's generation is still the one it read before reading the facts (the store checks
//! that in the write), and not while a late fact may still be on its way to the index
//! ([`may_keep`]): a roll-up racing a late fact is never kept without it.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::Interval;
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

/// Customer marks (a customer's sessions, one per minute) a summary keeps for `users_count`:
/// every one up to this many, a sample beyond (see [`Sample`]). 11 bytes each, 360 KB at most.
pub const CUSTOMER_SAMPLE: usize = 32_768;
/// Conversation marks (a start, a handover) a summary keeps for the containment rate, the same
/// way: 90 KB at most.
pub const CONVERSATION_SAMPLE: usize = 8_192;

/// Customer marks a report holds at once over all its summaries (16 bytes each in memory, and
/// about as much again while users are counted): a 92-day report of busy days stays within the
/// analytics function's 128 MB. A 7-day report (about 40 summaries) keeps every summary whole.
pub const REPORT_CUSTOMER_MARKS: usize = 1_500_000;
/// Conversation marks a report holds at once, the same way.
pub const REPORT_CONVERSATION_MARKS: usize = 400_000;

/// Something that happened to a customer or a conversation, in a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Mark {
    /// A 64-bit hash of the customer's or the conversation's id (ordered first: samples are
    /// cut by hash).
    hash: u64,
    /// Minutes since the span's first hour.
    minute: u16,
    /// A conversation's handover (`false`: its start, or a customer's session).
    handover: bool,
}

/// Marks of a span, sampled by hash: in each hour, every mark whose hash is under that hour's
/// bound (`None`: every mark of the hour). A distinct count over some time is the distinct
/// hashes under the smallest bound of the hours it touches, scaled by the share of all hashes
/// under it (a customer is in or out of the sample in every hour alike): exact while none of
/// those hours is bounded, a one-percent estimate with 10,000 ids sampled. Bounds are set per
/// hour, the busiest first (water-filling), so a busy hour leaves its quiet neighbours exact.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sample {
    /// One bound per hour of the span.
    below: Vec<Option<u64>>,
    /// Sorted, without repeats.
    marks: Vec<Mark>,
}

impl Sample {
    /// `marks` under `below`, cut to at most `cap` marks by lowering the busiest hours' bounds.
    fn capped(mut marks: Vec<Mark>, mut below: Vec<Option<u64>>, cap: usize) -> Self {
        let bound_of = |below: &[Option<u64>], m: &Mark| below.get(usize::from(m.minute / 60)).copied();
        marks.retain(|m| bound_of(&below, m).is_some_and(|b| b.is_none_or(|b| m.hash < b)));
        marks.sort_unstable();
        marks.dedup();
        if marks.len() <= cap {
            return Self { below, marks };
        }
        let mut by_hour: Vec<Vec<Mark>> = vec![Vec::new(); below.len()];
        for mark in marks {
            by_hour[usize::from(mark.minute / 60)].push(mark); // each hour's stays sorted by hash
        }
        // The most marks an hour may keep so that all fit: every hour keeps min(its marks, level).
        let fits = |level: usize| by_hour.iter().map(|h| h.len().min(level)).sum::<usize>() <= cap;
        let (mut level, mut too_many) = (0, cap + 1);
        while too_many - level > 1 {
            let middle = (level + too_many) / 2;
            if fits(middle) { level = middle } else { too_many = middle }
        }
        for (hour, hour_marks) in by_hour.iter_mut().enumerate() {
            if hour_marks.len() > level {
                let bound = hour_marks[level].hash;
                hour_marks.truncate(hour_marks.partition_point(|m| m.hash < bound));
                below[hour] = Some(below[hour].map_or(bound, |b| b.min(bound)));
            }
        }
        let mut marks = by_hour.concat();
        marks.sort_unstable();
        Self { below, marks }
    }

    fn empty(hours: i64) -> Self {
        Self { below: vec![None; hours as usize], marks: Vec::new() }
    }
}

/// Interventions of one minute, reason and kind, in a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interventions {
    minute: u16,
    /// Index into [`Summary::reasons`].
    reason: u8,
    emergency: bool,
    count: u32,
}

/// A closed span's statistics, of a size that does not grow with its traffic: sessions and
/// interventions counted per minute (exact), customers and conversations as [`Sample`]s (exact
/// up to [`CUSTOMER_SAMPLE`] and [`CONVERSATION_SAMPLE`] marks, estimated beyond). Built from the
/// facts ([`Summary::of_facts`], also for the open hours: [`of_open_hours`]), so the report is
/// computed one way only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub span: Span,
    /// Conversations started per minute (each at its first session fact), sorted by minute.
    sessions: Vec<(u16, u32)>,
    /// Sorted by minute, reason, kind.
    interventions: Vec<Interventions>,
    reasons: Vec<String>,
    /// A mark per customer and minute with a session.
    customers: Sample,
    /// A mark per conversation's start and per minute it was handed over.
    conversations: Sample,
}

/// A stable 64-bit hash of an id (FNV-1a, then a finalizer that spreads similar ids): two ids
/// of a report share one with a probability of about 1 in 10^9 at a million ids, and the hashes
/// of any set of ids are spread evenly (samples are cut by hash).
fn hash(id: &str) -> u64 {
    let h =
        id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// What an encoded summary starts with (a summary of the earlier, lossless format does not:
/// its second byte, a minute's high byte, is at most 5).
const FORMAT: &[u8; 4] = b"HSv2";

impl Summary {
    fn empty(span: Span) -> Self {
        Self {
            span,
            sessions: Vec::new(),
            interventions: Vec::new(),
            reasons: Vec::new(),
            customers: Sample::empty(span.hours),
            conversations: Sample::empty(span.hours),
        }
    }

    /// The summary of `span` from its hours' facts (facts outside the span are left out).
    pub fn of_facts(span: Span, hours: &[HourStats]) -> Self {
        let mut first_minute: HashMap<u64, u16> = HashMap::new();
        let mut customers = Vec::new();
        let mut conversations = Vec::new();
        let mut interventions: BTreeMap<(u16, u8, bool), u32> = BTreeMap::new();
        let mut reason_index: BTreeMap<String, u8> = BTreeMap::new();
        for hour in hours.iter().filter(|h| (span.first_hour..=span.last_hour()).contains(&h.hour)) {
            let base = ((hour.hour - span.first_hour) * 60) as u16;
            for value in &hour.sessions {
                let Some((minute, rest)) = split_minute(value) else { continue };
                let (conversation, customer) = rest.split_once('|').unwrap_or((rest, ""));
                let minute = base + minute;
                let first = first_minute.entry(hash(conversation)).or_insert(minute);
                *first = (*first).min(minute);
                customers.push(Mark { hash: hash(customer), minute, handover: false });
            }
            for value in &hour.interventions {
                let Some((minute, rest)) = split_minute(value) else { continue };
                let mut parts = rest.split('|');
                let conversation = parts.next().unwrap_or("");
                let (_event, reason, flag) = (parts.next(), parts.next().unwrap_or(""), parts.next());
                // Reasons are a short list (the bot's and the product's); past 255 they share one.
                let next = reason_index.len().min(255) as u8;
                let reason = *reason_index.entry(reason.to_string()).or_insert(next);
                let minute = base + minute;
                *interventions.entry((minute, reason, flag == Some("1"))).or_insert(0) += 1;
                conversations.push(Mark { hash: hash(conversation), minute, handover: true });
            }
        }
        let mut sessions: BTreeMap<u16, u32> = BTreeMap::new();
        for (conversation, minute) in first_minute {
            *sessions.entry(minute).or_insert(0) += 1;
            conversations.push(Mark { hash: conversation, minute, handover: false });
        }
        let mut reasons: Vec<(u8, String)> = reason_index.into_iter().map(|(r, i)| (i, r)).collect();
        reasons.sort();
        reasons.dedup_by_key(|(i, _)| *i);
        let unbounded = vec![None; span.hours as usize];
        Self {
            span,
            sessions: sessions.into_iter().collect(),
            interventions: interventions
                .into_iter()
                .map(|((minute, reason, emergency), count)| Interventions {
                    minute,
                    reason,
                    emergency,
                    count,
                })
                .collect(),
            reasons: reasons.into_iter().map(|(_, r)| r).collect(),
            customers: Sample::capped(customers, unbounded.clone(), CUSTOMER_SAMPLE),
            conversations: Sample::capped(conversations, unbounded, CONVERSATION_SAMPLE),
        }
    }

    /// One summary of `span` from summaries of spans inside it (a day from its hours).
    pub fn join(span: Span, parts: &[Summary]) -> Self {
        let mut joined = Self::empty(span);
        let mut sessions: BTreeMap<u16, u32> = BTreeMap::new();
        let mut interventions: BTreeMap<(u16, u8, bool), u32> = BTreeMap::new();
        let (mut customers, mut conversations) = (Vec::new(), Vec::new());
        for part in parts
            .iter()
            .filter(|p| p.span.first_hour >= span.first_hour && p.span.last_hour() <= span.last_hour())
        {
            let first = (part.span.first_hour - span.first_hour) as usize;
            let shift = (first * 60) as u16;
            for (minute, count) in &part.sessions {
                *sessions.entry(minute + shift).or_insert(0) += count;
            }
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
                *interventions.entry((i.minute + shift, reason as u8, i.emergency)).or_insert(0) += i.count;
            }
            let shifted = |m: &Mark| Mark { minute: m.minute + shift, ..*m };
            customers.extend(part.customers.marks.iter().map(shifted));
            conversations.extend(part.conversations.marks.iter().map(shifted));
            for (hour, below) in part.customers.below.iter().enumerate() {
                joined.customers.below[first + hour] = *below;
            }
            for (hour, below) in part.conversations.below.iter().enumerate() {
                joined.conversations.below[first + hour] = *below;
            }
        }
        joined.sessions = sessions.into_iter().collect();
        joined.interventions = interventions
            .into_iter()
            .map(|((minute, reason, emergency), count)| Interventions { minute, reason, emergency, count })
            .collect();
        joined.customers = Sample::capped(customers, joined.customers.below, CUSTOMER_SAMPLE);
        joined.conversations = Sample::capped(conversations, joined.conversations.below, CONVERSATION_SAMPLE);
        joined
    }

    /// The summary with at most its share of a report's marks, the report reading `summaries` in
    /// all: a sample cut further is still a sample (its bounds only go down), so the report's
    /// memory is bounded whatever its window, at some precision for long windows of busy days.
    pub fn within_report(mut self, summaries: usize) -> Self {
        let share = |report: usize, own: usize| (report / summaries.max(1)).min(own);
        for (sample, cap) in [
            (&mut self.customers, share(REPORT_CUSTOMER_MARKS, CUSTOMER_SAMPLE)),
            (&mut self.conversations, share(REPORT_CONVERSATION_MARKS, CONVERSATION_SAMPLE)),
        ] {
            if sample.marks.len() > cap {
                *sample = Sample::capped(std::mem::take(&mut sample.marks), sample.below.clone(), cap);
            }
        }
        self
    }

    /// The Unix second a minute of the span starts at.
    fn second_of(&self, minute: u16) -> i64 {
        (self.span.first_hour * 60 + i64::from(minute)) * 60
    }

    /// Conversations started in the span.
    pub fn session_count(&self) -> u64 {
        self.sessions.iter().map(|(_, count)| u64::from(*count)).sum()
    }

    /// Handovers in the span.
    pub fn intervention_count(&self) -> u64 {
        self.interventions.iter().map(|i| u64::from(i.count)).sum()
    }

    /// Conversations started inside `interval`.
    pub fn sessions_in(&self, interval: &Interval) -> u64 {
        let inside = self.sessions.iter().filter(|(minute, _)| interval.contains(self.second_of(*minute)));
        inside.map(|(_, count)| u64::from(*count)).sum()
    }

    /// Handovers inside `interval`.
    pub fn interventions_in(&self, interval: &Interval) -> u64 {
        let inside = self.interventions.iter().filter(|i| interval.contains(self.second_of(i.minute)));
        inside.map(|i| u64::from(i.count)).sum()
    }

    /// Adds the handovers inside `interval` to `by_reason`; returns how many the emergency
    /// switch caused.
    pub fn reasons_in(&self, interval: &Interval, by_reason: &mut BTreeMap<String, u64>) -> u64 {
        let mut emergency = 0;
        for i in self.interventions.iter().filter(|i| interval.contains(self.second_of(i.minute))) {
            let reason = self.reasons.get(usize::from(i.reason)).map_or("", String::as_str);
            *by_reason.entry(reason.to_string()).or_insert(0) += u64::from(i.count);
            emergency += if i.emergency { u64::from(i.count) } else { 0 };
        }
        emergency
    }

    /// The reasons, in the order the encoded interventions index them.
    pub fn reasons(&self) -> &[String] {
        &self.reasons
    }

    /// Whether the span's distinct customers or containment are estimated (a sample was cut).
    pub fn sampled(&self) -> bool {
        self.customers.below.iter().chain(&self.conversations.below).any(Option::is_some)
    }

    /// Counts and marks, encoded (little-endian, fixed width, after [`FORMAT`]), to be stored in
    /// parts of at most [`PART_BYTES`]; with the session and intervention totals, which the
    /// decoding checks.
    pub fn encode(&self) -> (u32, u32, Vec<u8>) {
        let mut bytes = Vec::with_capacity(
            64 + self.sessions.len() * 6
                + self.interventions.len() * 8
                + (self.customers.marks.len() + self.conversations.marks.len()) * 11,
        );
        bytes.extend_from_slice(FORMAT);
        bytes.push(self.span.hours as u8);
        bytes.extend_from_slice(&(self.sessions.len() as u32).to_le_bytes());
        for (minute, count) in &self.sessions {
            bytes.extend_from_slice(&minute.to_le_bytes());
            bytes.extend_from_slice(&count.to_le_bytes());
        }
        bytes.extend_from_slice(&(self.interventions.len() as u32).to_le_bytes());
        for i in &self.interventions {
            bytes.extend_from_slice(&i.minute.to_le_bytes());
            bytes.push(i.reason);
            bytes.push(u8::from(i.emergency));
            bytes.extend_from_slice(&i.count.to_le_bytes());
        }
        for sample in [&self.customers, &self.conversations] {
            for below in &sample.below {
                bytes.extend_from_slice(&below.unwrap_or(u64::MAX).to_le_bytes());
            }
            bytes.extend_from_slice(&(sample.marks.len() as u32).to_le_bytes());
            for mark in &sample.marks {
                bytes.extend_from_slice(&mark.hash.to_le_bytes());
                bytes.extend_from_slice(&mark.minute.to_le_bytes());
                bytes.push(u8::from(mark.handover));
            }
        }
        (self.session_count() as u32, self.intervention_count() as u32, bytes)
    }

    /// The summary [`Summary::encode`] wrote; `None` when the bytes are of another format, do
    /// not add up to the totals, or name a minute or a reason the span does not have.
    pub fn decode(
        span: Span,
        sessions: u32,
        interventions: u32,
        reasons: Vec<String>,
        bytes: &[u8],
    ) -> Option<Self> {
        let mut read = Reader(bytes);
        if read.take(4)? != FORMAT || i64::from(read.u8()?) != span.hours {
            return None;
        }
        let minutes = (span.hours * 60) as u16;
        let mut summary = Self::empty(span);
        for _ in 0..read.u32()? {
            summary.sessions.push((read.u16()?, read.u32()?));
        }
        for _ in 0..read.u32()? {
            let (minute, reason, emergency, count) = (read.u16()?, read.u8()?, read.u8()? == 1, read.u32()?);
            summary.interventions.push(Interventions { minute, reason, emergency, count });
        }
        for sample in [&mut summary.customers, &mut summary.conversations] {
            for below in sample.below.iter_mut() {
                *below = Some(read.u64()?).filter(|b| *b != u64::MAX);
            }
            for _ in 0..read.u32()? {
                let mark = Mark { hash: read.u64()?, minute: read.u16()?, handover: read.u8()? == 1 };
                sample.marks.push(mark);
            }
        }
        summary.reasons = reasons;
        let minutes_fit = summary
            .sessions
            .iter()
            .map(|(m, _)| *m)
            .chain(summary.interventions.iter().map(|i| i.minute))
            .chain(summary.customers.marks.iter().chain(&summary.conversations.marks).map(|m| m.minute))
            .all(|m| m < minutes);
        let reasons_fit = summary.interventions.iter().all(|i| usize::from(i.reason) < summary.reasons.len());
        let adds_up = summary.session_count() == u64::from(sessions)
            && summary.intervention_count() == u64::from(interventions);
        (read.0.is_empty() && minutes_fit && reasons_fit && adds_up).then_some(summary)
    }
}

/// Reads fixed-width little-endian numbers off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(taken)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

fn split_minute(value: &str) -> Option<(u16, &str)> {
    let (minute, rest) = value.split_once('|')?;
    let minute: u16 = minute.parse().ok().filter(|m| *m < 60)?;
    Some((minute, rest))
}

/// The open hours' facts as one summary (sampled like a closed span's, so a report costs the
/// same whether its hours are closed or not); `None` without facts.
pub fn of_open_hours(hours: &[HourStats]) -> Option<Summary> {
    let (first, last) = hours.first().zip(hours.last()).map(|(f, l)| (f.hour, l.hour))?;
    Some(Summary::of_facts(Span { first_hour: first, hours: last - first + 1 }, hours))
}

/// The smallest bound of `sample`'s hours that touch `interval`, over the summaries.
fn smallest_bound<'a>(
    samples: impl Iterator<Item = (&'a Summary, &'a Sample)>,
    interval: &Interval,
) -> Option<u64> {
    samples
        .flat_map(|(summary, sample)| {
            sample.below.iter().enumerate().filter_map(move |(hour, below)| {
                let start = (summary.span.first_hour + hour as i64) * 3600;
                below.filter(|_| interval.touches(start, start + 3600))
            })
        })
        .min()
}

/// Distinct hashes counted under `bound`, scaled to all hashes.
fn scaled(distinct: usize, bound: Option<u64>) -> u64 {
    match bound {
        None => distinct as u64,
        Some(bound) => (distinct as f64 * (u64::MAX as f64 / bound.max(1) as f64)).round() as u64,
    }
}

/// Distinct customers with a session inside `interval`: exact while no hour it touches was
/// sampled, estimated from the sampled customers otherwise.
pub fn users_in(summaries: &[Summary], interval: &Interval) -> u64 {
    let bound = smallest_bound(summaries.iter().map(|s| (s, &s.customers)), interval);
    let mut seen = HashSet::new();
    for summary in summaries {
        let marks = summary.customers.marks.iter();
        let inside = marks.filter(|m| interval.contains(summary.second_of(m.minute)));
        seen.extend(inside.filter(|m| bound.is_none_or(|b| m.hash < b)).map(|m| m.hash));
    }
    scaled(seen.len(), bound)
}

/// Conversations started inside `interval` that were not handed over inside it, over those
/// started (`None` without any), from the sampled conversations when it was sampled.
pub fn containment_in(summaries: &[Summary], interval: &Interval) -> Option<f64> {
    let bound = smallest_bound(summaries.iter().map(|s| (s, &s.conversations)), interval);
    let (mut started, mut handed_over) = (HashSet::new(), HashSet::new());
    for summary in summaries {
        let marks = summary.conversations.marks.iter();
        for mark in marks.filter(|m| interval.contains(summary.second_of(m.minute))) {
            if bound.is_none_or(|b| mark.hash < b) {
                if mark.handover {
                    handed_over.insert(mark.hash)
                } else {
                    started.insert(mark.hash)
                };
            }
        }
    }
    let contained = started.iter().filter(|c| !handed_over.contains(*c)).count();
    (!started.is_empty()).then(|| contained as f64 / started.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::tests::{hours_of, reference_report};
    use crate::analytics::{intervention, report, session, window};
    use crate::domain::StatsEntry;

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

    /// The summary as the store keeps it: encoded, then read back.
    fn stored(summary: &Summary) -> Summary {
        let (sessions, interventions, bytes) = summary.encode();
        Summary::decode(summary.span, sessions, interventions, summary.reasons().to_vec(), &bytes)
            .expect("reads back")
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
        let days: Vec<Summary> = (from.div_euclid(24)..=to.div_euclid(24) + 1)
            .map(|day| Summary::of_facts(Span::day(day), &facts))
            .collect();
        for day in &days {
            assert_eq!(&stored(day), day);
            assert!(!day.sampled());
        }
        let expected = reference_report(w, &facts);
        assert!(expected.aggregate_stats.session_count > 1_000);
        assert!(expected.aggregate_stats.users_count < expected.aggregate_stats.session_count);
        assert!(expected.containment_rate.is_some_and(|r| r > 0.0 && r < 1.0));
        assert_eq!(report(w, &days), expected);
        assert_eq!(report(w, &of_open_hours(&facts).into_iter().collect::<Vec<_>>()), expected);
    }

    #[test]
    fn a_day_joined_from_its_hours_gives_the_report_of_the_day_rolled_up_from_facts() {
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
        assert_eq!(report(w, std::slice::from_ref(&joined)), reference_report(w, &facts));
        assert_eq!(
            report(w, &[Summary::of_facts(Span::day(day), &facts)]),
            report(w, std::slice::from_ref(&stored(&joined)))
        );
        assert_eq!((joined.session_count(), joined.intervention_count()), (500, 500));
    }

    /// 100,000 sessions of 40,000 customers in one hour, a quiet day around it.
    fn busy_day(day: i64, busy_sessions: i64) -> Vec<StatsEntry> {
        let mut entries = Vec::new();
        let busy_hour = (day * 24 + 14) * HOUR_MS;
        for i in 0..busy_sessions {
            let at = busy_hour + i * HOUR_MS / busy_sessions;
            entries.extend(session(at, &format!("busy-{i}"), &format!("customer-{}", i % 40_000)));
            if i % 5 == 0 {
                entries.push(intervention(
                    at,
                    &format!("busy-{i}"),
                    &format!("e{i}"),
                    "asked_for_agent",
                    false,
                ));
            }
        }
        for i in 0..2_000_i64 {
            let at = day * 86_400_000 + i * 43_000;
            entries.extend(session(at, &format!("quiet-{i}"), &format!("customer-{}", i % 900)));
        }
        entries
    }

    #[test]
    fn a_busy_day_is_kept_in_a_bounded_size_and_counts_its_customers_within_two_percent() {
        let day = 18_362; // 10/04/2020
        let facts = hours_of(busy_day(day, 100_000));
        let summary = Summary::of_facts(Span::day(day), &facts);
        assert!(summary.sampled());
        assert_eq!(&stored(&summary), &summary);
        let (_, _, bytes) = summary.encode();
        let bound = 64 + 24 * 16 + 1_440 * 14 + (CUSTOMER_SAMPLE + CONVERSATION_SAMPLE) * 11;
        assert!(bytes.len() <= bound, "{} bytes", bytes.len());
        // Twice the traffic, the same size.
        let twice = Summary::of_facts(Span::day(day), &hours_of(busy_day(day, 200_000)));
        assert!(twice.encode().2.len() <= bound);

        // One day at UTC+5:30: intervals of 2 h 40 min, one of them across the busy hour.
        let w = window(Some("10/04/2020"), Some("10/04/2020"), Some("19800"), 0).unwrap();
        let (got, expected) = (report(w, &[summary]), reference_report(w, &facts));
        let within = |got: u64, expected: u64| (got as f64 - expected as f64).abs() <= 0.02 * expected as f64;
        for (got, expected) in std::iter::once((&got.aggregate_stats, &expected.aggregate_stats))
            .chain(got.stats.iter().zip(&expected.stats))
        {
            assert_eq!(
                (got.session_count, got.interventions_count),
                (expected.session_count, expected.interventions_count),
                "sessions and interventions exact"
            );
            assert!(within(got.users_count, expected.users_count), "{got:?} vs {expected:?}");
        }
        // Intervals of quiet hours only are exact.
        let quiet = got.stats.iter().zip(&expected.stats).filter(|(g, _)| g.session_count < 2_000);
        assert!(quiet.clone().count() >= 6);
        for (got, expected) in quiet {
            assert_eq!(got.users_count, expected.users_count);
        }
        assert_eq!(expected.aggregate_stats.users_count, 40_000);
        let (rate, expected_rate) = (got.containment_rate.unwrap(), expected.containment_rate.unwrap());
        assert!((rate - expected_rate).abs() < 0.02, "{rate} vs {expected_rate}");
    }

    #[test]
    fn a_summary_cut_to_its_share_of_a_long_report_keeps_exact_counts_and_estimates_users() {
        let day = 18_362;
        let facts = hours_of(busy_day(day, 100_000));
        let whole = Summary::of_facts(Span::day(day), &facts);
        // A 92-day window and its previous interval: about 200 summaries.
        let cut = whole.clone().within_report(200);
        assert!(cut.customers.marks.len() <= REPORT_CUSTOMER_MARKS / 200);
        assert!(cut.conversations.marks.len() <= REPORT_CONVERSATION_MARKS / 200);
        assert_eq!(whole.clone().within_report(40), whole, "a 7-day report keeps it whole");
        let w = window(Some("10/04/2020"), Some("10/04/2020"), Some("0"), 0).unwrap();
        let (got, expected) = (report(w, &[cut]), reference_report(w, &facts));
        assert_eq!(got.aggregate_stats.session_count, expected.aggregate_stats.session_count);
        assert_eq!(got.interventions_by_reason, expected.interventions_by_reason);
        let users = got.aggregate_stats.users_count as f64;
        assert!((users / 40_000.0 - 1.0).abs() < 0.05, "{users}");
    }

    #[test]
    fn bytes_of_another_format_or_that_do_not_add_up_are_refused() {
        let summary = Summary::of_facts(Span::hour(100), &hours_of(session(100 * HOUR_MS, "t", "u")));
        let (sessions, interventions, bytes) = summary.encode();
        let decode =
            |sessions, bytes: &[u8]| Summary::decode(Span::hour(100), sessions, interventions, vec![], bytes);
        assert_eq!(decode(sessions, &bytes), Some(summary));
        assert_eq!(decode(sessions + 1, &bytes), None, "totals");
        assert_eq!(decode(sessions, &bytes[..bytes.len() - 1]), None, "cut short");
        assert_eq!(Summary::decode(Span::day(4), sessions, interventions, vec![], &bytes), None, "span");
        // The lossless format of before (a minute, two hashes per session): rolled up again.
        assert_eq!(decode(1, &[0; 18]), None);
    }
}
