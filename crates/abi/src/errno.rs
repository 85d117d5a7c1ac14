//! Error numbers of the socket calls: a failed call returns -1 and leaves one of these
//! for the user library, which prints it with [`strerror`].
//!
//! The numbers and messages are Linux's (`asm-generic/errno-base.h`, `errno.h`), so
//! that a ported program's checks and a reader's memory both apply unchanged.

use core::fmt;

/// One error number, e.g. [`ECONNREFUSED`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(i32);

impl Errno {
    /// The error with number `code`, known or not.
    pub const fn from_code(code: i32) -> Errno {
        Errno(code)
    }

    /// The number, as user space receives it.
    pub const fn code(self) -> i32 {
        self.0
    }

    /// The text Linux prints for it.
    pub fn message(self) -> &'static str {
        strerror(self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl core::error::Error for Errno {}

/// The kernel's xv6-shaped internals (copyin, namei, the file system) fail without a
/// reason, as `Err(())`. Such a failure reaches a system call as EINVAL; xv6's own calls
/// return -1 whatever the number, so only the BSD socket calls, which return -errno,
/// ever show it, and they name a precise error wherever one applies.
impl From<()> for Errno {
    fn from((): ()) -> Errno {
        EINVAL
    }
}

/// Declares the constants and `strerror`'s table from one list.
macro_rules! errnos {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        $(
            #[doc = $text]
            pub const $name: Errno = Errno($code);
        )*

        /// Linux's message for error number `code`; "Unknown error" for others.
        pub fn strerror(code: i32) -> &'static str {
            match code {
                $($code => $text,)*
                _ => "Unknown error",
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    EBADF = 9, "Bad file descriptor";
    ECHILD = 10, "No child processes";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EFAULT = 14, "Bad address";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in system";
    EMFILE = 24, "Too many open files";
    EPIPE = 32, "Broken pipe";
    ENOSYS = 38, "Function not implemented";
    ENODATA = 61, "No data available";
    ENOTSOCK = 88, "Socket operation on non-socket";
    EDESTADDRREQ = 89, "Destination address required";
    EMSGSIZE = 90, "Message too long";
    EPROTOTYPE = 91, "Protocol wrong type for socket";
    ENOPROTOOPT = 92, "Protocol not available";
    EPROTONOSUPPORT = 93, "Protocol not supported";
    ESOCKTNOSUPPORT = 94, "Socket type not supported";
    EOPNOTSUPP = 95, "Operation not supported";
    EAFNOSUPPORT = 97, "Address family not supported by protocol";
    EADDRINUSE = 98, "Address already in use";
    EADDRNOTAVAIL = 99, "Cannot assign requested address";
    ENETDOWN = 100, "Network is down";
    ENETUNREACH = 101, "Network is unreachable";
    ECONNABORTED = 103, "Software caused connection abort";
    ECONNRESET = 104, "Connection reset by peer";
    ENOBUFS = 105, "No buffer space available";
    EISCONN = 106, "Transport endpoint is already connected";
    ENOTCONN = 107, "Transport endpoint is not connected";
    ETIMEDOUT = 110, "Connection timed out";
    ECONNREFUSED = 111, "Connection refused";
    EHOSTUNREACH = 113, "No route to host";
    EALREADY = 114, "Operation already in progress";
    EINPROGRESS = 115, "Operation now in progress";
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn numbers_and_messages_are_linuxs() {
        assert_eq!(EAGAIN.code(), 11);
        assert_eq!(ECONNREFUSED.code(), 111);
        assert_eq!(ECONNRESET.code(), 104);
        assert_eq!(ETIMEDOUT.code(), 110);
        assert_eq!(EADDRINUSE.code(), 98);
        assert_eq!(ENOBUFS.code(), 105);
        assert_eq!(ENOTCONN.code(), 107);
        assert_eq!(EMFILE.code(), 24);
        assert_eq!(ENFILE.code(), 23);
        assert_eq!(strerror(111), "Connection refused");
        assert_eq!(strerror(4), "Interrupted system call");
        assert_eq!(strerror(12345), "Unknown error");
        assert_eq!(Errno::from_code(104), ECONNRESET);
        assert_eq!(std::format!("{EPIPE}"), "Broken pipe");
    }
}
