//! Truncate events (`op = t`) applied to a table of change events: `TRUNCATE`
//! in MySQL, and `DROP TABLE` (which `cdc-source` sends as a truncate event
//! marked dropped).
//!
//! Guarantee: after [`apply`], the table's current rows hold nothing of a
//! version below the truncate's, and rows of later versions are untouched —
//! also when it is repeated after those later rows landed (a replay after a
//! crash), so it is idempotent. It is an insert, not a mutation: it takes
//! effect at once and orders correctly against rows still to come.
//! - A changelog table (`ReplacingMergeTree`): every live row older than the
//!   truncate is written again with its version and `_is_deleted = 1`.
//! - A change table (keyless source table): the images of the partition the
//!   truncate came on that are present (signs summing above zero) are written
//!   with the opposite sign and `_op = 't'`, unless that partition's
//!   truncate rows are there already. (Each partition's truncate clears that
//!   partition's rows, so the table is clear once every partition has seen it.)

use super::changelog::{Markers, identifiers};
use super::table::{TableError, quote};
use clickhouse::Client;

/// Applies the truncate of `version`, received on `partition`, to `database.table`;
/// a table that does not exist has no rows to remove.
pub async fn apply(client: &Client, database: &str, table: &str, version: u64, partition: i32) -> Result<(), TableError> {
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
    if let Some(markers) = Markers::of_engine(&engine) {
        let (v, d) = (quote(&markers.version), quote(&markers.deleted));
        // The filter runs in a subquery: in the outer SELECT the REPLACE
        // aliases would shadow the columns it compares.
        let sql = format!(
            "INSERT INTO {name} SELECT * REPLACE (toUInt64({version}) AS {v}, toUInt8(1) AS {d}) \
             FROM (SELECT * FROM {name} FINAL WHERE {v} < {version} AND {d} = 0)"
        );
        return client.query(&sql).with_setting("insert_deduplicate", "0").execute().await.map_err(fail);
    }
    let columns: Vec<String> = client
        .query("SELECT name FROM system.columns WHERE database = ? AND table = ? ORDER BY position")
        .bind(database)
        .bind(table)
        .fetch_all()
        .await
        .map_err(fail)?;
    let markers = Markers::of_columns(&columns).ok_or_else(|| TableError::Unusable {
        table: name.clone(),
        reason: format!(
            "receives a truncate event but is neither a changelog (ReplacingMergeTree) nor a change table; its engine is {}",
            identifiers(&engine).first().cloned().unwrap_or(engine.clone())
        ),
    })?;
    let (op, v, sign, p) = (quote(&markers.op), quote(&markers.version), quote(&markers.sign), quote(&markers.partition));
    let done: u64 = client
        .query(&format!("SELECT count() FROM {name} WHERE {v} = {version} AND {op} = 't' AND {p} = {partition}"))
        .fetch_one()
        .await
        .map_err(fail)?;
    if done > 0 {
        return Ok(());
    }
    let own = [&markers.op, &markers.version, &markers.sign, &markers.partition];
    let images: Vec<String> = columns.iter().filter(|c| !own.contains(c)).map(|c| quote(c)).collect();
    let images = images.join(", ");
    let sql = format!(
        "INSERT INTO {name} ({images}, {op}, {v}, {sign}, {p}) \
         SELECT {images}, 't', {version}, -`__cdc_sum`, {partition} FROM \
         (SELECT {images}, sum({sign}) AS `__cdc_sum` FROM {name} WHERE {v} < {version} AND {p} = {partition} \
          GROUP BY {images} HAVING `__cdc_sum` != 0)"
    );
    client.query(&sql).with_setting("insert_deduplicate", "0").execute().await.map_err(fail)
}
