//! The connection to QEMU's `-netdev stream`: length-prefixed frames both ways, a reader thread
//! that answers the host's share (see `answer`) and queues the rest for the test.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::answer::{arp_answer, echo_answer};

/// The largest frame either side may put on the connection. QEMU's socket backends take up to
/// 69632 bytes (NET_BUFSIZE); a longer length prefix means the stream is out of step.
pub const MAX_FRAME: usize = 65536;
/// Most guest frames waiting for the test; later ones are counted in
/// [`WireStats::overflowed`] and dropped.
pub const QUEUE_LIMIT: usize = 65536;
/// Most frames [`Wire::recv_until`] keeps aside for [`Wire::take_unmatched`].
pub const UNMATCHED_LIMIT: usize = 1024;
/// How often the reader looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);
/// How long one frame may wait for QEMU to read it: QEMU stops reading while the NIC has no
/// free receive buffer, so a send blocks (flow control) but must not block forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Traffic over the wire since it was connected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Frames written to QEMU, including the ARP replies the reader sent.
    pub sent: u64,
    /// The bytes of those frames (without the length prefixes).
    pub sent_bytes: u64,
    /// Frames read from QEMU, including the ARP requests the reader answered.
    pub received: u64,
    /// The guest's ARP requests for [`HOST_IP`](super::HOST_IP) the reader answered.
    pub arp_answered: u64,
    /// The guest's echo requests to [`HOST_IP`](super::HOST_IP) the reader answered.
    pub echo_answered: u64,
    /// Guest frames dropped because [`QUEUE_LIMIT`] frames were already waiting.
    pub overflowed: u64,
}

/// State shared by the test's thread and the reader.
#[derive(Default)]
pub(crate) struct Shared {
    /// Guest frames not yet taken by the test, oldest first.
    queue: Mutex<VecDeque<Vec<u8>>>,
    /// Signalled when a frame is queued or the reader stops.
    changed: Condvar,
    /// Set by `Drop`: the reader ends.
    stop: AtomicBool,
    /// Why the reader ended (QEMU closed the connection, a broken stream), once it has.
    ended: Mutex<Option<String>>,
    /// A write failed part way: the stream is out of step and no frame may follow.
    broken: AtomicBool,
    sent: AtomicU64,
    sent_bytes: AtomicU64,
    received: AtomicU64,
    arp_answered: AtomicU64,
    echo_answered: AtomicU64,
    overflowed: AtomicU64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Writes one frame with its length prefix, as one write so that the reader's ARP replies and
    /// the test's frames never interleave.
    fn write_frame(&self, stream: &Mutex<TcpStream>, frame: &[u8]) -> io::Result<()> {
        if frame.len() > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a {}-byte frame is over {MAX_FRAME}", frame.len()),
            ));
        }
        let mut msg = Vec::with_capacity(4 + frame.len());
        msg.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        msg.extend_from_slice(frame);
        let mut stream = lock(stream);
        if self.broken.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "an earlier write to QEMU failed part way",
            ));
        }
        stream.write_all(&msg).inspect_err(|_| {
            self.broken.store(true, Ordering::Relaxed);
        })?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.sent_bytes
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Handles one frame from the guest: answers it if it asks for the host's MAC or pings the
    /// host, else queues it.
    fn deliver(&self, stream: &Mutex<TcpStream>, frame: Vec<u8>) -> io::Result<()> {
        self.received.fetch_add(1, Ordering::Relaxed);
        // Counted before the reply leaves, so that a test that saw the guest get the reply also
        // sees the count.
        if let Some(reply) = arp_answer(&frame) {
            self.arp_answered.fetch_add(1, Ordering::Relaxed);
            return self.write_frame(stream, &reply);
        }
        if let Some(reply) = echo_answer(&frame) {
            self.echo_answered.fetch_add(1, Ordering::Relaxed);
            return self.write_frame(stream, &reply);
        }
        let mut queue = lock(&self.queue);
        if queue.len() >= QUEUE_LIMIT {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
        } else {
            queue.push_back(frame);
            self.changed.notify_all();
        }
        Ok(())
    }

    fn end(&self, why: String) {
        *lock(&self.ended) = Some(why);
        // Taking the queue's lock orders this with a waiter's check of `ended`.
        let _queue = lock(&self.queue);
        self.changed.notify_all();
    }
}

/// The harness's side of one guest NIC. Dropping it closes the connection and stops the reader.
pub struct Wire {
    listener: TcpListener,
    port: u16,
    pub(super) shared: Arc<Shared>,
    /// The connection to QEMU, once accepted; the reader writes ARP replies through it too.
    stream: Option<Arc<Mutex<TcpStream>>>,
    reader: Option<JoinHandle<()>>,
    /// Frames [`Wire::recv_until`] passed over, for the test to inspect.
    unmatched: Vec<Vec<u8>>,
}

impl Wire {
    /// Listens on a port of 127.0.0.1 that the OS picks.
    pub fn listen() -> io::Result<Wire> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        Ok(Wire {
            listener,
            port,
            shared: Arc::default(),
            stream: None,
            reader: None,
            unmatched: Vec::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `-netdev` value that makes QEMU connect its netdev `id` to this wire.
    pub fn netdev_arg(&self, id: &str) -> String {
        format!(
            "stream,id={id},server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={}",
            self.port
        )
    }

    /// Waits up to `timeout` for QEMU to connect (it does while starting, before the guest
    /// runs) and starts the reader.
    pub fn accept(&mut self, timeout: Duration) -> io::Result<()> {
        if self.stream.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the wire is already connected",
            ));
        }
        self.listener.set_nonblocking(true)?;
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("QEMU did not connect to 127.0.0.1:{}", self.port),
                        ));
                    }
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        };
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL))?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let input = stream.try_clone()?;
        let stream = Arc::new(Mutex::new(stream));
        let (shared, output) = (Arc::clone(&self.shared), Arc::clone(&stream));
        self.reader = Some(
            thread::Builder::new()
                .name(format!("wire-{}", self.port))
                .spawn(move || read_frames(input, &output, &shared))?,
        );
        self.stream = Some(stream);
        Ok(())
    }

    /// Sends one frame to the guest's NIC. Blocks while QEMU does not read (its NIC has no
    /// free receive buffer), up to 10 s.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let Some(stream) = &self.stream else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "QEMU has not connected",
            ));
        };
        self.shared.write_frame(stream, frame)
    }

    /// The next frame from the guest, waiting up to `timeout`; `None` at once if the connection
    /// ended and nothing is queued.
    pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut queue = lock(&self.shared.queue);
        loop {
            if let Some(frame) = queue.pop_front() {
                return Some(frame);
            }
            let now = Instant::now();
            if now >= deadline || lock(&self.shared.ended).is_some() {
                return None;
            }
            queue = self
                .shared
                .changed
                .wait_timeout(queue, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The first frame for which `pick` returns something, within `timeout`. The frames passed
    /// over are kept (up to [`UNMATCHED_LIMIT`]) for [`take_unmatched`](Self::take_unmatched).
    pub fn recv_until<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&[u8]) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let frame = self.recv(deadline.saturating_duration_since(Instant::now()))?;
            if let Some(found) = pick(&frame) {
                return Some(found);
            }
            if self.unmatched.len() < UNMATCHED_LIMIT {
                self.unmatched.push(frame);
            }
        }
    }

    /// The frames [`recv_until`](Self::recv_until) passed over since the last call, plus any
    /// still queued: what the guest sent that no exchange expected.
    pub fn take_unmatched(&mut self) -> Vec<Vec<u8>> {
        let mut frames = std::mem::take(&mut self.unmatched);
        frames.extend(lock(&self.shared.queue).drain(..));
        frames
    }

    pub fn stats(&self) -> WireStats {
        let s = &self.shared;
        WireStats {
            sent: s.sent.load(Ordering::Relaxed),
            sent_bytes: s.sent_bytes.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            arp_answered: s.arp_answered.load(Ordering::Relaxed),
            echo_answered: s.echo_answered.load(Ordering::Relaxed),
            overflowed: s.overflowed.load(Ordering::Relaxed),
        }
    }

    /// Why the connection ended, if it has (QEMU exited, or a broken stream).
    pub fn ended(&self) -> Option<String> {
        lock(&self.shared.ended).clone()
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(stream) = &self.stream {
            // Wakes a reader blocked in read; errors mean the connection is already gone.
            let _ = lock(stream).shutdown(Shutdown::Both);
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The reader: splits the byte stream into frames until QEMU closes it or the wire is dropped.
fn read_frames(mut input: TcpStream, output: &Mutex<TcpStream>, shared: &Shared) {
    let mut framer = Framer::default();
    let mut chunk = vec![0u8; 64 * 1024];
    let why = 'read: loop {
        if shared.stop.load(Ordering::Relaxed) {
            break "the wire was dropped".to_string();
        }
        match input.read(&mut chunk) {
            Ok(0) => break "QEMU closed the connection".to_string(),
            Ok(n) => framer.push(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => break format!("reading from QEMU: {e}"),
        }
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => {
                    if let Err(e) = shared.deliver(output, frame) {
                        break 'read format!("answering the guest: {e}");
                    }
                }
                Ok(None) => break,
                Err(e) => break 'read e,
            }
        }
    };
    shared.end(why);
}

/// Splits a byte stream into length-prefixed frames.
#[derive(Default)]
struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `None` if it has not fully arrived, an error if the length prefix
    /// is impossible (the stream is out of step and nothing after it can be trusted).
    fn next_frame(&mut self) -> Result<Option<Vec<u8>>, String> {
        let Some(prefix) = self.buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > MAX_FRAME {
            return Err(format!("QEMU sent a length prefix of {len} bytes"));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let frame = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{FakeQemu, UDP_IN, from_guest};
    use crate::wire::*;

    #[test]
    fn the_framer_reassembles_frames_across_reads() {
        let mut stream = Vec::new();
        for f in [&b"abc"[..], b"", b"0123456789"] {
            stream.extend_from_slice(&(f.len() as u32).to_be_bytes());
            stream.extend_from_slice(f);
        }
        for step in [1, 2, 5, stream.len()] {
            let mut framer = Framer::default();
            let mut frames = Vec::new();
            for chunk in stream.chunks(step) {
                framer.push(chunk);
                while let Some(f) = framer.next_frame().unwrap() {
                    frames.push(f);
                }
            }
            assert_eq!(frames, [&b"abc"[..], b"", b"0123456789"], "step {step}");
            assert!(framer.buf.is_empty());
        }
        let mut framer = Framer::default();
        framer.push(&(MAX_FRAME as u32 + 1).to_be_bytes());
        assert!(framer.next_frame().is_err());
    }

    #[test]
    fn frames_cross_the_wire_both_ways_and_arp_and_pings_are_answered() {
        let mut wire = Wire::listen().unwrap();
        assert!(
            wire.netdev_arg("n")
                .ends_with(&format!("addr.port={}", wire.port()))
        );
        assert!(wire.send(b"early").is_err());
        let mut qemu = FakeQemu::connect(&mut wire);

        let ask = ethernet(
            BROADCAST,
            GUEST_MAC,
            ETHERTYPE_ARP,
            &arp_packet(ARP_REQUEST, GUEST_MAC, GUEST_IP, [0; 6], HOST_IP),
        );
        qemu.send(&ask);
        let udp_out = from_guest(PROTO_UDP, &udp(GUEST_IP, 2000, HOST_IP, 9, b"hi"));
        qemu.send(&udp_out);
        qemu.send(&from_guest(
            PROTO_ICMP,
            &icmp_echo(ICMP_ECHO_REQUEST, 1, 2, b"hi"),
        ));
        let reply = qemu.recv().unwrap();
        assert_eq!(Arp::parse(&reply[ETH_HEADER_LEN..]).unwrap().op, ARP_REPLY);
        let reply = qemu.recv().unwrap();
        let ip = Ipv4::parse(&reply[ETH_HEADER_LEN..]).unwrap();
        assert_eq!(Echo::parse(&ip).unwrap().ty, ICMP_ECHO_REPLY);
        assert_eq!(wire.recv(Duration::from_secs(10)).unwrap(), udp_out);
        assert_eq!(wire.recv(Duration::from_millis(50)), None);

        wire.send(UDP_IN).unwrap();
        assert_eq!(qemu.recv().unwrap(), UDP_IN);
        let big = vec![0xa5; 9000];
        wire.send(&big).unwrap();
        assert_eq!(qemu.recv().unwrap(), big);
        assert!(wire.send(&vec![0; MAX_FRAME + 1]).is_err());
        assert_eq!(
            wire.stats(),
            WireStats {
                sent: 4,
                sent_bytes: 60 + 44 + 45 + 9000,
                received: 3,
                arp_answered: 1,
                echo_answered: 1,
                overflowed: 0
            }
        );

        // QEMU exits: waits end at once and say why.
        drop(qemu);
        let start = Instant::now();
        assert_eq!(wire.recv(Duration::from_secs(10)), None);
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(wire.ended().as_deref(), Some("QEMU closed the connection"));
    }

    #[test]
    fn accept_gives_up_when_nobody_connects() {
        let mut wire = Wire::listen().unwrap();
        let err = wire.accept(Duration::from_millis(100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
