//! The runner's `redis` key-value store, as Spin configures it in the runtime
//! config: two runner instances on one throwaway `redis-server` share their
//! keys, and the keys are Redis's own, unprefixed.

use e2e::redis_server::RedisServer;
use e2e::{fixtures, App};

/// Writes a runtime config putting key-value store `default` on `redis`.
fn runtime_config(redis: &RedisServer) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("runtime-config.toml"),
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url()
        ),
    )
    .expect("write runtime config");
    dir
}

fn instance(config: &tempfile::TempDir) -> App {
    App::builder(fixtures::manifest())
        .build_packages(fixtures::PACKAGES)
        .arg(
            "--runtime-config-file",
            config.path().join("runtime-config.toml").display().to_string(),
        )
        .arg("--instances", "2")
        .spawn()
}

fn keys(app: &App) -> Vec<String> {
    let mut keys: Vec<String> = app
        .get("/kv-keys")
        .text()
        .expect("body")
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys
}

#[test]
fn two_instances_on_one_redis_share_get_set_delete_exists_and_keys() {
    let redis = RedisServer::start();
    let config = runtime_config(&redis);
    let (one, two) = (instance(&config), instance(&config));

    assert_eq!(two.get("/kv/a").status(), 404, "nothing stored yet");
    let put = |app: &App, key: &str, value: &str| {
        app.client()
            .put(app.url(&format!("/kv/{key}")))
            .body(value.to_owned())
            .send()
            .expect("put")
            .status()
    };
    assert_eq!(put(&one, "a", "1"), 204);
    assert_eq!(put(&two, "b", "2"), 204);

    assert_eq!(two.get("/kv/a").text().expect("body"), "1", "set on one, read on two");
    assert_eq!(one.get("/kv/b").text().expect("body"), "2", "set on two, read on one");
    let head = |app: &App, key: &str| {
        app.client()
            .head(app.url(&format!("/kv/{key}")))
            .send()
            .expect("head")
            .status()
    };
    assert_eq!(head(&two, "a"), 200);
    assert_eq!(keys(&one), ["a", "b"]);
    assert_eq!(keys(&two), ["a", "b"]);

    // Spin stores the key as given: the label is not part of it.
    assert_eq!(redis.command("GET a"), "$1");
    assert_eq!(redis.command("EXISTS default:a"), ":0");

    let delete = one.client().delete(one.url("/kv/a")).send().expect("delete").status();
    assert_eq!(delete, 204);
    assert_eq!(head(&two, "a"), 404, "deleted on one, gone on two");
    assert_eq!(two.get("/kv/a").status(), 404);
    assert_eq!(keys(&two), ["b"]);
    assert_eq!(redis.command("EXISTS a"), ":0");
}

#[test]
fn a_value_written_to_redis_by_someone_else_is_read_byte_for_byte() {
    let redis = RedisServer::start();
    let config = runtime_config(&redis);
    let app = instance(&config);
    assert_eq!(redis.command("SET greeting hello-from-redis"), "+OK");
    assert_eq!(app.get("/kv/greeting").text().expect("body"), "hello-from-redis");
}

#[test]
fn a_redis_error_is_the_guests_error_and_the_runner_keeps_serving() {
    let redis = RedisServer::start();
    let config = runtime_config(&redis);
    let app = instance(&config);
    // A list where the guest expects a string: Redis answers WRONGTYPE to GET.
    assert_eq!(redis.command("RPUSH queue x"), ":1");
    let response = app.get("/kv/queue");
    assert_eq!(response.status(), 500, "the fixture turns the store's error into a 500");
    assert!(app.logs().shows("key-value error", std::time::Duration::from_secs(10)));
    assert!(
        app.logs().text().contains("WRONGTYPE"),
        "Spin's error::other carries Redis's text"
    );
    assert_eq!(redis.command("SET plain ok"), "+OK");
    assert_eq!(app.get("/kv/plain").text().expect("body"), "ok");
}
