//! The vocabulary of the product (statuses, priorities, roles, event kinds) and how each is
//! written to the database and to the wire.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{SmallInt, Text};
use serde::{Deserialize, Serialize};

/// A string that names no variant of the enum it was parsed as.
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} '{value}'")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
}

/// An enum stored as TEXT and sent as a lowercase string.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident : $kind:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, AsExpression, FromSqlRow,
            utoipa::ToSchema,
        )]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant { kind: $kind, value: s.to_owned() }),
                }
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
                Ok(text.parse()?)
            }
        }
    };
}

text_enum!(
    /// Where a conversation is in its life: queued, being handled, answered, or finished.
    ConversationStatus: "status" {
        Pending => "pending",
        Active => "active",
        Resolved => "resolved",
        Closed => "closed",
    }
);

text_enum!(
    /// What an operator may do: agents work their own chats and the queue, supervisors see all,
    /// admins also manage the team.
    Role: "role" {
        Agent => "agent",
        Supervisor => "supervisor",
        Admin => "admin",
    }
);

text_enum!(
    /// What an event is: a message both sides see, an internal note, or a system notice.
    EventKind: "event kind" {
        Message => "message",
        Note => "note",
        System => "system",
    }
);

text_enum!(
    /// Who wrote an event.
    Author: "author" {
        Visitor => "visitor",
        Operator => "operator",
        System => "system",
    }
);

text_enum!(
    /// How the customer reached support.
    Channel: "channel" {
        Web => "web",
        Telegram => "telegram",
    }
);

text_enum!(
    /// How a conversation came to an operator.
    AssignmentKind: "assignment kind" {
        Auto => "auto",
        Take => "take",
        Manual => "manual",
        Transfer => "transfer",
    }
);

text_enum!(
    /// An operator's availability as they set it; `offline` when no socket is open.
    Presence: "presence" {
        Online => "online",
        Busy => "busy",
        Away => "away",
        Offline => "offline",
    }
);

text_enum!(
    /// How a group picks among its eligible operators.
    RoutingStrategy: "routing strategy" {
        RoundRobin => "round_robin",
        LeastLoaded => "least_loaded",
        Sticky => "sticky",
    }
);

impl Role {
    /// Supervisors and admins see and act on every conversation.
    pub fn sees_all(self) -> bool {
        matches!(self, Role::Supervisor | Role::Admin)
    }

    /// Agent < supervisor < admin: each role may do what the ones below it may.
    pub fn rank(self) -> u8 {
        match self {
            Role::Agent => 0,
            Role::Supervisor => 1,
            Role::Admin => 2,
        }
    }
}

impl ConversationStatus {
    /// Waiting, but the customer has not written yet (an unused widget session): not queued,
    /// shown to no operator, and deleted after a while.
    pub fn is_dormant(self, last_message_at: Option<chrono::DateTime<chrono::Utc>>) -> bool {
        self == ConversationStatus::Pending && last_message_at.is_none()
    }

    /// Pending and active conversations are the ones routing cares about.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ConversationStatus::Pending | ConversationStatus::Active
        )
    }
}

/// Conversation priority; stored as a small integer so the queue sorts by it directly.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    AsExpression,
    FromSqlRow,
    utoipa::ToSchema,
)]
#[diesel(sql_type = SmallInt)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low = 0,
    Medium = 1,
    High = 2,
    Urgent = 3,
}

impl Priority {
    pub fn as_i16(self) -> i16 {
        self as i16
    }

    pub fn from_i16(value: i16) -> Option<Self> {
        match value {
            0 => Some(Priority::Low),
            1 => Some(Priority::Medium),
            2 => Some(Priority::High),
            3 => Some(Priority::Urgent),
            _ => None,
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Priority::Low),
            "medium" => Ok(Priority::Medium),
            "high" => Ok(Priority::High),
            "urgent" => Ok(Priority::Urgent),
            other => Err(format!(
                "unknown priority '{other}' (expected low, medium, high or urgent)"
            )),
        }
    }
}

impl ToSql<SmallInt, Pg> for Priority {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <i16 as ToSql<SmallInt, Pg>>::to_sql(&self.as_i16(), &mut out.reborrow())
    }
}

impl FromSql<SmallInt, Pg> for Priority {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let value = <i16 as FromSql<SmallInt, Pg>>::from_sql(bytes)?;
        Priority::from_i16(value).ok_or_else(|| format!("priority {value} out of range").into())
    }
}
