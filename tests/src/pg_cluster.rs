//! A throwaway PostgreSQL cluster for tests, started once per test process,
//! with a fresh database per test. Standard library only, so the store's and
//! the relay's tests include this same file (`#[path]`) without depending on
//! the end-to-end crate.
//!
//! - `ORDERFLOW_TEST_PG_URL` set (a superuser URL such as
//!   `postgres://postgres@127.0.0.1:5432/postgres`): that server is used.
//! - Otherwise `initdb` + `pg_ctl` from `/usr/lib/postgresql/<newest>/bin`
//!   (or `PG_BIN`) start a cluster in a temp dir on 127.0.0.1 and a free port,
//!   durability off. As root, PostgreSQL's tools run as the `postgres` user
//!   (`runuser`), which owns the temp dir. A detached watchdog holds a pipe
//!   from this process; when the process exits, however it exits, the pipe
//!   closes and the watchdog stops the cluster and removes its directory.
//! - When no cluster can be had, [`cluster`] panics (tests fail loudly);
//!   there is no silent skip.
//!
//! Roles, per cluster: `orderflow_owner` (LOGIN, CREATEROLE; owns each test
//! database and runs the migrations, which create the NOLOGIN group roles
//! `orderflow_app` and `orderflow_relay`), and the login roles
//! `orderflow_api` (member of `orderflow_app`) and `orderflow_relayer`
//! (member of `orderflow_relay`), which are what the application and the
//! relay connect as.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    host: String,
    port: u16,
    superuser: String,
    bin: PathBuf,
    /// Keeps the watchdog's pipe open for the life of the process.
    _watchdog: Option<Mutex<ChildStdin>>,
    _watchdog_child: Option<Mutex<Child>>,
}

/// One fresh database in the cluster, with a URL per role.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// The database name.
    pub name: String,
    /// As the schema owner: migrations.
    pub owner_url: String,
    /// As `orderflow_api` (member of `orderflow_app`): what components use.
    pub app_url: String,
    /// As `orderflow_relayer` (member of `orderflow_relay`): what the relay uses.
    pub relay_url: String,
    /// As the superuser (setup and inspection only).
    pub superuser_url: String,
    /// The server's `host:port`, for `allowed_outbound_hosts`.
    pub host_port: String,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The process's cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| match std::env::var("ORDERFLOW_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Cluster::external(url.trim()),
        _ => Cluster::start().unwrap_or_else(|e| {
            panic!("cannot start a throwaway PostgreSQL ({e}); install it (scripts/install-test-deps) or set ORDERFLOW_TEST_PG_URL")
        }),
    })
}

/// A fresh database owned by `orderflow_owner`; `migrate` gets the owner URL
/// and brings the schema up (the store's `migrate`), after which the login
/// roles are made members of the group roles the migration created.
pub fn fresh_database(hint: &str, migrate: impl FnOnce(&str)) -> TestDatabase {
    let c = cluster();
    let n = NEXT_DB.fetch_add(1, Ordering::SeqCst);
    let clean: String = hint
        .chars()
        .filter(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
        .take(30)
        .collect();
    let name = format!("t{}_{n}_{}", std::process::id(), clean.to_ascii_lowercase());
    c.psql("postgres", &format!("CREATE DATABASE {name} OWNER orderflow_owner"));
    let url = |user: &str| format!("postgres://{user}@{}:{}/{name}", c.host, c.port);
    let db = TestDatabase {
        owner_url: url("orderflow_owner"),
        app_url: url("orderflow_api"),
        relay_url: url("orderflow_relayer"),
        superuser_url: url(&c.superuser),
        host_port: format!("{}:{}", c.host, c.port),
        name,
    };
    migrate(&db.owner_url);
    c.psql(
        &db.name,
        "GRANT orderflow_app TO orderflow_api; GRANT orderflow_relay TO orderflow_relayer;",
    );
    db
}

impl Cluster {
    fn external(url: &str) -> Cluster {
        let rest = url.split("://").nth(1).unwrap_or(url);
        let (userinfo, hostpart) = rest.split_once('@').unwrap_or(("postgres", rest));
        let superuser = userinfo.split(':').next().unwrap_or("postgres").to_owned();
        let hostport = hostpart.split('/').next().unwrap_or("127.0.0.1:5432");
        let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
        let c = Cluster {
            host: host.to_owned(),
            port: port.parse().expect("ORDERFLOW_TEST_PG_URL has a numeric port"),
            superuser,
            bin: bin_dir().unwrap_or_default(),
            _watchdog: None,
            _watchdog_child: None,
        };
        c.create_roles();
        c
    }

    fn start() -> Result<Cluster, String> {
        let bin = bin_dir().ok_or("no PostgreSQL binaries in /usr/lib/postgresql/*/bin (or PG_BIN)")?;
        let as_root = is_root();
        let dir = std::env::temp_dir().join(format!("orderflow-pg-{}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        if as_root {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir))?;
        }
        let data = dir.join("data");
        let tool = |name: &str| -> Command {
            let path = bin.join(name);
            if as_root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(path);
                c
            } else {
                Command::new(path)
            }
        };
        run(tool("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ]))?;
        // The watchdog first, so that even a failed start is cleaned up.
        let stop = format!(
            "cat >/dev/null; {} {} -D {} -m immediate stop >/dev/null 2>&1; rm -rf {}",
            if as_root { "runuser -u postgres --" } else { "" },
            bin.join("pg_ctl").display(),
            data.display(),
            dir.display()
        );
        let mut watchdog = Command::new("setsid")
            .args(["sh", "-c", &stop])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("watchdog: {e}"))?;
        let pipe = watchdog.stdin.take().ok_or("watchdog stdin")?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                data.display()
            );
            match run(tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-o", &opts, "-l"])
                .arg(dir.join("log"))
                .args(["-w", "-t", "60", "start"]))
            {
                Ok(()) => {
                    let c = Cluster {
                        host: "127.0.0.1".into(),
                        port,
                        superuser: "postgres".into(),
                        bin,
                        _watchdog: Some(Mutex::new(pipe)),
                        _watchdog_child: Some(Mutex::new(watchdog)),
                    };
                    c.create_roles();
                    return Ok(c);
                }
                Err(e) => last = e,
            }
        }
        Err(format!(
            "pg_ctl start failed: {last}; log: {}",
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        ))
    }

    /// The superuser URL of database `db`.
    pub fn superuser_url(&self, db: &str) -> String {
        format!("postgres://{}@{}:{}/{db}", self.superuser, self.host, self.port)
    }

    /// Runs SQL as the superuser in database `db` with `psql`; panics on error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let psql = if self.bin.as_os_str().is_empty() {
            PathBuf::from("psql")
        } else {
            self.bin.join("psql")
        };
        let out = Command::new(psql)
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                &self.host,
                "-p",
                &self.port.to_string(),
            ])
            .args(["-U", &self.superuser, "-d", db, "-c", sql])
            .output()
            .unwrap_or_else(|e| panic!("psql: {e}"));
        assert!(
            out.status.success(),
            "psql `{sql}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn create_roles(&self) {
        self.psql(
            "postgres",
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orderflow_owner') THEN
                 CREATE ROLE orderflow_owner LOGIN CREATEROLE; END IF;
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orderflow_api') THEN
                 CREATE ROLE orderflow_api LOGIN; END IF;
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orderflow_relayer') THEN
                 CREATE ROLE orderflow_relayer LOGIN; END IF;
             END $$",
        );
    }
}

fn bin_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PG_BIN") {
        return Some(PathBuf::from(p));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
