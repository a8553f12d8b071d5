//! SQLite: the messages queries (rows decoded in the column order each SELECT lists).

use async_trait::async_trait;
use rusqlite::{params, Connection, Row};

use super::codec::*;
use super::SqliteStore;
use crate::domain::{Author, ConversationId, Message, MessageExtra, Seq};
use crate::store::{timed, Fence, MessageStore, StoreError, StoreResult};

const MESSAGE_COLS: &str = "conversation_id, seq, client_msg_id, author, body, at, extra";

fn message_row(row: &Row<'_>) -> StoreResult<Message> {
    Ok(Message {
        conversation_id: ConversationId(uuid_col(row, 0)?),
        seq: seq_col(row, 1)?,
        client_msg_id: row.get(2).map_err(map_err)?,
        author: json_col::<Author>(row, 3)?,
        body: row.get(4).map_err(map_err)?,
        at: row.get(5).map_err(map_err)?,
        extra: match row.get::<_, Option<String>>(6).map_err(map_err)? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("message extra: {e}")))?,
            None => MessageExtra::default(),
        },
    })
}

/// Store one message (inside the caller's write job). Writing the same `(conversation, seq)`
/// again with the same content is a no-op; anything else at a taken seq is a `Conflict`.
pub(super) fn insert_message(conn: &Connection, m: &Message, fence: Fence) -> StoreResult<()> {
    let author = to_json(&m.author)?;
    // Plain chat messages store no extra (NULL), like rows from before 0004.
    let extra = if m.extra.is_empty() {
        None
    } else {
        Some(to_json(&m.extra)?)
    };
    // DO NOTHING only for the (conversation, seq) key: a re-append of the same seq
    // is checked below, while a reused client_msg_id still raises a conflict.
    let inserted = conn
        .prepare_cached(
            "INSERT INTO messages
                     (conversation_id, seq, client_msg_id, author, body, at, epoch, extra)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (conversation_id, seq) DO NOTHING",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                m.conversation_id.to_string(),
                int(m.seq),
                m.client_msg_id,
                author,
                m.body,
                m.at,
                int(fence.epoch),
                extra,
            ])
        })
        .map_err(|e| match map_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "client_msg_id {:?} is already stored in this conversation",
                m.client_msg_id
            )),
            other => other,
        })?;
    if inserted == 1 {
        return Ok(());
    }
    // The seq was taken: a retry of the same message is fine, anything else is not.
    let sql =
        format!("SELECT {MESSAGE_COLS} FROM messages WHERE conversation_id = ?1 AND seq = ?2");
    let stored = query_one(
        conn,
        &sql,
        params![m.conversation_id.to_string(), int(m.seq)],
        message_row,
    )?;
    match stored {
        Some(stored) if stored == *m => Ok(()),
        _ => Err(StoreError::Conflict(format!(
            "seq {} of conversation {} holds another message",
            m.seq, m.conversation_id
        ))),
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_message(&self, message: &Message, fence: Fence) -> StoreResult<()> {
        let m = message.clone();
        timed(
            "append_message",
            self.write_fenced(fence, move |conn| insert_message(conn, &m, fence)),
        )
        .await
    }

    async fn seq_of_client_msg(
        &self,
        conversation: ConversationId,
        client_msg_id: &str,
    ) -> StoreResult<Option<Seq>> {
        let client_msg_id = client_msg_id.to_owned();
        timed(
            "seq_of_client_msg",
            self.read(move |conn| {
                // One probe of the unique (conversation_id, client_msg_id) index.
                query_one(
                    conn,
                    "SELECT seq FROM messages WHERE conversation_id = ?1 AND client_msg_id = ?2",
                    params![conversation.to_string(), client_msg_id],
                    |row| seq_col(row, 0),
                )
            }),
        )
        .await
    }

    async fn messages_after(
        &self,
        conversation: ConversationId,
        after: Seq,
        n: usize,
    ) -> StoreResult<Vec<Message>> {
        timed(
            "messages_after",
            self.read(move |conn| {
                let sql = format!(
                    "SELECT {MESSAGE_COLS} FROM messages
                     WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
                );
                query_all(
                    conn,
                    &sql,
                    params![conversation.to_string(), int(after), limit(n)],
                    message_row,
                )
            }),
        )
        .await
    }

    async fn messages_before(
        &self,
        conversation: ConversationId,
        before: Seq,
        n: usize,
    ) -> StoreResult<Vec<Message>> {
        timed(
            "messages_before",
            self.read(move |conn| {
                // Walk the primary key backwards from `before`, then return the page ascending.
                let sql = format!(
                    "SELECT {MESSAGE_COLS} FROM messages
                     WHERE conversation_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
                );
                let mut page = query_all(
                    conn,
                    &sql,
                    params![conversation.to_string(), int(before), limit(n)],
                    message_row,
                )?;
                page.reverse();
                Ok(page)
            }),
        )
        .await
    }
}
