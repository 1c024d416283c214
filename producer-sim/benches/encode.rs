//! Throughput of the clickstream's CPU path on one core, stage by stage:
//! generating events, encoding them (Avro + Glue frame, and Connect JSON for
//! comparison), and both together. Prints events/s (best of 5 rounds).
//!
//!     cargo bench -p producer-sim --bench encode

use apache_avro::Schema;
use producer_sim::clickstream::model::{CLICK_EVENT_SCHEMA, ClickEvent, users_of_worker};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use shared::connect_json::ConnectJsonWriter;
use shared::glue::{Compression, GlueAvroEncoder, RegisteredSchema};
use std::hint::black_box;
use std::time::Instant;

const EVENTS: usize = 1_000_000;
const ROUNDS: usize = 5;

fn best_rate(name: &str, mut round: impl FnMut() -> usize) {
    let mut best = 0.0f64;
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        bytes = round();
        let rate = EVENTS as f64 / start.elapsed().as_secs_f64();
        best = best.max(rate);
    }
    let size = if bytes > 0 { format!("{:>6.1} bytes/event", bytes as f64 / EVENTS as f64) } else { String::new() };
    println!("{name:<40} {best:>12.0} events/s   {size}");
}

fn generate(n: usize) -> Vec<ClickEvent> {
    let mut users = users_of_worker(0, 1, 1000, 7);
    let mut rng = SmallRng::seed_from_u64(7);
    (0..n)
        .map(|i| {
            let n = users.len();
            users[i % n].next_event(i as i64 + 1, 1_700_000_000_000 + i as i64, &mut rng)
        })
        .collect()
}

fn main() {
    let registered = RegisteredSchema {
        version_id: uuid::Uuid::new_v4(),
        definition: CLICK_EVENT_SCHEMA.into(),
        schema: Schema::parse_str(CLICK_EVENT_SCHEMA).unwrap(),
    };
    let events = generate(EVENTS);
    println!("clickstream CPU path, one thread, {EVENTS} events per round, best of {ROUNDS}");

    best_rate("generate (session model)", || {
        black_box(generate(EVENTS));
        0
    });

    let avro = GlueAvroEncoder::new(&registered, Compression::None).unwrap();
    let zlib = GlueAvroEncoder::new(&registered, Compression::Zlib).unwrap();
    let json = ConnectJsonWriter::new(&registered.schema, false);
    let mut buf = Vec::with_capacity(256);
    let mut encode_all = |name: &str, encode: &dyn Fn(&ClickEvent, &mut Vec<u8>)| {
        best_rate(name, || {
            let mut total = 0;
            for event in &events {
                buf.clear();
                encode(event, &mut buf);
                total += black_box(&buf).len();
            }
            total
        })
    };
    encode_all("encode Avro + Glue frame", &|e, out| avro.encode(e, out).unwrap());
    encode_all("encode Avro + Glue frame, zlib", &|e, out| zlib.encode(e, out).unwrap());
    encode_all("encode JSON (no schema)", &|e, out| json.write(e, out).unwrap());

    let mut users = users_of_worker(0, 1, 1000, 7);
    let mut rng = SmallRng::seed_from_u64(7);
    best_rate("generate + encode Avro + Glue frame", || {
        let mut total = 0;
        for i in 0..EVENTS {
            let n = users.len();
            let event = users[i % n].next_event(i as i64 + 1, 1_700_000_000_000, &mut rng);
            buf.clear();
            avro.encode(&event, &mut buf).unwrap();
            total += black_box(&buf).len();
        }
        total
    });
}
