//! The bounded outbound queue of one socket. Conversations and the Router push frames into a
//! session's mailbox, and a session runs only while its socket drains (actix-web drives it from
//! the response stream), so a client that stops reading would let its mailbox grow without end.
//! Every push is counted here, in frames and bytes, until the session writes it; a socket over
//! its limits, or with frames pending for longer than the stall time, is refused further pushes
//! and closes (1008) the next time it runs. The client resumes by `last_seq`. A socket that never
//! drains again is cut by the kernel (`TCP_USER_TIMEOUT`, set on every accepted connection).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use parking_lot::Mutex;

/// Limits of one socket's queue.
#[derive(Debug, Clone, Copy)]
pub struct OutboxLimits {
    pub frames: usize,
    pub bytes: usize,
    pub stall: Duration,
}

#[derive(Debug)]
struct Queue {
    frames: usize,
    bytes: usize,
    /// When the queue last went from empty to non-empty, or last drained a frame.
    pending_since: Instant,
    /// Over a limit or stalled: no more pushes; the session closes.
    shut: bool,
}

#[derive(Debug)]
pub struct Outbox {
    limits: OutboxLimits,
    queue: Mutex<Queue>,
}

impl Outbox {
    pub fn new(limits: OutboxLimits) -> Arc<Self> {
        Arc::new(Outbox {
            limits,
            queue: Mutex::new(Queue {
                frames: 0,
                bytes: 0,
                pending_since: Instant::now(),
                shut: false,
            }),
        })
    }

    /// Counts a live frame in, unless the queue is full or stalled (which shuts it for good).
    pub fn admit(&self, bytes: usize) -> bool {
        let mut q = self.queue.lock();
        if q.shut {
            return false;
        }
        let stalled = q.frames > 0 && q.pending_since.elapsed() >= self.limits.stall;
        // One frame alone always fits (frames are bounded by the message limits); a queue is
        // full only with something already in it, so a shut socket always has a frame coming
        // that tells it to close.
        let full = q.frames > 0
            && (q.frames + 1 > self.limits.frames
                || q.bytes.saturating_add(bytes) > self.limits.bytes);
        if stalled || full {
            q.shut = true;
            metrics::counter!(crate::telemetry::SLOW_SOCKETS_CLOSED).increment(1);
            return false;
        }
        if q.frames == 0 {
            q.pending_since = Instant::now();
        }
        q.frames += 1;
        q.bytes += bytes;
        true
    }

    /// The session wrote a counted frame to its socket.
    pub fn drained(&self, bytes: usize) {
        let mut q = self.queue.lock();
        q.frames = q.frames.saturating_sub(1);
        q.bytes = q.bytes.saturating_sub(bytes);
        q.pending_since = Instant::now();
    }

    /// Refused a push: the session should close.
    pub fn is_shut(&self) -> bool {
        self.queue.lock().shut
    }
}

/// A frame for a session. Live frames are counted by the outbox until the session writes them;
/// control messages (a revocation, the `welcome` of a join) are not, and always get through.
pub trait Counted {
    /// The size a live frame counts for; `None` for control messages, which are not counted.
    fn bytes(&self) -> Option<usize>;
    /// Marks the frame as counted; the session calls `Outbox::drained` when it writes it.
    fn mark_live(&mut self);
}

/// A session's mailbox together with its outbox: the only way frames reach a socket.
pub struct Outlet<M: Message<Result = ()> + Send + Counted> {
    recipient: Recipient<M>,
    outbox: Arc<Outbox>,
}

impl<M: Message<Result = ()> + Send + Counted> Clone for Outlet<M> {
    fn clone(&self) -> Self {
        Outlet {
            recipient: self.recipient.clone(),
            outbox: self.outbox.clone(),
        }
    }
}

impl<M: Message<Result = ()> + Send + Counted + 'static> Outlet<M> {
    pub fn new(recipient: Recipient<M>, outbox: Arc<Outbox>) -> Self {
        Outlet { recipient, outbox }
    }

    /// Pushes a live frame, unless the socket is gone or too slow (it is closing then, and its
    /// client resumes by seq).
    pub fn push(&self, mut msg: M) {
        if !self.recipient.connected() {
            return;
        }
        if let Some(bytes) = msg.bytes() {
            if !self.outbox.admit(bytes) {
                return;
            }
            msg.mark_live();
        }
        self.recipient.do_send(msg);
    }

    /// Pushes a control message, which is never refused (see `Counted`).
    pub fn push_control(&self, msg: M) {
        self.recipient.do_send(msg);
    }

    /// The session still runs (a socket shut for being slow counts until it has closed).
    pub fn alive(&self) -> bool {
        self.recipient.connected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(frames: usize, bytes: usize) -> OutboxLimits {
        OutboxLimits {
            frames,
            bytes,
            stall: Duration::from_secs(30),
        }
    }

    #[test]
    fn a_full_queue_refuses_and_stays_shut() {
        let outbox = Outbox::new(limits(2, 1000));
        assert!(outbox.admit(10));
        assert!(outbox.admit(10));
        assert!(!outbox.admit(10), "the third frame is over the limit");
        outbox.drained(10);
        assert!(!outbox.admit(10), "a shut queue stays shut");
        assert!(outbox.is_shut());
    }

    #[test]
    fn bytes_count_as_well_as_frames() {
        let outbox = Outbox::new(limits(100, 100));
        assert!(outbox.admit(60));
        assert!(!outbox.admit(60));
    }

    #[test]
    fn one_frame_alone_always_fits() {
        let outbox = Outbox::new(limits(100, 100));
        assert!(outbox.admit(500), "an empty queue takes any one frame");
        assert!(!outbox.admit(1), "then it is over its bytes");
    }

    #[test]
    fn draining_makes_room() {
        let outbox = Outbox::new(limits(1, 1000));
        for _ in 0..10 {
            assert!(outbox.admit(5));
            outbox.drained(5);
        }
        assert!(!outbox.is_shut());
    }

    #[test]
    fn frames_pending_past_the_stall_time_shut_the_queue() {
        let outbox = Outbox::new(OutboxLimits {
            frames: 100,
            bytes: 100_000,
            stall: Duration::from_millis(20),
        });
        assert!(outbox.admit(1));
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            !outbox.admit(1),
            "nothing drained for longer than the stall time"
        );
    }

    #[test]
    fn an_idle_empty_queue_is_not_stalled() {
        let outbox = Outbox::new(OutboxLimits {
            frames: 100,
            bytes: 100_000,
            stall: Duration::from_millis(20),
        });
        std::thread::sleep(Duration::from_millis(30));
        assert!(outbox.admit(1));
        assert!(outbox.admit(1));
    }
}
