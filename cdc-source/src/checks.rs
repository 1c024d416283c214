//! Start-up checks of the server: everything the binlog must be for the source
//! to see every row change whole. Each failure names the setting to change.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MariaDb,
    MySql,
}

#[derive(Debug)]
pub struct ServerFacts {
    pub flavor: Flavor,
    pub version: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the MySQL/MariaDB server is not set up for change data capture: {0}")]
pub struct CheckError(pub String);

/// Runs every check; `server_id` is the replica id the source will present.
pub async fn check_server(conn: &mut Conn, server_id: u32) -> Result<ServerFacts, CheckError> {
    let query_error = |e: mysql_async::Error| CheckError(format!("cannot read server settings: {e}"));
    let version: String = conn.query_first("SELECT VERSION()").await.map_err(query_error)?.unwrap_or_default();
    let flavor = if version.to_ascii_lowercase().contains("mariadb") { Flavor::MariaDb } else { Flavor::MySql };
    let rows: Vec<(String, String)> = conn
        .query(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN \
             ('log_bin','binlog_format','binlog_row_image','binlog_row_metadata','server_id',\
              'log_bin_compress','binlog_row_value_options')",
        )
        .await
        .map_err(query_error)?;
    let vars: HashMap<String, String> = rows.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_ascii_uppercase())).collect();
    let var = |name: &str| vars.get(name).map(String::as_str).unwrap_or("");
    let mut problems = Vec::new();
    if var("log_bin") != "ON" {
        problems.push("binary logging is off: start the server with log_bin (e.g. log_bin=mysql-bin)".to_string());
    }
    if var("binlog_format") != "ROW" {
        problems.push(format!("binlog_format is {:?}: set binlog_format=ROW", var("binlog_format")));
    }
    if var("binlog_row_image") != "FULL" {
        problems.push(format!(
            "binlog_row_image is {:?}: set binlog_row_image=FULL so updates and deletes carry whole rows",
            var("binlog_row_image")
        ));
    }
    // MySQL's binlog_transaction_compression is read (TRANSACTION_PAYLOAD events);
    // MariaDB's compressed events cannot be.
    if var("log_bin_compress") == "ON" {
        problems.push("MariaDB binlog compression is on: set log_bin_compress=OFF".into());
    }
    if var("binlog_row_value_options").contains("PARTIAL_JSON") {
        problems.push("binlog_row_value_options=PARTIAL_JSON: set it to '' so JSON updates carry full values".into());
    }
    if var("server_id") == server_id.to_string() {
        problems.push(format!("capture.server_id {server_id} is the server's own server_id: choose another, unique id"));
    }
    if !problems.is_empty() {
        return Err(CheckError(problems.join("; ")));
    }
    // A replica registered with our id is most likely this source's previous
    // run (killed; the server has not noticed yet). The server replaces it when
    // we register, so this is only worth a word: two *live* sources with one id
    // would keep disconnecting each other.
    let replicas = crate::server_sql::replica_server_ids(conn).await.unwrap_or_default();
    if replicas.contains(&server_id) {
        tracing::warn!(
            server_id,
            "a replica with this server_id is registered (a previous run of this source?); the server will replace it. \
             If another live reader uses this id, give capture.server_id a unique value"
        );
    }
    // Without FULL metadata table maps lack column names, keys, signedness and
    // ENUM values. Reading them from information_schema instead is only right
    // while no captured table changes, so the source does not guess.
    if var("binlog_row_metadata") != "FULL" {
        return Err(CheckError(format!(
            "binlog_row_metadata is {:?}: set binlog_row_metadata=FULL so every table map names its columns and key \
             (MySQL ≥ 8.0.1, MariaDB ≥ 10.5)",
            var("binlog_row_metadata")
        )));
    }
    Ok(ServerFacts { flavor, version })
}
