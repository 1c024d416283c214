//! `producer-sim mysql`: an OLTP workload against MySQL/MariaDB that drives the
//! CDC path — new orders (multi-statement transactions), status changes
//! (primary-key stable updates), multi-row updates, deletes, new customers and
//! price changes, at a target rate, with a progress line and a summary, and an
//! optional mid-run DDL (a new nullable column). New orders sometimes add a
//! line under a savepoint and roll back to it, as applications do.
//!
//! Guarantee: every transaction is committed or rolled back whole (deadlocks
//! are retried); the summary counts only committed ones. A lost connection
//! (the server restarting) is reconnected with backoff and the run goes on; a
//! transaction cut by it is counted as "outcome unknown" (its COMMIT may or
//! may not have landed — the verifier compares tables, not intentions).

pub mod schema;

use crate::progress::ProgressLine;
use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, TxOpts};
use shared::mysql::MysqlConnector;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct MysqlLoadArgs {
    /// Database the workload creates (if missing) and writes.
    #[arg(long, default_value = "shop")]
    pub database: String,
    /// Stop after this many transactions.
    #[arg(long)]
    pub transactions: Option<u64>,
    /// Stop after this many seconds (default 60 when --transactions is not given).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Target transactions per second over all connections (0: as fast as possible).
    #[arg(long, default_value_t = 200)]
    pub rate: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Random seed (printed when not given).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Add a nullable column to `orders` after this many transactions.
    #[arg(long)]
    pub ddl_after: Option<u64>,
    /// Customers and products created before the run when the tables are empty.
    #[arg(long, default_value_t = 200)]
    pub initial_rows: u64,
}

/// Transaction kinds, with their weight in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NewOrder,
    AdvanceOrder,
    CancelOrder,
    NewCustomer,
    CreditRun,
    Reprice,
}

const MIX: [(Kind, u32); 6] = [
    (Kind::NewOrder, 40),
    (Kind::AdvanceOrder, 25),
    (Kind::CancelOrder, 5),
    (Kind::NewCustomer, 10),
    (Kind::CreditRun, 10),
    (Kind::Reprice, 10),
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::NewOrder => "new order (order + items + stock)",
            Kind::AdvanceOrder => "order status update",
            Kind::CancelOrder => "cancel: delete order + items",
            Kind::NewCustomer => "new customer",
            Kind::CreditRun => "multi-row credit update",
            Kind::Reprice => "product price change",
        }
    }

    fn pick(rng: &mut SmallRng) -> Kind {
        let total: u32 = MIX.iter().map(|(_, w)| w).sum();
        let mut n = rng.random_range(0..total);
        for (kind, weight) in MIX {
            if n < weight {
                return kind;
            }
            n -= weight;
        }
        Kind::NewOrder
    }
}

#[derive(Default)]
pub struct Counters {
    /// Transactions begun (a ticket each, so `--transactions` is exact).
    pub begun: AtomicU64,
    pub committed: [AtomicU64; 6],
    pub rows: AtomicU64,
    pub retries: AtomicU64,
    /// Transactions cut by a lost connection.
    pub interrupted: AtomicU64,
}

impl Counters {
    pub fn total(&self) -> u64 {
        self.committed.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

#[derive(Debug)]
pub struct Summary {
    pub by_kind: Vec<(&'static str, u64)>,
    pub transactions: u64,
    pub rows: u64,
    pub retries: u64,
    pub interrupted: u64,
    pub elapsed: Duration,
    pub ddl_done: bool,
}

impl Summary {
    pub fn render(&self) -> String {
        let mut out = String::from("mysql workload summary\n");
        for (name, n) in &self.by_kind {
            out.push_str(&format!("  {name:<36} {n:>10}\n"));
        }
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        out.push_str(&format!("  {:<36} {:>10}\n", "transactions committed", self.transactions));
        out.push_str(&format!("  {:<36} {:>10}\n", "rows changed", self.rows));
        out.push_str(&format!("  {:<36} {:>10}\n", "deadlock retries", self.retries));
        out.push_str(&format!("  {:<36} {:>10}\n", "cut by a lost connection", self.interrupted));
        out.push_str(&format!("  {:<36} {:>10.0}\n", "transactions/s", self.transactions as f64 / secs));
        out.push_str(&format!("  {:<36} {:>10}\n", "DDL (orders.coupon) applied", self.ddl_done));
        out
    }
}

/// Ids handed out so far, for picking existing rows.
#[derive(Default)]
struct Ids {
    customers: AtomicU64,
    products: AtomicU64,
    orders: AtomicU64,
}

pub async fn run(args: &MysqlLoadArgs, mysql: MysqlConnector, stop: Arc<AtomicBool>) -> Result<Summary> {
    let seed = args.seed.unwrap_or_else(rand::random);
    tracing::info!(seed, "mysql workload (replay with --seed {seed})");
    let mut admin = mysql.connect().await?;
    for statement in schema::create_statements(&args.database) {
        admin.query_drop(statement).await.context("creating the workload schema")?;
    }
    // `db` is the quoted database name, ready for statements.
    let db = &shared::sql::mysql_identifier(&args.database);
    let (customers, products): (u64, u64) = (
        admin.query_first(format!("SELECT COUNT(*) FROM {db}.customers")).await?.unwrap_or(0),
        admin.query_first(format!("SELECT COUNT(*) FROM {db}.products")).await?.unwrap_or(0),
    );
    let mut rng = SmallRng::seed_from_u64(seed);
    if customers == 0 {
        for _ in 0..args.initial_rows {
            new_customer(&mut admin, db, &mut rng).await?;
        }
    }
    if products == 0 {
        for i in 0..args.initial_rows {
            let price = rng.random_range(100..100_000) as f64 / 100.0;
            admin
                .exec_drop(
                    format!("INSERT INTO {db}.products (sku, title, price, stock, updated_at) VALUES (?, ?, ?, ?, NOW(6))"),
                    (format!("SKU-{i:06}"), format!("Product {i}"), format!("{price:.2}"), rng.random_range(10..1000)),
                )
                .await?;
        }
    }
    let ids = Arc::new(Ids::default());
    for (table, slot) in [("customers", &ids.customers), ("products", &ids.products), ("orders", &ids.orders)] {
        let max: Option<u64> = admin.query_first(format!("SELECT MAX(id) FROM {db}.{table}")).await?.flatten();
        slot.store(max.unwrap_or(0), Ordering::Relaxed);
    }
    drop(admin);

    let counters = Arc::new(Counters::default());
    let ddl_done = Arc::new(AtomicBool::new(false));
    let limit = args.transactions;
    let deadline = match (args.transactions, args.duration) {
        (_, Some(secs)) => Some(Instant::now() + Duration::from_secs(secs)),
        (None, None) => Some(Instant::now() + Duration::from_secs(60)),
        (Some(_), None) => None,
    };
    let progress_counters = counters.clone();
    let progress = ProgressLine::start(move |elapsed| {
        let n = progress_counters.total();
        format!("mysql: {n} transactions, {:.0}/s", n as f64 / elapsed.as_secs_f64().max(1e-9))
    });
    let started = Instant::now();
    let per_connection_interval = (args.rate > 0).then(|| Duration::from_secs_f64(args.connections as f64 / args.rate as f64));
    let mut workers = Vec::new();
    for w in 0..args.connections {
        let (mysql, ids, counters, stop, ddl_done) = (mysql.clone(), ids.clone(), counters.clone(), stop.clone(), ddl_done.clone());
        let (db, database) = (db.clone(), args.database.clone());
        let ddl_after = args.ddl_after;
        let mut rng = SmallRng::seed_from_u64(seed.wrapping_add(w as u64 + 1));
        workers.push(tokio::spawn(async move {
            let mut conn = mysql.connect().await?;
            let mut next = Instant::now();
            loop {
                if stop.load(Ordering::Relaxed)
                    || deadline.is_some_and(|d| Instant::now() >= d)
                    || limit.is_some_and(|l| counters.begun.fetch_add(1, Ordering::SeqCst) >= l)
                {
                    return Ok::<_, anyhow::Error>(());
                }
                if let Some(after) = ddl_after
                    && counters.total() >= after
                    && !ddl_done.swap(true, Ordering::SeqCst)
                {
                    match conn.query_drop(schema::ddl_statement(&database)).await {
                        Ok(()) => tracing::info!("DDL applied: orders.coupon added"),
                        Err(mysql_async::Error::Server(e)) if e.code == schema::DUPLICATE_COLUMN => {
                            tracing::info!("DDL already applied (orders.coupon exists)")
                        }
                        Err(e) if connection_lost(&e) => {
                            ddl_done.store(false, Ordering::SeqCst); // try again after reconnecting
                            conn = reconnect(&mysql, &stop).await?;
                            continue;
                        }
                        Err(e) => return Err(e).context("the mid-run DDL"),
                    }
                }
                let kind = Kind::pick(&mut rng);
                let rows = loop {
                    match transaction(&mut conn, &db, kind, &ids, &mut rng).await {
                        Ok(rows) => break Some(rows),
                        Err(mysql_async::Error::Server(e)) if e.code == 1213 || e.code == 1205 => {
                            counters.retries.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if connection_lost(&e) => {
                            counters.interrupted.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(error = %e, "connection lost; reconnecting");
                            conn = reconnect(&mysql, &stop).await?;
                            break None;
                        }
                        Err(e) => return Err(e).with_context(|| format!("{} transaction", kind.name())),
                    }
                };
                let Some(rows) = rows else { continue };
                let index = MIX.iter().position(|(k, _)| *k == kind).expect("kind in MIX");
                counters.committed[index].fetch_add(1, Ordering::Relaxed);
                counters.rows.fetch_add(rows, Ordering::Relaxed);
                if let Some(interval) = per_connection_interval {
                    next += interval;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        tokio::time::sleep(wait).await;
                    } else {
                        next = Instant::now();
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await.context("workload worker")??;
    }
    drop(progress);
    Ok(Summary {
        by_kind: MIX.iter().enumerate().map(|(i, (k, _))| (k.name(), counters.committed[i].load(Ordering::Relaxed))).collect(),
        transactions: counters.total(),
        rows: counters.rows.load(Ordering::Relaxed),
        retries: counters.retries.load(Ordering::Relaxed),
        interrupted: counters.interrupted.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        ddl_done: ddl_done.load(Ordering::Relaxed),
    })
}

/// The connection is gone (server restart, killed connection), as opposed to
/// a statement the server refused; any driver error also reconnects the workload.
fn connection_lost(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Driver(_)) || shared::mysql::connection_lost(e)
}

/// Connects again, backing off from 100 ms to 2 s, until the server answers or the run is stopped.
async fn reconnect(mysql: &MysqlConnector, stop: &AtomicBool) -> Result<Conn> {
    let mut delay = Duration::from_millis(100);
    loop {
        match mysql.connect().await {
            Ok(conn) => return Ok(conn),
            Err(e) if stop.load(Ordering::Relaxed) => return Err(e).context("reconnecting to MySQL"),
            Err(e) => tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "MySQL unreachable"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// `db`: the quoted database name (as for [`transaction`]).
async fn new_customer(conn: &mut Conn, db: &str, rng: &mut SmallRng) -> Result<u64, mysql_async::Error> {
    let n: u32 = rng.random();
    let attributes = if rng.random_bool(0.5) {
        Some(format!(r#"{{"tier": "{}", "newsletter": {}}}"#, ["bronze", "silver", "gold"][rng.random_range(0..3)], rng.random_bool(0.5)))
    } else {
        None
    };
    let phone = rng.random_bool(0.7).then(|| format!("+1-555-{:04}", rng.random_range(0..10_000)));
    conn.exec_drop(
        format!(
            "INSERT INTO {db}.customers (email, name, credit, attributes, phone, created_at, updated_at) VALUES (?, ?, ?, ?, ?, NOW(6), NOW(6))"
        ),
        (format!("user{n}@example.com"), format!("Customer {n}"), format!("{:.2}", rng.random_range(0..50_000) as f64 / 100.0), attributes, phone),
    )
    .await?;
    Ok(conn.affected_rows())
}

/// Runs one transaction of `kind`; returns the rows it changed.
async fn transaction(conn: &mut Conn, db: &str, kind: Kind, ids: &Ids, rng: &mut SmallRng) -> Result<u64, mysql_async::Error> {
    let pick = |slot: &AtomicU64, rng: &mut SmallRng| {
        let max = slot.load(Ordering::Relaxed).max(1);
        rng.random_range(1..=max)
    };
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let mut rows = 0;
    match kind {
        Kind::NewOrder => {
            let customer = pick(&ids.customers, rng);
            let lines = rng.random_range(1..=5);
            tx.exec_drop(
                format!("INSERT INTO {db}.orders (customer_id, status, total, note, created_at, updated_at) VALUES (?, 'new', 0, ?, NOW(6), NOW(6))"),
                (customer, rng.random_bool(0.3).then(|| "leave at the door".to_string())),
            )
            .await?;
            rows += 1;
            let order = tx.last_insert_id().unwrap_or(0);
            ids.orders.fetch_max(order, Ordering::Relaxed);
            // Now and then a line is added and taken back within the transaction:
            // a savepoint rolled back, as applications do (nothing of it is committed).
            if rng.random_bool(0.25) {
                tx.query_drop("SAVEPOINT offered_gift").await?;
                tx.exec_drop(
                    format!("INSERT INTO {db}.order_items (order_id, line, product_id, qty, price) VALUES (?, 99, ?, 1, 0)"),
                    (order, pick(&ids.products, rng)),
                )
                .await?;
                tx.query_drop("ROLLBACK TO SAVEPOINT offered_gift").await?;
                tx.query_drop("RELEASE SAVEPOINT offered_gift").await?;
            }
            for line in 1..=lines {
                let product = pick(&ids.products, rng);
                let qty = rng.random_range(1..=4);
                tx.exec_drop(
                    format!(
                        "INSERT INTO {db}.order_items (order_id, line, product_id, qty, price) \
                         SELECT ?, ?, id, ?, price FROM {db}.products WHERE id = ?"
                    ),
                    (order, line, qty, product),
                )
                .await?;
                rows += tx.affected_rows();
                tx.exec_drop(format!("UPDATE {db}.products SET stock = stock - ?, updated_at = NOW(6) WHERE id = ?"), (qty, product))
                    .await?;
                rows += tx.affected_rows();
            }
            tx.exec_drop(
                format!(
                    "UPDATE {db}.orders SET total = (SELECT COALESCE(SUM(qty * price), 0) FROM {db}.order_items WHERE order_id = ?) WHERE id = ?"
                ),
                (order, order),
            )
            .await?;
            rows += tx.affected_rows();
        }
        Kind::AdvanceOrder => {
            let order = pick(&ids.orders, rng);
            tx.exec_drop(
                format!(
                    "UPDATE {db}.orders SET status = CASE status WHEN 'new' THEN 'paid' WHEN 'paid' THEN 'shipped' ELSE status END, \
                     updated_at = NOW(6) WHERE id = ? AND status IN ('new', 'paid')"
                ),
                (order,),
            )
            .await?;
            rows += tx.affected_rows();
        }
        Kind::CancelOrder => {
            let order = pick(&ids.orders, rng);
            tx.exec_drop(format!("DELETE FROM {db}.order_items WHERE order_id = ?"), (order,)).await?;
            rows += tx.affected_rows();
            tx.exec_drop(format!("DELETE FROM {db}.orders WHERE id = ? AND status <> 'shipped'"), (order,)).await?;
            rows += tx.affected_rows();
        }
        Kind::NewCustomer => {
            let n: u32 = rng.random();
            tx.exec_drop(
                format!("INSERT INTO {db}.customers (email, name, created_at, updated_at) VALUES (?, ?, NOW(6), NOW(6))"),
                (format!("new{n}@example.com"), format!("New customer {n}")),
            )
            .await?;
            rows += 1;
            ids.customers.fetch_max(tx.last_insert_id().unwrap_or(0), Ordering::Relaxed);
        }
        Kind::CreditRun => {
            let first = pick(&ids.customers, rng);
            tx.exec_drop(
                format!("UPDATE {db}.customers SET credit = credit + 1.25, updated_at = NOW(6) WHERE id BETWEEN ? AND ? + 4"),
                (first, first),
            )
            .await?;
            rows += tx.affected_rows();
        }
        Kind::Reprice => {
            let product = pick(&ids.products, rng);
            let factor = [0.9, 0.95, 1.05, 1.1][rng.random_range(0..4)];
            tx.exec_drop(format!("UPDATE {db}.products SET price = ROUND(price * ?, 2), updated_at = NOW(6) WHERE id = ?"), (factor, product))
                .await?;
            rows += tx.affected_rows();
        }
    }
    tx.commit().await?;
    Ok(rows)
}
