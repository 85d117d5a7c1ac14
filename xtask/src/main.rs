//! `cargo xtask`: the developer and CI commands of xv6net.
//!
//! - `build`: kernel and user programs for riscv64, `mkfs` for the host, then
//!   `target/xv6net/fs.img`.
//! - `qemu`: build, then boot xv6net on this terminal.
//! - `test`: format, lint, host tests, build, then the in-QEMU tests; ends with
//!   `N passed, N failed`.
//! - `bench`: the network benchmark (UDP echo rate and latency), and the time of `usertests`;
//!   results under `target/bench/`.
//!
//! Everything runs from the workspace root, and outputs go under the Cargo target directory
//! (`$CARGO_TARGET_DIR` or `target/`).

mod bench;
mod build;
mod cmd;
mod qemu;
mod safety_docs;
mod test;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "Build, run and test xv6net")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the kernel, the user programs, mkfs and target/xv6net/fs.img.
    Build(BuildOpts),
    /// Build, then boot xv6net in QEMU on this terminal (Ctrl-A X quits).
    Qemu(QemuOpts),
    /// Run every check CI runs: fmt, clippy, host tests, build, in-QEMU tests.
    Test,
    /// Build, then measure UDP echo rate and latency per configuration, and time usertests
    /// (docs/bench.md).
    Bench(BenchOpts),
}

/// Options of `build`, shared by `qemu`.
#[derive(Args, Debug, Default, PartialEq)]
struct BuildOpts {
    /// Add a host file to the image, as NAME if given (default: the file's own name).
    #[arg(long = "add", value_name = "FILE[=NAME]")]
    add: Vec<String>,
}

#[derive(Args, Debug, PartialEq)]
struct QemuOpts {
    /// Network card to attach.
    #[arg(long, value_enum)]
    nic: Option<Nic>,
    /// Number of harts.
    #[arg(long, default_value_t = harness::qemu::DEFAULT_SMP)]
    smp: usize,
    /// Memory size in QEMU's syntax.
    #[arg(long, default_value = harness::qemu::DEFAULT_MEM)]
    mem: String,
    /// Stop at the first instruction and wait for gdb on 127.0.0.1.
    #[arg(long)]
    gdb: bool,
    /// The kernel command line, e.g. "net.dhcp=0 net.ring=64" (README: Kernel command line).
    #[arg(long, value_name = "ARGS")]
    append: Option<String>,
    #[command(flatten)]
    build: BuildOpts,
}

/// Options of `bench`.
#[derive(Args, Debug, PartialEq)]
struct BenchOpts {
    /// The short run: per card (E1000, virtio-net) its device ceiling, rings 16 and 64 and the
    /// batched echo server; virtio-net with packed virtqueues; one run, short phases.
    #[arg(long)]
    quick: bool,
    /// Only this network card.
    #[arg(long, value_enum)]
    nic: Option<Nic>,
    /// Only this ring size (`net.ring=N` on the kernel command line).
    #[arg(long, value_parser = count_parser(4096))]
    ring: Option<usize>,
    /// Runs of each configuration (default: 1 with --quick, else 3).
    #[arg(long, value_parser = count_parser(100))]
    runs: Option<usize>,
    /// Skip the `usertests` phase (xv6's full usertests, timed once per run).
    #[arg(long)]
    no_usertests: bool,
    /// Build the kernel with its `cost` feature, for the guest's time per frame in the driver,
    /// the stack and the copies. Its timers read the `time` CSR around every ring operation,
    /// which slows the packet path under QEMU: the rates of such a run are not the plain
    /// kernel's.
    #[arg(long)]
    guest_time: bool,
    /// Only this phase, once per run (to check a phase end to end).
    #[arg(long, value_enum, hide = true, conflicts_with_all = ["no_usertests", "nic", "ring"])]
    only: Option<BenchOnly>,
}

/// The phases `cargo xtask bench --only` runs alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BenchOnly {
    /// The `usertests` phase, without the network configurations.
    Usertests,
}

/// A count from 1 to `max`.
fn count_parser(max: u16) -> impl clap::builder::TypedValueParser<Value = usize> {
    use clap::builder::TypedValueParser;
    clap::builder::RangedU64ValueParser::<u16>::new()
        .range(1..=u64::from(max))
        .map(usize::from)
}

/// The network cards xv6net drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Nic {
    /// Intel 82540EM on PCI.
    E1000,
    /// virtio-net on virtio-mmio, split virtqueues (QEMU's default).
    Virtio,
    /// virtio-net on virtio-mmio with `packed=on`: packed virtqueues.
    VirtioPacked,
}

impl Nic {
    /// The harness's card, which knows its QEMU options.
    fn harness(self) -> harness::qemu::Nic {
        match self {
            Nic::E1000 => harness::qemu::Nic::E1000,
            Nic::Virtio => harness::qemu::Nic::Virtio,
            Nic::VirtioPacked => harness::qemu::Nic::VirtioPacked,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(opts) => build::build(&opts).map(|_| ExitCode::SUCCESS),
        Command::Qemu(opts) => qemu::run(&opts),
        Command::Test => test::run(),
        Command::Bench(opts) => bench::run(&opts),
    };
    result.unwrap_or_else(|e| {
        eprintln!("xtask: {e:#}");
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("xtask").chain(args.iter().copied())).map(|c| c.command)
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn qemu_defaults_match_the_documented_machine() {
        let Command::Qemu(opts) = parse(&["qemu"]).unwrap() else {
            panic!("not qemu")
        };
        assert_eq!(
            opts,
            QemuOpts {
                nic: None,
                smp: 3,
                mem: "128M".into(),
                gdb: false,
                append: None,
                build: BuildOpts::default(),
            }
        );
    }

    #[test]
    fn qemu_takes_every_option() {
        let cmd = parse(&[
            "qemu",
            "--nic",
            "e1000",
            "--smp",
            "1",
            "--mem",
            "256M",
            "--gdb",
            "--add",
            "a.txt",
            "--add",
            "b=c",
            "--append",
            "net.dhcp=0",
        ])
        .unwrap();
        let Command::Qemu(opts) = cmd else {
            panic!("not qemu")
        };
        assert_eq!(opts.nic, Some(Nic::E1000));
        assert_eq!((opts.smp, opts.mem.as_str(), opts.gdb), (1, "256M", true));
        assert_eq!(opts.build.add, ["a.txt", "b=c"]);
        assert_eq!(opts.append.as_deref(), Some("net.dhcp=0"));
        let Command::Qemu(opts) = parse(&["qemu", "--nic", "virtio"]).unwrap() else {
            panic!("not qemu")
        };
        assert_eq!(opts.nic, Some(Nic::Virtio));
        let Command::Qemu(opts) = parse(&["qemu", "--nic", "virtio-packed"]).unwrap() else {
            panic!("not qemu")
        };
        assert_eq!(opts.nic, Some(Nic::VirtioPacked));
    }

    #[test]
    fn bad_arguments_are_rejected() {
        assert!(parse(&["qemu", "--nic", "rtl8139"]).is_err());
        assert!(parse(&["qemu", "--smp", "many"]).is_err());
        assert!(parse(&["test", "--add", "x"]).is_err());
        assert!(parse(&["frobnicate"]).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn bench_takes_its_options() {
        let Command::Bench(opts) = parse(&["bench"]).unwrap() else {
            panic!("not bench")
        };
        let none = BenchOpts {
            quick: false,
            nic: None,
            ring: None,
            runs: None,
            no_usertests: false,
            guest_time: false,
            only: None,
        };
        assert_eq!(opts, none);
        let cmd = parse(&[
            "bench", "--quick", "--nic", "virtio", "--ring", "64", "--runs", "5",
        ]);
        let Command::Bench(opts) = cmd.unwrap() else {
            panic!("not bench")
        };
        assert_eq!(
            opts,
            BenchOpts {
                quick: true,
                nic: Some(Nic::Virtio),
                ring: Some(64),
                runs: Some(5),
                no_usertests: false,
                guest_time: false,
                only: None,
            }
        );
        assert!(parse(&["bench", "--ring", "0"]).is_err());
        assert!(parse(&["bench", "--runs", "0"]).is_err());
        let Command::Bench(opts) = parse(&["bench", "--quick", "--no-usertests"]).unwrap() else {
            panic!("not bench")
        };
        assert!(opts.no_usertests && opts.only.is_none() && !opts.guest_time);
        let Command::Bench(opts) = parse(&["bench", "--guest-time"]).unwrap() else {
            panic!("not bench")
        };
        assert!(opts.guest_time);
        let Command::Bench(opts) = parse(&["bench", "--only", "usertests"]).unwrap() else {
            panic!("not bench")
        };
        assert_eq!(opts.only, Some(BenchOnly::Usertests));
        assert!(parse(&["bench", "--only", "usertests", "--no-usertests"]).is_err());
        assert!(parse(&["bench", "--only", "usertests", "--nic", "e1000"]).is_err());
        assert!(parse(&["bench", "--only", "udp"]).is_err());
    }

    #[test]
    fn build_takes_added_files() {
        let Command::Build(opts) = parse(&["build", "--add", "x=y"]).unwrap() else {
            panic!("not build")
        };
        assert_eq!(opts.add, ["x=y"]);
    }
}
