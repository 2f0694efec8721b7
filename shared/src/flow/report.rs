//! The hours an analytics report reads: summaries of the closed days and hours (rolled up here
//! the first time a report needs them, then read as one item each), facts of the open hours
//! (summarized the same way).

use crate::analytics::rollup::{self, Generation, Span, Summary};
use crate::store::{StatsStore, StoreError};

/// Summaries read at once: 20 busy days' are about 9 MB, well under a `BatchGetItem`'s 16 MB.
const SPANS_PER_READ: usize = 20;

/// The statistics of hours `from..=to` as summaries, as [`crate::analytics::report`] reads
/// them, each cut to its share of the report's memory ([`Summary::within_report`]).
pub async fn summaries_for_report(
    store: &dyn StatsStore,
    from_hour: i64,
    to_hour: i64,
    now_ms: i64,
) -> Result<Vec<Summary>, StoreError> {
    let plan = rollup::read_plan(from_hour, to_hour, now_ms);
    let count = plan.summaries.len() + 1;
    let (mut summaries, _) = read_or_roll_up(store, &plan.summaries, now_ms, count, None).await?;
    if let Some((first, last)) = plan.facts {
        let open = rollup::of_open_hours(&store.read_stats(first, last).await?);
        summaries.extend(open.map(|s| s.within_report(count)));
    }
    Ok(summaries)
}

/// Days back the hourly roll-up looks for closed spans without a summary: a 7-day report and
/// its previous interval (after a deploy that changed the summaries' format, or a late fact,
/// these are rolled up again ahead of the reports). Older ones are rolled up by the report that
/// needs them.
pub const ROLL_UP_DAYS: i64 = 15;

/// Rolls up the spans closed in the last [`ROLL_UP_DAYS`] (UTC) that have no summary yet, the
/// newest first, starting none after `deadline`: run by the analytics function's hourly
/// schedule, so that a report finds them kept instead of reading a busy day's facts within its
/// own time. Returns how many it rolled up.
pub async fn roll_up_closed(
    store: &dyn StatsStore,
    now_ms: i64,
    deadline: tokio::time::Instant,
) -> Result<usize, StoreError> {
    let this_hour = now_ms.div_euclid(3_600_000);
    let mut spans =
        rollup::read_plan((this_hour.div_euclid(24) - ROLL_UP_DAYS) * 24, this_hour, now_ms).summaries;
    spans.reverse();
    // As one summary's report: none is cut (they are dropped as soon as kept).
    let (_, rolled_up) = read_or_roll_up(store, &spans, now_ms, 1, Some(deadline)).await?;
    Ok(rolled_up)
}

/// The summaries of `spans`, read a few at a time; those not kept yet are rolled up from the
/// facts and kept (none started after `deadline`, when given). Each is cut to its share of a
/// report of `report_size` summaries. Returns them and how many were rolled up.
async fn read_or_roll_up(
    store: &dyn StatsStore,
    spans: &[Span],
    now_ms: i64,
    report_size: usize,
    deadline: Option<tokio::time::Instant>,
) -> Result<(Vec<Summary>, usize), StoreError> {
    let mut summaries = Vec::with_capacity(spans.len() + 1);
    let mut rolled_up = 0;
    for spans in spans.chunks(SPANS_PER_READ) {
        let read = store.read_summaries(spans).await?;
        summaries.extend(read.found.into_iter().map(|s| s.within_report(report_size)));
        for (span, generation) in read.missing {
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Ok((summaries, rolled_up));
            }
            let summary = if span.hours == 1 {
                hour_from_facts(store, span).await?
            } else {
                day(store, span, now_ms).await?
            };
            keep(store, &summary, generation, now_ms).await;
            summaries.push(summary.within_report(report_size));
            rolled_up += 1;
        }
    }
    Ok((summaries, rolled_up))
}

async fn hour_from_facts(store: &dyn StatsStore, hour: Span) -> Result<Summary, StoreError> {
    Ok(Summary::of_facts(hour, &store.read_stats(hour.first_hour, hour.first_hour).await?))
}

/// A day from its hours' summaries: an hour's facts are read once, whatever the day's traffic.
async fn day(store: &dyn StatsStore, day: Span, now_ms: i64) -> Result<Summary, StoreError> {
    let hours: Vec<Span> = (0..24).map(|h| Span::hour(day.first_hour + h)).collect();
    let read = store.read_summaries(&hours).await?;
    let mut found = read.found;
    for (hour, generation) in read.missing {
        let summary = hour_from_facts(store, hour).await?;
        keep(store, &summary, generation, now_ms).await;
        found.push(summary);
    }
    Ok(Summary::join(day, &found))
}

/// Stores a summary rolled up after `generation` was read; when that is refused (a late fact
/// came in meanwhile, or may still be on its way) or fails, the report still answers and the
/// next one rolls it up again.
async fn keep(store: &dyn StatsStore, summary: &Summary, generation: Generation, now_ms: i64) {
    let span = summary.span;
    if !rollup::may_keep(generation, now_ms) {
        tracing::info!(
            first_hour = span.first_hour,
            hours = span.hours,
            "summary_not_kept_late_fact_settling"
        );
        return;
    }
    match store.write_summary(summary, generation).await {
        Ok(()) => {}
        Err(err @ StoreError::SpanChanged { .. }) => tracing::info!(error = %err, "summary_not_kept"),
        Err(err) => {
            tracing::warn!(error = %err, first_hour = span.first_hour, "a statistics summary was not stored")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::{intervention, session};
    use crate::store::memory::MemoryStore;
    use crate::store::{HourStats, StatsEntry, SummariesRead};

    /// What a test store does on each statistics call; each defaults to the memory store's own.
    #[async_trait::async_trait]
    trait Hooks: Send + Sync {
        async fn read_stats(
            &self,
            store: &MemoryStore,
            from: i64,
            to: i64,
        ) -> Result<Vec<HourStats>, StoreError> {
            store.read_stats(from, to).await
        }
        async fn read_summaries(
            &self,
            store: &MemoryStore,
            spans: &[Span],
        ) -> Result<SummariesRead, StoreError> {
            store.read_summaries(spans).await
        }
        async fn write_summary(
            &self,
            store: &MemoryStore,
            summary: &Summary,
            read: Generation,
        ) -> Result<(), StoreError> {
            store.write_summary(summary, read).await
        }
    }

    /// A memory store whose reads and writes of statistics go through `hooks` (the faults and
    /// the counting these tests need); facts are recorded as the store records them.
    struct Hooked<H> {
        store: MemoryStore,
        hooks: H,
    }

    fn hooked<H: Hooks>(hooks: H) -> Hooked<H> {
        Hooked { store: MemoryStore::new(), hooks }
    }

    #[async_trait::async_trait]
    impl<H: Hooks> StatsStore for Hooked<H> {
        async fn record_stats(&self, entries: &[StatsEntry], now_ms: i64) -> Result<(), StoreError> {
            self.store.record_stats(entries, now_ms).await
        }
        async fn read_stats(&self, from: i64, to: i64) -> Result<Vec<HourStats>, StoreError> {
            self.hooks.read_stats(&self.store, from, to).await
        }
        async fn read_summaries(&self, spans: &[Span]) -> Result<SummariesRead, StoreError> {
            self.hooks.read_summaries(&self.store, spans).await
        }
        async fn write_summary(&self, summary: &Summary, read: Generation) -> Result<(), StoreError> {
            self.hooks.write_summary(&self.store, summary, read).await
        }
    }

    /// Summaries cannot be written (throttled, refused): everything else works.
    struct SummariesRefused;

    #[async_trait::async_trait]
    impl Hooks for SummariesRefused {
        async fn write_summary(&self, _: &MemoryStore, _: &Summary, _: Generation) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("statistics writes were throttled".into()))
        }
    }

    #[tokio::test]
    async fn a_summary_that_cannot_be_stored_still_gives_the_same_report() {
        let (healthy, refusing) = (MemoryStore::new(), hooked(SummariesRefused));
        let day = crate::time::days_from_civil(2020, 4, 10);
        for i in 0..300_i64 {
            let at = (day * 86_400 + i * 288) * 1000;
            let mut facts = session(at, &format!("t{i}"), &format!("u{}", i % 25));
            facts.push(intervention(at, &format!("t{i}"), &format!("e{i}"), "asked_for_agent", false));
            healthy.record_stats(&facts, at).await.unwrap();
            refusing.record_stats(&facts, at).await.unwrap();
        }
        let (from, to, now) = (day * 24 - 5, day * 24 + 30, (day + 3) * 86_400 * 1000);
        let expected = summaries_for_report(&healthy, from, to, now).await.unwrap();
        assert!(!healthy.read_summaries(&[Span::day(day)]).await.unwrap().found.is_empty());

        for _ in 0..2 {
            let hours = summaries_for_report(&refusing, from, to, now).await.unwrap();
            assert_eq!(hours, expected, "the same report, from the facts, each time");
        }
        assert!(refusing.read_summaries(&[Span::day(day)]).await.unwrap().found.is_empty(), "nothing kept");
    }

    /// A late fact lands while a roll-up reads the facts (right after its first read): the
    /// roll-up's summary, made without it, must not be kept.
    struct LateFactDuringRollUp(std::sync::Mutex<Option<(Vec<StatsEntry>, i64)>>);

    #[async_trait::async_trait]
    impl Hooks for LateFactDuringRollUp {
        async fn read_stats(
            &self,
            store: &MemoryStore,
            from: i64,
            to: i64,
        ) -> Result<Vec<HourStats>, StoreError> {
            let hours = store.read_stats(from, to).await?;
            let late = self.0.lock().unwrap().take();
            if let Some((fact, at)) = late {
                store.record_stats(&fact, at).await?;
            }
            Ok(hours)
        }
    }

    fn sessions(summaries: &[Summary]) -> u64 {
        summaries.iter().map(Summary::session_count).sum()
    }

    #[tokio::test]
    async fn a_roll_up_that_raced_a_late_fact_is_not_kept_and_the_next_report_counts_it() {
        let day = crate::time::days_from_civil(2020, 4, 10);
        let (from, to, now) = (day * 24, day * 24 + 23, (day + 3) * 86_400 * 1000);
        // Late into the day's first hour, the first the roll-up reads.
        let late = session((day * 86_400 + 600) * 1000, "late", "u-late");
        let store = hooked(LateFactDuringRollUp(Some((late, now)).into()));
        for i in 0..100_i64 {
            let at = (day * 86_400 + i * 864) * 1000;
            store.record_stats(&session(at, &format!("t{i}"), &format!("u{i}")), at).await.unwrap();
        }

        // The first report rolls the day up from facts read before the late fact came.
        assert_eq!(sessions(&summaries_for_report(&store, from, to, now).await.unwrap()), 100);
        let read = store.read_summaries(&[Span::day(day), Span::hour(day * 24)]).await.unwrap();
        assert!(read.found.is_empty(), "neither the day nor the late fact's hour kept without it");
        assert!(read.missing.iter().all(|(_, generation)| generation.count == 1), "{read:?}");

        // Within the late fact's settling time the reports count it, from the facts again.
        assert_eq!(sessions(&summaries_for_report(&store, from, to, now + 1_000).await.unwrap()), 101);
        assert!(store.read_summaries(&[Span::day(day)]).await.unwrap().found.is_empty());
        // After it, the roll-up is kept and read back as it was made.
        let settled = now + rollup::LATE_FACT_SETTLE_SECONDS * 1000;
        let rolled_up = summaries_for_report(&store, from, to, settled).await.unwrap();
        assert_eq!(sessions(&rolled_up), 101);
        assert_eq!(store.read_summaries(&[Span::day(day)]).await.unwrap().found.len(), 1);
        assert_eq!(summaries_for_report(&store, from, to, settled).await.unwrap(), rolled_up);
    }

    /// Summary writes do their work and then fail (the answer lost, a 5xx).
    struct SummaryAnswerLost;

    #[async_trait::async_trait]
    impl Hooks for SummaryAnswerLost {
        async fn write_summary(
            &self,
            store: &MemoryStore,
            summary: &Summary,
            read: Generation,
        ) -> Result<(), StoreError> {
            store.write_summary(summary, read).await?;
            Err(StoreError::Unavailable("the answer was lost".into()))
        }
    }

    #[tokio::test]
    async fn a_summary_kept_whose_answer_was_lost_is_read_back_as_written() {
        let store = hooked(SummaryAnswerLost);
        let day = crate::time::days_from_civil(2020, 4, 10);
        for i in 0..200_i64 {
            let at = (day * 86_400 + i * 432) * 1000;
            store.record_stats(&session(at, &format!("t{i}"), &format!("u{}", i % 30)), at).await.unwrap();
        }
        let (from, to, now) = (day * 24, day * 24 + 23, (day + 3) * 86_400 * 1000);
        let first = summaries_for_report(&store, from, to, now).await.unwrap();
        assert_eq!(sessions(&first), 200);
        // The next report reads the summary the lost answer had kept: the same numbers.
        assert_eq!(store.read_summaries(&[Span::day(day)]).await.unwrap().found.len(), 1);
        assert_eq!(summaries_for_report(&store, from, to, now).await.unwrap(), first);
    }

    /// Notes the most summaries one read asks for.
    struct ReadsCounted(std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl Hooks for ReadsCounted {
        async fn read_summaries(
            &self,
            store: &MemoryStore,
            spans: &[Span],
        ) -> Result<SummariesRead, StoreError> {
            self.0.fetch_max(spans.len(), std::sync::atomic::Ordering::Relaxed);
            store.read_summaries(spans).await
        }
    }

    #[tokio::test]
    async fn a_long_window_is_read_a_few_summaries_at_a_time_with_every_day_counted() {
        let store = hooked(ReadsCounted(0.into()));
        let first_day = crate::time::days_from_civil(2020, 1, 1);
        for i in 0..184_i64 {
            let at = ((first_day + i) * 86_400 + 3_600) * 1000;
            store.record_stats(&session(at, &format!("t{i}"), &format!("u{}", i % 10)), at).await.unwrap();
        }
        let w = crate::analytics::window(Some("02/04/2020"), Some("02/07/2020"), None, 0).unwrap();
        let (from, to) = w.hours();
        let now = (first_day + 200) * 86_400 * 1000;
        let summaries = summaries_for_report(&store, from, to, now).await.unwrap();
        assert_eq!(summaries.len(), 184, "a summary per day of the window and its previous interval");
        // 20 spans at a time; a day rolled up reads its 24 hours' summaries at once.
        assert_eq!(store.hooks.0.load(std::sync::atomic::Ordering::Relaxed), 24);
        // Once kept, the days are read 20 at a time.
        store.hooks.0.store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(summaries_for_report(&store, from, to, now).await.unwrap(), summaries);
        assert_eq!(store.hooks.0.load(std::sync::atomic::Ordering::Relaxed), SPANS_PER_READ);
        let report = crate::analytics::report(w, &summaries);
        assert_eq!(
            (report.aggregate_stats.session_count, report.previous_interval_stats.session_count),
            (92, 92)
        );
        assert_eq!(report.aggregate_stats.users_count, 10);
    }

    #[tokio::test]
    async fn the_schedule_rolls_up_what_closed_in_the_last_fifteen_days_once() {
        let store = MemoryStore::new();
        let day = crate::time::days_from_civil(2020, 4, 10);
        // 02:20 UTC: the last 15 days and today's first two hours are closed.
        let now = (day * 86_400 + 2 * 3_600 + 20 * 60) * 1000;
        let hours_ago = [20 * 24, 10 * 24, 3, 2, 1, 0];
        for back in hours_ago {
            let at = (day * 86_400 + 2 * 3_600 - back * 3_600 + 600) * 1000;
            store.record_stats(&session(at, &format!("t{back}"), "u"), at).await.unwrap();
        }
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        // Out of time before it starts: nothing.
        assert_eq!(roll_up_closed(&store, now, tokio::time::Instant::now()).await.unwrap(), 0);
        // 15 days and today's 00:00 and 01:00.
        assert_eq!(roll_up_closed(&store, now, far).await.unwrap(), 17);
        let kept = store
            .read_summaries(&[
                Span::day(day - 10),
                Span::day(day - 1),
                Span::hour(day * 24),
                Span::hour(day * 24 + 1),
            ])
            .await
            .unwrap();
        assert_eq!((kept.found.len(), kept.missing.len()), (4, 0));
        assert_eq!(sessions(&kept.found), 4);
        // Older days are left to the reports, the open hour too; the next run has nothing to do.
        assert!(store.read_summaries(&[Span::day(day - 20)]).await.unwrap().found.is_empty());
        assert!(store.read_summaries(&[Span::hour(day * 24 + 2)]).await.unwrap().found.is_empty());
        assert_eq!(roll_up_closed(&store, now + 60_000, far).await.unwrap(), 0);
    }

    /// Fact reads take 10 s (of a paused clock).
    struct SlowFacts;

    #[async_trait::async_trait]
    impl Hooks for SlowFacts {
        async fn read_stats(
            &self,
            store: &MemoryStore,
            from: i64,
            to: i64,
        ) -> Result<Vec<HourStats>, StoreError> {
            tokio::time::advance(std::time::Duration::from_secs(10)).await;
            store.read_stats(from, to).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_schedule_short_of_time_rolls_up_the_newest_spans_first_and_starts_none_late() {
        let store = hooked(SlowFacts);
        let day = crate::time::days_from_civil(2020, 4, 10);
        let now = (day * 86_400 + 2 * 3_600 + 20 * 60) * 1000;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        // 01:00 starts at once, 00:00 at 10 s; yesterday would start at 20 s, past the deadline.
        assert_eq!(roll_up_closed(&store, now, deadline).await.unwrap(), 2);
        let read = store
            .read_summaries(&[Span::hour(day * 24 + 1), Span::hour(day * 24), Span::day(day - 1)])
            .await
            .unwrap();
        assert_eq!(
            read.found.iter().map(|s| s.span).collect::<Vec<_>>(),
            vec![Span::hour(day * 24 + 1), Span::hour(day * 24)]
        );
        assert_eq!(read.missing.iter().map(|(span, _)| *span).collect::<Vec<_>>(), vec![Span::day(day - 1)]);
    }

    #[tokio::test]
    async fn a_scheduled_roll_up_whose_answer_was_lost_is_not_redone_by_the_next_run() {
        let store = hooked(SummaryAnswerLost);
        let day = crate::time::days_from_civil(2020, 4, 10);
        let now = (day * 86_400 + 2 * 3_600 + 20 * 60) * 1000;
        for back in [30, 3, 2, 1] {
            let at = (day * 86_400 + 2 * 3_600 - back * 3_600 + 600) * 1000;
            store.record_stats(&session(at, &format!("t{back}"), "u"), at).await.unwrap();
        }
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        // Every write did its work, every answer was lost: the run goes on and ends well.
        assert_eq!(roll_up_closed(&store, now, far).await.unwrap(), 17);
        // The schedule's next run, an hour later: only the hour closed since.
        let hour_later = now + 3_600_000;
        assert_eq!(roll_up_closed(&store, hour_later, far).await.unwrap(), 1);
        let (from, to) = (day * 24 - 48, day * 24 + 3);
        let read = summaries_for_report(&store, from, to, hour_later).await.unwrap();
        assert_eq!(sessions(&read), 4);
    }
}
