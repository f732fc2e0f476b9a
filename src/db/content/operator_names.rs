//! Display names of operators by id, for views that store only the id (the audit log).
//! Deleted operators keep their name here: the log must still say who acted.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::operators;
use crate::ids::OperatorId;

pub async fn names(
    conn: &mut AsyncPgConnection,
    ids: &[OperatorId],
) -> QueryResult<HashMap<OperatorId, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(OperatorId, String)> = operators::table
        .filter(operators::id.eq_any(ids))
        .select((operators::id, operators::name))
        .load(conn)
        .await?;
    Ok(rows.into_iter().collect())
}
