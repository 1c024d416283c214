//! `producer-sim verify`: proof that what is in MySQL is what is in ClickHouse.
//!
//! For every captured MySQL table, the ClickHouse table the sink fills
//! (`<topic-prefix>_<database>_<table>`, the prefix's `.` and `-` made `_` and
//! the MySQL names exact: the sink's default naming) is read with `FINAL` and `_is_deleted = 0`, and compared
//! key by key: a checksum over every column, each value normalised for the
//! type mapping (decimals without trailing zeros, date-times without trailing
//! fractional zeros, JSON with sorted keys, binary as hex). For the clickstream
//! table it counts `globalseq` gaps and duplicates.
//!
//! Guarantee: it reports "no differences" only when every key of every table
//! has the same values on both sides, and the clickstream holds each of
//! `1..=max(globalseq)` (and the expected count, when given) exactly once.
//! It re-compares until that holds or `--timeout` passes (the sink may still
//! be catching up), then prints a table per source table and exits non-zero
//! on any difference.

use anyhow::{Context, Result, bail};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use shared::mysql::MysqlConnector;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// MySQL database whose tables are compared.
    #[arg(long, default_value = "shop")]
    pub database: String,
    /// The source's topic prefix (`capture.topic_prefix`), which names the ClickHouse tables.
    #[arg(long, default_value = "cdc")]
    pub topic_prefix: String,
    /// Compare only these tables (comma-separated; default: every base table of the database).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// ClickHouse table of the clickstream (checked for globalseq gaps and duplicates).
    #[arg(long)]
    pub clickstream_table: Option<String>,
    /// Events the clickstream must hold (else: max(globalseq)).
    #[arg(long)]
    pub clickstream_events: Option<u64>,
    /// Keep re-comparing for this many seconds while differences remain.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Differences printed per table.
    #[arg(long, default_value_t = 5)]
    pub examples: usize,
}

/// The comparison of one table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: String,
    pub mysql_rows: u64,
    pub clickhouse_rows: u64,
    pub missing: u64,
    pub extra: u64,
    pub different: u64,
    /// The sink has not created the ClickHouse table (yet): every MySQL row counts as missing.
    pub table_missing: bool,
    /// A few keys that differ, with what differs.
    pub examples: Vec<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClickstreamReport {
    pub table: String,
    pub rows: u64,
    pub distinct: u64,
    pub max_globalseq: u64,
    pub expected: u64,
    /// Numbers in 1..=expected that are absent.
    pub gaps: u64,
    /// Rows beyond one per globalseq.
    pub duplicates: u64,
    /// Distinct globalseq outside 1..=expected.
    pub unexpected: u64,
    /// The sink has not created the table (yet).
    pub table_missing: bool,
}

#[derive(Debug, Default)]
pub struct Report {
    pub tables: Vec<TableReport>,
    pub clickstream: Option<ClickstreamReport>,
    pub waited: Duration,
}

impl Report {
    pub fn differences(&self) -> u64 {
        let tables: u64 = self.tables.iter().map(|t| t.missing + t.extra + t.different).sum();
        let missing_tables = self.tables.iter().filter(|t| t.table_missing && t.mysql_rows == 0).count() as u64;
        let clickstream = self.clickstream.as_ref().map_or(0, |c| c.gaps + c.duplicates + c.unexpected + u64::from(c.table_missing && c.expected == 0));
        tables + missing_tables + clickstream
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let width = self.tables.iter().map(|t| t.table.len()).max().unwrap_or(0).max(20);
        let _ = writeln!(
            out,
            "{:<width$} {:>12} {:>12} {:>9} {:>9} {:>10}",
            "table", "mysql rows", "clickhouse", "missing", "extra", "different"
        );
        for t in &self.tables {
            let _ = writeln!(
                out,
                "{:<width$} {:>12} {:>12} {:>9} {:>9} {:>10}",
                t.table, t.mysql_rows, t.clickhouse_rows, t.missing, t.extra, t.different
            );
            if t.table_missing {
                let _ = writeln!(out, "    the ClickHouse table does not exist (yet): the sink has not applied this table's topic");
            }
            for example in &t.examples {
                let _ = writeln!(out, "    {example}");
            }
        }
        if let Some(c) = &self.clickstream {
            if c.table_missing {
                let _ = writeln!(out, "clickstream table {} does not exist (yet): the sink has not applied the topic", c.table);
            }
            let _ = writeln!(
                out,
                "clickstream {}: {} rows, {} distinct globalseq, expected {}, gaps {}, duplicates {}, unexpected {}",
                c.table, c.rows, c.distinct, c.expected, c.gaps, c.duplicates, c.unexpected
            );
        }
        let verdict = match self.differences() {
            0 => "no differences".to_string(),
            n => format!("{n} DIFFERENCES"),
        };
        let _ = writeln!(out, "verify: {verdict} (waited {:.1} s for the sink)", self.waited.as_secs_f64());
        out
    }
}

/// Compares until there is no difference or the timeout passes; the last comparison is returned.
pub async fn run(args: &VerifyArgs, mysql: &MysqlConnector, clickhouse: &clickhouse::Client) -> Result<Report> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout);
    let mut conn = mysql.connect().await?;
    conn.query_drop("SET time_zone = '+00:00'").await?;
    let tables = if args.tables.is_empty() { base_tables(&mut conn, &args.database).await? } else { args.tables.clone() };
    loop {
        let mut report = Report::default();
        for table in &tables {
            report.tables.push(compare_table(&mut conn, clickhouse, args, table).await?);
        }
        if let Some(name) = &args.clickstream_table {
            report.clickstream = Some(clickstream(clickhouse, name, args.clickstream_events).await?);
        }
        report.waited = started.elapsed();
        if report.differences() == 0 || Instant::now() >= deadline {
            return Ok(report);
        }
        tracing::info!(differences = report.differences(), "not equal yet; comparing again");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn base_tables(conn: &mut Conn, database: &str) -> Result<Vec<String>> {
    let tables: Vec<String> = conn
        .exec(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name",
            (database,),
        )
        .await?;
    if tables.is_empty() {
        bail!("database `{database}` has no tables to compare");
    }
    Ok(tables)
}

/// How a MySQL column's values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Decimal,
    DateTime,
    Json,
    Binary,
    Float,
}

struct ColumnInfo {
    name: String,
    kind: Kind,
}

async fn columns(conn: &mut Conn, database: &str, table: &str) -> Result<(Vec<ColumnInfo>, Vec<usize>)> {
    let rows: Vec<(String, String, String)> = conn
        .exec(
            "SELECT column_name, data_type, column_key FROM information_schema.columns \
             WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            (database, table),
        )
        .await?;
    // MariaDB reports JSON as longtext with a json_valid check (MySQL has no
    // table_name there: the query fails and only data_type `json` counts).
    let json_checked: Vec<String> = conn
        .exec(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? \
             AND data_type = 'longtext' AND column_name IN (SELECT constraint_name FROM information_schema.check_constraints \
             WHERE constraint_schema = ? AND table_name = ? AND check_clause LIKE 'json_valid%')",
            (database, table, database, table),
        )
        .await
        .unwrap_or_default();
    let columns: Vec<ColumnInfo> = rows
        .iter()
        .map(|(name, data_type, _)| ColumnInfo {
            name: name.clone(),
            kind: match data_type.to_ascii_lowercase().as_str() {
                _ if json_checked.contains(name) => Kind::Json,
                "decimal" => Kind::Decimal,
                "datetime" | "timestamp" => Kind::DateTime,
                "json" => Kind::Json,
                "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "bit" => Kind::Binary,
                "float" | "double" => Kind::Float,
                _ => Kind::Plain,
            },
        })
        .collect();
    // No primary key: rows are compared whole, as a multiset.
    let key: Vec<usize> = rows.iter().enumerate().filter(|(_, r)| r.2 == "PRI").map(|(i, _)| i).collect();
    Ok((columns, key))
}

use shared::sql::{clickhouse_identifier as quote_clickhouse, mysql_identifier as quote_mysql};



/// The ClickHouse table the sink writes for `database.table` (its default naming).
pub fn clickhouse_table(topic_prefix: &str, database: &str, table: &str) -> String {
    shared::kafka::change_table(&shared::kafka::table_topic(topic_prefix, database, table), database, table)
}

/// Key → (checksum of the row, its values, how many rows have the key).
type Rows = HashMap<String, (u64, Vec<Option<String>>, i64)>;

/// Rows a comparison holds in memory per side, about: a bigger table is
/// compared in buckets of its keys' hashes, both sides streamed once per
/// bucket, so memory stays the same however big the table.
const BUCKET_ROWS: u64 = 250_000;

/// Which keys one pass compares: those whose hash is `index` modulo `of`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    index: u64,
    of: u64,
}

impl Bucket {
    fn holds(&self, key: &str) -> bool {
        if self.of == 1 {
            return true;
        }
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        hasher.finish() % self.of == self.index
    }
}

/// Compares one table. A table with a primary key is compared key by key;
/// one without (keyless: the sink keeps its changes, with signs) as a
/// multiset of whole rows — the rows whose signs sum above zero, or the live
/// rows if the sink keeps it by a key of `capture.key_columns`. Both sides are
/// streamed, in as many key buckets as [`BUCKET_ROWS`] asks for.
async fn compare_table(conn: &mut Conn, clickhouse: &clickhouse::Client, args: &VerifyArgs, table: &str) -> Result<TableReport> {
    let (columns, key) = columns(conn, &args.database, table).await?;
    let key: Vec<usize> = if key.is_empty() { (0..columns.len()).collect() } else { key };
    let ch_table = clickhouse_table(&args.topic_prefix, &args.database, table);
    let present: Vec<String> = clickhouse
        .query("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ?")
        .bind(&ch_table)
        .fetch_all()
        .await
        .context("asking ClickHouse for the table's columns")?;
    let mysql_estimate: Option<u64> = conn
        .exec_first(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&args.database, table),
        )
        .await?
        .flatten();
    let ch_rows: u64 = if present.is_empty() {
        0
    } else {
        clickhouse.query(&format!("SELECT count() FROM {}", quote_clickhouse(&ch_table))).fetch_one().await.unwrap_or(0)
    };
    let buckets = mysql_estimate.unwrap_or(0).max(ch_rows).div_ceil(BUCKET_ROWS).max(1);
    let mut report = TableReport {
        table: format!("{}.{table}", args.database),
        table_missing: present.is_empty(),
        ..Default::default()
    };
    for index in 0..buckets {
        let bucket = Bucket { index, of: buckets };
        let source = read_mysql(conn, args, table, &columns, &key, bucket).await?;
        let target = read_clickhouse(clickhouse, &ch_table, &present, &columns, &key, bucket).await?;
        compare_rows(&source, &target, &columns, args.examples, &mut report);
    }
    Ok(report)
}

/// The MySQL rows of `bucket`, streamed (one row in flight at a time).
async fn read_mysql(conn: &mut Conn, args: &VerifyArgs, table: &str, columns: &[ColumnInfo], key: &[usize], bucket: Bucket) -> Result<Rows> {
    let select: Vec<String> = columns
        .iter()
        .map(|c| match c.kind {
            Kind::Binary => format!("HEX({})", quote_mysql(&c.name)),
            _ => quote_mysql(&c.name),
        })
        .collect();
    let sql = format!("SELECT {} FROM {}.{}", select.join(", "), quote_mysql(&args.database), quote_mysql(table));
    let mut rows: Rows = HashMap::new();
    let reading = || format!("reading MySQL {}.{table}", args.database);
    let mut result = conn.query_iter(sql).await.with_context(reading)?;
    while let Some(row) = result.next().await.with_context(reading)? {
        let values: Vec<Option<String>> = (0..columns.len())
            .map(|i| match row.as_ref(i) {
                Some(mysql_async::Value::NULL) | None => None,
                Some(mysql_async::Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                Some(other) => Some(other.as_sql(true).trim_matches('\'').to_string()),
            })
            .collect();
        insert_row(&mut rows, columns, key, values, 1, bucket);
    }
    Ok(rows)
}

/// The ClickHouse rows of `bucket` (its current rows, or for a change table
/// the images whose signs do not cancel out), streamed.
async fn read_clickhouse(
    clickhouse: &clickhouse::Client,
    ch_table: &str,
    present: &[String],
    columns: &[ColumnInfo],
    key: &[usize],
    bucket: Bucket,
) -> Result<Rows> {
    let mut rows: Rows = HashMap::new();
    if present.is_empty() {
        return Ok(rows);
    }
    // A column the sink has not added yet reads as NULL (and differs if MySQL has a value).
    let select: Vec<String> = columns
        .iter()
        .map(|c| match c.kind {
            _ if !present.iter().any(|p| *p == c.name) => "NULL".to_string(),
            Kind::Binary => format!("hex({})", quote_clickhouse(&c.name)),
            _ => format!("toString({})", quote_clickhouse(&c.name)),
        })
        .collect();
    let row = format!("toJSONString([{}])", select.join(", "));
    let from = quote_clickhouse(ch_table);
    let sql = if present.iter().any(|c| c == "_sign") && present.iter().any(|c| c == "_kafka_partition") {
        format!("SELECT {row} AS r, toInt64(sum(_sign)) FROM {from} GROUP BY r HAVING sum(_sign) != 0")
    } else {
        format!("SELECT {row}, toInt64(1) FROM {from} FINAL WHERE _is_deleted = 0")
    };
    let reading = || format!("reading ClickHouse {ch_table}");
    let mut cursor = clickhouse.query(&sql).fetch::<(String, i64)>().with_context(reading)?;
    while let Some((row, count)) = cursor.next().await.with_context(reading)? {
        let values: Vec<Option<String>> = serde_json::from_str(&row).with_context(|| format!("row of {ch_table}: {row}"))?;
        insert_row(&mut rows, columns, key, values, count, bucket);
    }
    Ok(rows)
}

/// Adds one bucket's differences to `report`.
fn compare_rows(source: &Rows, target: &Rows, columns: &[ColumnInfo], examples: usize, report: &mut TableReport) {
    report.mysql_rows += source.values().map(|r| r.2.max(0) as u64).sum::<u64>();
    report.clickhouse_rows += target.values().map(|r| r.2.max(0) as u64).sum::<u64>();
    let example = |report: &mut TableReport, text: String| {
        if report.examples.len() < examples {
            report.examples.push(text);
        }
    };
    let sorted: BTreeMap<&String, &(u64, Vec<Option<String>>, i64)> = source.iter().collect();
    for (pk, (sum, values, count)) in sorted {
        match target.get(pk) {
            None => {
                report.missing += *count as u64;
                example(report, format!("missing in ClickHouse: key ({pk})"));
            }
            Some((_, _, theirs)) if theirs != count => {
                // Whole rows (a keyless table): the same row a different number of times.
                if count > theirs {
                    report.missing += (count - theirs) as u64;
                } else {
                    report.extra += (theirs - count) as u64;
                }
                example(report, format!("row ({pk}): {count} in MySQL, {theirs} in ClickHouse"));
            }
            Some((other, theirs, _)) if other != sum => {
                report.different += 1;
                let column = (0..columns.len())
                    .find(|&i| normalize(columns[i].kind, values[i].as_deref()) != normalize(columns[i].kind, theirs[i].as_deref()))
                    .unwrap_or(0);
                example(
                    report,
                    format!("different: key ({pk}) column `{}`: MySQL {:?}, ClickHouse {:?}", columns[column].name, values[column], theirs[column]),
                );
            }
            Some(_) => {}
        }
    }
    for (pk, (_, _, count)) in target.iter().filter(|(pk, _)| !source.contains_key(*pk)) {
        report.extra += count.unsigned_abs();
        example(report, format!("extra in ClickHouse: key ({pk})"));
    }
}

/// Counts `count` rows of `values` under their key, if the key is in `bucket`.
/// A negative count (a change table whose images went more often than they
/// came) is kept as such: each one too many is an extra.
fn insert_row(rows: &mut Rows, columns: &[ColumnInfo], key: &[usize], values: Vec<Option<String>>, count: i64, bucket: Bucket) {
    let pk = key
        .iter()
        .map(|&i| normalize(columns[i].kind, values[i].as_deref()))
        .collect::<Vec<_>>()
        .join(", ");
    if !bucket.holds(&pk) {
        return;
    }
    let mut hasher = DefaultHasher::new();
    for (column, value) in columns.iter().zip(&values) {
        normalize(column.kind, value.as_deref()).hash(&mut hasher);
    }
    if count < 0 {
        rows.insert(format!("(removed more often than added) {pk}"), (0, values, count));
        return;
    }
    rows.entry(pk).or_insert((hasher.finish(), values, 0)).2 += count;
}

/// The comparable text of a value: what both sides agree on whatever their
/// own formatting.
fn normalize(kind: Kind, value: Option<&str>) -> String {
    let Some(value) = value else { return "\\N".into() };
    match kind {
        Kind::Plain => value.to_string(),
        Kind::Binary => value.to_ascii_uppercase(),
        Kind::Decimal if value.contains('.') => {
            let trimmed = value.trim_end_matches('0').trim_end_matches('.');
            if trimmed == "-0" { "0".into() } else { trimmed.to_string() }
        }
        Kind::Decimal => value.to_string(),
        Kind::DateTime => match value.split_once('.') {
            Some((whole, fraction)) => match fraction.trim_end_matches('0') {
                "" => whole.to_string(),
                digits => format!("{whole}.{digits}"),
            },
            None => value.to_string(),
        },
        Kind::Float => value.parse::<f64>().map(|f| format!("{:e}", f as f32)).unwrap_or_else(|_| value.to_string()),
        Kind::Json => serde_json::from_str::<serde_json::Value>(value).map(|v| canonical_json(&v)).unwrap_or_else(|_| value.to_string()),
    }
}

fn canonical_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, String> = map.iter().map(|(k, v)| (k, canonical_json(v))).collect();
            let body: Vec<String> = sorted.iter().map(|(k, v)| format!("{}:{v}", serde_json::Value::String((*k).clone()))).collect();
            format!("{{{}}}", body.join(","))
        }
        serde_json::Value::Array(items) => format!("[{}]", items.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

async fn clickstream(clickhouse: &clickhouse::Client, table: &str, expected: Option<u64>) -> Result<ClickstreamReport> {
    let exists: u64 = clickhouse
        .query("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?")
        .bind(table)
        .fetch_one()
        .await
        .context("asking ClickHouse whether the clickstream table exists")?;
    if exists == 0 {
        // Not created yet (the sink subscribes to a new topic within its metadata refresh): keep waiting.
        let expected = expected.unwrap_or(0);
        return Ok(ClickstreamReport {
            table: table.to_string(),
            expected,
            gaps: expected,
            table_missing: true,
            ..Default::default()
        });
    }
    let (rows, distinct, max): (u64, u64, i64) = clickhouse
        .query(&format!(
            "SELECT count(), uniqExact(globalseq), toInt64(ifNull(max(globalseq), 0)) FROM {}",
            quote_clickhouse(table)
        ))
        .fetch_one()
        .await
        .with_context(|| format!("reading clickstream table {table}"))?;
    let max = max.max(0) as u64;
    let expected = expected.unwrap_or(max);
    let in_range: u64 = clickhouse
        .query(&format!("SELECT uniqExact(globalseq) FROM {} WHERE globalseq BETWEEN 1 AND ?", quote_clickhouse(table)))
        .bind(expected)
        .fetch_one()
        .await?;
    Ok(ClickstreamReport {
        table: table.to_string(),
        rows,
        distinct,
        max_globalseq: max,
        expected,
        gaps: expected - in_range.min(expected),
        duplicates: rows - distinct,
        unexpected: distinct - in_range,
        table_missing: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_compare_across_the_type_mapping() {
        assert_eq!(normalize(Kind::Decimal, Some("12.50")), normalize(Kind::Decimal, Some("12.5")));
        assert_eq!(normalize(Kind::Decimal, Some("10.00")), "10");
        assert_ne!(normalize(Kind::Decimal, Some("10.01")), normalize(Kind::Decimal, Some("10.1")));
        assert_eq!(normalize(Kind::Decimal, Some("100")), "100");
        assert_eq!(normalize(Kind::DateTime, Some("2024-01-02 03:04:05.120000")), "2024-01-02 03:04:05.12");
        assert_eq!(normalize(Kind::DateTime, Some("2024-01-02 03:04:05.000")), normalize(Kind::DateTime, Some("2024-01-02 03:04:05")));
        assert_eq!(normalize(Kind::Json, Some(r#"{"b": [1, {"d":2,"c":3}], "a": null}"#)), r#"{"a":null,"b":[1,{"c":3,"d":2}]}"#);
        assert_eq!(normalize(Kind::Binary, Some("0aff")), "0AFF");
        assert_eq!(normalize(Kind::Plain, None), "\\N");
        assert_ne!(normalize(Kind::Plain, None), normalize(Kind::Plain, Some("\\N ")));
    }

    /// Buckets split the keys without loss or overlap, and a comparison over
    /// buckets finds what one over the whole table finds.
    #[test]
    fn buckets_cover_every_key_once_and_compare_alike() {
        let columns = vec![
            ColumnInfo { name: "id".into(), kind: Kind::Plain },
            ColumnInfo { name: "v".into(), kind: Kind::Plain },
        ];
        let row = |id: u32, v: &str| vec![Some(id.to_string()), Some(v.to_string())];
        let compare = |of: u64| {
            let mut report = TableReport::default();
            for index in 0..of {
                let bucket = Bucket { index, of };
                let (mut source, mut target) = (Rows::new(), Rows::new());
                for id in 0..1000 {
                    insert_row(&mut source, &columns, &[0], row(id, "a"), 1, bucket);
                    let value = if id % 100 == 7 { "b" } else { "a" }; // 10 differ
                    if id % 250 != 3 {
                        insert_row(&mut target, &columns, &[0], row(id, value), 1, bucket); // 4 missing
                    }
                }
                insert_row(&mut target, &columns, &[0], row(5000, "x"), 1, bucket); // 1 extra
                compare_rows(&source, &target, &columns, 0, &mut report);
            }
            (report.mysql_rows, report.clickhouse_rows, report.missing, report.extra, report.different)
        };
        assert_eq!(compare(1), (1000, 997, 4, 1, 10));
        assert_eq!(compare(7), compare(1));
        let held: u64 = (0..7).map(|index| {
            let mut rows = Rows::new();
            (0..1000).for_each(|id| insert_row(&mut rows, &columns, &[0], row(id, "a"), 1, Bucket { index, of: 7 }));
            rows.len() as u64
        }).sum();
        assert_eq!(held, 1000);
    }

    #[test]
    fn table_names_follow_the_sinks_default() {
        assert_eq!(clickhouse_table("cdc", "shop", "order_items"), "cdc_shop_order_items");
        assert_eq!(clickhouse_table("my-cdc", "shop", "orders"), "my_cdc_shop_orders");
    }
}
