/* ctest.c: an xv6-style C program that checks the kernel keeps xv6's user ABI.
 *
 * Built against this folder's own user library (usys.S, ulib.c, printf.c), exactly
 * as an unmodified xv6 program would be against xv6's. Run it from the root
 * directory: `ctest`. It prints `ctest: OK` or stops at the first
 * `ctest: FAIL <what>` with exit status 1.
 */
#include "user.h"

_Static_assert(sizeof(struct stat) == 24, "struct stat is 24 bytes");

#define CHILD_STATUS 42
#define ARGV_STATUS 7
#define PIPE_BYTES 5000 /* more than one pipe buffer (xv6's is 512 bytes) */
#define FILE_BYTES 1500 /* more than one disk block */

static char buf[PIPE_BYTES];

static void fail(const char *what) {
  printf("ctest: FAIL %s\n", what);
  exit(1);
}

static void check(int ok, const char *what) {
  if (!ok)
    fail(what);
}

/* Forks; the child runs fn and exits with its result; returns the child's exit status. */
static int in_child(int (*fn)(void), const char *what) {
  int pid = fork();
  check(pid >= 0, what);
  if (pid == 0)
    exit(fn());
  int status = -1;
  check(wait(&status) == pid, what);
  return status;
}

/* The mode `ctest argv-check hello world` that test_argv execs. */
static int argv_check(int argc, char **argv) {
  if (argc != 4 || argv[4] != 0)
    return 1;
  if (strcmp(argv[1], "argv-check") || strcmp(argv[2], "hello") || strcmp(argv[3], "world"))
    return 2;
  if (((uint64)argv & 7) != 0)
    return 3;
  return ARGV_STATUS;
}

static void test_argv(int argc, char **argv) {
  check(argc >= 1 && argv[argc] == 0, "argv: own argv not terminated");
  int pid = fork();
  check(pid >= 0, "argv: fork");
  if (pid == 0) {
    char *args[] = {argv[0], "argv-check", "hello", "world", 0};
    exec(argv[0], args);
    printf("ctest: FAIL argv: exec %s\n", argv[0]);
    exit(1);
  }
  int status = -1;
  check(wait(&status) == pid, "argv: wait");
  check(status == ARGV_STATUS, "argv: exec'd child saw the wrong argc/argv");
}

static int parent_pid;

static int child_exits_42(void) {
  return getpid() != parent_pid && getpid() > 0 ? CHILD_STATUS : 1;
}

static void test_fork_wait(void) {
  parent_pid = getpid();
  check(parent_pid > 0, "getpid");
  check(in_child(child_exits_42, "fork") == CHILD_STATUS, "fork/wait: exit status or child pid");
  int status = 0;
  check(wait(&status) == -1, "wait without children must fail");
}

static void test_pipe(void) {
  int fds[2];
  check(pipe(fds) == 0, "pipe");
  int pid = fork();
  check(pid >= 0, "pipe: fork");
  if (pid == 0) {
    close(fds[0]);
    for (int i = 0; i < PIPE_BYTES; i++)
      buf[i] = i % 251;
    int n = write(fds[1], buf, PIPE_BYTES);
    exit(n == PIPE_BYTES ? 0 : 1);
  }
  close(fds[1]);
  memset(buf, 0, sizeof(buf));
  int total = 0, n;
  while ((n = read(fds[0], buf + total, sizeof(buf) - total)) > 0)
    total += n;
  close(fds[0]);
  check(total == PIPE_BYTES, "pipe: byte count");
  for (int i = 0; i < PIPE_BYTES; i++)
    check(buf[i] == (char)(i % 251), "pipe: data");
  int status = -1;
  check(wait(&status) == pid && status == 0, "pipe: writer");
}

static void test_file(void) {
  int fd = open("ctest.tmp", O_CREATE | O_RDWR);
  check(fd >= 0, "open O_CREATE");
  for (int i = 0; i < FILE_BYTES; i++)
    buf[i] = 'a' + i % 26;
  check(write(fd, buf, FILE_BYTES) == FILE_BYTES, "write file");
  int fd2 = dup(fd);
  check(fd2 >= 0, "dup");
  check(write(fd2, "XY", 2) == 2, "write through dup");
  close(fd);
  close(fd2);

  struct stat st;
  memset(&st, 0xff, sizeof(st));
  fd = open("ctest.tmp", O_RDONLY);
  check(fd >= 0, "open O_RDONLY");
  check(fstat(fd, &st) == 0, "fstat file");
  check(st.type == T_FILE, "fstat: type != T_FILE");
  check(st.size == FILE_BYTES + 2, "fstat: size");
  check(st.nlink == 1, "fstat: nlink");
  check(st.ino != 0 && st.ino != 0xffffffff, "fstat: ino");
  check(st.dev == 1, "fstat: dev != ROOTDEV");
  memset(buf, 0, sizeof(buf));
  check(read(fd, buf, sizeof(buf)) == FILE_BYTES + 2, "read file");
  check(read(fd, buf, 1) == 0, "read at EOF");
  close(fd);
  for (int i = 0; i < FILE_BYTES; i++)
    check(buf[i] == 'a' + i % 26, "file data");
  check(buf[FILE_BYTES] == 'X' && buf[FILE_BYTES + 1] == 'Y', "dup shares the offset");

  fd = open("ctest.tmp", O_RDWR | O_TRUNC);
  check(fd >= 0, "open O_TRUNC");
  close(fd);
  check(stat("ctest.tmp", &st) == 0 && st.size == 0, "O_TRUNC size");
  check(unlink("ctest.tmp") == 0, "unlink");
  check(open("ctest.tmp", O_RDONLY) < 0, "open after unlink");
  check(unlink("ctest.tmp") < 0, "unlink twice");
}

static void test_dirs(void) {
  struct stat st;
  check(mkdir("ctestdir") == 0, "mkdir");
  check(mkdir("ctestdir") < 0, "mkdir twice");
  check(stat("ctestdir", &st) == 0 && st.type == T_DIR, "stat dir: type != T_DIR");
  check(chdir("ctestdir") == 0, "chdir");
  int fd = open("f", O_CREATE | O_WRONLY);
  check(fd >= 0 && write(fd, "hi", 2) == 2, "create in subdir");
  close(fd);
  check(chdir("..") == 0, "chdir ..");
  check(stat("ctestdir/f", &st) == 0 && st.size == 2, "stat ctestdir/f");
  check(chdir("nonexistent") < 0, "chdir to missing dir");
  check(unlink("ctestdir") < 0, "unlink non-empty dir");
  check(unlink("ctestdir/f") == 0, "unlink ctestdir/f");
  check(unlink("ctestdir") == 0, "unlink empty dir");
}

static void test_sbrk(void) {
  char *a = sbrk(0);
  check(sbrk(8192) == a, "sbrk returns the old break");
  check(sbrk(0) == a + 8192, "sbrk moves the break");
  for (int i = 0; i < 8192; i++)
    a[i] = i;
  for (int i = 0; i < 8192; i++)
    check(a[i] == (char)i, "sbrk memory");
  check(sbrk(-8192) == a + 8192, "sbrk shrink");
  check(sbrk(0) == a, "sbrk after shrink");
}

static void test_uptime(void) {
  int t0 = uptime();
  check(t0 >= 0, "uptime");
  check(sleep(2) == 0, "sleep");
  check(uptime() >= t0 + 2, "uptime after sleep(2)");
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "argv-check") == 0)
    exit(argv_check(argc, argv));

  /* Leftovers of a failed run would make mkdir and O_CREATE checks fail. */
  unlink("ctestdir/f");
  unlink("ctestdir");
  unlink("ctest.tmp");

  test_argv(argc, argv);
  test_fork_wait();
  test_pipe();
  test_file();
  test_dirs();
  test_sbrk();
  test_uptime();
  printf("ctest: OK\n");
  exit(0);
}
