//! `GET /stats`: the team's figures over a period, for supervisors and admins.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::params;
use crate::db::content::stats::{self, GroupStatsRow, OperatorStatsRow};
use crate::domain::{Channel, ConversationStatus, Presence, Role};
use crate::error::{ApiError, AppError, AppResult};
use crate::http::auth::AuthOperator;
use crate::http::AppState;
use crate::ids::{GroupId, OperatorId};

const DEFAULT_PERIOD_DAYS: i64 = 7;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Start of the period (RFC 3339, inclusive); 7 days before `to` when absent.
    pub from: Option<String>,
    /// End of the period (RFC 3339, exclusive); now when absent.
    pub to: Option<String>,
}

/// The team's figures for `[from, to)`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Conversations created in the period.
    pub conversations: Volume,
    /// From creation to the first operator message, over conversations created in the period
    /// that have been answered.
    pub first_response: Durations,
    /// From creation to resolution, over conversations created in the period that are
    /// resolved.
    pub resolution: Durations,
    /// Ratings of conversations created in the period: their count, mean and CSAT.
    pub csat: Satisfaction,
    /// Every operator (and deleted ones who handled conversations in the period), by name.
    pub operators: Vec<OperatorStats>,
    /// Every group (and deleted ones that handled conversations in the period), the default
    /// group first, then by name.
    pub groups: Vec<GroupStats>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Volume {
    pub total: i64,
    /// By their status now.
    pub by_status: ByStatus,
    pub by_channel: ByChannel,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ByStatus {
    pub pending: i64,
    pub active: i64,
    pub resolved: i64,
    pub closed: i64,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ByChannel {
    pub web: i64,
    pub telegram: i64,
}

/// A distribution of durations in seconds; the percentiles are null when `count` is 0.
#[derive(Debug, Serialize, ToSchema)]
pub struct Durations {
    pub count: i64,
    pub median_secs: Option<f64>,
    pub p90_secs: Option<f64>,
}

/// Customers' ratings (1–5), from the widget and from Telegram alike.
#[derive(Debug, Serialize, ToSchema)]
pub struct Satisfaction {
    /// How many conversations were rated.
    pub count: i64,
    /// Mean rating (1–5); null when none.
    pub average: Option<f64>,
    /// How many ratings were 4 or 5.
    pub satisfied: i64,
    /// CSAT: the share of ratings that are 4 or 5 (`satisfied / count`, 0.0–1.0); null when
    /// none.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub share: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorStats {
    pub id: OperatorId,
    pub name: String,
    pub role: Role,
    /// Presence now.
    pub status: Presence,
    pub deleted: bool,
    /// Active conversations assigned now.
    pub load: i64,
    pub max_concurrent: i32,
    /// Conversations assigned to them that were resolved or closed in the period.
    pub handled: i64,
    /// How many of those were rated, and their mean rating (null when none).
    pub rated: i64,
    pub csat: Option<f64>,
    /// How many of those ratings were 4 or 5.
    pub satisfied: i64,
    /// CSAT: the share of their ratings that are 4 or 5 (0.0–1.0); null when none.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub csat_share: Option<f64>,
}

impl From<OperatorStatsRow> for OperatorStats {
    fn from(row: OperatorStatsRow) -> Self {
        OperatorStats {
            id: row.id,
            name: row.name,
            role: row.role,
            status: row.status,
            deleted: row.deleted,
            load: row.load,
            max_concurrent: row.max_concurrent,
            handled: row.handled,
            rated: row.rated,
            csat: row.csat,
            satisfied: row.satisfied,
            csat_share: row.csat_share,
        }
    }
}

/// A group's figures: the conversations of the group resolved or closed in the period (whoever
/// handled them, or nobody) and their ratings.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupStats {
    pub id: GroupId,
    pub name: String,
    pub deleted: bool,
    /// Conversations of the group resolved or closed in the period.
    pub handled: i64,
    /// How many of those were rated, and their mean rating (1–5; null when none).
    pub rated: i64,
    pub average: Option<f64>,
    /// How many of those ratings were 4 or 5.
    pub satisfied: i64,
    /// CSAT: the share of their ratings that are 4 or 5 (0.0–1.0); null when none.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub csat_share: Option<f64>,
}

impl From<GroupStatsRow> for GroupStats {
    fn from(row: GroupStatsRow) -> Self {
        GroupStats {
            id: row.id,
            name: row.name,
            deleted: row.deleted,
            handled: row.handled,
            rated: row.rated,
            average: row.average,
            satisfied: row.satisfied,
            csat_share: row.csat_share,
        }
    }
}

/// The period asked for, defaulting to the 7 days up to now.
fn period(query: &StatsQuery, now: DateTime<Utc>) -> AppResult<(DateTime<Utc>, DateTime<Utc>)> {
    let to = params::time("to", query.to.as_deref())?.unwrap_or(now);
    let from = params::time("from", query.from.as_deref())?
        .unwrap_or(to - Duration::days(DEFAULT_PERIOD_DAYS));
    if from >= to {
        return Err(AppError::invalid("to", "to must be after from"));
    }
    Ok((from, to))
}

/// `GET /api/v1/stats?from=&to=` (supervisor or admin)
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "statistics",
    params(StatsQuery),
    responses(
        (status = 200, description = "Figures for the period", body = Stats),
        (status = 400, description = "Malformed query string", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Supervisors and admins only", body = ApiError),
        (status = 422, description = "Invalid `from` or `to`, or `to` not after `from`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn stats(
    state: web::Data<AppState>,
    auth: AuthOperator,
    query: web::Query<StatsQuery>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Supervisor)?;
    let (from, to) = period(&query, Utc::now())?;
    let mut conn = state.pool.get().await?;
    let mut volume = Volume::default();
    for row in stats::volume(&mut conn, from, to).await? {
        volume.total += row.n;
        match row.status {
            ConversationStatus::Pending => volume.by_status.pending += row.n,
            ConversationStatus::Active => volume.by_status.active += row.n,
            ConversationStatus::Resolved => volume.by_status.resolved += row.n,
            ConversationStatus::Closed => volume.by_status.closed += row.n,
        }
        match row.channel {
            Channel::Web => volume.by_channel.web += row.n,
            Channel::Telegram => volume.by_channel.telegram += row.n,
        }
    }
    let t = stats::timings(&mut conn, from, to).await?;
    let operators = stats::per_operator(&mut conn, from, to)
        .await?
        .into_iter()
        .map(OperatorStats::from)
        .collect();
    let groups = stats::per_group(&mut conn, from, to)
        .await?
        .into_iter()
        .map(GroupStats::from)
        .collect();
    Ok(HttpResponse::Ok().json(Stats {
        from,
        to,
        conversations: volume,
        first_response: Durations {
            count: t.first_response_count,
            median_secs: t.first_response_median,
            p90_secs: t.first_response_p90,
        },
        resolution: Durations {
            count: t.resolution_count,
            median_secs: t.resolution_median,
            p90_secs: t.resolution_p90,
        },
        csat: Satisfaction {
            count: t.rated,
            average: t.csat,
            satisfied: t.satisfied,
            share: t.csat_share,
        },
        operators,
        groups,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: Option<&str>, to: Option<&str>) -> StatsQuery {
        StatsQuery {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        }
    }

    #[test]
    fn the_period_defaults_to_the_last_week() {
        let now = Utc::now();
        assert_eq!(
            period(&query(None, None), now).unwrap(),
            (now - Duration::days(7), now)
        );
        let to = DateTime::parse_from_rfc3339("2026-01-08T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            period(&query(None, Some("2026-01-08T00:00:00Z")), now).unwrap(),
            (to - Duration::days(7), to)
        );
    }

    #[test]
    fn an_empty_or_reversed_period_is_refused() {
        let now = Utc::now();
        let same = query(Some("2026-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"));
        assert_eq!(period(&same, now).unwrap_err().field(), Some("to"));
        let bad = query(Some("last tuesday"), None);
        assert_eq!(period(&bad, now).unwrap_err().field(), Some("from"));
    }
}
