//! The interface's static address from the kernel command line: `net.ip=A.B.C.D/N` and
//! `net.gw=A.B.C.D` (or `net.gw=none`). Parsed and checked here, on the host, so that every
//! value a person may type is covered by `cargo test`; the kernel only prints what was refused.

use core::fmt;

use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

use crate::stack::Config;

/// Why a `net.ip` or `net.gw` value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrError {
    /// Not four decimal numbers 0..=255 separated by dots.
    NotAnAddress,
    /// `net.ip` without `/N`, or N not a number in 1..=32.
    BadPrefix,
    /// An address no single interface may have: 0.0.0.0, loopback, multicast, reserved,
    /// broadcast, or the subnet's own network or broadcast address.
    NotUnicast,
    /// A gateway outside the interface's subnet: nothing could reach it.
    OffLink,
    /// A gateway that is the interface itself.
    OwnAddress,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddrError::NotAnAddress => "not an IPv4 address A.B.C.D",
            AddrError::BadPrefix => "needs a prefix length /1 to /32",
            AddrError::NotUnicast => "not a host address",
            AddrError::OffLink => "not on the interface's subnet",
            AddrError::OwnAddress => "is the interface's own address",
        })
    }
}

/// A refused command-line value, for the console: `net.ip=10.0.3.1 (needs a prefix ...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadArg<'a> {
    pub key: &'static str,
    pub value: &'a str,
    pub error: AddrError,
}

impl fmt::Display for BadArg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={} ({})", self.key, self.value, self.error)
    }
}

/// `A.B.C.D`, in decimal without leading zeros.
pub fn parse_addr(s: &str) -> Result<Ipv4Address, AddrError> {
    s.parse().map_err(|_| AddrError::NotAnAddress)
}

/// `A.B.C.D/N`: an interface address and its prefix length, checked to be a host address on
/// that subnet.
pub fn parse_cidr(s: &str) -> Result<Ipv4Cidr, AddrError> {
    let (addr, prefix) = s.split_once('/').ok_or(AddrError::BadPrefix)?;
    let addr = parse_addr(addr)?;
    // Digits only: `u8`'s parser would also take "+24".
    match prefix.parse::<u8>() {
        Ok(n @ 1..=32) if prefix.bytes().all(|c| c.is_ascii_digit()) => host_on(addr, n),
        _ => Err(AddrError::BadPrefix),
    }
}

/// `A.B.C.D` or `none`: the gateway of an interface addressed `cidr`, which must be another
/// host on its subnet.
pub fn parse_gateway(s: &str, cidr: Ipv4Cidr) -> Result<Option<Ipv4Address>, AddrError> {
    if s == "none" {
        return Ok(None);
    }
    let gw = parse_addr(s)?;
    host_on(gw, cidr.prefix_len())?;
    if !cidr.contains_addr(&gw) {
        return Err(AddrError::OffLink);
    }
    if gw == cidr.address() {
        return Err(AddrError::OwnAddress);
    }
    Ok(Some(gw))
}

/// `addr` on a subnet of `prefix_len` bits, if a host may have that address there.
fn host_on(addr: Ipv4Address, prefix_len: u8) -> Result<Ipv4Cidr, AddrError> {
    let cidr = Ipv4Cidr::new(addr, prefix_len);
    let reserved = addr.octets()[0] >= 240;
    // /31 and /32 have no network or broadcast address (RFC 3021).
    let subnet_edge =
        prefix_len <= 30 && (addr == cidr.network().address() || Some(addr) == cidr.broadcast());
    if addr.is_unspecified() || addr.is_loopback() || addr.is_multicast() || reserved || subnet_edge
    {
        return Err(AddrError::NotUnicast);
    }
    Ok(cidr)
}

impl Config {
    /// `self` addressed by the kernel command line's `net.ip` (`A.B.C.D/N`) and `net.gw`
    /// (`A.B.C.D` or `none`) values, if given. A refused value changes nothing and is returned,
    /// for the console. Without an accepted `net.gw`, the gateway stays if it is on the new
    /// subnet and is dropped otherwise, since it could never be reached.
    pub fn with_bootargs<'a>(
        mut self,
        ip: Option<&'a str>,
        gw: Option<&'a str>,
    ) -> (Config, [Option<BadArg<'a>>; 2]) {
        let mut refused = [None, None];
        if let Some(value) = ip {
            match parse_cidr(value) {
                Ok(cidr) => (self.addr, self.prefix_len) = (cidr.address(), cidr.prefix_len()),
                Err(error) => {
                    refused[0] = Some(BadArg {
                        key: "net.ip",
                        value,
                        error,
                    })
                }
            }
        }
        let cidr = Ipv4Cidr::new(self.addr, self.prefix_len);
        match gw.map(|value| (value, parse_gateway(value, cidr))) {
            Some((_, Ok(gateway))) => self.gateway = gateway,
            other => {
                if let Some((value, Err(error))) = other {
                    refused[1] = Some(BadArg {
                        key: "net.gw",
                        value,
                        error,
                    });
                }
                let addr = self.addr;
                self.gateway = self.gateway.filter(|g| cidr.contains_addr(g) && *g != addr);
            }
        }
        (self, refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        parse_cidr(s).unwrap()
    }

    #[test]
    fn addresses_parse_in_dotted_decimal_only() {
        assert_eq!(parse_addr("10.0.3.1"), Ok(Ipv4Address::new(10, 0, 3, 1)));
        for bad in [
            "",
            "10.0.3",
            "10.0.3.1.5",
            "10.0.3.256",
            "10.0.3.-1",
            "10.0.3.x",
            "10..3.1",
            " 10.0.3.1",
            "10.0.3.01",
            "0x0a.0.3.1",
        ] {
            assert_eq!(parse_addr(bad), Err(AddrError::NotAnAddress), "{bad:?}");
        }
    }

    #[test]
    fn interface_addresses_need_a_prefix_and_a_host_part() {
        assert_eq!(
            cidr("10.0.3.1/24"),
            Ipv4Cidr::new(Ipv4Address::new(10, 0, 3, 1), 24)
        );
        assert_eq!(cidr("192.168.7.9/32").prefix_len(), 32);
        // /31 has no network or broadcast address: both are hosts.
        assert!(parse_cidr("10.0.3.0/31").is_ok() && parse_cidr("10.0.3.1/31").is_ok());
        for (bad, why) in [
            ("10.0.3.1", AddrError::BadPrefix),
            ("10.0.3.1/", AddrError::BadPrefix),
            ("10.0.3.1/0", AddrError::BadPrefix),
            ("10.0.3.1/33", AddrError::BadPrefix),
            ("10.0.3.1/+24", AddrError::BadPrefix),
            ("10.0.3.1/24/8", AddrError::BadPrefix),
            ("10.0.3/24", AddrError::NotAnAddress),
            ("/24", AddrError::NotAnAddress),
            ("10.0.3.0/24", AddrError::NotUnicast),
            ("10.0.3.255/24", AddrError::NotUnicast),
            ("0.0.0.0/8", AddrError::NotUnicast),
            ("127.0.0.1/8", AddrError::NotUnicast),
            ("224.0.0.1/24", AddrError::NotUnicast),
            ("240.0.0.1/24", AddrError::NotUnicast),
            ("255.255.255.255/32", AddrError::NotUnicast),
        ] {
            assert_eq!(parse_cidr(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn a_gateway_is_another_host_on_the_subnet() {
        let me = cidr("10.0.3.1/24");
        assert_eq!(
            parse_gateway("10.0.3.254", me),
            Ok(Some(Ipv4Address::new(10, 0, 3, 254)))
        );
        assert_eq!(parse_gateway("none", me), Ok(None));
        for (bad, why) in [
            ("", AddrError::NotAnAddress),
            ("None", AddrError::NotAnAddress),
            ("10.0.2.2", AddrError::OffLink),
            ("10.0.3.1", AddrError::OwnAddress),
            ("10.0.3.255", AddrError::NotUnicast),
            ("10.0.3.0", AddrError::NotUnicast),
        ] {
            assert_eq!(parse_gateway(bad, me), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn the_command_line_changes_only_what_it_names_correctly() {
        let default = Config::default();
        let ip = |a, b, c, d| Ipv4Address::new(a, b, c, d);

        assert_eq!(default.with_bootargs(None, None), (default, [None, None]));

        // A new subnet without a gateway on it: the default one is unreachable and goes.
        let (c, bad) = default.with_bootargs(Some("10.0.3.1/24"), None);
        assert_eq!(
            (c.addr, c.prefix_len, c.gateway),
            (ip(10, 0, 3, 1), 24, None)
        );
        assert_eq!(bad, [None, None]);
        // On the same subnet it stays, unless it became the interface's own address.
        let (c, _) = default.with_bootargs(Some("10.0.2.20/16"), None);
        assert_eq!((c.prefix_len, c.gateway), (16, Some(ip(10, 0, 2, 2))));
        let (c, _) = default.with_bootargs(Some("10.0.2.2/24"), None);
        assert_eq!(c.gateway, None);

        let (c, bad) = default.with_bootargs(Some("10.0.3.1/24"), Some("10.0.3.9"));
        assert_eq!(c.gateway, Some(ip(10, 0, 3, 9)));
        assert_eq!(bad, [None, None]);
        let (c, _) = default.with_bootargs(None, Some("none"));
        assert_eq!((c.addr, c.gateway), (default.addr, None));

        // A bad address keeps the default address, and the gateway is checked against it.
        let (c, bad) = default.with_bootargs(Some("10.0.3.1"), Some("10.0.3.9"));
        assert_eq!(c, default);
        let expected = [
            Some(BadArg {
                key: "net.ip",
                value: "10.0.3.1",
                error: AddrError::BadPrefix,
            }),
            Some(BadArg {
                key: "net.gw",
                value: "10.0.3.9",
                error: AddrError::OffLink,
            }),
        ];
        assert_eq!(bad, expected);
        assert_eq!(
            format!("{}", bad[0].unwrap()),
            "net.ip=10.0.3.1 (needs a prefix length /1 to /32)"
        );
        // A bad gateway keeps the default one if it is on the subnet.
        let (c, bad) = default.with_bootargs(None, Some("10.0.2.300"));
        assert_eq!(c, default);
        assert_eq!(bad[1].unwrap().error, AddrError::NotAnAddress);
    }
}
