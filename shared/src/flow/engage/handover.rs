//! Where an Engage Digital handover goes: business hours (the time sheets) first, then the
//! agents' availability (`GET /status`, judged on the source's channel). Answers are cached
//! per container, and a decision that needs no call is made without one.

use std::sync::Arc;

use tracing::{info, warn};

use super::EngageFlow;
use crate::engage::client::StatusQuery;
use crate::engage::{ContentEvent, EngageError};
use crate::flow::decide;
use crate::flow::turn::{EffectError, HandoverChoice};
use crate::hours::TimeSheet;

impl EngageFlow {
    /// The decision when every answer it needs is cached (`None`: a call is needed).
    pub(super) fn known_handover(&self, content: &ContentEvent, reason: &str) -> Option<HandoverChoice> {
        let sheets = if self.hours_apply(reason) { Some(self.time_sheets.get(&())?) } else { None };
        if let Some(choice) = sheets.and_then(|sheets| self.closed_choice(content, &sheets)) {
            return Some(choice);
        }
        let available = if decide::needs_availability_check(&content.source_id, reason, &self.settings.engage)
        {
            Some(self.cached_availability(content)?)
        } else {
            None
        };
        Some(self.open_choice(reason, available))
    }

    /// The decision, reading what is not cached.
    pub(super) async fn decide_handover(
        &self,
        content: &ContentEvent,
        reason: &str,
    ) -> Result<HandoverChoice, EffectError> {
        if self.hours_apply(reason) {
            // Time sheets that cannot be read never stop a handover: the contact center is
            // then taken as open.
            match self.time_sheets.get_or_load((), || self.load_time_sheets()).await {
                Ok(sheets) => {
                    if let Some(choice) = self.closed_choice(content, &sheets) {
                        return Ok(choice);
                    }
                }
                Err(err) => {
                    warn!(error = %err, code = %err.code(), "time sheets not readable now; taken as open")
                }
            }
        }
        let available = if decide::needs_availability_check(&content.source_id, reason, &self.settings.engage)
        {
            let available = self.agents_available(content).await;
            Some(available.map_err(|err| EffectError::Retry(format!("{err} [{}]", err.code())))?)
        } else {
            None
        };
        Ok(self.open_choice(reason, available))
    }

    /// Emergency handovers do not wait for opening hours.
    fn hours_apply(&self, reason: &str) -> bool {
        self.settings.flow.business_hours && reason != decide::EMERGENCY_REASON
    }

    fn open_choice(&self, reason: &str, available: Option<bool>) -> HandoverChoice {
        let decision = decide::handover_decision(available, &self.settings.flow);
        info!(%reason, ?available, ?decision, "handover decided");
        HandoverChoice { decision, closed_message: None }
    }

    /// The choice while the contact center is closed now (`None`: open, or nothing says
    /// otherwise).
    fn closed_choice(&self, content: &ContentEvent, sheets: &[TimeSheet]) -> Option<HandoverChoice> {
        let flow = &self.settings.flow;
        let sheet = crate::hours::sheet_for(sheets, &content.source_id)?;
        let now = jiff::Timestamp::from_millisecond(crate::now_millis()).ok()?;
        if sheet.is_open(now) {
            return None;
        }
        let language = content.language.as_deref();
        let message = match sheet.next_open(now) {
            // No opening in the next two months: nothing honest to say about when.
            None => {
                info!(time_sheet = %sheet.id, "outside business hours, no opening ahead");
                flow.texts.no_agent.text(language).to_string()
            }
            Some(next) => {
                let next_open = crate::hours::render_next_open(&next, now, language.unwrap_or("en"));
                info!(time_sheet = %sheet.id, next_open = %next_open, "outside business hours");
                decide::closed_message(flow, language, &next_open)
            }
        };
        let decision = decide::closed_hours_decision(&content.source_id, flow, &self.settings.engage);
        info!(?decision, policy = ?flow.closed_policy, "contact center closed; handover decided");
        Some(HandoverChoice { decision, closed_message: Some(message) })
    }

    /// The active time sheets, ready to use. A token without the right to read them (403)
    /// turns business hours off for this container, loudly; a sheet that cannot be read is
    /// left out, loudly.
    async fn load_time_sheets(&self) -> Result<Arc<Vec<TimeSheet>>, EngageError> {
        let records = match self.engage.time_sheets().await {
            Ok(records) => records,
            Err(err @ EngageError::Forbidden { .. }) => {
                warn!(error = %err, "time sheets not readable with this token: business hours are off");
                vec![]
            }
            Err(err) => return Err(err),
        };
        let sheets = records
            .iter()
            .filter(|record| record.active)
            .filter_map(|record| match TimeSheet::from_record(record) {
                Ok(sheet) => {
                    if !sheet.unreadable_holidays.is_empty() {
                        warn!(time_sheet = %sheet.id, dates = ?sheet.unreadable_holidays, "holiday dates not understood; ignored");
                    }
                    Some(sheet)
                }
                Err(err) => {
                    warn!(error = %err, "time sheet not usable; its sources are taken as always open");
                    None
                }
            })
            .collect();
        Ok(Arc::new(sheets))
    }

    fn status_query(&self, content: &ContentEvent) -> StatusQuery {
        StatusQuery {
            source_ids: vec![content.source_id.clone()],
            category_ids: vec![self.settings.engage.agent_category_id.clone()],
            spoken_languages: content.language.iter().cloned().collect(),
        }
    }

    /// The availability from cached answers only (`None`: one is missing).
    fn cached_availability(&self, content: &ContentEvent) -> Option<bool> {
        let channels = self.channels.get(&())?;
        let mut query = self.status_query(content);
        loop {
            let statuses = self.agent_status.get(&query)?;
            let available = decide::agents_available(&statuses, &channels, &content.source_id).available;
            if available || query.spoken_languages.is_empty() {
                return Some(available);
            }
            query.spoken_languages.clear();
        }
    }

    /// `GET /status` for the content's source (and language, falling back to any language),
    /// judged against the channel that contains the source. Answers are reused for
    /// `AVAILABILITY_CACHE_SECONDS`.
    async fn agents_available(&self, content: &ContentEvent) -> Result<bool, EngageError> {
        let channels = self.channels.get_or_load((), || self.engage.channels()).await?;
        let mut query = self.status_query(content);
        loop {
            let statuses =
                self.agent_status.get_or_load(query.clone(), || self.engage.agent_statuses(&query)).await?;
            let availability = decide::agents_available(&statuses, &channels, &content.source_id);
            if availability.channel_unknown {
                warn!(source_id = %content.source_id, "no channel lists the source; any channel counts");
            }
            if availability.available || query.spoken_languages.is_empty() {
                return Ok(availability.available);
            }
            // Nobody speaks the language: anybody will do.
            query.spoken_languages.clear();
        }
    }
}
