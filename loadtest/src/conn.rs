//! One client WebSocket as the simulated users see it: send a frame, wait for the next frame
//! until a deadline, and notice the worker's control signals (storm, stop) while waiting.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use switchboard::protocol::{ClientFrame, ServerFrame};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::net::Ws;
use crate::scenario::Range;

/// Wall-clock nanoseconds: message bodies carry them so the receiving process (same machine,
/// same clock) can compute delivery latency.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// What the worker's driver tells every client.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Control {
    /// Whether chatting visitors may start new messages (false while draining).
    pub sending: bool,
    /// Bumped at each storm; each client drops itself with probability `storm_share`.
    pub storm_epoch: u64,
    pub storm_share: f64,
    pub storm_agents: bool,
    pub reconnect_delay_ms: Option<Range>,
    /// The run is over: close and report.
    pub stop: bool,
}

/// Why a client stopped waiting.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnError {
    /// The storm picked this connection: it was dropped without a close handshake.
    Dropped,
    /// The server closed with 1012 (`goodbye unavailable`: a shard moved to another node, or
    /// the node is draining). The protocol says to reconnect and resume, as the widget and the
    /// console do, so clients treat it like a drop (counted as `server_restarts`).
    Restarted,
    /// The run is over.
    Stop,
    /// The server closed the socket or it failed; the text says how.
    Closed(String),
}

/// A frame received, with its arrival time.
pub struct Incoming {
    pub frame: ServerFrame,
    pub at_ns: u64,
}

pub struct Conn {
    ws: Ws,
    next_id: u64,
}

impl Conn {
    pub fn new(ws: Ws) -> Conn {
        Conn { ws, next_id: 0 }
    }

    pub fn next_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), ConnError> {
        let text = serde_json::to_string(frame).map_err(|e| ConnError::Closed(e.to_string()))?;
        self.ws
            .send(WsMessage::text(text))
            .await
            .map_err(|e| ConnError::Closed(format!("send: {e}")))
    }

    /// Close politely (the visitor leaves the page).
    pub async fn close(&mut self) -> Result<(), ConnError> {
        self.ws
            .close(None)
            .await
            .map_err(|e| ConnError::Closed(format!("close: {e}")))
    }

    /// The next frame, or `None` at `deadline`. Control changes interrupt the wait: a storm that
    /// picks this client gives `Dropped` (the caller drops the socket), a stop gives `Stop`.
    pub async fn recv(
        &mut self,
        deadline: Option<Instant>,
        control: &mut watch::Receiver<Control>,
        is_agent: bool,
        storm_seen: &mut u64,
    ) -> Result<Option<Incoming>, ConnError> {
        let far = Instant::now() + Duration::from_secs(24 * 3600);
        let sleep = tokio::time::sleep_until(deadline.unwrap_or(far));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                msg = self.ws.next() => {
                    let at_ns = now_ns();
                    match msg {
                        Some(Ok(WsMessage::Text(t))) => {
                            let frame: ServerFrame = serde_json::from_str(t.as_str())
                                .map_err(|e| ConnError::Closed(format!("undecodable frame: {e}: {t}")))?;
                            return Ok(Some(Incoming { frame, at_ns }));
                        }
                        Some(Ok(WsMessage::Close(c))) => {
                            if c.as_ref().is_some_and(|c| c.code == CloseCode::Restart) {
                                return Err(ConnError::Restarted);
                            }
                            return Err(ConnError::Closed(format!("closed by server: {c:?}")));
                        }
                        Some(Ok(_)) => continue, // ping/pong/binary: tungstenite answers pings
                        Some(Err(e)) => return Err(ConnError::Closed(format!("read: {e}"))),
                        None => return Err(ConnError::Closed("connection ended".into())),
                    }
                }
                _ = &mut sleep => return Ok(None),
                changed = control.changed() => {
                    if changed.is_err() {
                        return Err(ConnError::Stop);
                    }
                    check_control(control, is_agent, storm_seen)?;
                }
            }
        }
    }
}

/// Apply a control change seen by a client: storms pick clients at random.
///
/// A client rolls the dice once per storm (`storm_seen` is the last storm epoch it handled and
/// lives as long as the client, across reconnects): any later control change, such as the drain
/// at the end of the run, must not drop it again.
pub fn check_control(
    control: &mut watch::Receiver<Control>,
    is_agent: bool,
    storm_seen: &mut u64,
) -> Result<(), ConnError> {
    let c = control.borrow_and_update().clone();
    if c.stop {
        return Err(ConnError::Stop);
    }
    if c.storm_epoch > *storm_seen {
        *storm_seen = c.storm_epoch;
        if c.storm_share > 0.0
            && (!is_agent || c.storm_agents)
            && rand::random::<f64>() < c.storm_share
        {
            return Err(ConnError::Dropped);
        }
    }
    Ok(())
}

/// Sleep until `deadline` unless the run stops first.
pub async fn pause(
    deadline: Instant,
    control: &mut watch::Receiver<Control>,
) -> Result<(), ConnError> {
    loop {
        if control.borrow().stop {
            return Err(ConnError::Stop);
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Ok(()),
            changed = control.changed() => {
                if changed.is_err() {
                    return Err(ConnError::Stop);
                }
            }
        }
    }
}

/// Body of a load-test message: `t=<send unix ns>;r=<seq replied to>;<tag>;` padded to `len`.
pub fn make_body(sent_ns: u64, reply_to: u64, tag: &str, len: usize) -> String {
    let mut b = format!("t={sent_ns};r={reply_to};{tag};");
    while b.len() < len {
        b.push('x');
    }
    b
}

/// The send time and replied-to seq from a body made by `make_body`.
pub fn parse_body(body: &str) -> Option<(u64, u64)> {
    let mut parts = body.split(';');
    let t = parts.next()?.strip_prefix("t=")?.parse().ok()?;
    let r = parts.next()?.strip_prefix("r=")?.parse().ok()?;
    Some((t, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trips() {
        let b = make_body(123, 7, "bye", 40);
        assert_eq!(b.len(), 40);
        assert!(b.contains(";bye;"));
        assert_eq!(parse_body(&b), Some((123, 7)));
        assert_eq!(parse_body("Hi! How can we help you today?"), None);
    }

    #[test]
    fn storm_picks_by_share() {
        let (tx, mut rx) = watch::channel(Control::default());
        tx.send_modify(|c| {
            c.storm_epoch = 1;
            c.storm_share = 1.0;
            c.storm_agents = false;
        });
        let (mut visitor_seen, mut agent_seen) = (0, 0);
        assert_eq!(
            check_control(&mut rx, false, &mut visitor_seen),
            Err(ConnError::Dropped)
        );
        assert_eq!(check_control(&mut rx, true, &mut agent_seen), Ok(()));
        // A later change (the drain) is not a new storm: nobody is dropped twice.
        tx.send_modify(|c| c.sending = false);
        assert_eq!(check_control(&mut rx, false, &mut visitor_seen), Ok(()));
        tx.send_modify(|c| c.stop = true);
        assert_eq!(
            check_control(&mut rx, true, &mut agent_seen),
            Err(ConnError::Stop)
        );
    }
}
