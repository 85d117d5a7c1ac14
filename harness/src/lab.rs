//! The host side of the MIT net lab (its `nettest.py` and the older `server.py`), on threads.
//!
//! A [`LabServer`] plays one [`Role`] against a guest running `nettest` or `nettests`, with UDP
//! sockets on 127.0.0.1 only: the roles that listen bind [`LabPorts::server`] (the guest's
//! SERVERPORT, reached as 10.0.2.2 through QEMU's user network), the senders aim at
//! [`LabPorts::fwd1`] and [`LabPorts::fwd2`] (QEMU's `hostfwd` ports to guest UDP 2000 and 2001).
//! It prints the lab's lines (`txone: OK`, `tx: OK`...) on stdout and keeps them for
//! [`LabServer::wait_for`]. Every role ends after [`Limits`] (time and datagrams) or when dropped;
//! nothing runs forever as the lab's script does.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often the role threads look at their stop flag.
pub const POLL: Duration = Duration::from_millis(50);

/// The host ports of one lab setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabPorts {
    /// Where the listening roles bind (the lab's SERVERPORT; `nettest -p`).
    pub server: u16,
    /// QEMU forwards this host port to guest UDP port 2000 (the lab's FWDPORT1).
    pub fwd1: u16,
    /// QEMU forwards this host port to guest UDP port 2001 (the lab's FWDPORT2).
    pub fwd2: u16,
}

impl LabPorts {
    /// The lab Makefile's ports for user `uid`: SERVERPORT uid%5000+25099, FWDPORT1 uid%5000+25999,
    /// FWDPORT2 uid%5000+30999.
    pub fn for_uid(uid: u32) -> LabPorts {
        let base = (uid % 5000) as u16;
        LabPorts {
            server: base + 25099,
            fwd1: base + 25999,
            fwd2: base + 30999,
        }
    }

    /// Three distinct UDP ports of 127.0.0.1 that were free a moment ago (the OS picks them), for a
    /// test. They are released on return: bind or hand them to QEMU right away.
    pub fn free() -> io::Result<LabPorts> {
        let socks = [0; 3].map(|_| UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)));
        let [server, fwd1, fwd2] = socks;
        let port = |s: io::Result<UdpSocket>| -> io::Result<u16> { Ok(s?.local_addr()?.port()) };
        Ok(LabPorts {
            server: port(server)?,
            fwd1: port(fwd1)?,
            fwd2: port(fwd2)?,
        })
    }

    /// QEMU's user network with the lab's two forwards, bound to 127.0.0.1 only.
    pub fn netdev_arg(&self, id: &str) -> String {
        format!(
            "user,id={id},hostfwd=udp:127.0.0.1:{}-:2000,hostfwd=udp:127.0.0.1:{}-:2001",
            self.fwd1, self.fwd2
        )
    }
}

/// The host port of the DNS responder that `labserver` runs for user `uid` (uid%5000+25053), so
/// that user 0's matches `nettest`'s default resolver 10.0.2.2:25053.
pub fn dns_port_for_uid(uid: u32) -> u16 {
    (uid % 5000) as u16 + 25053
}

/// The user id of this process (the owner of /proc/self), for [`LabPorts::for_uid`].
pub fn current_uid() -> io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/self")?.uid())
}

/// How long a role may run, how many datagrams it may send or answer, and the senders' period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub duration: Duration,
    pub packets: usize,
    /// Time between two rounds of the senders (`rx`, `rx2`, `rxburst`); the lab's is one second.
    pub interval: Duration,
}

impl Default for Limits {
    /// Two minutes, 5000 datagrams (ping3 needs 259 echoes), one round a second.
    fn default() -> Limits {
        Limits {
            duration: Duration::from_secs(120),
            packets: 5000,
            interval: Duration::from_secs(1),
        }
    }
}

/// What the host does, after the modes of the lab's `nettest.py` (and `server` for `server.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Receive one datagram; `txone: OK` if it is `txone`.
    TxOne,
    /// Send `xyz` once to FWDPORT1.
    RxOne,
    /// Every interval, `packet N` to FWDPORT1.
    Rx,
    /// Every interval, `one N` to FWDPORT1 and `two N` to FWDPORT2.
    Rx2,
    /// Every interval, 32 × `packet N` to FWDPORT2, then one to FWDPORT1.
    RxBurst,
    /// Receive two datagrams; `tx: OK` if they are `t 0` and `t 1`.
    Tx,
    /// Echo every datagram to its sender.
    Ping,
    /// `txone` once, then `rxone` to FWDPORT2, then echo: what the lab's grader runs.
    Grade,
    /// The 2020–2023 lab's server: answer every datagram with `this is the host!`.
    Server,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::TxOne,
        Role::RxOne,
        Role::Rx,
        Role::Rx2,
        Role::RxBurst,
        Role::Tx,
        Role::Ping,
        Role::Grade,
        Role::Server,
    ];

    /// The mode's name on the lab's command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::TxOne => "txone",
            Role::RxOne => "rxone",
            Role::Rx => "rx",
            Role::Rx2 => "rx2",
            Role::RxBurst => "rxburst",
            Role::Tx => "tx",
            Role::Ping => "ping",
            Role::Grade => "grade",
            Role::Server => "server",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether the role binds [`LabPorts::server`].
    fn listens(self) -> bool {
        matches!(
            self,
            Role::TxOne | Role::Tx | Role::Ping | Role::Grade | Role::Server
        )
    }
}

/// The lines a role printed, shared with its thread.
#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

/// One role running on its own thread. Dropping it stops the role and frees its socket.
pub struct LabServer {
    role: Role,
    log: Arc<Log>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl LabServer {
    /// Binds the role's socket (so a listener is ready when this returns) and starts the role.
    pub fn start(role: Role, ports: LabPorts, limits: Limits) -> io::Result<LabServer> {
        let bind_port = if role.listens() { ports.server } else { 0 };
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, bind_port))?;
        sock.set_read_timeout(Some(POLL))?;
        let log = Arc::new(Log::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut peer = Peer {
            sock,
            ports,
            log: Arc::clone(&log),
            stop: Arc::clone(&stop),
            deadline: Instant::now() + limits.duration,
            budget: limits.packets,
            interval: limits.interval,
        };
        let thread = thread::Builder::new()
            .name(format!("lab-{}", role.name()))
            .spawn(move || peer.play(role))?;
        Ok(LabServer {
            role,
            log,
            stop,
            thread: Some(thread),
        })
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lines.lock().expect("lab log poisoned").clone()
    }

    /// Waits up to `timeout` for the role to print `line` (a whole line); true if it did.
    pub fn wait_for(&self, line: &str, timeout: Duration) -> bool {
        let lines = self.log.lines.lock().expect("lab log poisoned");
        let (lines, _) = self
            .log
            .changed
            .wait_timeout_while(lines, timeout, |l| !l.iter().any(|x| x == line))
            .expect("lab log poisoned");
        lines.iter().any(|x| x == line)
    }

    /// Whether the role has finished (its work is done or its limits ran out).
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the role and returns the socket error that ended it early, if any.
    pub fn stop(mut self) -> io::Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the lab role's thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for LabServer {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

/// The state of a role's thread.
struct Peer {
    sock: UdpSocket,
    ports: LabPorts,
    log: Arc<Log>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
    /// Datagrams the role may still send.
    budget: usize,
    interval: Duration,
}

impl Peer {
    fn play(&mut self, role: Role) -> io::Result<()> {
        match role {
            Role::TxOne => {
                self.say("tx: listening for a UDP packet");
                if let Some((data, _)) = self.recv()? {
                    if data == b"txone" {
                        self.say("txone: OK");
                    } else {
                        self.say(&format!("txone: unexpected payload {}", show(&data)));
                    }
                }
                Ok(())
            }
            Role::RxOne => {
                self.say("txone: sending one UDP packet");
                self.send_fwd(self.ports.fwd1, b"xyz")?;
                Ok(())
            }
            Role::Rx | Role::Rx2 | Role::RxBurst => self.senders(role),
            Role::Tx => {
                self.say("tx: listening for UDP packets");
                let Some((first, _)) = self.recv()? else {
                    return Ok(());
                };
                let Some((second, _)) = self.recv()? else {
                    return Ok(());
                };
                if first == b"t 0" && second == b"t 1" {
                    self.say("tx: OK");
                } else {
                    self.say(&format!(
                        "tx: unexpected packets {} {}",
                        show(&first),
                        show(&second)
                    ));
                }
                Ok(())
            }
            Role::Ping => {
                self.say("ping: listening for UDP packets");
                self.reply_all(None)
            }
            Role::Grade => {
                if let Some((data, _)) = self.recv()? {
                    if data == b"txone" {
                        self.say("txone: OK");
                    } else {
                        self.say(&format!(
                            "txone: received incorrect payload {}",
                            show(&data)
                        ));
                    }
                }
                self.say("rxone: sending one UDP packet");
                self.send_fwd(self.ports.fwd2, b"rxone")?;
                self.reply_all(None)
            }
            Role::Server => {
                self.say(&format!("server: listening on port {}", self.ports.server));
                self.reply_all(Some(b"this is the host!"))
            }
        }
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.deadline
    }

    fn say(&self, line: &str) {
        println!("{line}");
        self.log
            .lines
            .lock()
            .expect("lab log poisoned")
            .push(line.to_string());
        self.log.changed.notify_all();
    }

    /// The next datagram, or None once the role must stop.
    fn recv(&self) -> io::Result<Option<(Vec<u8>, SocketAddr)>> {
        let mut buf = [0u8; 4096];
        while self.running() {
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => return Ok(Some((buf[..n].to_vec(), from))),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::ConnectionRefused
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Sends within the datagram budget; false once it is spent.
    fn send_to(&mut self, data: &[u8], to: SocketAddr) -> io::Result<bool> {
        if self.budget == 0 {
            return Ok(false);
        }
        self.budget -= 1;
        self.sock.send_to(data, to)?;
        Ok(true)
    }

    fn send_fwd(&mut self, port: u16, data: &[u8]) -> io::Result<bool> {
        self.send_to(data, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Answers every datagram with itself (`fixed` None) or with `fixed`, until the limits.
    fn reply_all(&mut self, fixed: Option<&[u8]>) -> io::Result<()> {
        while let Some((data, from)) = self.recv()? {
            if !self.send_to(fixed.unwrap_or(&data), from)? {
                break;
            }
        }
        Ok(())
    }

    /// The `rx`, `rx2` and `rxburst` senders: one round per interval, numbered from 0.
    fn senders(&mut self, role: Role) -> io::Result<()> {
        let (fwd1, fwd2) = (self.ports.fwd1, self.ports.fwd2);
        for i in 0.. {
            let packet = format!("packet {i}");
            let sent = match role {
                Role::Rx => self.send_fwd(fwd1, packet.as_bytes())?,
                Role::Rx2 => {
                    self.send_fwd(fwd1, format!("one {i}").as_bytes())?
                        && self.send_fwd(fwd2, format!("two {i}").as_bytes())?
                }
                _ => {
                    let mut sent = true;
                    for _ in 0..32 {
                        sent &= self.send_fwd(fwd2, packet.as_bytes())?;
                    }
                    sent && self.send_fwd(fwd1, packet.as_bytes())?
                }
            };
            if !sent || !self.pause(self.interval) {
                break;
            }
        }
        Ok(())
    }

    /// Sleeps `d` in [`POLL`] steps; false if the role must stop.
    fn pause(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while self.running() {
            let now = Instant::now();
            if now >= end {
                return true;
            }
            thread::sleep(POLL.min(end - now));
        }
        false
    }
}

/// A payload in the `b'...'` form of the lab's messages (printable ASCII, the rest escaped).
fn show(data: &[u8]) -> String {
    let mut s = String::from("b'");
    for &c in data {
        match c {
            b'\\' | b'\'' => {
                s.push('\\');
                s.push(c as char);
            }
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('\'');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    /// A stand-in for the guest: one socket per forwarded port, and one to talk to the server.
    struct Guest {
        port2000: UdpSocket,
        port2001: UdpSocket,
        ports: LabPorts,
    }

    fn guest() -> Guest {
        let port2000 = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port2001 = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        for s in [&port2000, &port2001] {
            s.set_read_timeout(Some(T)).unwrap();
        }
        let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ports = LabPorts {
            server,
            fwd1: port2000.local_addr().unwrap().port(),
            fwd2: port2001.local_addr().unwrap().port(),
        };
        Guest {
            port2000,
            port2001,
            ports,
        }
    }

    fn fast() -> Limits {
        Limits {
            interval: Duration::from_millis(20),
            ..Limits::default()
        }
    }

    fn recv(s: &UdpSocket) -> String {
        let mut buf = [0u8; 256];
        let n = s.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// A client of the server port, as the guest's `send` from some local port.
    fn client(g: &Guest) -> UdpSocket {
        let c = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        c.set_read_timeout(Some(T)).unwrap();
        c.connect((Ipv4Addr::LOCALHOST, g.ports.server)).unwrap();
        c
    }

    #[test]
    fn ports_follow_the_lab_makefile() {
        assert_eq!(
            LabPorts::for_uid(1000),
            LabPorts {
                server: 26099,
                fwd1: 26999,
                fwd2: 31999
            }
        );
        assert_eq!(LabPorts::for_uid(5000), LabPorts::for_uid(0));
        assert_eq!(dns_port_for_uid(0), 25053);
        let p = LabPorts::free().unwrap();
        assert!(p.server != p.fwd1 && p.fwd1 != p.fwd2 && p.server != p.fwd2);
        assert_eq!(
            LabPorts {
                server: 1,
                fwd1: 2,
                fwd2: 3
            }
            .netdev_arg("net0"),
            "user,id=net0,hostfwd=udp:127.0.0.1:2-:2000,hostfwd=udp:127.0.0.1:3-:2001"
        );
        current_uid().unwrap();
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::from_name(r.name()), Some(r));
        }
        assert_eq!(Role::from_name("rxtwo"), None);
    }

    #[test]
    fn txone_checks_the_payload() {
        let g = guest();
        let s = LabServer::start(Role::TxOne, g.ports, fast()).unwrap();
        client(&g).send(b"txone").unwrap();
        assert!(s.wait_for("txone: OK", T));
        // The first server must be gone (its port free) before the second listens.
        drop(s);
        let s = LabServer::start(Role::TxOne, g.ports, fast()).unwrap();
        client(&g).send(b"tx1").unwrap();
        assert!(s.wait_for("txone: unexpected payload b'tx1'", T));
    }

    #[test]
    fn tx_wants_t0_then_t1() {
        let g = guest();
        let s = LabServer::start(Role::Tx, g.ports, fast()).unwrap();
        let c = client(&g);
        c.send(b"t 0").unwrap();
        c.send(b"t 1").unwrap();
        assert!(s.wait_for("tx: OK", T));
        assert_eq!(s.lines(), ["tx: listening for UDP packets", "tx: OK"]);
    }

    #[test]
    fn rx_senders_number_their_rounds() {
        let g = guest();
        let s = LabServer::start(Role::Rx, g.ports, fast()).unwrap();
        assert_eq!(
            [0; 3].map(|_| recv(&g.port2000)),
            ["packet 0", "packet 1", "packet 2"]
        );
        drop(s);

        let g = guest();
        let s = LabServer::start(Role::Rx2, g.ports, fast()).unwrap();
        assert_eq!(recv(&g.port2000), "one 0");
        assert_eq!(recv(&g.port2001), "two 0");
        assert_eq!(recv(&g.port2000), "one 1");
        drop(s);

        let g = guest();
        let _s = LabServer::start(Role::RxBurst, g.ports, fast()).unwrap();
        for _ in 0..32 {
            assert_eq!(recv(&g.port2001), "packet 0");
        }
        assert_eq!(recv(&g.port2000), "packet 0");
        assert_eq!(recv(&g.port2000), "packet 1");
    }

    #[test]
    fn ping_echoes_and_server_answers_the_host_line() {
        let g = guest();
        let s = LabServer::start(Role::Ping, g.ports, fast()).unwrap();
        let c = client(&g);
        for msg in ["ping0", "p A!"] {
            c.send(msg.as_bytes()).unwrap();
            assert_eq!(recv(&c), msg);
        }
        drop(s);
        let _s = LabServer::start(Role::Server, g.ports, fast()).unwrap();
        c.send(b"a message from xv6!").unwrap();
        assert_eq!(recv(&c), "this is the host!");
    }

    #[test]
    fn grade_takes_txone_sends_rxone_then_echoes() {
        let g = guest();
        let s = LabServer::start(Role::Grade, g.ports, fast()).unwrap();
        let c = client(&g);
        c.send(b"txone").unwrap();
        assert_eq!(recv(&g.port2001), "rxone");
        assert!(s.wait_for("txone: OK", T));
        c.send(b"ping0").unwrap();
        assert_eq!(recv(&c), "ping0");
    }

    #[test]
    fn limits_end_a_role() {
        let g = guest();
        let few = Limits {
            packets: 2,
            ..fast()
        };
        let s = LabServer::start(Role::Rx, g.ports, few).unwrap();
        recv(&g.port2000);
        recv(&g.port2000);
        let start = Instant::now();
        while !s.finished() {
            assert!(start.elapsed() < T, "rx did not stop after its budget");
            thread::sleep(POLL);
        }
        let short = Limits {
            duration: Duration::from_millis(100),
            ..fast()
        };
        let s = LabServer::start(Role::Ping, g.ports, short).unwrap();
        thread::sleep(Duration::from_millis(400));
        assert!(s.finished());
        s.stop().unwrap();
    }

    #[test]
    fn drop_stops_a_listener_and_frees_its_port() {
        let g = guest();
        let s = LabServer::start(Role::Ping, g.ports, Limits::default()).unwrap();
        let start = Instant::now();
        drop(s);
        assert!(start.elapsed() < Duration::from_secs(2));
        UdpSocket::bind((Ipv4Addr::LOCALHOST, g.ports.server)).unwrap();
    }

    #[test]
    fn show_escapes_quotes_and_binary() {
        assert_eq!(show(b"t 0"), "b't 0'");
        assert_eq!(show(b"a'\\\x01"), "b'a\\'\\\\\\x01'");
    }
}
