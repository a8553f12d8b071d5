//! The webhook receiver process for the tests (tests/support/webhook_receiver.py): start it on
//! a port, kill it with SIGKILL, restart it on the same port, and read what it accepted.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A port nothing listens on right now (the receiver binds it next).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

pub struct Receiver {
    pub port: u16,
    pub secret: String,
    pub out: PathBuf,
    fail_first: u32,
    child: Option<Child>,
}

impl Receiver {
    /// Start the receiver; `out` collects its JSON lines across restarts.
    pub fn start(port: u16, secret: &str, out: &Path, fail_first: u32) -> Receiver {
        let mut r = Receiver {
            port,
            secret: secret.to_owned(),
            out: out.to_path_buf(),
            fail_first,
            child: None,
        };
        r.restart();
        r
    }

    /// Start it again (after [`Receiver::kill`]) on the same port and file.
    pub fn restart(&mut self) {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/webhook_receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &self.port.to_string(), "--secret", &self.secret])
            .args(["--fail-first", &self.fail_first.to_string()])
            .arg("--out")
            .arg(&self.out)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the receiver says ready");
        assert_eq!(line.trim(), "ready");
        self.fail_first = 0;
        self.child = Some(child);
    }

    /// SIGKILL, and wait until the port is closed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every line recorded so far.
    pub fn lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The accepted events (valid signature, answered 200), repeats included.
    pub fn accepted(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l.get("body").is_some())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.kill();
    }
}
