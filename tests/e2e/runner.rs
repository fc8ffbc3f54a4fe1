//! The runner itself, against the fixture app in `tests/fixtures/spin.toml`.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt as _;
use std::time::Duration;

use e2e::{eventually, fixtures, App};

/// How long a log line may lag behind the event it reports.
const LOG_WAIT: Duration = Duration::from_secs(10);

fn fixture_app() -> e2e::AppBuilder {
    App::builder(fixtures::manifest()).build_packages(fixtures::PACKAGES)
}

/// Parses the headers fixture's `name=value` lines.
fn echoed(app: &App, path: &str) -> BTreeMap<String, String> {
    let response = app.get(path);
    assert_eq!(response.status(), 200, "GET {path}");
    response
        .text()
        .expect("body")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_most_specific_route_wins_and_spin_headers_describe_the_match() {
    let app = fixture_app().spawn();

    let exact = echoed(&app, "/headers/exact");
    assert_eq!(exact["spin-matched-route"], "/headers/exact");
    assert_eq!(exact["spin-path-info"], "");

    let deep = echoed(&app, "/headers/deep/a/b?x=1");
    assert_eq!(deep["spin-matched-route"], "/headers/deep/...");
    assert_eq!(deep["spin-raw-component-route"], "/headers/deep/...");
    assert_eq!(deep["spin-component-route"], "/headers/deep");
    assert_eq!(deep["spin-path-info"], "/a/b");
    assert_eq!(deep["spin-base-path"], "/");
    assert_eq!(
        deep["spin-full-url"],
        format!("http://{}/headers/deep/a/b?x=1", app.addr())
    );
    assert!(deep["spin-client-addr"].starts_with("127.0.0.1:"), "{deep:?}");

    let shallow = echoed(&app, "/headers/other");
    assert_eq!(shallow["spin-matched-route"], "/headers/...");
    assert_eq!(shallow["spin-path-info"], "/other");
}

#[test]
fn named_route_parameters_become_path_match_headers() {
    let app = fixture_app().spawn();
    let h = echoed(&app, "/users/42/posts/hello");
    assert_eq!(h["spin-matched-route"], "/users/:id/posts/:post");
    assert_eq!(h["spin-path-match-id"], "42");
    assert_eq!(h["spin-path-match-post"], "hello");
}

#[test]
fn a_path_without_a_route_is_404_and_private_components_are_not_routable() {
    let app = fixture_app().spawn();
    assert_eq!(app.get("/nope").status(), 404);
    // `private-echo` has `route = { private = true }`: nothing outside reaches it.
    assert_eq!(app.get("/private-echo").status(), 404);
    assert!(app.logs().shows("GET /nope route=- component=- status=404", LOG_WAIT));
}

#[test]
fn sqlite_values_map_to_the_matching_wit_variants() {
    let app = fixture_app().spawn();
    let body = app.get("/sqlite/types").text().expect("body");
    assert_eq!(body, "integer:42,real:1.5,text:text,blob:[1, 2],null,integer:-7");
}

#[test]
fn sqlite_data_persists_across_requests_and_runner_restarts() {
    let mut app = fixture_app().spawn();
    assert_eq!(app.post("/sqlite/notes", "first").status(), 201);
    assert_eq!(app.post("/sqlite/notes", "second").status(), 201);
    assert_eq!(app.get("/sqlite/notes").text().expect("body"), "first\nsecond");

    app.kill();
    app.restart();

    assert_eq!(app.get("/sqlite/notes").text().expect("body"), "first\nsecond");
    assert!(app.state_dir().join("sqlite_db.db").exists());
}

#[test]
fn concurrent_read_modify_write_transactions_never_lose_an_update() {
    let app = fixture_app().spawn();
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let client = app.client().clone();
            let url = app.url("/sqlite/counter/increment");
            std::thread::spawn(move || client.post(url).send().expect("request").status())
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), 200);
    }
    assert_eq!(app.get("/sqlite/counter").text().expect("body"), "20");
}

#[test]
fn databases_and_stores_not_granted_in_the_manifest_are_access_denied() {
    let app = fixture_app().spawn();
    let sqlite = app.get("/sqlite/denied");
    assert_eq!(sqlite.status(), 403);
    assert_eq!(sqlite.text().expect("body"), "Error::AccessDenied");
    let kv = app.get("/kv-denied");
    assert_eq!(kv.status(), 403);
    assert_eq!(kv.text().expect("body"), "Error::AccessDenied");
}

#[test]
fn key_value_set_get_exists_delete_and_list_keys() {
    let app = fixture_app().spawn();
    let client = app.client();
    assert_eq!(app.get("/kv/a").status(), 404);
    assert_eq!(
        client.put(app.url("/kv/a")).body("1").send().expect("put").status(),
        204
    );
    assert_eq!(
        client.put(app.url("/kv/b")).body("2").send().expect("put").status(),
        204
    );
    assert_eq!(app.get("/kv/a").text().expect("body"), "1");
    assert_eq!(client.head(app.url("/kv/b")).send().expect("head").status(), 200);
    assert_eq!(app.get("/kv-keys").text().expect("body"), "a\nb");
    assert_eq!(client.delete(app.url("/kv/a")).send().expect("delete").status(), 204);
    assert_eq!(client.head(app.url("/kv/a")).send().expect("head").status(), 404);
    assert_eq!(app.get("/kv-keys").text().expect("body"), "b");
}

#[test]
fn variables_use_manifest_defaults_unless_overridden_by_spin_variable_env() {
    let defaults = fixture_app().spawn();
    assert_eq!(defaults.get("/vars/greeting").text().expect("body"), "hello, world");
    assert_eq!(defaults.get("/vars/token").text().expect("body"), "default-token");
    let undefined = defaults.get("/vars/nope");
    assert_eq!(undefined.status(), 404);
    assert!(undefined.text().expect("body").contains("Undefined"));

    let overridden = fixture_app()
        .env("SPIN_VARIABLE_GREETING", "hi")
        .env("SPIN_VARIABLE_SECRET_TOKEN", "t0ps3cret")
        .spawn();
    assert_eq!(overridden.get("/vars/greeting").text().expect("body"), "hi, world");
    assert_eq!(overridden.get("/vars/token").text().expect("body"), "t0ps3cret");
    assert!(!overridden.logs().contains("t0ps3cret"), "secrets are never logged");
}

#[test]
fn outbound_requests_to_hosts_not_allowed_are_refused() {
    let app = fixture_app().spawn();
    let external = app.get("/outbound?url=http://example.com/");
    assert_eq!(external.status(), 502);
    assert!(external.text().expect("body").contains("HttpRequestDenied"));
    // Only private-echo is granted for chaining, not sqlite.
    let other = app.get("/outbound?url=http://sqlite.spin.internal/sqlite/counter");
    assert_eq!(other.status(), 502);
    assert!(app.logs().shows("not in allowed_outbound_hosts", LOG_WAIT));
}

#[test]
fn service_chaining_reaches_a_private_component_in_process() {
    let app = fixture_app().spawn();
    let body = app
        .get("/outbound?url=http://private-echo.spin.internal/some/path?q=1")
        .text()
        .expect("body");
    assert!(body.starts_with("status=200\n"), "{body}");
    assert!(body.contains("spin-matched-route=/...\n"), "{body}");
    assert!(body.contains("spin-path-info=/some/path\n"), "{body}");
    assert!(body.contains("spin-client-addr=0.0.0.0:0\n"), "{body}");
    assert!(app
        .logs()
        .shows("GET /some/path route=/... component=private-echo status=200", LOG_WAIT));
}

#[test]
fn self_requests_go_through_the_public_router() {
    let app = fixture_app().spawn();
    for host in ["self", "self.alt"] {
        let body = app
            .get(&format!("/outbound?url=http://{host}/noop"))
            .text()
            .expect("body");
        assert_eq!(body, "status=200\nok");
    }
    let missing = app.get("/outbound?url=http://self/nope").text().expect("body");
    assert!(missing.starts_with("status=404"), "{missing}");
}

/// A loopback HTTP server for the `/after` fixture route: it reports each
/// request's path on `seen`, and answers `/during` only once `release`
/// gives the word, so the guest cannot finish before the test says so.
fn held_server() -> (String, std::sync::mpsc::Receiver<String>, std::sync::mpsc::Sender<()>) {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    let (seen_tx, seen) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Drain the headers: the guest's GET has no body.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let held = path == "/during";
            if seen_tx.send(path).is_err() {
                return;
            }
            if held && released.recv().is_err() {
                return;
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (base, seen, release)
}

#[test]
fn the_response_is_sent_when_the_guest_sets_it_and_the_guest_runs_on_after_it() {
    // Spin 3.x and 4.0.x: the guest runs on (the runner's default is the
    // stricter main branch, which aborts it).
    let app = fixture_app().arg("--after-response", "run").spawn();
    let (base, seen, release) = held_server();
    // The guest cannot finish before `release`, which is sent only once
    // the whole response is in hand: had the runner waited for the guest,
    // this request would time out instead.
    let response = app
        .client()
        .get(app.url(&format!("/after?url={base}")))
        .timeout(Duration::from_secs(30))
        .send()
        .expect("the response arrives while the guest is still at work");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().expect("body"), "responded");
    assert_eq!(
        seen.recv_timeout(LOG_WAIT)
            .expect("the guest's request after responding"),
        "/during",
        "the guest works on after its response"
    );
    release.send(()).expect("the server is waiting");
    assert_eq!(
        seen.recv_timeout(LOG_WAIT).expect("the guest's last request"),
        "/done",
        "the guest runs to its end after the response was sent"
    );
}

#[test]
fn a_trapping_component_returns_500_and_the_runner_keeps_serving() {
    let app = fixture_app().spawn();
    assert_eq!(app.get("/trap").status(), 500);
    assert_eq!(app.get("/noop").text().expect("body"), "ok");
    assert_eq!(app.get("/trap").status(), 500);
    assert_eq!(app.get("/noop").status(), 200);
}

#[test]
fn a_header_value_that_is_not_utf8_gets_an_empty_500_before_any_component_runs() {
    let app = fixture_app().spawn();
    let raw = reqwest::header::HeaderValue::from_bytes(b"\"v\xff\xfe\"").expect("obs-text is a valid header value");
    let response = app
        .client()
        .get(app.url("/headers/exact"))
        .header("if-match", raw)
        .send()
        .expect("send");
    assert_eq!(response.status(), 500);
    assert_eq!(response.text().expect("body"), "");
    assert!(app.logs().shows("header 'if-match' is not valid UTF-8", LOG_WAIT));
    // Valid UTF-8 beyond ASCII is passed on.
    let response = app
        .client()
        .get(app.url("/headers/exact"))
        .header(
            "x-name",
            reqwest::header::HeaderValue::from_bytes("Žiga".as_bytes()).expect("value"),
        )
        .send()
        .expect("send");
    assert_eq!(response.status(), 200);
}

#[test]
fn the_scheduler_posts_the_tick_route_on_its_interval() {
    let app = fixture_app()
        .arg("--schedule", "100ms=/sqlite/tick")
        .arg("--schedule-header", "x-tick: yes")
        .spawn();
    let ticks: i64 = eventually("three scheduled ticks", Duration::from_secs(20), || {
        let n: i64 = app.get("/sqlite/ticks").text().ok()?.parse().ok()?;
        (n >= 3).then_some(n)
    });
    assert!(ticks >= 3);
    assert!(app.logs().shows(
        "POST /sqlite/tick route=/sqlite/... component=sqlite status=200",
        LOG_WAIT
    ));
}

#[test]
fn crash_injection_aborts_right_after_the_nth_commit_and_keeps_it() {
    let mut app = fixture_app().env("SPIN_LOCAL_CRASH_AFTER_COMMITS", "3").spawn();
    assert_eq!(app.post("/sqlite/counter/increment", "").text().expect("body"), "1");
    assert_eq!(app.post("/sqlite/counter/increment", "").text().expect("body"), "2");
    // The third commit happens, then the process aborts before responding.
    assert!(app.client().post(app.url("/sqlite/counter/increment")).send().is_err());
    let status = app.wait_for_exit(Duration::from_secs(10));
    assert_eq!(status.signal(), Some(6), "SIGABRT, got {status:?}");
    assert!(app.logs().shows("aborting after commit #3", LOG_WAIT));

    app.restart_with(|b| b.env_remove("SPIN_LOCAL_CRASH_AFTER_COMMITS"));
    assert_eq!(app.get("/sqlite/counter").text().expect("body"), "3");
}

#[test]
fn sigterm_shuts_the_runner_down_cleanly() {
    let mut app = fixture_app().spawn();
    assert_eq!(app.get("/noop").status(), 200);
    let status = app.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(app.logs().shows("spin-local: shutting down", LOG_WAIT));
}

#[test]
fn postgres_parameters_and_values_round_trip_as_spin_binds_and_decodes_them() {
    let url = e2e::pg_cluster::cluster().superuser_url("postgres");
    let app = fixture_app().env("SPIN_VARIABLE_PG_URL", url).spawn();
    let body = app.get("/pg").text().expect("body");
    // jsonb is re-serialized by serde_json; `name` is not a type Spin decodes.
    assert_eq!(
        body,
        "int64:7,str:widget,decimal:12.50,uuid:123e4567-e89b-12d3-a456-426614174000,\
         jsonb:{\"a\":1},datetime:(2024, 2, 29, 13, 45, 6, 123456000),bool:true,date:(2024, 3, 1),int32:3,null,\
         unsupported:x"
    );
}

#[test]
fn an_int64_parameter_for_an_integer_column_is_a_wrong_type_error_as_on_spin() {
    let url = e2e::pg_cluster::cluster().superuser_url("postgres");
    let app = fixture_app().env("SPIN_VARIABLE_PG_URL", url).spawn();
    let body = app.get("/pg/int64-into-int4").text().expect("body");
    assert!(body.starts_with("Err(Error::QueryFailed(QueryError::Text("), "{body}");
    // The driver's error, as Spin reports it (Debug text, quotes escaped).
    assert!(
        body.contains(r#"kind: ToSql(0), cause: Some(WrongType { postgres: Int4, rust: \"i64\" })"#),
        "{body}"
    );
}

#[test]
fn a_timestamptz_column_cannot_be_read_as_on_spin() {
    let url = e2e::pg_cluster::cluster().superuser_url("postgres");
    let app = fixture_app().env("SPIN_VARIABLE_PG_URL", url).spawn();
    let body = app.get("/pg/read-timestamptz").text().expect("body");
    assert!(body.starts_with("Err(Error::QueryFailed(QueryError::Text("), "{body}");
    assert!(
        body.contains(
            r#"kind: FromSql(0), cause: Some(WrongType { postgres: Timestamptz, rust: \"core::option::Option<chrono::naive::datetime::NaiveDateTime>\" })"#
        ),
        "{body}"
    );
}

#[test]
fn a_query_without_rows_fails_naming_the_spin_issue_unless_spin_3_behaviour_is_chosen() {
    let url = e2e::pg_cluster::cluster().superuser_url("postgres");
    let strict = fixture_app().env("SPIN_VARIABLE_PG_URL", url.clone()).spawn();
    let body = strict.get("/pg/empty").text().expect("body");
    assert!(body.starts_with("Err(Error::Other("), "{body}");
    assert!(body.contains("spinframework/spin issue 3671"), "{body}");

    let spin3 = fixture_app()
        .env("SPIN_VARIABLE_PG_URL", url)
        .arg("--pg-empty-query", "empty")
        .spawn();
    let body = spin3.get("/pg/empty").text().expect("body");
    assert_eq!(body, "Ok(RowSet { columns: [], rows: [] })");
}

#[test]
fn a_recycled_postgres_connection_keeps_session_state_reset_but_a_trapped_transaction_open() {
    let url = e2e::pg_cluster::cluster().superuser_url("postgres");
    let app = fixture_app().env("SPIN_VARIABLE_PG_URL", url).spawn();
    let first = app.get("/pg/session").text().expect("body");
    assert!(first.ends_with(",leaked:,in_tx:false,trapped_rows:0"), "{first}");
    assert_eq!(app.get("/pg/trap").status(), 500);
    let second = app.get("/pg/session").text().expect("body");
    let pid = |s: &str| s.split(',').next().map(str::to_owned);
    assert_eq!(
        pid(&first),
        pid(&second),
        "every request reused the one pooled connection: {first} / {second}"
    );
    // Spin's recycling (deadpool's `Clean`) reset the session setting the
    // first request left, but no ROLLBACK: the trapped request's transaction
    // is still open, with its uncommitted row.
    assert!(second.ends_with(",leaked:,in_tx:true,trapped_rows:1"), "{second}");
}

#[test]
fn the_store_never_inherits_a_transaction_a_trapped_request_left_on_its_pooled_connection() {
    let cluster = e2e::pg_cluster::cluster();
    let app = fixture_app()
        .env("SPIN_VARIABLE_PG_URL", cluster.superuser_url("postgres"))
        .spawn();
    assert_eq!(app.get("/pg/store/trap").status(), 500);
    let probe = app.get("/pg/store/probe").text().expect("body");
    // Same connection (the only idle one), no tenant, no open transaction,
    // nothing of the trapped write; a zero-row read came back empty.
    assert!(
        probe.contains(",tenant:,in_tx:false,tenant_a_rows:0,empty:0"),
        "{probe}"
    );
    let committed = cluster.psql(
        "postgres",
        "SELECT string_agg(tenant, ',' ORDER BY tenant) FROM fixture_store_rows",
    );
    assert!(
        committed.contains("tenant-b") && !committed.contains("tenant-a"),
        "{committed}"
    );
}

#[test]
fn a_postgres_address_not_in_allowed_outbound_hosts_is_refused() {
    let app = fixture_app()
        .env("SPIN_VARIABLE_PG_URL", "postgres://postgres@10.255.255.1:5432/postgres")
        .spawn();
    let response = app.get("/pg");
    assert_eq!(response.status(), 502);
    assert!(response.text().expect("body").contains("not permitted"));
}
