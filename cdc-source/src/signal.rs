//! Debezium's signals: what a row of the signal table (`capture.signal_table`,
//! columns `id`, `type`, `data`) or a record of the signal topic
//! (`capture.signal_topic`, [`KafkaSignals`]) says ([`Signal::parse`]), and
//! sending them to a running source from the command line ([`send`]). The
//! stream acts on them (`Stream::act`); incremental snapshots also write
//! their window watermarks to the signal table ([`crate::incremental`]).

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

/// The signal topic (Debezium's `signal.kafka.topic`): records keyed by the
/// source's `topic_prefix`, valued `{"type": …, "data": {…}}`, read from
/// partition 0 at the offset stored with the source's offsets (from the
/// start the first time), so a signal is acted on again after a crash only
/// if its effect was not yet stored.
pub struct KafkaSignals {
    consumer: rdkafka::consumer::BaseConsumer<shared::kafka::KafkaContext>,
    topic: String,
    key: String,
    /// The next offset to read.
    next: i64,
}

impl KafkaSignals {
    pub async fn open(config: &SourceConfig, context: shared::kafka::KafkaContext, topic: &str, stored: Option<i64>) -> Result<Self> {
        use rdkafka::consumer::Consumer;
        shared::kafka::ensure_topic(&config.kafka, context.clone(), topic, 1, config.capture.topic_replication_factor).await?;
        let group = format!("cdc-source-signals-{}", config.capture.topic_prefix);
        let mut client = config.kafka.client_config(shared::kafka::ClientRole::Consumer { group_id: &group })?;
        client.set("enable.auto.commit", "false").set("auto.offset.reset", "earliest");
        let consumer: rdkafka::consumer::BaseConsumer<shared::kafka::KafkaContext> =
            client.create_with_context(context).context("creating the signal topic's consumer")?;
        let next = stored.unwrap_or(0);
        let mut partitions = rdkafka::TopicPartitionList::new();
        partitions.add_partition_offset(topic, 0, rdkafka::Offset::Offset(next))?;
        consumer.assign(&partitions).with_context(|| format!("reading the signal topic {topic}"))?;
        tracing::info!(%topic, offset = next, "reading signals from the signal topic");
        Ok(Self { consumer, topic: topic.to_string(), key: config.capture.topic_prefix.clone(), next })
    }

    /// The signals that arrived since the last call (without waiting).
    pub fn poll(&mut self) -> Vec<(String, Result<Signal, String>)> {
        use rdkafka::Message;
        let mut signals = Vec::new();
        for _ in 0..100 {
            match self.consumer.poll(std::time::Duration::ZERO) {
                None => break,
                Some(Err(e)) => {
                    tracing::warn!(topic = %self.topic, "reading the signal topic: {e}");
                    break;
                }
                Some(Ok(message)) => {
                    self.next = message.offset() + 1;
                    if message.key() != Some(self.key.as_bytes()) {
                        continue; // another source's signal
                    }
                    let id = format!("{}@{}", self.topic, message.offset());
                    let parsed = serde_json::from_slice::<serde_json::Value>(message.payload().unwrap_or_default())
                        .map_err(|e| format!("the signal is not JSON: {e}"))
                        .and_then(|v| {
                            let kind = v["type"].as_str().ok_or("the signal has no \"type\"")?.to_string();
                            let data = match &v["data"] {
                                serde_json::Value::String(text) => text.clone(),
                                serde_json::Value::Null => String::new(),
                                other => other.to_string(),
                            };
                            Signal::parse(&id, &kind, &data)
                        });
                    signals.push((id, parsed));
                }
            }
        }
        signals
    }

    /// The offset to resume reading at, stored with the source's offsets.
    pub fn offset(&self) -> i64 {
        self.next
    }
}

/// Sends a signal of `kind` with `data`: a row inserted into the source's
/// signal table, or, without one, a record on its signal topic.
pub async fn send(config: &SourceConfig, kind: &str, data: serde_json::Value) -> Result<()> {
    if let Some(signal_table) = &config.capture.signal_table {
        let (database, table) = signal_table.split_once('.').expect("validated as db.table");
        let mut conn = MysqlConnector::new(&config.mysql)?.connect().await?;
        conn.exec_drop(
            format!("INSERT INTO {} (id, type, data) VALUES (UUID(), ?, ?)", shared::sql::mysql_table(database, table)),
            (kind, data.to_string()),
        )
        .await
        .with_context(|| format!("writing the signal into {signal_table} (the user needs INSERT on it)"))?;
        return Ok(());
    }
    let Some(topic) = &config.capture.signal_topic else {
        bail!("neither capture.signal_table nor capture.signal_topic is set: the source reads signals from those");
    };
    let context = shared::kafka::KafkaContext::for_config(&config.kafka).await?;
    let producer: rdkafka::producer::FutureProducer<shared::kafka::KafkaContext> =
        config.kafka.client_config(shared::kafka::ClientRole::Producer)?.create_with_context(context).context("creating the Kafka producer")?;
    let value = serde_json::json!({"type": kind, "data": data}).to_string();
    let record = rdkafka::producer::FutureRecord::to(topic).partition(0).key(&config.capture.topic_prefix).payload(&value);
    producer
        .send(record, std::time::Duration::from_secs(30))
        .await
        .map_err(|(e, _)| anyhow::anyhow!("sending the signal to {topic}: {e}"))?;
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
