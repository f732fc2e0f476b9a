//! The actors: one `Router`, one `Conversation` per live conversation (found or started through
//! the `ConversationRegistry`), and one session actor per visitor or operator socket.

pub mod conversation;
pub mod operator_session;
pub mod outbox;
pub mod registry;
pub mod replay;
pub mod router;
pub mod socket;
pub mod visitor_session;
