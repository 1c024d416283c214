//! Truncate events (`op = t`) applied to a changelog table: `TRUNCATE` in
//! MySQL, and `DROP TABLE` (which `cdc-source` sends as a truncate event
//! marked dropped).
//!
//! Guarantee: after [`apply`], `SELECT … FINAL` shows no row of a version
//! below the truncate's, and rows of later versions are untouched — also when
//! it is repeated after those later rows landed (a replay after a crash), so
//! it is idempotent. Marking deleted is an insert of the live rows with the
//! truncate's version and `_is_deleted = 1`, not a mutation: it takes effect
//! at once and orders correctly against rows still to come.

use super::changelog::Markers;
use super::table::{TableError, quote};
use clickhouse::Client;

/// Marks every live row of `database.table` older than `version` deleted; a
/// table that does not exist has no rows to remove.
pub async fn delete_rows(client: &Client, database: &str, table: &str, version: u64) -> Result<(), TableError> {
    let name = format!("{}.{}", quote(database), quote(table));
    let fail = |e| TableError::from_client(&name, e);
    let engine: Option<String> = client
        .query("SELECT engine_full FROM system.tables WHERE database = ? AND name = ?")
        .bind(database)
        .bind(table)
        .fetch_optional()
        .await
        .map_err(fail)?;
    let Some(engine) = engine else { return Ok(()) };
    let markers = Markers::of_engine(&engine).ok_or_else(|| TableError::Unusable {
        table: name.clone(),
        reason: format!("receives a truncate event but is not a ReplacingMergeTree changelog table ({engine})"),
    })?;
    let (v, d) = (quote(&markers.version), quote(&markers.deleted));
    // The filter runs in a subquery: in the outer SELECT the REPLACE aliases
    // would shadow the columns it compares.
    let sql = format!(
        "INSERT INTO {name} SELECT * REPLACE (toUInt64({version}) AS {v}, toUInt8(1) AS {d}) \
         FROM (SELECT * FROM {name} FINAL WHERE {v} < {version} AND {d} = 0)"
    );
    client.query(&sql).with_setting("insert_deduplicate", "0").execute().await.map_err(fail)
}
