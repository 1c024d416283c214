//! The simulated shop: users with a fixed device and address, whose sessions
//! walk login → home page → catalog → product pages → cart → checkout, or
//! give up somewhere on the way.
//!
//! Pure and deterministic for a given seed (no I/O, no clock): the caller
//! supplies the global sequence number and the timestamp of each event, so
//! the model can be unit-tested and benchmarked on its own.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The record, in the shape of the well-known ClickStream sample
/// (`samples.clickstream.avro.ClickEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClickEvent {
    pub ip: String,
    /// Milliseconds since the Unix epoch.
    pub eventtimestamp: i64,
    pub devicetype: String,
    pub event_type: String,
    /// The product category, on catalog, product and cart events.
    pub product_type: Option<String>,
    pub userid: i32,
    /// 1, 2, 3, ... across all workers of a run: unique and gap-free.
    pub globalseq: i64,
    /// The `globalseq` of this user's previous event in the run (0 for the first).
    pub prevglobalseq: i64,
}

/// The Avro schema of [`ClickEvent`], as registered in Glue.
pub const CLICK_EVENT_SCHEMA: &str = r#"{"type":"record","name":"ClickEvent","namespace":"samples.clickstream.avro","fields":[{"name":"ip","type":"string"},{"name":"eventtimestamp","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"devicetype","type":"string"},{"name":"event_type","type":"string"},{"name":"product_type","type":["null","string"],"default":null},{"name":"userid","type":"int"},{"name":"globalseq","type":"long"},{"name":"prevglobalseq","type":"long"}]}"#;

pub const EVENT_TYPES: [&str; 6] = ["login", "home_page", "product_catalog", "product_page", "add_to_cart", "order_checkout"];
const CATEGORIES: [&str; 8] = ["Electronics", "Books", "Clothing", "Home", "Toys", "Sports", "Beauty", "Grocery"];
const DEVICES: [(&str, f64); 3] = [("mobile", 0.6), ("computer", 0.3), ("tablet", 0.1)];

/// Where a user is in the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    /// Between sessions: the next event is a login.
    Away,
    Login,
    Home,
    Catalog,
    Product,
    Cart,
    Checkout,
}

impl Page {
    fn event_type(self) -> &'static str {
        match self {
            Page::Away => unreachable!("no event is emitted while away"),
            Page::Login => "login",
            Page::Home => "home_page",
            Page::Catalog => "product_catalog",
            Page::Product => "product_page",
            Page::Cart => "add_to_cart",
            Page::Checkout => "order_checkout",
        }
    }
}

/// One simulated user and their current session.
#[derive(Debug, Clone)]
pub struct User {
    pub userid: i32,
    ip: String,
    device: &'static str,
    page: Page,
    category: &'static str,
    items_in_cart: u32,
    last_globalseq: i64,
}

impl User {
    pub fn new(userid: i32, rng: &mut SmallRng) -> Self {
        let ip = format!("{}.{}.{}.{}", rng.random_range(11..=223), rng.random::<u8>(), rng.random::<u8>(), rng.random_range(1..=254));
        let roll: f64 = rng.random();
        let mut acc = 0.0;
        let device = DEVICES
            .iter()
            .find(|(_, p)| {
                acc += p;
                roll < acc
            })
            .map_or(DEVICES[0].0, |(d, _)| d);
        Self {
            userid,
            ip,
            device,
            page: Page::Away,
            category: CATEGORIES[0],
            items_in_cart: 0,
            last_globalseq: 0,
        }
    }

    /// Whether the last event ended a session (checkout, or giving up).
    pub fn between_sessions(&self) -> bool {
        self.page == Page::Away
    }

    /// Moves the user to their next page and returns that page's event.
    pub fn next_event(&mut self, globalseq: i64, eventtimestamp: i64, rng: &mut SmallRng) -> ClickEvent {
        self.page = self.next_page(rng);
        if self.page == Page::Catalog && rng.random_bool(0.6) {
            self.category = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
        }
        if self.page == Page::Cart {
            self.items_in_cart += 1;
        }
        let product_type = matches!(self.page, Page::Catalog | Page::Product | Page::Cart).then(|| self.category.to_string());
        let event = ClickEvent {
            ip: self.ip.clone(),
            eventtimestamp,
            devicetype: self.device.to_string(),
            event_type: self.page.event_type().to_string(),
            product_type,
            userid: self.userid,
            globalseq,
            prevglobalseq: self.last_globalseq,
        };
        self.last_globalseq = globalseq;
        if self.page == Page::Checkout || self.gives_up(rng) {
            self.page = Page::Away;
            self.items_in_cart = 0;
        }
        event
    }

    fn next_page(&self, rng: &mut SmallRng) -> Page {
        let roll: f64 = rng.random();
        match self.page {
            Page::Away => Page::Login,
            Page::Login => Page::Home,
            Page::Home | Page::Checkout => Page::Catalog,
            Page::Catalog => {
                if roll < 0.75 { Page::Product } else { Page::Catalog }
            }
            Page::Product => match roll {
                r if r < 0.35 => Page::Cart,
                r if r < 0.85 => Page::Catalog,
                _ => Page::Product,
            },
            Page::Cart => {
                if roll < 0.5 { Page::Checkout } else { Page::Catalog }
            }
        }
    }

    /// A session can end after any page but login/checkout: a bounce from the
    /// home page, or abandonment (more likely with an empty cart).
    fn gives_up(&self, rng: &mut SmallRng) -> bool {
        let p = match self.page {
            Page::Home => 0.10,
            Page::Catalog | Page::Product if self.items_in_cart == 0 => 0.08,
            Page::Catalog | Page::Product | Page::Cart => 0.04,
            Page::Away | Page::Login | Page::Checkout => 0.0,
        };
        rng.random_bool(p)
    }
}

/// The users one worker simulates: `userid`s `first, first + stride, ...` up to `users`.
pub fn users_of_worker(worker: usize, workers: usize, users: u32, seed: u64) -> Vec<User> {
    let mut rng = SmallRng::seed_from_u64(seed ^ (worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (1..=users as i32)
        .filter(|u| (*u as usize - 1) % workers == worker)
        .map(|u| User::new(u, &mut rng))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn sessions_follow_the_shop_flow() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut user = User::new(7, &mut rng);
        let mut previous = "away".to_string();
        let mut seen = HashSet::new();
        for seq in 1..=20_000 {
            let was_away = user.between_sessions();
            let event = user.next_event(seq, 1_700_000_000_000 + seq, &mut rng);
            let allowed: &[&str] = match previous.as_str() {
                _ if was_away => &["login"],
                "login" => &["home_page"],
                "home_page" | "order_checkout" => &["product_catalog"],
                "product_catalog" => &["product_page", "product_catalog"],
                "product_page" => &["add_to_cart", "product_catalog", "product_page"],
                "add_to_cart" => &["order_checkout", "product_catalog"],
                other => panic!("unexpected {other}"),
            };
            assert!(allowed.contains(&event.event_type.as_str()), "{previous} -> {}", event.event_type);
            assert_eq!(event.product_type.is_some(), ["product_catalog", "product_page", "add_to_cart"].contains(&event.event_type.as_str()));
            assert_eq!(event.prevglobalseq, seq - 1);
            assert_eq!(event.userid, 7);
            seen.insert(event.event_type.clone());
            previous = event.event_type;
        }
        assert_eq!(seen.len(), EVENT_TYPES.len(), "every event type occurs: {seen:?}");
    }

    #[test]
    fn workers_split_users_without_overlap() {
        let all: Vec<i32> = (0..3).flat_map(|w| users_of_worker(w, 3, 10, 42)).map(|u| u.userid).collect();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(sorted, (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn same_seed_same_users() {
        let a: Vec<String> = users_of_worker(0, 1, 5, 9).into_iter().map(|u| u.ip).collect();
        let b: Vec<String> = users_of_worker(0, 1, 5, 9).into_iter().map(|u| u.ip).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn events_encode_with_the_registered_schema() {
        let schema = apache_avro::Schema::parse_str(CLICK_EVENT_SCHEMA).unwrap();
        let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&schema).build().unwrap();
        let mut rng = SmallRng::seed_from_u64(3);
        let mut user = User::new(1, &mut rng);
        for seq in 1..100 {
            let event = user.next_event(seq, 0, &mut rng);
            writer.write_ser_to_vec(&event).unwrap();
        }
    }
}
