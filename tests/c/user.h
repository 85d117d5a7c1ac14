/* user.h: the C user ABI of xv6-riscv, declared from scratch for xv6net's C fixture.
 *
 * Types, struct stat, open flags and the system call signatures match xv6's
 * kernel/types.h, kernel/stat.h, kernel/fcntl.h and user/user.h, so a program
 * written against xv6's headers compiles against this one file.
 */
#ifndef XV6NET_USER_H
#define XV6NET_USER_H

typedef unsigned int uint;
typedef unsigned short ushort;
typedef unsigned char uchar;
typedef unsigned char uint8;
typedef unsigned short uint16;
typedef unsigned int uint32;
typedef unsigned long uint64;

#define T_DIR 1    /* directory */
#define T_FILE 2   /* regular file */
#define T_DEVICE 3 /* device */

/* 24 bytes: ino at 4, type at 8, nlink at 10, size at 16 (abi::Stat). */
struct stat {
  int dev;     /* file system's disk device */
  uint ino;    /* inode number */
  short type;  /* T_DIR, T_FILE or T_DEVICE */
  short nlink; /* number of links to the file */
  uint64 size; /* size in bytes */
};

#define O_RDONLY 0x000
#define O_WRONLY 0x001
#define O_RDWR 0x002
#define O_CREATE 0x200
#define O_TRUNC 0x400

/* System calls (usys.S). */
int fork(void);
int exit(int) __attribute__((noreturn));
int wait(int *status);
int pipe(int *fds);
int write(int fd, const void *buf, int n);
int read(int fd, void *buf, int n);
int close(int fd);
int kill(int pid);
int exec(const char *path, char **argv);
int open(const char *path, int omode);
int mknod(const char *path, short major, short minor);
int unlink(const char *path);
int fstat(int fd, struct stat *st);
int link(const char *old, const char *new);
int mkdir(const char *path);
int chdir(const char *path);
int dup(int fd);
int getpid(void);
char *sbrk(int n);
int sleep(int ticks);
int uptime(void);
int halt(int status) __attribute__((noreturn)); /* xv6net: power off, QEMU exits with status */

/* Library (ulib.c, printf.c). */
int stat(const char *path, struct stat *st);
char *strcpy(char *dst, const char *src);
void *memmove(void *dst, const void *src, int n);
char *strchr(const char *s, char c);
int strcmp(const char *p, const char *q);
void fprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *gets(char *buf, int max);
uint strlen(const char *s);
void *memset(void *dst, int c, uint n);
int atoi(const char *s);
int memcmp(const void *a, const void *b, uint n);
void *memcpy(void *dst, const void *src, uint n);

#endif
