//! The sink's CPU path per record, on one core, without broker or ClickHouse:
//! parse the Glue frame, decode the Avro datum, encode the RowBinary row.
//! Prints rows/s (best of 5 rounds of 500,000 clickstream records).
//!
//!     cargo bench -p ingest-sink --bench rows

use apache_avro::Schema;
use apache_avro::types::Value;
use ingest_sink::clickhouse::columns::{columns_of, encode};
use producer_sim::clickstream::model::{CLICK_EVENT_SCHEMA, users_of_worker};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use shared::glue::codec::decode_datum;
use shared::glue::{Compression, Frame, GlueAvroEncoder, RegisteredSchema};
use std::hint::black_box;
use std::time::Instant;

const RECORDS: usize = 500_000;

fn main() {
    let registered = RegisteredSchema {
        version_id: uuid::Uuid::new_v4(),
        definition: CLICK_EVENT_SCHEMA.into(),
        schema: Schema::parse_str(CLICK_EVENT_SCHEMA).unwrap(),
    };
    let encoder = GlueAvroEncoder::new(&registered, Compression::None).unwrap();
    let mut users = users_of_worker(0, 1, 1000, 7);
    let mut rng = SmallRng::seed_from_u64(7);
    let frames: Vec<Vec<u8>> = (0..RECORDS)
        .map(|i| {
            let n = users.len();
            let event = users[i % n].next_event(i as i64 + 1, 1_700_000_000_000, &mut rng);
            let mut frame = Vec::new();
            encoder.encode(&event, &mut frame).unwrap();
            frame
        })
        .collect();
    let columns = columns_of(&registered.schema).unwrap();

    let mut best_decode = 0.0f64;
    let mut best_total = 0.0f64;
    let mut rows = Vec::with_capacity(RECORDS * 64);
    for _ in 0..5 {
        let start = Instant::now();
        let values: Vec<Value> = frames
            .iter()
            .map(|f| decode_datum(&registered.schema, &Frame::parse(f).unwrap().datum).unwrap())
            .collect();
        let decoded = start.elapsed();
        rows.clear();
        for value in &values {
            let Value::Record(fields) = value else { unreachable!() };
            for (column, (_, field)) in columns.iter().zip(fields) {
                encode(column, field, &mut rows).unwrap();
            }
        }
        black_box(&rows);
        best_decode = best_decode.max(RECORDS as f64 / decoded.as_secs_f64());
        best_total = best_total.max(RECORDS as f64 / start.elapsed().as_secs_f64());
    }
    println!("sink CPU path, one thread, {RECORDS} clickstream records per round, best of 5");
    println!("{:<44} {:>12.0} rows/s", "frame parse + Avro decode", best_decode);
    println!("{:<44} {:>12.0} rows/s", "frame parse + Avro decode + RowBinary", best_total);
    println!("{:<44} {:>12.1}", "RowBinary bytes per row", rows.len() as f64 / RECORDS as f64);
}
