//! Identifier quoting for the SQL the services build: the one place where a
//! name from configuration, a source server or a schema becomes part of a
//! statement. Every such name goes through these functions, so a name with
//! a quote, a backquote, a backslash or non-ASCII letters stays one name.

/// A MySQL/MariaDB identifier in backquotes, a backquote doubled.
pub fn mysql_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `` `database`.`table` `` for MySQL/MariaDB.
pub fn mysql_table(database: &str, table: &str) -> String {
    format!("{}.{}", mysql_identifier(database), mysql_identifier(table))
}

/// A ClickHouse identifier in backquotes, backslash and backquote escaped with a backslash.
pub fn clickhouse_identifier(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_one_identifier() {
        assert_eq!(mysql_identifier("orders"), "`orders`");
        assert_eq!(mysql_identifier("we`ird"), "`we``ird`");
        assert_eq!(mysql_table("a b", "naïve"), "`a b`.`naïve`");
        assert_eq!(clickhouse_identifier("we`ird\\x"), "`we\\`ird\\\\x`");
        assert_eq!(clickhouse_identifier("my col"), "`my col`");
    }
}
