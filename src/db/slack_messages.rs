//! The queries of `slack_messages`: a release's message in Slack.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::slack_messages;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = slack_messages)]
pub struct SlackMessageRow {
    pub release_pk: i64,
    /// The policy's channel until posted, then the id Slack answered.
    pub channel: String,
    /// The message's timestamp (its id in the channel) once posted.
    pub ts: Option<String>,
    pub max_attempts: i32,
    pub created_at: NaiveDateTime,
    pub posted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = slack_messages)]
pub struct NewSlackMessageRow<'a> {
    pub release_pk: i64,
    pub channel: &'a str,
    pub max_attempts: i32,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &NewSlackMessageRow<'_>) -> QueryResult<()> {
    diesel::insert_into(slack_messages::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn of_release(
    conn: &mut DbConnection,
    release_pk: i64,
) -> QueryResult<Option<SlackMessageRow>> {
    slack_messages::table
        .find(release_pk)
        .select(SlackMessageRow::as_select())
        .first(conn)
        .optional()
}

/// Records where the message was posted (once). False if it was already.
pub fn mark_posted(
    conn: &mut DbConnection,
    release_pk: i64,
    channel: &str,
    ts: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(slack_messages::table.find(release_pk))
        .filter(slack_messages::ts.is_null())
        .set((
            slack_messages::channel.eq(channel),
            slack_messages::ts.eq(ts),
            slack_messages::posted_at.eq(at),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Forgets a message that could not be posted: nothing to update then.
pub fn delete(conn: &mut DbConnection, release_pk: i64) -> QueryResult<()> {
    diesel::delete(slack_messages::table.find(release_pk)).execute(conn)?;
    Ok(())
}
