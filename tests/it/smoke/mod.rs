//! Each service of the local stack, exercised through the client library the
//! services use, with assertions on what comes back.

mod clickhouse;
mod glue;
mod kafka;
mod mariadb;
mod redis;
