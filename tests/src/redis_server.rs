//! A throwaway Redis server for tests: Debian's `redis-server` (installed by
//! `scripts/install-test-deps`) on 127.0.0.1 and a free port, in memory only
//! (no RDB snapshots, no append-only file), one per call. Standard library
//! only, like `pg_cluster`.
//!
//! As with the PostgreSQL cluster, a detached watchdog holds a pipe from this
//! process and stops the server when the pipe closes, so a test process that
//! dies (or is killed) leaves no server behind. Dropping the [`RedisServer`]
//! stops it at once. When `redis-server` cannot be started, [`RedisServer::start`]
//! panics: tests fail loudly, they are never skipped.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Redis server.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    watchdog: Child,
    pipe: Option<ChildStdin>,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers `PING`.
    ///
    /// # Panics
    /// When `redis-server` is missing or does not answer within 10 s.
    pub fn start() -> RedisServer {
        let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            // The server runs in the foreground of a shell that also waits on
            // the pipe: EOF (this process gone, or the server dropped) kills it.
            let script = format!(
                "{bin} --port {port} --bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel warning & \
                 pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"
            );
            let mut watchdog = Command::new("setsid")
                .args(["sh", "-c", &script])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start redis-server ({e}); install it (scripts/install-test-deps)"));
            let pipe = watchdog.stdin.take();
            let server = RedisServer { port, watchdog, pipe };
            match server.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("redis-server did not answer PING: {last}; install it (scripts/install-test-deps) or set REDIS_SERVER");
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends one inline command and returns the first line of the reply
    /// (e.g. `+PONG`, `$3`, `:1`), for checks independent of the runner.
    pub fn command(&self, line: &str) -> String {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut writer = stream.try_clone().expect("clone stream");
        writer.write_all(format!("{line}\r\n").as_bytes()).expect("send");
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).expect("reply");
        reply.trim_end().to_owned()
    }

    fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        let mut last = String::from("no answer");
        while started.elapsed() < timeout {
            match TcpStream::connect(("127.0.0.1", self.port)) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(Duration::from_secs(1))).ok();
                    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
                    if writer.write_all(b"PING\r\n").is_ok() {
                        let mut reply = String::new();
                        if BufReader::new(stream).read_line(&mut reply).is_ok() && reply.starts_with("+PONG") {
                            return Ok(());
                        }
                        last = format!("answered {reply:?}");
                    }
                }
                Err(e) => last = e.to_string(),
            }
            // Polling a port that is not listening yet: nothing to wait on but time.
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(last)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Closing the pipe makes the watchdog stop the server.
        drop(self.pipe.take());
        let _ = self.watchdog.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}
