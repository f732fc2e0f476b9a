//! Catching a socket up on what it missed. The session reads the stored events itself, a page
//! at a time, and asks for the next page only once it has written the last one: a session runs
//! only while its client reads, so a replay goes at the client's pace and never piles up in
//! memory. Live events that arrive meanwhile wait, still counted by the socket's outbox.

use crate::db::events::{self, EventRow};
use crate::db::DbPool;
use crate::error::AppResult;
use crate::ids::ConversationId;

/// Events read per page.
pub const PAGE: i64 = 200;

/// The stored events of `conversation` after `after`, oldest first, at most `PAGE`.
pub async fn page(
    pool: DbPool,
    conversation: ConversationId,
    after: i64,
) -> AppResult<Vec<EventRow>> {
    let mut conn = pool.get().await?;
    Ok(events::after(&mut conn, conversation, after, PAGE).await?)
}

/// Where a page leaves the replay: the seq to continue after, or `None` when it is complete.
pub fn next_after(page: &[EventRow], upto: i64) -> Option<i64> {
    let last = page.last()?.seq;
    (page.len() as i64 == PAGE && last < upto).then_some(last)
}
