//! The email API.

use hyper::Method;
use orderflow_sims::client::ClientResponse;
use orderflow_sims::Running;
use serde_json::{json, Value};

use crate::support::{call, control, list, start, EMAIL_KEY};

async fn send(sims: &Running, key: &str, subject: &str) -> ClientResponse {
    let url = format!("{}/v1/messages", sims.email_url());
    let body =
        json!({"to": "ada@example.com", "subject": subject, "text": "Your server is ready.", "tags": {"order": "o1"}});
    call(Method::POST, &url, Some(EMAIL_KEY), Some(key), Some(body)).await
}

#[tokio::test]
async fn a_message_sent_twice_with_one_key_is_recorded_once() {
    let sims = start().await;
    let first = send(&sims, "delivery-item-1", "Ready").await;
    let second = send(&sims, "delivery-item-1", "Ready").await;

    assert_eq!((first.status, second.status), (202, 202));
    assert_eq!(first.json()["id"], second.json()["id"]);
    assert!(first.json()["id"].as_str().is_some_and(|id| id.starts_with("msg_")));
    let messages = list(&format!("{}/_sim/messages", sims.email_url())).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(
        (
            &message["to"],
            &message["subject"],
            &message["text"],
            &message["idempotency_key"]
        ),
        (
            &json!("ada@example.com"),
            &json!("Ready"),
            &json!("Your server is ready."),
            &json!("delivery-item-1")
        )
    );
    assert!(message["time"].is_i64());
}

#[tokio::test]
async fn a_redelivery_with_a_new_key_is_a_second_message() {
    let sims = start().await;
    send(&sims, "a", "Ready").await;
    send(&sims, "b", "Ready").await;
    assert_eq!(list(&format!("{}/_sim/messages", sims.email_url())).await.len(), 2);
}

#[tokio::test]
async fn reusing_a_key_for_another_message_is_refused() {
    let sims = start().await;
    send(&sims, "k", "Ready").await;
    assert_eq!(send(&sims, "k", "Something else").await.status, 422);
}

#[tokio::test]
async fn messages_without_an_email_key_are_unauthorized() {
    let sims = start().await;
    let url = format!("{}/v1/messages", sims.email_url());
    let body = json!({"to": "a@b.c", "subject": "s", "text": "t"});
    assert_eq!(
        call(Method::POST, &url, Some("Bearer ck_1"), None, Some(body))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn faults_fail_exactly_the_next_n_messages() {
    let sims = start().await;
    let set = control(&format!("{}/_sim/faults", sims.email_url()), json!({"fail_next": 1})).await;
    assert_eq!(set.status, 200);

    let statuses = [
        send(&sims, "k", "Ready").await.status,
        send(&sims, "k", "Ready").await.status,
    ];

    assert_eq!(statuses, [500, 202]);
    let messages: Vec<Value> = list(&format!("{}/_sim/messages", sims.email_url())).await;
    assert_eq!(messages.len(), 1);
}
