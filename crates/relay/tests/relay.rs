//! The relay against a real Kafka-protocol broker (tansu) and real databases,
//! read back by an independent consumer: every event arrives, in per-order
//! order, as a CloudEvent; a SIGKILLed relay and a stopped broker lose
//! nothing; two relays on PostgreSQL publish each event once.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use support::{consume, eventually, Broker, Outbox, RelayProcess};

const WAIT: Duration = Duration::from_secs(90);

/// Asserts every written event arrived, each order's in write order, with
/// CloudEvents headers matching the outbox; returns how often each id arrived.
fn assert_all_arrived_in_order(
    written: &[(String, Vec<String>)],
    consumed: &[support::Consumed],
) -> HashMap<String, usize> {
    let mut per_key: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut times: HashMap<String, usize> = HashMap::new();
    for m in consumed {
        let h = |k: &str| {
            m.headers
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_else(|| panic!("header {k} missing: {m:?}"))
        };
        assert_eq!(h("ce_specversion"), "1.0");
        assert_eq!(h("ce_source"), relay::CE_SOURCE);
        assert_eq!(h("ce_subject"), m.key);
        assert_eq!(h("content-type"), "application/json");
        assert!(chrono::DateTime::parse_from_rfc3339(h("ce_time")).is_ok());
        let ty: orderflow_core::EventType = h("ce_type").parse().unwrap();
        assert_eq!(ty.topic(), m.topic);
        if m.topic == support::ORDER_TOPIC {
            *times.entry(h("ce_id").to_owned()).or_default() += 1;
            let seen = per_key.entry(m.key.as_str()).or_default();
            // At least once: a crash re-publishes a suffix (same ids); the
            // first arrivals must be in write order.
            if !seen.contains(&h("ce_id")) {
                seen.push(h("ce_id"));
            }
        }
    }
    for (order, ids) in written {
        let got = per_key.get(order.as_str()).cloned().unwrap_or_default();
        assert_eq!(
            got,
            ids.iter().map(String::as_str).collect::<Vec<_>>(),
            "events of order {order}"
        );
    }
    times
}

fn order_events(written: &[(String, Vec<String>)]) -> usize {
    written.iter().map(|(_, ids)| ids.len()).sum()
}

fn lifecycle_arrives(outbox: Outbox) {
    let broker = Broker::start();
    let written = outbox.write_lifecycles("acme", 5);
    assert_eq!(
        outbox.backlog() as usize,
        order_events(&written),
        "only order-topic events in this lifecycle"
    );
    let _relay = RelayProcess::start(&outbox.relay_database(), &broker.address(), 100);
    let consumed = consume(&broker.address(), order_events(&written), WAIT);
    assert_all_arrived_in_order(&written, &consumed);
    eventually("the outbox to be marked published", WAIT, || {
        (outbox.backlog() == 0).then_some(())
    });
}

#[test]
fn every_event_of_a_lifecycle_arrives_in_order_as_a_cloudevent_from_sqlite() {
    lifecycle_arrives(Outbox::sqlite());
}

#[test]
fn every_event_of_a_lifecycle_arrives_in_order_as_a_cloudevent_from_postgres() {
    lifecycle_arrives(Outbox::postgres("lifecycle"));
}

fn kill_mid_batch_loses_nothing(outbox: Outbox) {
    let broker = Broker::start();
    let written = outbox.write_lifecycles("acme", 200);
    let total = outbox.backlog();
    let relay = RelayProcess::start(&outbox.relay_database(), &broker.address(), 20);
    eventually("the relay to be mid-way", WAIT, || {
        let left = outbox.backlog();
        (left < total && left > 0).then_some(())
    });
    relay.kill();
    let _relay = RelayProcess::start(&outbox.relay_database(), &broker.address(), 20);
    let consumed = consume(&broker.address(), order_events(&written), WAIT);
    assert_all_arrived_in_order(&written, &consumed);
    eventually("the outbox to drain", WAIT, || (outbox.backlog() == 0).then_some(()));
}

#[test]
fn a_relay_killed_mid_batch_and_restarted_loses_nothing_on_sqlite() {
    kill_mid_batch_loses_nothing(Outbox::sqlite());
}

#[test]
fn a_relay_killed_mid_batch_and_restarted_loses_nothing_on_postgres() {
    kill_mid_batch_loses_nothing(Outbox::postgres("kill"));
}

#[test]
fn events_written_while_the_broker_is_down_all_arrive_when_it_is_back() {
    let outbox = Outbox::sqlite();
    let mut broker = Broker::start();
    let _relay = RelayProcess::start(&outbox.relay_database(), &broker.address(), 50);
    let before = outbox.write_lifecycles("acme", 2);
    eventually("the first events to be published", WAIT, || {
        (outbox.backlog() == 0).then_some(())
    });
    broker.stop();
    let during = outbox.write_lifecycles("acme", 5);
    assert!(outbox.backlog() > 0);
    broker.resume();
    let written: Vec<_> = before.into_iter().chain(during).collect();
    let consumed = consume(&broker.address(), order_events(&written), WAIT);
    assert_all_arrived_in_order(&written, &consumed);
    eventually("the outbox to drain", WAIT, || (outbox.backlog() == 0).then_some(()));
}

#[test]
fn two_relays_on_postgres_publish_each_event_once() {
    let outbox = Outbox::postgres("two_relays");
    let broker = Broker::start();
    let written = outbox.write_lifecycles("acme", 150);
    let a = RelayProcess::start(&outbox.relay_database(), &broker.address(), 10);
    let b = RelayProcess::start(&outbox.relay_database(), &broker.address(), 10);
    eventually("the outbox to drain", WAIT, || (outbox.backlog() == 0).then_some(()));
    drop((a, b));
    let consumed = consume(&broker.address(), order_events(&written), WAIT);
    let times = assert_all_arrived_in_order(&written, &consumed);
    let twice: HashSet<_> = times.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id).collect();
    assert!(twice.is_empty(), "published more than once: {twice:?}");
    assert_eq!(times.len(), order_events(&written));
}
