//! A group's business hours: a weekly schedule in a time zone. Outside them the offline
//! auto-reply says when the team is back, and response-time deadlines do not run.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];
const MINUTES_A_DAY: u32 = 24 * 60;
/// How far ahead the next opening is looked for; a schedule open less often is never open.
const LOOKAHEAD_DAYS: i64 = 14;

/// As stored and sent: `{"time_zone": "Asia/Karachi", "days": {"mon": [["09:00", "18:00"]]}}`;
/// a day not named is closed all day; `24:00` ends a day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// An IANA time zone name.
    pub time_zone: String,
    /// Opening intervals per day (`mon` … `sun`), each `["HH:MM", "HH:MM"]`.
    #[schema(value_type = Object)]
    pub days: std::collections::BTreeMap<String, Vec<[String; 2]>>,
}

/// A checked schedule: intervals in minutes of the day, Monday first.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    tz: Tz,
    days: [Vec<(u32, u32)>; 7],
}

fn minutes(field: &str, text: &str) -> AppResult<u32> {
    if text == "24:00" {
        return Ok(MINUTES_A_DAY);
    }
    NaiveTime::parse_from_str(text, "%H:%M")
        .map(|t| t.hour_minutes())
        .map_err(|_| AppError::invalid(field, format!("{text:?} is not a time of day (HH:MM)")))
}

trait HourMinutes {
    fn hour_minutes(&self) -> u32;
}

impl HourMinutes for NaiveTime {
    fn hour_minutes(&self) -> u32 {
        use chrono::Timelike;
        self.hour() * 60 + self.minute()
    }
}

impl Schedule {
    pub fn parse(hours: &BusinessHours) -> AppResult<Schedule> {
        let tz: Tz = hours.time_zone.parse().map_err(|_| {
            AppError::invalid(
                "business_hours.time_zone",
                format!("{:?} is not an IANA time zone", hours.time_zone),
            )
        })?;
        let mut days: [Vec<(u32, u32)>; 7] = Default::default();
        for (name, intervals) in &hours.days {
            let Some(index) = DAYS.iter().position(|(d, _)| d == name) else {
                return Err(AppError::invalid(
                    "business_hours.days",
                    format!("{name:?} is not a day (mon … sun)"),
                ));
            };
            let field = format!("business_hours.days.{name}");
            let mut parsed = Vec::new();
            for [from, to] in intervals {
                let (from, to) = (minutes(&field, from)?, minutes(&field, to)?);
                if from >= to {
                    return Err(AppError::invalid(
                        &field,
                        "an interval must end after it starts",
                    ));
                }
                parsed.push((from, to));
            }
            parsed.sort_unstable();
            if parsed.windows(2).any(|w| w[0].1 > w[1].0) {
                return Err(AppError::invalid(&field, "intervals must not overlap"));
            }
            days[index] = parsed;
        }
        Ok(Schedule { tz, days })
    }

    pub fn time_zone(&self) -> &str {
        self.tz.name()
    }

    /// The opening intervals of a local date, as UTC instants (a time a DST change skips
    /// starts the interval at the next existing time).
    fn intervals_on(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let index = date.weekday().num_days_from_monday() as usize;
        self.days[index]
            .iter()
            .filter_map(|&(from, to)| {
                Some((
                    self.instant(date, from, false)?,
                    self.instant(date, to, true)?,
                ))
            })
            .filter(|(from, to)| from < to)
            .collect()
    }

    /// A local time as an instant. One that occurs twice (clocks going back) is the earlier
    /// for a start and the later for an end, so the interval keeps its length of opening
    /// time; one a DST change skips is the first that exists after it.
    fn instant(&self, date: NaiveDate, minute: u32, end: bool) -> Option<DateTime<Utc>> {
        let local = date.and_hms_opt(0, 0, 0)? + Duration::minutes(i64::from(minute));
        (0..=120).find_map(|shift| {
            let found = self
                .tz
                .from_local_datetime(&(local + Duration::minutes(shift)));
            let pick = if end {
                found.latest()
            } else {
                found.earliest()
            };
            pick.map(|t| t.with_timezone(&Utc))
        })
    }

    /// Opening intervals that end after `at`, in order, over the look-ahead window.
    fn upcoming(
        &self,
        at: DateTime<Utc>,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let first = at.with_timezone(&self.tz).date_naive() - Duration::days(1);
        (0..=LOOKAHEAD_DAYS)
            .filter_map(move |d| first.checked_add_signed(Duration::days(d)))
            .flat_map(move |date| self.intervals_on(date))
            .filter(move |(_, to)| *to > at)
    }

    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.upcoming(at).next().is_some_and(|(from, _)| from <= at)
    }

    /// When the team is next open: `at` itself when open now; `None` for a schedule with no
    /// opening in the next two weeks.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.upcoming(at).next().map(|(from, _)| from.max(at))
    }

    /// `at` as the team's local date and time, for telling customers when it is back.
    pub fn local(&self, at: DateTime<Utc>) -> (String, String) {
        let local = at.with_timezone(&self.tz);
        (
            local.format("%Y-%m-%d").to_string(),
            local.format("%H:%M").to_string(),
        )
    }

    /// `start` plus `span` of opening time: a deadline that only runs while the team is open.
    /// A schedule never open within the look-ahead counts all time.
    pub fn add_open_time(&self, start: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
        let mut left = span;
        let mut at = start;
        let mut cursor = start;
        loop {
            let mut any = false;
            for (from, to) in self.upcoming(cursor) {
                any = true;
                let begin = from.max(at);
                let room = to - begin;
                if room >= left {
                    return begin + left;
                }
                left -= room;
                at = to;
            }
            if !any {
                return start + span;
            }
            // Past the look-ahead window: continue from where the last interval ended.
            cursor = at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(tz: &str, days: &[(&str, &[(&str, &str)])]) -> Schedule {
        let hours = BusinessHours {
            time_zone: tz.into(),
            days: days
                .iter()
                .map(|(d, i)| {
                    (
                        (*d).to_owned(),
                        i.iter()
                            .map(|(a, b)| [(*a).to_owned(), (*b).to_owned()])
                            .collect(),
                    )
                })
                .collect(),
        };
        Schedule::parse(&hours).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn open_and_next_open_follow_the_local_week() {
        // Karachi is UTC+5; 2026-12-04 is a Friday.
        let s = schedule(
            "Asia/Karachi",
            &[
                ("mon", &[("09:00", "18:00")]),
                ("fri", &[("09:00", "13:00")]),
            ],
        );
        assert!(s.is_open(utc("2026-12-04T05:00:00Z")), "Friday 10:00 local");
        assert!(
            !s.is_open(utc("2026-12-04T09:00:00Z")),
            "Friday 14:00 local"
        );
        assert_eq!(
            s.next_open(utc("2026-12-04T09:00:00Z")),
            Some(utc("2026-12-07T04:00:00Z")),
            "back on Monday 09:00 local"
        );
        assert_eq!(
            s.local(utc("2026-12-07T04:00:00Z")),
            ("2026-12-07".into(), "09:00".into())
        );
    }

    #[test]
    fn deadlines_only_run_during_opening_hours() {
        let s = schedule(
            "UTC",
            &[
                ("mon", &[("09:00", "17:00")]),
                ("tue", &[("09:00", "17:00")]),
            ],
        );
        // 16:50 Monday + 15 minutes of opening time = 09:05 Tuesday.
        assert_eq!(
            s.add_open_time(utc("2026-12-07T16:50:00Z"), Duration::minutes(15)),
            utc("2026-12-08T09:05:00Z")
        );
        // Saturday night: the clock starts Monday 09:00.
        assert_eq!(
            s.add_open_time(utc("2026-12-05T23:00:00Z"), Duration::minutes(5)),
            utc("2026-12-07T09:05:00Z")
        );
        // 16 hours a week: 40 hours of opening time end in the third week, beyond the
        // two-week look-ahead of one search.
        assert_eq!(
            s.add_open_time(utc("2026-12-07T09:00:00Z"), Duration::hours(40)),
            utc("2026-12-21T17:00:00Z")
        );
    }

    #[test]
    fn daylight_saving_changes_keep_the_hours_local() {
        // Berlin, 2026-10-25: clocks go back at 03:00 CEST to 02:00 CET, so Sunday 01:00–04:00
        // holds four hours of opening time.
        let s = schedule("Europe/Berlin", &[("sun", &[("01:00", "04:00")])]);
        assert_eq!(
            s.add_open_time(utc("2026-10-24T22:00:00Z"), Duration::hours(4)),
            utc("2026-10-25T03:00:00Z")
        );
        // 2026-03-29: 02:00 does not exist; an opening at 02:30 starts at 03:00 CEST.
        let s = schedule("Europe/Berlin", &[("sun", &[("02:30", "05:00")])]);
        assert!(!s.is_open(utc("2026-03-29T00:45:00Z")));
        assert!(s.is_open(utc("2026-03-29T01:30:00Z")));
        assert!(!s.is_open(utc("2026-03-29T03:00:00Z")));
    }

    #[test]
    fn a_schedule_never_open_counts_all_time() {
        let s = schedule("UTC", &[]);
        assert!(!s.is_open(utc("2026-12-07T10:00:00Z")));
        assert_eq!(s.next_open(utc("2026-12-07T10:00:00Z")), None);
        assert_eq!(
            s.add_open_time(utc("2026-12-07T10:00:00Z"), Duration::minutes(5)),
            utc("2026-12-07T10:05:00Z")
        );
    }

    #[test]
    fn bad_schedules_are_clear_errors() {
        let bad = |tz: &str, day: &str, from: &str, to: &str| {
            let hours = BusinessHours {
                time_zone: tz.into(),
                days: [(day.to_owned(), vec![[from.to_owned(), to.to_owned()]])].into(),
            };
            Schedule::parse(&hours)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(bad("Mars/Olympus", "mon", "09:00", "10:00").contains("time zone"));
        assert!(bad("UTC", "monday", "09:00", "10:00").contains("not a day"));
        assert!(bad("UTC", "mon", "9am", "10:00").contains("HH:MM"));
        assert!(bad("UTC", "mon", "10:00", "09:00").contains("end after"));
        assert!(
            bad("UTC", "mon", "00:00", "24:00").is_empty(),
            "a whole day is fine"
        );
    }
}
