//! sh: xv6's shell. Runs commands read from the console (prompting with `$ `), from
//! a pipe, or from the script file named by its argument.
//!
//! Grammar (xv6's, parsed by recursive descent into [`Cmd`]):
//! ```text
//! line     = pipeline { "&" } [ ";" line ]
//! pipeline = command [ "|" pipeline ]
//! command  = "(" line ")" redirs | redirs { word redirs }
//! redirs   = { ("<" | ">" | ">>") word }
//! ```
//! `cd` is built in. Departures from xv6: `>>` appends (xv6's overwrites from the
//! start of the file), `cd` also works inside `;` lists, a command without `/` that
//! is not in the current directory is looked up in `/`, the prompt is printed only
//! when reading the console, and syntax errors are reported without forking.
#![no_std]
#![no_main]

use ulib::*;

/// Longest input line read at once.
const LINE: usize = 512;

/// One redirection: reopen `fd` as `path`.
struct Redir {
    fd: i32,
    path: String,
    mode: i32,
    append: bool,
}

/// A parsed command line.
enum Cmd {
    /// A program and its arguments (empty for an empty command).
    Exec(Vec<String>),
    /// A command run with some file descriptors redirected, applied left to right.
    Redir(Box<Cmd>, Vec<Redir>),
    /// `left | right`.
    Pipe(Box<Cmd>, Box<Cmd>),
    /// `left ; right`.
    List(Box<Cmd>, Box<Cmd>),
    /// `cmd &`.
    Back(Box<Cmd>),
}

#[derive(PartialEq, Eq)]
enum Token {
    Word(String),
    /// One of `< > | & ; ( )`, or `+` for `>>`.
    Sym(u8),
}

fn tokenize(line: &str) -> Vec<Token> {
    let mut toks = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if b" \t\r\n\x0b".contains(&c) {
            i += 1;
        } else if c == b'>' && b.get(i + 1) == Some(&b'>') {
            toks.push(Token::Sym(b'+'));
            i += 2;
        } else if b"<>|&;()".contains(&c) {
            toks.push(Token::Sym(c));
            i += 1;
        } else {
            let start = i;
            while i < b.len() && !b" \t\r\n\x0b<>|&;()".contains(&b[i]) {
                i += 1;
            }
            toks.push(Token::Word(line[start..i].to_string()));
        }
    }
    toks
}

/// Recursive-descent parser over the token list; errors carry xv6's messages.
struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self, syms: &[u8]) -> bool {
        matches!(self.toks.get(self.pos), Some(Token::Sym(c)) if syms.contains(c))
    }

    fn next(&mut self) -> Option<&Token> {
        let t = self.toks.get(self.pos);
        self.pos += 1;
        t
    }

    fn line(&mut self) -> Result<Cmd, String> {
        let mut cmd = self.pipeline()?;
        while self.peek(b"&") {
            self.pos += 1;
            cmd = Cmd::Back(Box::new(cmd));
        }
        if self.peek(b";") {
            self.pos += 1;
            cmd = Cmd::List(Box::new(cmd), Box::new(self.line()?));
        }
        Ok(cmd)
    }

    fn pipeline(&mut self) -> Result<Cmd, String> {
        let cmd = self.command()?;
        if self.peek(b"|") {
            self.pos += 1;
            return Ok(Cmd::Pipe(Box::new(cmd), Box::new(self.pipeline()?)));
        }
        Ok(cmd)
    }

    fn command(&mut self) -> Result<Cmd, String> {
        let mut redirs = Vec::new();
        if self.peek(b"(") {
            self.pos += 1;
            let body = self.line()?;
            if !self.peek(b")") {
                return Err("syntax - missing )".to_string());
            }
            self.pos += 1;
            self.redirs(&mut redirs)?;
            return Ok(wrap(body, redirs));
        }
        let mut argv = Vec::new();
        self.redirs(&mut redirs)?;
        while self.pos < self.toks.len() && !self.peek(b"|)&;") {
            match self.next() {
                Some(Token::Word(w)) => argv.push(w.clone()),
                _ => return Err("syntax".to_string()),
            }
            self.redirs(&mut redirs)?;
        }
        Ok(wrap(Cmd::Exec(argv), redirs))
    }

    fn redirs(&mut self, out: &mut Vec<Redir>) -> Result<(), String> {
        while let Some(&Token::Sym(op @ (b'<' | b'>' | b'+'))) = self.toks.get(self.pos) {
            self.pos += 1;
            let Some(Token::Word(path)) = self.next() else {
                return Err("missing file for redirection".to_string());
            };
            let path = path.clone();
            out.push(match op {
                b'<' => Redir {
                    fd: 0,
                    path,
                    mode: O_RDONLY,
                    append: false,
                },
                b'>' => Redir {
                    fd: 1,
                    path,
                    mode: O_WRONLY | O_CREATE | O_TRUNC,
                    append: false,
                },
                // Appending needs to read up to the end: xv6 has no lseek or O_APPEND.
                _ => Redir {
                    fd: 1,
                    path,
                    mode: O_RDWR | O_CREATE,
                    append: true,
                },
            });
        }
        Ok(())
    }
}

fn wrap(cmd: Cmd, redirs: Vec<Redir>) -> Cmd {
    if redirs.is_empty() {
        cmd
    } else {
        Cmd::Redir(Box::new(cmd), redirs)
    }
}

fn parse(line: &str) -> Result<Cmd, String> {
    let mut p = Parser {
        toks: tokenize(line),
        pos: 0,
    };
    let cmd = p.line()?;
    if p.pos < p.toks.len() {
        return Err("syntax".to_string());
    }
    Ok(cmd)
}

fn fork1() -> i32 {
    let pid = fork();
    if pid == -1 {
        fail("fork");
    }
    pid
}

fn fail(msg: &str) -> ! {
    eprintln!("{}", msg);
    exit(1)
}

/// Runs `cmd` in this (child) process and exits.
fn run(cmd: &Cmd) -> ! {
    match cmd {
        Cmd::Exec(argv) => {
            let Some(name) = argv.first() else { exit(0) };
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            exec(name, &args);
            if !name.contains('/') {
                exec(&format!("/{name}"), &args);
            }
            eprintln!("exec {} failed", name);
            exit(1)
        }
        Cmd::Redir(inner, redirs) => {
            for r in redirs {
                close(r.fd);
                if open(&r.path, r.mode) < 0 {
                    fail(&format!("open {} failed", r.path));
                }
                if r.append {
                    // On the heap: `run` recurses, and the user stack is one page.
                    let mut buf = vec![0u8; 512];
                    while read(r.fd, &mut buf) > 0 {}
                }
            }
            run(inner)
        }
        Cmd::List(left, right) => {
            if fork1() == 0 {
                run(left);
            }
            wait(None);
            run(right)
        }
        Cmd::Pipe(left, right) => {
            let mut p = [0i32; 2];
            if pipe(&mut p) < 0 {
                fail("pipe");
            }
            for (fd, side) in [(1, left), (0, right)] {
                if fork1() == 0 {
                    close(fd);
                    dup(p[fd as usize]);
                    close(p[0]);
                    close(p[1]);
                    run(side);
                }
            }
            close(p[0]);
            close(p[1]);
            wait(None);
            wait(None);
            exit(0)
        }
        Cmd::Back(inner) => {
            if fork1() == 0 {
                run(inner);
            }
            exit(0)
        }
    }
}

/// Runs one parsed line from the shell process itself: `cd` and `;` lists here,
/// everything else in a child.
fn run_top(cmd: &Cmd) {
    match cmd {
        Cmd::Exec(argv) if argv.is_empty() => {}
        Cmd::Exec(argv) if argv[0] == "cd" => {
            let dir = argv.get(1).map_or("/", String::as_str);
            if argv.len() > 2 || chdir(dir) < 0 {
                eprintln!("cannot cd {}", argv[1..].join(" "));
            }
        }
        Cmd::List(left, right) => {
            run_top(left);
            run_top(right);
        }
        _ => {
            if fork1() == 0 {
                run(cmd);
            }
            wait(None);
        }
    }
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    // Make sure fds 0, 1 and 2 are open.
    loop {
        let fd = open("console", O_RDWR);
        if fd < 0 {
            break;
        }
        if fd >= 3 {
            close(fd);
            break;
        }
    }
    let input = match args {
        [_] => 0,
        [_, file] => {
            let fd = open(file, O_RDONLY);
            if fd < 0 {
                eprintln!("sh: cannot open {}", file);
                return 1;
            }
            fd
        }
        _ => {
            eprintln!("usage: sh [file]");
            return 1;
        }
    };
    let mut st = Stat::default();
    let interactive = input == 0 && fstat(0, &mut st) == 0 && st.typ == T_DEVICE;
    let mut buf = vec![0u8; LINE];
    loop {
        if interactive {
            write(2, b"$ ");
        }
        let n = read_line(input, &mut buf);
        if n == 0 {
            return 0;
        }
        let line = String::from_utf8_lossy(&buf[..n]);
        match parse(&line) {
            Ok(cmd) => run_top(&cmd),
            Err(msg) => eprintln!("{}", msg),
        }
    }
}
