//! The OLTP schema the workload drives: customers, products, orders and
//! order_items, with the types a CDC pipeline must carry faithfully (DECIMAL
//! money, DATETIME(6), ENUM status, JSON attributes, nullable columns, a
//! composite primary key).

pub const TABLES: [&str; 4] = ["customers", "products", "orders", "order_items"];

pub fn create_statements(database: &str) -> Vec<String> {
    let q = |t: &str| shared::sql::mysql_table(database, t);
    vec![
        format!("CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4", shared::sql::mysql_identifier(database)),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (
               id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
               email VARCHAR(255) NOT NULL,
               name VARCHAR(100) NOT NULL,
               status ENUM('active','suspended','closed') NOT NULL DEFAULT 'active',
               credit DECIMAL(12,2) NOT NULL DEFAULT 0,
               attributes JSON NULL,
               phone VARCHAR(32) NULL,
               created_at DATETIME(6) NOT NULL,
               updated_at DATETIME(6) NOT NULL)",
            q("customers")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (
               id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
               sku VARCHAR(32) NOT NULL,
               title VARCHAR(200) NOT NULL,
               price DECIMAL(10,2) NOT NULL,
               stock INT NOT NULL,
               discontinued TINYINT(1) NOT NULL DEFAULT 0,
               updated_at DATETIME(6) NOT NULL)",
            q("products")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (
               id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
               customer_id BIGINT NOT NULL,
               status ENUM('new','paid','shipped','cancelled') NOT NULL,
               total DECIMAL(12,2) NOT NULL,
               note VARCHAR(200) NULL,
               created_at DATETIME(6) NOT NULL,
               updated_at DATETIME(6) NOT NULL)",
            q("orders")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (
               order_id BIGINT NOT NULL,
               line SMALLINT NOT NULL,
               product_id BIGINT NOT NULL,
               qty INT NOT NULL,
               price DECIMAL(10,2) NOT NULL,
               PRIMARY KEY (order_id, line))",
            q("order_items")
        ),
    ]
}

/// The optional mid-run DDL: a new nullable column on `orders`. (MySQL has no
/// `ADD COLUMN IF NOT EXISTS`: a retry that finds the column reports
/// [`DUPLICATE_COLUMN`], which counts as applied.)
pub fn ddl_statement(database: &str) -> String {
    format!("ALTER TABLE {} ADD COLUMN coupon VARCHAR(16) NULL", shared::sql::mysql_table(database, "orders"))
}

/// `ER_DUP_FIELDNAME`: the column exists already.
pub const DUPLICATE_COLUMN: u16 = 1060;
