//! Connections to MySQL and MariaDB, encrypted as `[mysql.tls]` says.
//!
//! Guarantee: every connection a service opens goes through
//! [`MysqlConnector::connect`], so the TLS mode holds for all of them (the
//! source's catalog and binlog connections, the workload, `verify`). A mode the
//! server cannot satisfy (`required` or stricter against a server without TLS,
//! a certificate that does not verify) is an error naming the setting, never a
//! silent downgrade; only `preferred` falls back to plain, and says so once.

use crate::config::{ConfigError, MysqlConfig, MysqlTlsMode};
use mysql_async::{ClientIdentity, Conn, DriverError, Opts, OptsBuilder, SslOpts};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// TCP keepalive on every connection.
const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// Opens connections to one server with the configured credentials and TLS.
#[derive(Clone)]
pub struct MysqlConnector {
    opts: Opts,
    plain: Opts,
    mode: MysqlTlsMode,
    /// `preferred` found a server without TLS: connect plainly from now on.
    server_lacks_tls: Arc<AtomicBool>,
    endpoint: String,
}

/// A failed connection, with what to do about it when the cause is TLS.
#[derive(Debug, thiserror::Error)]
#[error("connecting to MySQL at {endpoint}: {source}{advice}")]
pub struct ConnectError {
    pub endpoint: String,
    #[source]
    pub source: mysql_async::Error,
    advice: &'static str,
}

impl ConnectError {
    /// The server refused or dropped the connection for a reason that may pass (network, restart, overload).
    pub fn is_transient(&self) -> bool {
        self.advice.is_empty() && connection_lost(&self.source)
    }
}

/// Whether a statement failed because its connection went away (a server
/// restarting or shutting down, the network, a killed connection, an idle
/// timeout) rather than because the server refused the statement: worth
/// doing again on a new connection. The one rule every service uses.
pub fn connection_lost(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Io(_) | mysql_async::Error::Driver(DriverError::ConnectionClosed) => true,
        // 1053 server shutdown in progress, 1317 statement interrupted (by a shutdown or
        // KILL QUERY), 1927 connection killed (MariaDB), 4031 disconnected for inactivity (MySQL).
        mysql_async::Error::Server(e) => matches!(e.code, 1053 | 1317 | 1927 | 4031),
        _ => false,
    }
}

impl MysqlConnector {
    /// Fails only when the client certificate or key files cannot be read or paired.
    pub fn new(config: &MysqlConfig) -> Result<Self, ConfigError> {
        let plain = OptsBuilder::default()
            .ip_or_hostname(config.host.clone())
            .tcp_port(config.port)
            .user(Some(config.user.clone()))
            .pass(Some(config.password.expose().to_string()))
            .prefer_socket(false)
            // The client refuses packets above this; left unset it takes the server's
            // `max_allowed_packet` (16 MiB on MariaDB), but a binlog event is sent whole
            // whatever that says (an UPDATE of a 10 MiB row is a 20 MiB event), and the
            // protocol's largest packet is 1 GiB. What we send stays within the server's limit.
            .max_allowed_packet(Some(1 << 30))
            // A peer that vanishes without closing (a failover, a dropped NAT entry) is noticed.
            .tcp_keepalive(Some(KEEPALIVE));
        let tls = &config.tls;
        let ssl = match tls.mode {
            MysqlTlsMode::Disabled => None,
            mode => {
                let verify_chain = matches!(mode, MysqlTlsMode::VerifyCa | MysqlTlsMode::VerifyIdentity);
                let mut ssl = SslOpts::default()
                    .with_danger_accept_invalid_certs(!verify_chain)
                    .with_danger_skip_domain_validation(mode != MysqlTlsMode::VerifyIdentity);
                if let Some(ca) = &tls.ca_file {
                    ssl = ssl.with_root_certs(vec![ca.clone().into()]).with_disable_built_in_roots(true);
                }
                if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
                    ssl = ssl.with_client_identity(Some(ClientIdentity::new(crate::tls::client_identity(cert, key, "mysql.tls")?.into())));
                }
                Some(ssl)
            }
        };
        Ok(Self {
            opts: plain.clone().ssl_opts(ssl).into(),
            plain: plain.into(),
            mode: tls.mode,
            server_lacks_tls: Arc::new(AtomicBool::new(false)),
            endpoint: format!("{}:{} as {}", config.host, config.port, config.user),
        })
    }

    /// `host:port as user`, for messages.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A new connection.
    pub async fn connect(&self) -> Result<Conn, ConnectError> {
        if self.mode == MysqlTlsMode::Preferred && self.server_lacks_tls.load(Ordering::Relaxed) {
            return Conn::new(self.plain.clone()).await.map_err(|e| self.error(e));
        }
        match Conn::new(self.opts.clone()).await {
            Err(mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer)) if self.mode == MysqlTlsMode::Preferred => {
                tracing::warn!(server = %self.endpoint, "the server does not offer TLS; connecting unencrypted (mysql.tls.mode = \"preferred\")");
                self.server_lacks_tls.store(true, Ordering::Relaxed);
                Conn::new(self.plain.clone()).await.map_err(|e| self.error(e))
            }
            other => other.map_err(|e| self.error(e)),
        }
    }

    fn error(&self, source: mysql_async::Error) -> ConnectError {
        let text = source.to_string();
        let advice = match &source {
            mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer) => {
                "; the server does not offer TLS but mysql.tls.mode requires it: enable TLS on the server, or set mysql.tls.mode = \"preferred\" or \"disabled\""
            }
            mysql_async::Error::Server(e) if e.code == 3159 => {
                "; the server requires TLS (require_secure_transport=ON): set mysql.tls.mode = \"preferred\" or stricter"
            }
            _ if text.contains("certificate") || text.contains("Certificate") => {
                "; the server's TLS certificate did not verify: set mysql.tls.ca_file to the CA that signed it, use mode \"verify_ca\" if the name does not match, or \"required\" to skip verification"
            }
            _ => "",
        };
        ConnectError {
            endpoint: self.endpoint.clone(),
            source,
            advice,
        }
    }
}
