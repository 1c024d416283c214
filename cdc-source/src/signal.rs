//! Sending Debezium signals to a running source through its signal table
//! (`capture.signal_table`): the row the source reads from the binlog and
//! acts on (see `Stream::signal`).

use crate::config::SourceConfig;
use anyhow::{Context, Result, bail};
use mysql_async::prelude::Queryable;
use shared::mysql::MysqlConnector;

/// Inserts an `execute-snapshot` signal for `tables` (`db.table` each).
pub async fn execute_snapshot(config: &SourceConfig, tables: &[String]) -> Result<()> {
    let Some(signal_table) = &config.capture.signal_table else {
        bail!("capture.signal_table is not set: the source reads signals from that table (db.table with columns id, type, data)");
    };
    if let Some(bad) = tables.iter().find(|t| t.split('.').count() != 2) {
        bail!("{bad:?} is not of the form db.table");
    }
    let (database, table) = signal_table.split_once('.').expect("validated as db.table");
    let data = serde_json::json!({"data-collections": tables, "type": "blocking"}).to_string();
    let mut conn = MysqlConnector::new(&config.mysql)?.connect().await?;
    conn.exec_drop(
        format!("INSERT INTO {} (id, type, data) VALUES (UUID(), 'execute-snapshot', ?)", shared::sql::mysql_table(database, table)),
        (data,),
    )
    .await
    .with_context(|| format!("writing the signal into {signal_table} (the source's user needs INSERT on it)"))?;
    println!("sent execute-snapshot for {}", tables.join(", "));
    Ok(())
}
