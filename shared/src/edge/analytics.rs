//! `GET /analytics/agent_intervention.json` (CONTRACT C11), Avaamo's shape.

use http::{Method, StatusCode};

use super::{ApiRequest, ApiResponse, error_response, header_value, json_response, query_pairs, query_value};
use crate::analytics::{self, QueryError};
use crate::secret::Secret;
use crate::store::StatsStore;

pub async fn handle(store: &dyn StatsStore, access_token: &Secret, request: ApiRequest) -> ApiResponse {
    if request.method() != Method::GET {
        return error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use GET");
    }
    let authorized = header_value(&request, "access-token").is_some_and(|t| access_token.matches(t));
    if !authorized {
        tracing::warn!("analytics refused: wrong or missing Access-Token");
        return error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid Access-Token header is required",
        );
    }
    let query = query_pairs(&request);
    let window = analytics::window(
        query_value(&query, "from_date"),
        query_value(&query, "to_date"),
        query_value(&query, "utc_offset"),
        crate::now_millis(),
    );
    let window = match window {
        Ok(window) => window,
        // Avaamo's exact answer for this case; a window past the cap is refused the same way.
        Err(err @ (QueryError::ToBeforeFrom | QueryError::TooLong)) => {
            return json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::json!({ "error": err.to_string() }),
            );
        }
        Err(err) => return error_response(StatusCode::BAD_REQUEST, "bad_request", &err.to_string()),
    };
    let (from_hour, to_hour) = window.hours();
    match crate::flow::report::summaries_for_report(store, from_hour, to_hour, crate::now_millis()).await {
        Ok(summaries) => json_response(
            StatusCode::OK,
            serde_json::to_value(analytics::report(window, &summaries)).expect("plain data"),
        ),
        Err(err) => super::retry_later("the statistics could not be read", &err),
    }
}

/// No span's roll-up starts this close to the function's Timeout (a busy day's takes a few
/// seconds); the next hour's run continues.
pub const ROLL_UP_STOP_MARGIN: std::time::Duration = std::time::Duration::from_secs(4);

/// The hourly schedule: rolls up what closed in the last days, within `time_left`. A failure is
/// logged; the next run, or the next report, rolls it up (summaries are kept only whole, at
/// their span's generation).
pub async fn roll_up(store: &dyn StatsStore, time_left: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + time_left.saturating_sub(ROLL_UP_STOP_MARGIN);
    match crate::flow::report::roll_up_closed(store, crate::now_millis(), deadline).await {
        Ok(spans) => tracing::info!(spans, "statistics_rolled_up"),
        Err(err) => tracing::warn!(error = %err, "statistics_not_rolled_up"),
    }
}
