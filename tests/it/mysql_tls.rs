//! `[mysql.tls]` against the real servers: MySQL requires TLS and verifies
//! with its own CA (`verify_ca`, what every other test uses); a mode a server
//! cannot satisfy fails at once with the fix in the message; a
//! `caching_sha2_password` user also authenticates without TLS (the server's
//! RSA key exchange) when the server allows plain connections.

use integration_tests::{Stack, unique_name};
use mysql_async::prelude::Queryable;
use shared::config::{MysqlConfig, MysqlTls, MysqlTlsMode};
use shared::mysql::MysqlConnector;
use shared::secret::Secret;

fn with_mode(mut config: MysqlConfig, mode: MysqlTlsMode) -> MysqlConfig {
    config.tls = MysqlTls { mode, ..MysqlTls::default() };
    config
}

async fn connect(config: &MysqlConfig) -> Result<mysql_async::Conn, String> {
    MysqlConnector::new(config).unwrap().connect().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn tls_modes_against_mysql_and_mariadb() {
    let stack = Stack::get();
    // MySQL: verify_ca with the server's CA, and the session is encrypted.
    let mut conn = stack.mysql.conn().await;
    let cipher: Option<(String, String)> = conn.query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'").await.unwrap();
    assert!(cipher.is_some_and(|(_, c)| !c.is_empty()), "the MySQL session is encrypted");
    // ... and preferred/required encrypt without checking the certificate.
    for mode in [MysqlTlsMode::Preferred, MysqlTlsMode::Required] {
        connect(&with_mode(stack.mysql.config(), mode)).await.unwrap();
    }
    // verify_identity: the server's self-generated certificate names no host.
    let mut identity = stack.mysql.config();
    identity.tls.mode = MysqlTlsMode::VerifyIdentity;
    let error = connect(&identity).await.unwrap_err();
    assert!(error.contains("certificate") && error.contains("verify_ca"), "{error}");
    // disabled against a server that requires TLS: the fix is named.
    let error = connect(&with_mode(stack.mysql.config(), MysqlTlsMode::Disabled)).await.unwrap_err();
    assert!(error.contains("requires TLS") && error.contains("mysql.tls.mode"), "{error}");

    // MariaDB in the stack offers no TLS: preferred falls back to plain, required fails with advice.
    connect(&with_mode(stack.mariadb.config(), MysqlTlsMode::Preferred)).await.unwrap();
    let error = connect(&with_mode(stack.mariadb.config(), MysqlTlsMode::Required)).await.unwrap_err();
    assert!(error.contains("does not offer TLS") && error.contains("mysql.tls.mode"), "{error}");
}

#[tokio::test]
async fn caching_sha2_password_without_tls() {
    let stack = Stack::get();
    let mut admin = stack.mysql.conn().await;
    let user = unique_name("sha2");
    admin
        .query_drop(format!("CREATE USER '{user}'@'%' IDENTIFIED WITH caching_sha2_password BY 'sha2-secret'"))
        .await
        .unwrap();
    admin.query_drop("SET GLOBAL require_secure_transport = OFF").await.unwrap();
    let config = MysqlConfig {
        user: user.clone(),
        password: Secret::new("sha2-secret"),
        ..with_mode(stack.mysql.config(), MysqlTlsMode::Disabled)
    };
    // First login: full authentication through the server's RSA key; second: the server's cache.
    let first = connect(&config).await;
    let second = connect(&config).await;
    admin.query_drop("SET GLOBAL require_secure_transport = ON").await.unwrap();
    admin.query_drop(format!("DROP USER '{user}'@'%'")).await.unwrap();
    let mut first = first.unwrap();
    let cipher: Option<(String, String)> = first.query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'").await.unwrap();
    assert!(cipher.is_none_or(|(_, c)| c.is_empty()), "the session is plain");
    second.unwrap();
}
