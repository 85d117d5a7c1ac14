//! init: the first user process. Opens the console as fds 0, 1 and 2, runs `sh`,
//! restarts it whenever it exits, and reaps orphaned processes meanwhile.
#![no_std]
#![no_main]

use ulib::*;

#[unsafe(no_mangle)]
fn main(_args: &[&str]) -> i32 {
    if open("console", O_RDWR) < 0 {
        mknod("console", CONSOLE, 0);
        open("console", O_RDWR);
    }
    dup(0); // stdout
    dup(0); // stderr
    loop {
        println!("init: starting sh");
        let pid = fork();
        if pid < 0 {
            println!("init: fork failed");
            exit(1);
        }
        if pid == 0 {
            exec("sh", &["sh"]);
            println!("init: exec sh failed");
            exit(1);
        }
        loop {
            // Orphans are reparented to init: reap them until the shell itself exits.
            let wpid = wait(None);
            if wpid == pid {
                break;
            }
            if wpid < 0 {
                println!("init: wait returned an error");
                exit(1);
            }
        }
    }
}
