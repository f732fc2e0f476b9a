//! Newtype identifiers, so that an id of one kind can never be passed where another is expected.

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            DieselNewType, utoipa::ToSchema,
        )]
        #[schema(value_type = String, format = Uuid)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A support conversation (one ticket).
    ConversationId
);
uuid_id!(
    /// A support operator (agent, supervisor or admin).
    OperatorId
);
uuid_id!(
    /// A customer, known to operators only by an alias.
    ContactId
);
uuid_id!(
    /// A group (department) of operators with its own routing strategy.
    GroupId
);
uuid_id!(
    /// A label operators put on conversations.
    TagId
);
uuid_id!(
    /// A reply template operators insert by its shortcut.
    CannedId
);
uuid_id!(
    /// One WebSocket connection, visitor or operator.
    SessionId
);
