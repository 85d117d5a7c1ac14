//! nslookup: the IPv4 address of a name, asked of a DNS server over UDP.
//!
//! `nslookup NAME [SERVER[:PORT]]`: the server defaults to the one the DHCP lease
//! offered (netstat), port 53. Exit 0 with the address, 1 if the name is unknown.
#![no_std]
#![no_main]

use ulib::net::{Ipv4, parse_endpoint};
use ulib::socket as so;
use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() < 2 || args.len() > 3 {
        eprintln!("usage: nslookup NAME [SERVER[:PORT]]");
        return 2;
    }
    let name = args[1];
    let server = match args.get(2) {
        Some(s) => match parse_endpoint(s).or_else(|| parse_ipv4(s).map(|a| (a, 53))) {
            Some(ep) => Some(ep),
            None => {
                eprintln!("nslookup: bad server {}", s);
                return 2;
            }
        },
        None => so::default_dns(),
    };
    let Some(server) = server else {
        eprintln!("nslookup: no DNS server (no DHCP lease): give SERVER");
        return 2;
    };
    println!("Server:\t\t{}#{}", Ipv4(server.0), server.1);
    println!();
    match so::resolve(name, Some(server)) {
        Ok(a) => {
            println!("Name:\t{}", name);
            println!("Address: {}", Ipv4(a));
            0
        }
        Err(so::ENOENT) => {
            println!("** server can't find {}: NXDOMAIN", name);
            1
        }
        Err(e) => {
            println!("** server can't find {}: {}", name, e);
            1
        }
    }
}
