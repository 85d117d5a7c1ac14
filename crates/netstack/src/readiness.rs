//! `Readiness`: what a socket can do now without blocking, the vocabulary
//! every socket kind answers in and `poll` is built on.

use abi::socket::{POLLERR, POLLHUP, POLLIN, POLLOUT};

/// What a socket can do now without blocking, for `poll`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// A receive (or accept) would not block: data, end of stream, or an error.
    pub readable: bool,
    /// A send would not block: room, or an error to report.
    pub writable: bool,
    /// The connection is over in both directions (or was never made).
    pub hup: bool,
    /// An error is pending (see [`Bsd::take_error`](crate::Bsd::take_error)).
    pub error: bool,
}

impl Readiness {
    /// `revents` for a `pollfd` that asked for `events`: `POLLIN`/`POLLOUT` if
    /// asked, `POLLERR`/`POLLHUP` always.
    pub fn poll_events(self, events: i16) -> i16 {
        let mut revents = 0;
        if self.readable {
            revents |= POLLIN & events;
        }
        if self.writable {
            revents |= POLLOUT & events;
        }
        if self.error {
            revents |= POLLERR;
        }
        if self.hup {
            revents |= POLLHUP;
        }
        revents
    }

    /// The flags set in `self` but not in `before`.
    pub(crate) fn rose_since(self, before: Readiness) -> Readiness {
        Readiness {
            readable: self.readable && !before.readable,
            writable: self.writable && !before.writable,
            hup: self.hup && !before.hup,
            error: self.error && !before.error,
        }
    }
}
