//! `producer-sim clickstream`: an e-commerce clickstream for load and
//! correctness tests.
//!
//! Guarantees of a run that ends with `failed = 0`: the topic holds events
//! with `globalseq` 1..=`highest_globalseq`, each exactly once (idempotent
//! producer, no gaps: see [`worker`]); each user's events are on one partition
//! (key = userid) in `globalseq` order, chained by `prevglobalseq`; with Avro,
//! every record names the Glue schema version it was written with.

pub mod delivery;
pub mod model;
pub mod options;
pub mod worker;

use crate::progress::ProgressLine;
use anyhow::{Context, Result, bail};
use delivery::Counters;
use model::CLICK_EVENT_SCHEMA;
use options::{ClickstreamArgs, Format};
use rdkafka::producer::{Producer, ThreadedProducer};
use rdkafka::util::Timeout;
use shared::config::GlueConfig;
use shared::connect_json::ConnectJsonWriter;
use shared::glue::{GlueAvroEncoder, GlueRegistry, RegisteredSchema, RegistrationOptions};
use shared::kafka::{ClientRole, KafkaConfig, KafkaContext, TopicOutcome, ensure_topic};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;
use worker::{Output, Pacing, RecordEncoder, Worker};

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    pub topic: String,
    pub seed: u64,
    /// Handed to the producer.
    pub sent: u64,
    /// Acknowledged by the broker.
    pub delivered: u64,
    pub failed: u64,
    pub first_failure: Option<String>,
    /// Events are numbered 1..=highest_globalseq.
    pub highest_globalseq: u64,
    pub schema_version_id: Option<Uuid>,
    pub elapsed: Duration,
    pub interrupted: bool,
    pub dry_run: bool,
}

impl Summary {
    pub fn events_per_sec(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<18} {v}\n"));
        line("topic", self.topic.clone());
        line("seed", self.seed.to_string());
        if let Some(id) = self.schema_version_id {
            line("schema version", id.to_string());
        }
        line("events sent", self.sent.to_string());
        line(
            "delivered",
            if self.dry_run { "0 (dry run: nothing was sent)".into() } else { self.delivered.to_string() },
        );
        line("failed", self.failed.to_string());
        if let Some(reason) = &self.first_failure {
            line("first failure", reason.clone());
        }
        line("highest globalseq", self.highest_globalseq.to_string());
        line(
            "elapsed",
            format!("{:.2} s ({:.0} events/s)", self.elapsed.as_secs_f64(), self.events_per_sec()),
        );
        if self.interrupted {
            line("stopped by", "Ctrl-C (in-flight events were flushed)".into());
        }
        format!("clickstream summary\n{out}")
    }
}

/// Runs the simulator until its event count or duration is reached, or
/// `stop` is set (Ctrl-C), then flushes and summarises.
pub async fn run(args: &ClickstreamArgs, kafka: &KafkaConfig, glue: &GlueConfig, stop: Arc<AtomicBool>) -> Result<Summary> {
    if args.threads == 0 || args.users == 0 {
        bail!("--threads and --users must be at least 1");
    }
    if args.events.is_none() && args.duration.is_none() {
        bail!("give --events N or --duration SECONDS (or both); Ctrl-C also stops a run");
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    tracing::info!(topic = %args.topic, seed, threads = args.threads, users = args.users, "starting clickstream");

    let schema = apache_avro::Schema::parse_str(CLICK_EVENT_SCHEMA).expect("the built-in schema is valid");
    let registered = match args.format {
        Format::Avro => Some(register_schema(args, glue).await?),
        Format::Json => None,
    };

    let counters = Arc::new(Counters::default());
    let producer = if args.dry_run {
        None
    } else {
        Some(create_producer(args, kafka, counters.clone()).await?)
    };

    let sequence = AtomicU64::new(0);
    let started = Instant::now();
    let progress = {
        let counters = counters.clone();
        ProgressLine::start(move |elapsed| {
            let sent = Counters::get(&counters.sent);
            format!(
                "clickstream: {sent} events ({:.0}/s), delivered {}, failed {}",
                sent as f64 / elapsed.as_secs_f64().max(1e-9),
                Counters::get(&counters.delivered),
                Counters::get(&counters.failed),
            )
        })
    };
    let deadline = args.duration.map(|s| started + Duration::from_secs(s));
    let pacing = if args.no_delay {
        Pacing::NoDelay
    } else {
        Pacing::Realistic {
            think: Duration::from_millis(args.think_time_ms),
            session_gap: Duration::from_millis(args.session_gap_ms),
        }
    };

    let deadline_hit = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.threads)
            .map(|index| {
                let worker = Worker {
                    index,
                    workers: args.threads,
                    users: args.users,
                    seed,
                    pacing,
                    rate: args.rate as f64 / args.threads as f64,
                    max_events: args.events,
                    sequence: &sequence,
                    stop: &stop,
                    counters: &counters,
                };
                let (registered, schema, producer) = (&registered, &schema, &producer);
                scope.spawn(move || {
                    let encoder = match registered {
                        Some(registered) => RecordEncoder::Avro(
                            GlueAvroEncoder::new(registered, args.frame_compression).expect("schema resolves"),
                        ),
                        None => RecordEncoder::Json(ConnectJsonWriter::new(schema, args.json_with_schema)),
                    };
                    let output = match producer {
                        Some(producer) => Output::Kafka { producer, topic: &args.topic },
                        None => Output::Discard,
                    };
                    worker.run(&encoder, &output);
                })
            })
            .collect();
        // Watch for the deadline while the workers run; Ctrl-C sets `stop` from outside.
        let mut deadline_hit = false;
        while !handles.iter().all(|h| h.is_finished()) {
            if !deadline_hit && deadline.is_some_and(|d| Instant::now() >= d) {
                deadline_hit = true;
                stop.store(true, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for handle in handles {
            handle.join().expect("worker thread panicked");
        }
        deadline_hit
    });
    let interrupted = stop.load(Ordering::Relaxed) && !deadline_hit && Counters::get(&counters.encode_errors) == 0;

    if let Some(producer) = &producer {
        // Everything queued is delivered (or fails) before we report.
        if let Err(error) = producer.flush(Timeout::After(Duration::from_secs(120))) {
            counters.record_failure(format!("flush did not complete within 120 s: {error}"));
        }
    }
    let elapsed = started.elapsed();
    drop(progress);

    let allocated = sequence.load(Ordering::SeqCst);
    let highest = args.events.map_or(allocated, |max| allocated.min(max));
    let summary = Summary {
        topic: args.topic.clone(),
        seed,
        sent: Counters::get(&counters.sent),
        delivered: Counters::get(&counters.delivered),
        failed: Counters::get(&counters.failed),
        first_failure: counters.first_failure(),
        highest_globalseq: highest,
        schema_version_id: registered.as_ref().map(|r| r.version_id),
        elapsed,
        interrupted,
        dry_run: args.dry_run,
    };
    if let Some(path) = &args.globalseq_file {
        std::fs::write(path, format!("{highest}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(summary)
}

async fn register_schema(args: &ClickstreamArgs, glue: &GlueConfig) -> Result<Arc<RegisteredSchema>> {
    let mut glue = glue.clone();
    if let Some(registry) = &args.registry {
        glue.registry_name = registry.clone();
    }
    let registry = GlueRegistry::connect(&glue).await;
    let options = RegistrationOptions {
        auto_register: !args.no_auto_register,
        compatibility: args.compatibility,
    };
    if options.auto_register {
        registry.ensure_registry().await?;
    }
    let schema_name = args.schema_name.as_deref().unwrap_or(&args.topic);
    let registered = Arc::new(registry.register(schema_name, CLICK_EVENT_SCHEMA, &options).await?);
    tracing::info!(schema = schema_name, registry = %glue.registry_name, version = %registered.version_id, "schema registered");
    Ok(registered)
}

async fn create_producer(
    args: &ClickstreamArgs,
    kafka: &KafkaConfig,
    counters: Arc<Counters>,
) -> Result<ThreadedProducer<KafkaContext>> {
    let context = KafkaContext::for_config(kafka).await?;
    match ensure_topic(kafka, context.clone(), &args.topic, args.partitions, 1).await? {
        TopicOutcome::Created => tracing::info!(topic = %args.topic, partitions = args.partitions, "topic created"),
        TopicOutcome::AlreadyExisted => tracing::info!(topic = %args.topic, "topic exists"),
    }
    let mut config = kafka.client_config(ClientRole::Producer)?;
    // Java's partitioner: a key lands on the same partition as with Kafka's own clients.
    config.set("partitioner", "murmur2_random");
    for (name, value) in [("linger.ms", "5"), ("queue.buffering.max.messages", "500000"), ("batch.num.messages", "10000")] {
        if config.get(name).is_none() {
            config.set(name, value);
        }
    }
    let producer: ThreadedProducer<KafkaContext> = config
        .create_with_context(context.with_delivery_listener(counters))
        .context("creating the Kafka producer")?;
    Ok(producer)
}
