//! Escalation rules, as admins set them (`/api/v1/settings/escalation`).

use serde::{Deserialize, Serialize};

use super::intent::Keyword;
use crate::domain::Priority;
use crate::error::{AppError, AppResult};

pub const SETTINGS_KEY: &str = "escalation";
const MAX_KEYWORDS: usize = 200;
const MAX_KEYWORD_CHARS: usize = 100;

/// What escalates a conversation by itself (an operator can always escalate by hand).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationRules {
    /// Customer messages in a row without an operator reply that escalate (counted afresh at
    /// each level); 0 turns this trigger off.
    pub unanswered_messages: u32,
    /// Words or phrases in a customer message that escalate (whole words, any case, accents
    /// ignored).
    pub keywords: Vec<String>,
    /// Minutes to the first operator reply for urgent conversations, and for the others;
    /// 0 turns the trigger off. They run only during the group's business hours.
    pub first_response_minutes_urgent: u32,
    pub first_response_minutes: u32,
}

impl Default for EscalationRules {
    fn default() -> Self {
        EscalationRules {
            unanswered_messages: 3,
            keywords: [
                "operator",
                "human",
                "complaint",
                "оператор",
                "жалоба",
                "проблема",
            ]
            .map(str::to_owned)
            .to_vec(),
            first_response_minutes_urgent: 5,
            first_response_minutes: 15,
        }
    }
}

impl EscalationRules {
    pub fn validate(&self) -> AppResult<()> {
        if self.keywords.len() > MAX_KEYWORDS {
            return Err(AppError::invalid(
                "keywords",
                format!("at most {MAX_KEYWORDS} keywords"),
            ));
        }
        for k in &self.keywords {
            crate::validate::text("keywords", k)?;
            if k.chars().count() > MAX_KEYWORD_CHARS || Keyword::new(k).is_none() {
                return Err(AppError::invalid(
                    "keywords",
                    format!("each keyword must have a letter or digit and at most {MAX_KEYWORD_CHARS} characters"),
                ));
            }
        }
        let week = 7 * 24 * 60;
        if self.first_response_minutes > week || self.first_response_minutes_urgent > week {
            return Err(AppError::invalid(
                "first_response_minutes",
                "at most a week (10080 minutes)",
            ));
        }
        if self.unanswered_messages > 1000 {
            return Err(AppError::invalid("unanswered_messages", "at most 1000"));
        }
        Ok(())
    }

    pub fn keywords(&self) -> Vec<Keyword> {
        self.keywords
            .iter()
            .filter_map(|k| Keyword::new(k))
            .collect()
    }

    /// How long a conversation of `priority` may wait for its first reply; `None`: no limit.
    pub fn first_response(&self, priority: Priority) -> Option<chrono::Duration> {
        let minutes = match priority {
            Priority::Urgent => self.first_response_minutes_urgent,
            _ => self.first_response_minutes,
        };
        (minutes > 0).then(|| chrono::Duration::minutes(i64::from(minutes)))
    }
}

/// What escalated a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Unanswered,
    Keyword,
    FirstResponse,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Unanswered => "unanswered",
            Trigger::Keyword => "keyword",
            Trigger::FirstResponse => "first_response",
            Trigger::Manual => "manual",
        }
    }

    /// Why, in the words of the system event operators see.
    pub fn reason(self, rules: &EscalationRules) -> String {
        match self {
            Trigger::Unanswered => format!(
                "{} customer messages without a reply",
                rules.unanswered_messages
            ),
            Trigger::Keyword => "the customer asked for it".to_owned(),
            Trigger::FirstResponse => "no first reply in time".to_owned(),
            Trigger::Manual => "by an operator".to_owned(),
        }
    }
}
