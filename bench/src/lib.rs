//! The network benchmark (`cargo xtask bench`): UDP echo rate and latency from the host, against
//! `udpecho` in a guest on QEMU's user network, against the NIC driver echoing frames itself
//! (`net.echo=1`: the device ceiling) and against an echo thread on the host's loopback (the
//! harness's own ceiling), all in the same run; then, in the `udpecho` guest, the guest's time
//! counters, TCP bulk throughput each way ([`tcp`]) and HTTP requests per second ([`http`]); and
//! what the load generator itself cost ([`costs`]). Beside the network, [`usertests`] times xv6's
//! full `usertests` on the standard test machine, once per run of the benchmark.
//!
//! Every UDP exchange is open loop: the sender paces datagrams by absolute deadlines (a late packet
//! does not delay the ones after it), in batches of at most [`RATE_BATCH`], while a second thread
//! reads the echoes. Each datagram carries an exchange id and a sequence number, so an echo left
//! over from an earlier, lossy exchange is ignored. Every loop is bounded in packets and seconds,
//! and only 127.0.0.1 is ever addressed.
//!
//! - `udp`: the paced probe, its echo reader and the host's echo service; `search`: the rate
//!   search and latency statistics; `run`: one configuration booted and measured.
//! - [`targets`] judges the performance targets of docs/bench.md against the medians of the runs
//!   and the ceilings of the same benchmark; [`report`] writes `bench.json` (serde) and
//!   `bench.csv`, [`summary`] `summary.md`, and [`plot`] the figures.

pub mod costs;
pub mod http;
pub mod plot;
pub mod report;
mod run;
mod search;
pub mod summary;
pub mod targets;
pub mod tcp;
mod udp;
pub mod usertests;

pub use harness::qemu::Nic;
pub use run::run_target;
pub use search::{Latency, Search, nearest_rank, search};
pub use udp::{Exchange, HostEcho, Plan, Prober, measure};

use std::time::Duration;

use costs::{GuestTime, PhaseCost};
use http::{HttpPlan, HttpResult};
use tcp::TcpResult;

/// The UDP payload size of every datagram.
pub const PAYLOAD: usize = 64;
/// Datagrams per try of the rate search.
pub const RATE_PACKETS: u32 = 1000;
/// The rate search's range, in datagrams per second.
pub const RATE_RANGE: (f64, f64) = (1_000.0, 50_000.0);
/// The search stops when the bracket's ends are this close (ratio).
const SEARCH_PRECISION: f64 = 1.05;
/// And after this many tries, whatever the bracket.
const SEARCH_MAX_TRIES: usize = 12;
/// Most datagrams the sender sends back to back before looking at the clock again.
pub const RATE_BATCH: u32 = 8;
/// Socket buffers of the host's sockets, so the host never drops what it sends or receives.
pub const SOCKET_BUFFER: usize = 4 << 20;
/// How long the receiver waits for more echoes after the last send (reset by each echo)...
const DRAIN_QUIET: Duration = Duration::from_millis(300);
/// ...and at most, after the last send.
const DRAIN_MAX: Duration = Duration::from_secs(2);
/// How often a blocked reader looks at its stop flag.
const READ_TIMEOUT: Duration = Duration::from_millis(50);
/// Marks the benchmark's datagrams.
const MAGIC: [u8; 4] = *b"xvb1";
/// The guest port `udpecho` (or `mudpecho`) serves.
pub const GUEST_PORT: u16 = 2000;
/// The guest port of `tcpbench source` (guest→host).
pub const SOURCE_PORT: u16 = 5001;
/// The guest port of `tcpbench sink` (host→guest).
pub const SINK_PORT: u16 = 5002;
/// The guest port of `httpd`.
pub const HTTP_PORT: u16 = 80;
/// The file the HTTP phases ask for: fs-extra/index.html, 311 bytes.
pub const HTTP_PATH: &str = "/index.html";
/// How long a guest command may take to start or to print its answer.
const CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `tcpbench` may take to end after the host's side ended: its own timeouts (60 s of
/// silence) bound it when a reset got lost.
const TCPBENCH_END_TIMEOUT: Duration = Duration::from_secs(90);
/// What the kernel prints when `net.echo=1` put the driver in its echo loop.
pub const DEVICE_ECHO_LINE: &str = "net: device echo mode";

/// How long each phase of a run lasts.
#[derive(Clone, Debug)]
pub struct Phases {
    /// Latency rates, in messages per second.
    pub latency_rates: Vec<f64>,
    /// Each latency phase stops at this many samples...
    pub latency_samples: u32,
    /// ...or this long, whichever comes first.
    pub latency_duration: Duration,
    /// Bytes of each TCP bulk transfer...
    pub tcp_bytes: u64,
    /// ...which ends at this deadline if not done before.
    pub tcp_deadline: Duration,
    /// HTTP clients (connections at once).
    pub http_connections: usize,
    /// Each HTTP phase stops at this many requests...
    pub http_requests: u32,
    /// ...or this long, whichever comes first.
    pub http_duration: Duration,
}

impl Phases {
    /// `--quick`: 1 to 1000 msg/s, 200 samples or 3 s each; 4 MiB each way within 20 s; 6,000
    /// HTTP requests or 3 s per mode.
    pub fn quick() -> Phases {
        Phases {
            latency_rates: vec![1.0, 10.0, 100.0, 1000.0],
            latency_samples: 200,
            latency_duration: Duration::from_secs(3),
            tcp_bytes: 4 << 20,
            tcp_deadline: Duration::from_secs(20),
            http_connections: 4,
            http_requests: 6_000,
            http_duration: Duration::from_secs(3),
        }
    }

    /// The full run: 1 to 10,000 msg/s, 1000 samples or 10 s each; 16 MiB each way within 60 s;
    /// 50,000 HTTP requests or 10 s per mode (the counts leave room above the 3,000 req/s target).
    pub fn full() -> Phases {
        Phases {
            latency_rates: vec![1.0, 10.0, 100.0, 1000.0, 10_000.0],
            latency_samples: 1000,
            latency_duration: Duration::from_secs(10),
            tcp_bytes: 16 << 20,
            tcp_deadline: Duration::from_secs(60),
            http_connections: 4,
            http_requests: 50_000,
            http_duration: Duration::from_secs(10),
        }
    }

    /// The HTTP phase with or without keep-alive.
    pub fn http(&self, keep_alive: bool) -> HttpPlan {
        HttpPlan {
            keep_alive,
            connections: self.http_connections,
            requests: self.http_requests,
            duration: self.http_duration,
        }
    }
}

/// The guest's time counters over the UDP phase of a `udpecho` (or `mudpecho`) run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GuestCounters {
    /// Not a `udpecho` guest (the host's echo, the device ceiling).
    #[default]
    NotApplicable,
    /// `ifconfig` printed no `time:` line (a kernel without the counters).
    Missing,
    /// What the counters grew by from just before `udpecho` started to just after the last
    /// latency phase.
    Read(GuestTime),
}

/// Everything one run of one configuration measured.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    pub zero_loss: Search,
    pub delivery99: Search,
    pub latency: Vec<Latency>,
    /// The host socket's receive buffer as granted.
    pub recv_buffer: usize,
    /// The guest's time counters over the UDP phases.
    pub guest_time: GuestCounters,
    /// TCP bulk transfers (`udpecho` guests only).
    pub tcp: Option<TcpResult>,
    /// HTTP with keep-alive, then without (`udpecho` guests only).
    pub http: Vec<HttpResult>,
    /// The load generator's own cost per phase (`udp`, `tcp`, `http`) and in `total`.
    pub costs: Vec<PhaseCost>,
}

/// What one configuration runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The echo thread on the host (no guest).
    Host,
    /// The driver's own echo loop (`net.echo=1`) with this card and `net.ring`.
    DeviceEcho { nic: Nic, ring: Option<usize> },
    /// `udpecho` (then `tcpbench` and `httpd`) in a guest with this card and `net.ring` (None:
    /// the kernel's default).
    Guest { nic: Nic, ring: Option<usize> },
    /// `mudpecho` in a guest: the UDP phases only, against the batched echo server (a BSD
    /// socket with a large `SO_RCVBUF`, `recvmmsg` and `sendmmsg`).
    BatchedEcho { nic: Nic, ring: Option<usize> },
}

impl Target {
    /// The configuration's name in reports.
    pub fn label(&self) -> String {
        match self {
            Target::Host => "host loopback echo".into(),
            Target::DeviceEcho { nic, ring: Some(r) } => {
                format!("{} device ceiling ring {r}", nic.name())
            }
            Target::DeviceEcho { nic, ring: None } => format!("{} device ceiling", nic.name()),
            Target::Guest { nic, ring: Some(r) } => format!("{} ring {r}", nic.name()),
            Target::Guest { nic, ring: None } => format!("{} default ring", nic.name()),
            Target::BatchedEcho { nic, ring: Some(r) } => {
                format!("{} ring {r} batched echo", nic.name())
            }
            Target::BatchedEcho { nic, ring: None } => {
                format!("{} default ring batched echo", nic.name())
            }
        }
    }
}

/// A configuration the kernel cannot run (a boot option it does not know): the benchmark skips
/// it and says so, rather than failing.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}
