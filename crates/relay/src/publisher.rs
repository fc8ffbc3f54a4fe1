//! Publishing outbox rows to Kafka with the idempotent producer, reporting
//! which rows the broker acknowledged.

use std::collections::HashSet;
use std::time::Duration;

use orderflow_store::RelayRow;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode as Code;

use crate::cloudevents::headers;
use crate::metrics::Metrics;

/// How to reach the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherConfig {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    /// How long one message may take to be acknowledged before it counts as
    /// failed (and is published again next round).
    pub message_timeout: Duration,
    /// How long the producer waits to fill a batch.
    pub linger: Duration,
}

impl PublisherConfig {
    /// Defaults for `brokers`: 30 s delivery timeout, 2 ms linger.
    pub fn new(brokers: &str) -> Self {
        PublisherConfig {
            brokers: brokers.to_owned(),
            message_timeout: Duration::from_secs(30),
            linger: Duration::from_millis(2),
        }
    }
}

/// The producer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    /// librdkafka refused the configuration or could not create a client.
    #[error("kafka client: {0}")]
    Client(#[from] KafkaError),
}

/// An idempotent Kafka producer.
pub struct Publisher {
    producer: FutureProducer,
    config: PublisherConfig,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("brokers", &self.config.brokers)
            .finish()
    }
}

impl Publisher {
    /// A producer with idempotence on: `acks=all`, retries keep order with up
    /// to 5 requests in flight. No transactions (at-least-once is the
    /// contract, and some Kafka-compatible brokers lack them).
    pub fn new(config: PublisherConfig) -> Result<Self, PublisherError> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("linger.ms", config.linger.as_millis().to_string())
            .set("message.timeout.ms", config.message_timeout.as_millis().to_string())
            .set("client.id", "orderflow-relay")
            .create()?;
        Ok(Publisher { producer, config })
    }

    /// Creates `topics` (one partition per topic is enough locally; a
    /// deployment creates them with its own partition counts), tolerating
    /// ones that exist.
    pub fn ensure_topics(&self, topics: &[String], partitions: i32) -> Result<(), PublisherError> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.config.brokers)
            .create()?;
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = futures::executor::block_on(admin.create_topics(&new, &opts))?;
        for r in results {
            match r {
                Ok(_) | Err((_, Code::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(KafkaError::AdminOp(code).into_with_topic(&topic)),
            }
        }
        Ok(())
    }

    /// Publishes `rows` (in seq order) and returns the seqs the broker
    /// acknowledged. Per key, only a prefix counts: after a row of an order
    /// fails, that order's later rows are not reported (they go again next
    /// round, after the failed one), so per-order order survives failures.
    pub fn publish(&self, rows: &[RelayRow], metrics: &Metrics) -> Vec<i64> {
        let mut pending = Vec::with_capacity(rows.len());
        for row in rows {
            let mut record = FutureRecord::to(&row.topic)
                .key(&row.key)
                .payload(&row.data)
                .headers(headers(row));
            let delivery = loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => break Some(delivery),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // Let the background thread drain acknowledgements.
                        self.producer.poll(Duration::from_millis(5));
                        record = back;
                    }
                    Err((e, _)) => {
                        eprintln!("relay: cannot enqueue event {}: {e}", row.event_id);
                        break None;
                    }
                }
            };
            pending.push((row, delivery));
        }
        let mut failed_keys: HashSet<&str> = HashSet::new();
        let mut acked = Vec::with_capacity(rows.len());
        for (row, delivery) in pending {
            let ok = match delivery {
                Some(d) => match futures::executor::block_on(d) {
                    Ok(Ok(_)) => true,
                    Ok(Err((e, _))) => {
                        eprintln!("relay: event {} not acknowledged: {e}", row.event_id);
                        false
                    }
                    Err(_) => false,
                },
                None => false,
            };
            if ok && !failed_keys.contains(row.key.as_str()) {
                acked.push(row.seq);
            } else {
                if !ok {
                    metrics.error();
                }
                failed_keys.insert(row.key.as_str());
            }
        }
        acked
    }

    /// Waits for everything in flight (at shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }
}

trait WithTopic {
    fn into_with_topic(self, topic: &str) -> PublisherError;
}

impl WithTopic for KafkaError {
    fn into_with_topic(self, topic: &str) -> PublisherError {
        eprintln!("relay: cannot create topic {topic}: {self}");
        PublisherError::Client(self)
    }
}
