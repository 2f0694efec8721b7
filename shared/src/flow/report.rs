//! The hours an analytics report reads: summaries of the closed days and hours (rolled up here
//! the first time a report needs them, then read as one item each), facts of the open hour.

use crate::analytics::rollup::{self, Span, Summary};
use crate::store::{HourStats, StatsStore, StoreError};

/// The statistics of hours `from..=to`, as [`crate::analytics::report`] reads them.
pub async fn hours_for_report(
    store: &dyn StatsStore,
    from_hour: i64,
    to_hour: i64,
    now_ms: i64,
) -> Result<Vec<HourStats>, StoreError> {
    let plan = rollup::read_plan(from_hour, to_hour, now_ms);
    let mut summaries = store.read_summaries(&plan.summaries).await?;
    for span in missing(&plan.summaries, &summaries) {
        let summary =
            if span.hours == 1 { hour_from_facts(store, span).await? } else { day(store, span).await? };
        keep(store, &summary).await;
        summaries.push(summary);
    }
    let mut hours: Vec<HourStats> = summaries.iter().flat_map(Summary::to_hours).collect();
    if let Some((first, last)) = plan.facts {
        hours.extend(rollup::facts_as_summarized(&store.read_stats(first, last).await?));
    }
    Ok(hours)
}

fn missing(wanted: &[Span], found: &[Summary]) -> Vec<Span> {
    wanted.iter().filter(|span| !found.iter().any(|s| s.span == **span)).copied().collect()
}

async fn hour_from_facts(store: &dyn StatsStore, hour: Span) -> Result<Summary, StoreError> {
    Ok(Summary::of_facts(hour, &store.read_stats(hour.first_hour, hour.first_hour).await?))
}

/// A day from its hours' summaries: an hour's facts are read once, whatever the day's traffic.
async fn day(store: &dyn StatsStore, day: Span) -> Result<Summary, StoreError> {
    let hours: Vec<Span> = (0..24).map(|h| Span::hour(day.first_hour + h)).collect();
    let mut found = store.read_summaries(&hours).await?;
    for hour in missing(&hours, &found) {
        let summary = hour_from_facts(store, hour).await?;
        keep(store, &summary).await;
        found.push(summary);
    }
    Ok(Summary::join(day, &found))
}

/// Stores a summary; when that fails the report still answers (and the next one rolls it up).
async fn keep(store: &dyn StatsStore, summary: &Summary) {
    if let Err(err) = store.write_summary(summary).await {
        tracing::warn!(error = %err, first_hour = summary.span.first_hour, "a statistics summary was not stored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::{intervention, session};
    use crate::store::StatsEntry;
    use crate::store::memory::MemoryStore;

    /// A store whose summaries cannot be written (throttled, refused): everything else works.
    struct SummariesRefused(MemoryStore);

    #[async_trait::async_trait]
    impl StatsStore for SummariesRefused {
        async fn record_stats(&self, entries: &[StatsEntry]) -> Result<(), StoreError> {
            self.0.record_stats(entries).await
        }
        async fn read_stats(&self, from: i64, to: i64) -> Result<Vec<HourStats>, StoreError> {
            self.0.read_stats(from, to).await
        }
        async fn read_summaries(&self, spans: &[Span]) -> Result<Vec<Summary>, StoreError> {
            self.0.read_summaries(spans).await
        }
        async fn write_summary(&self, _: &Summary) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("statistics writes were throttled".into()))
        }
    }

    #[tokio::test]
    async fn a_summary_that_cannot_be_stored_still_gives_the_same_report() {
        let (healthy, refusing) = (MemoryStore::new(), SummariesRefused(MemoryStore::new()));
        let day = crate::time::days_from_civil(2020, 4, 10);
        for i in 0..300_i64 {
            let at = (day * 86_400 + i * 288) * 1000;
            let mut facts = session(at, &format!("t{i}"), &format!("u{}", i % 25));
            facts.push(intervention(at, &format!("t{i}"), &format!("e{i}"), "asked_for_agent", false));
            healthy.record_stats(&facts).await.unwrap();
            refusing.record_stats(&facts).await.unwrap();
        }
        let (from, to, now) = (day * 24 - 5, day * 24 + 30, (day + 3) * 86_400 * 1000);
        let expected = hours_for_report(&healthy, from, to, now).await.unwrap();
        assert!(!healthy.read_summaries(&[Span::day(day)]).await.unwrap().is_empty());

        for _ in 0..2 {
            let hours = hours_for_report(&refusing, from, to, now).await.unwrap();
            assert_eq!(hours, expected, "the same report, from the facts, each time");
        }
        assert!(refusing.read_summaries(&[Span::day(day)]).await.unwrap().is_empty(), "nothing kept");
    }
}
