//! SQLite plumbing shared by the model files: error mapping, integer conversions, column
//! decoders and the prepared-query helpers.

use rusqlite::{ffi, Connection, Row};

use crate::clock::Millis;
use crate::domain::Seq;
use crate::store::{StoreError, StoreResult};

// --- error mapping ---

pub(super) fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    match &e {
        E::SqliteFailure(f, _) if f.code == ffi::ErrorCode::ConstraintViolation => {
            match f.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    StoreError::Conflict(e.to_string())
                }
                _ => StoreError::Backend(e.to_string()),
            }
        }
        E::SqliteFailure(f, _)
            if matches!(
                f.code,
                ffi::ErrorCode::DatabaseCorrupt | ffi::ErrorCode::NotADatabase
            ) =>
        {
            StoreError::Corrupt(e.to_string())
        }
        E::FromSqlConversionFailure(..)
        | E::InvalidColumnType(..)
        | E::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked)
    )
}

pub(super) fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Backend(m) => StoreError::Backend(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::Fenced {
            shard,
            epoch,
            current,
        } => StoreError::Fenced {
            shard: *shard,
            epoch: *epoch,
            current: *current,
        },
    }
}

pub(super) fn now_ms() -> Millis {
    use crate::clock::Clock;
    crate::clock::SystemClock.now_ms()
}

// --- value conversions: SQLite integers are i64 ---

/// A seq or limit as an SQLite integer, saturating (`before = u64::MAX` means "the latest").
pub(super) fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn seq_col(row: &Row<'_>, idx: usize) -> StoreResult<Seq> {
    let v: i64 = row.get(idx).map_err(map_err)?;
    Seq::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative seq {v}")))
}

pub(super) fn uuid_col(row: &Row<'_>, idx: usize) -> StoreResult<uuid::Uuid> {
    let text: String = row.get(idx).map_err(map_err)?;
    uuid::Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("bad id {text:?}: {e}")))
}

pub(super) fn opt_uuid_col(row: &Row<'_>, idx: usize) -> StoreResult<Option<uuid::Uuid>> {
    let text: Option<String> = row.get(idx).map_err(map_err)?;
    text.map(|t| {
        uuid::Uuid::parse_str(&t).map_err(|e| StoreError::Corrupt(format!("bad id {t:?}: {e}")))
    })
    .transpose()
}

pub(super) fn json_col<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
) -> StoreResult<T> {
    let text: String = row.get(idx).map_err(map_err)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("bad json: {e}")))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode: {e}")))
}

/// Run a prepared query and decode every row.
pub(super) fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let mut rows = stmt.query(params).map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_err)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

pub(super) fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    Ok(query_all(conn, sql, params, decode)?.into_iter().next())
}
