//! Captured output of a runner process.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};

/// Everything the runner printed (stdout and stderr, interleaved per line),
/// accumulated across restarts.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    lines: Arc<Mutex<Vec<String>>>,
}

impl Logs {
    /// All lines so far, joined with newlines.
    pub fn text(&self) -> String {
        self.lock().join("\n")
    }

    /// Whether any line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.lock().iter().any(|l| l.contains(needle))
    }

    /// Whether a line containing `needle` arrives within `timeout`. Output is
    /// read on background threads, so a line the runner printed just before
    /// a response may land in the log just after it: wait, don't peek.
    pub fn shows(&self, needle: &str, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.contains(needle) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// How many lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lock().iter().filter(|l| l.contains(needle)).count()
    }

    pub(crate) fn push(&self, line: String) {
        self.lock().push(line);
    }

    /// Copies every line of `stream` into the log on a background thread,
    /// calling `on_line` for each (used to spot the `Serving` line).
    pub(crate) fn capture(
        &self,
        stream: impl Read + Send + 'static,
        prefix: &'static str,
        mut on_line: impl FnMut(&str) + Send + 'static,
    ) {
        let logs = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                on_line(&line);
                logs.push(format!("{prefix}{line}"));
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
