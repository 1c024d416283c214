//! Debezium's signals: what a row of the signal table (`capture.signal_table`,
//! columns `id`, `type`, `data`) says ([`Signal::parse`]), and sending them
//! to a running source from the command line ([`send`]). The stream acts on
//! them (`Stream::signal`); incremental snapshots also write their window
//! watermarks there ([`crate::incremental`]).

use crate::config::SourceConfig;
use anyhow::{Context, Result, bail};
use mysql_async::prelude::Queryable;
use shared::mysql::MysqlConnector;
use std::collections::BTreeMap;

/// The `type` of the low-watermark row an incremental snapshot inserts (its
/// deletion is the high watermark), as Debezium names it.
pub const WINDOW_OPEN: &str = "snapshot-window-open";

/// A table named by a signal: `(database, table)`.
pub type Name = (String, String);

/// What a signal row asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Read these tables again: incrementally (Debezium's default) or, with
    /// `"type": "blocking"`, in one pass while the stream waits. `filters`
    /// are Debezium's `additional-conditions` (`db.table` → SQL condition).
    ExecuteSnapshot { tables: Vec<Name>, blocking: bool, filters: BTreeMap<String, String> },
    /// Stop the incremental snapshot of these tables (all when empty).
    StopSnapshot { tables: Vec<Name> },
    PauseSnapshot,
    ResumeSnapshot,
    /// An incremental snapshot's low watermark (the row's id).
    WindowOpen(String),
    /// Anything else: logged.
    Other(String),
}

impl Signal {
    /// The signal in a row of the signal table (`data` is Debezium's JSON;
    /// table names are `db.table`).
    pub fn parse(id: &str, kind: &str, data: &str) -> Result<Signal, String> {
        let json = || -> Result<serde_json::Value, String> {
            match data.trim() {
                "" => Ok(serde_json::Value::Null),
                text => serde_json::from_str(text).map_err(|e| format!("the data of signal {kind} is not JSON: {e}")),
            }
        };
        let tables = |json: &serde_json::Value| -> Result<Vec<Name>, String> {
            json["data-collections"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    t.as_str()
                        .and_then(|t| t.split_once('.'))
                        .map(|(d, t)| (d.to_string(), t.to_string()))
                        .ok_or_else(|| format!("{t} in data-collections is not a \"db.table\" string"))
                })
                .collect()
        };
        let incremental_only = |json: &serde_json::Value| match json["type"].as_str() {
            None => Ok(()),
            Some(t) if t.eq_ignore_ascii_case("incremental") => Ok(()),
            Some(t) => Err(format!("{kind} of type {t:?}: only incremental snapshots can be stopped, paused or resumed")),
        };
        Ok(match kind {
            "execute-snapshot" => {
                let json = json()?;
                let tables = tables(&json)?;
                if tables.is_empty() {
                    return Err("execute-snapshot names no table in data-collections".into());
                }
                let blocking = match json["type"].as_str() {
                    None => false,
                    Some(t) if t.eq_ignore_ascii_case("incremental") => false,
                    Some(t) if t.eq_ignore_ascii_case("blocking") => true,
                    Some(t) => return Err(format!("execute-snapshot of type {t:?}: the types are \"incremental\" and \"blocking\"")),
                };
                let mut filters = BTreeMap::new();
                for condition in json["additional-conditions"].as_array().into_iter().flatten() {
                    match (condition["data-collection"].as_str(), condition["filter"].as_str()) {
                        (Some(table), Some(filter)) => filters.insert(table.to_string(), filter.to_string()),
                        _ => return Err("additional-conditions entries need \"data-collection\" and \"filter\" strings".into()),
                    };
                }
                Signal::ExecuteSnapshot { tables, blocking, filters }
            }
            "stop-snapshot" => {
                let json = json()?;
                incremental_only(&json)?;
                Signal::StopSnapshot { tables: tables(&json)? }
            }
            "pause-snapshot" => {
                incremental_only(&json()?)?;
                Signal::PauseSnapshot
            }
            "resume-snapshot" => {
                incremental_only(&json()?)?;
                Signal::ResumeSnapshot
            }
            WINDOW_OPEN => Signal::WindowOpen(id.to_string()),
            other => Signal::Other(other.to_string()),
        })
    }
}

/// Inserts a signal of `kind` with `data` into the source's signal table.
pub async fn send(config: &SourceConfig, kind: &str, data: serde_json::Value) -> Result<()> {
    let Some(signal_table) = &config.capture.signal_table else {
        bail!("capture.signal_table is not set: the source reads signals from that table (db.table with columns id, type, data)");
    };
    let (database, table) = signal_table.split_once('.').expect("validated as db.table");
    let mut conn = MysqlConnector::new(&config.mysql)?.connect().await?;
    conn.exec_drop(
        format!("INSERT INTO {} (id, type, data) VALUES (UUID(), ?, ?)", shared::sql::mysql_table(database, table)),
        (kind, data.to_string()),
    )
    .await
    .with_context(|| format!("writing the signal into {signal_table} (the user needs INSERT on it)"))?;
    Ok(())
}

/// `execute-snapshot` for `tables` (`db.table` each), incremental or blocking,
/// with optional `db.table=condition` filters.
pub async fn execute_snapshot(config: &SourceConfig, tables: &[String], blocking: bool, filters: &[String]) -> Result<()> {
    if let Some(bad) = tables.iter().find(|t| t.split('.').count() != 2) {
        bail!("{bad:?} is not of the form db.table");
    }
    let mut conditions = Vec::new();
    for filter in filters {
        let Some((table, condition)) = filter.split_once('=') else {
            bail!("--filter {filter:?} is not of the form db.table=condition");
        };
        if !tables.iter().any(|t| t == table) {
            bail!("--filter names {table:?}, which is not among --tables");
        }
        conditions.push(serde_json::json!({"data-collection": table, "filter": condition}));
    }
    let kind = if blocking { "blocking" } else { "incremental" };
    let mut data = serde_json::json!({"data-collections": tables, "type": kind});
    if !conditions.is_empty() {
        data["additional-conditions"] = conditions.into();
    }
    send(config, "execute-snapshot", data).await?;
    println!("sent execute-snapshot ({kind}) for {}", tables.join(", "));
    Ok(())
}

/// `stop-snapshot` (for `tables`, or all), `pause-snapshot` or `resume-snapshot`.
pub async fn control(config: &SourceConfig, kind: &str, tables: &[String]) -> Result<()> {
    let mut data = serde_json::json!({"type": "incremental"});
    if !tables.is_empty() {
        data["data-collections"] = tables.into();
    }
    send(config, kind, data).await?;
    println!("sent {kind}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debezium_signals_are_understood() {
        let parsed = Signal::parse("1", "execute-snapshot", r#"{"data-collections": ["db.a", "db.b"]}"#).unwrap();
        let names = vec![("db".to_string(), "a".to_string()), ("db".to_string(), "b".to_string())];
        assert_eq!(parsed, Signal::ExecuteSnapshot { tables: names.clone(), blocking: false, filters: Default::default() });
        let parsed = Signal::parse(
            "1",
            "execute-snapshot",
            r#"{"data-collections": ["db.a"], "type": "BLOCKING", "additional-conditions": [{"data-collection": "db.a", "filter": "x > 1"}]}"#,
        )
        .unwrap();
        let Signal::ExecuteSnapshot { blocking: true, filters, .. } = parsed else { panic!("{parsed:?}") };
        assert_eq!(filters.get("db.a").map(String::as_str), Some("x > 1"));
        assert_eq!(Signal::parse("1", "stop-snapshot", r#"{"type": "incremental"}"#).unwrap(), Signal::StopSnapshot { tables: vec![] });
        assert_eq!(Signal::parse("1", "pause-snapshot", "").unwrap(), Signal::PauseSnapshot);
        assert_eq!(Signal::parse("w-open", WINDOW_OPEN, "").unwrap(), Signal::WindowOpen("w-open".into()));
        assert!(Signal::parse("1", "execute-snapshot", r#"{"data-collections": []}"#).is_err());
        assert!(Signal::parse("1", "execute-snapshot", r#"{"data-collections": ["nodot"]}"#).is_err());
        assert!(Signal::parse("1", "execute-snapshot", "not json").is_err());
        assert!(Signal::parse("1", "pause-snapshot", r#"{"type": "blocking"}"#).is_err());
    }
}
