/* ulib.c: the entry point and the string and memory helpers of xv6's user library.
 *
 * Compiled with -fno-tree-loop-distribute-patterns (build.sh): otherwise GCC turns
 * the loops of memset/memmove into calls to memset/memmove themselves.
 */
#include "user.h"

/* exec jumps here with a0 = argc and a1 = argv; like xv6, a main that returns
 * exits with status 0. */
void start(int argc, char **argv) {
  extern int main(int, char **);
  main(argc, argv);
  exit(0);
}

char *strcpy(char *dst, const char *src) {
  char *d = dst;
  while ((*d++ = *src++) != 0)
    ;
  return dst;
}

int strcmp(const char *p, const char *q) {
  while (*p && *p == *q)
    p++, q++;
  return (uchar)*p - (uchar)*q;
}

uint strlen(const char *s) {
  uint n = 0;
  while (s[n])
    n++;
  return n;
}

void *memset(void *dst, int c, uint n) {
  uchar *d = dst;
  for (uint i = 0; i < n; i++)
    d[i] = c;
  return dst;
}

char *strchr(const char *s, char c) {
  for (; *s; s++)
    if (*s == c)
      return (char *)s;
  return 0;
}

/* Reads a line from fd 0, keeping the newline, at most max-1 bytes; NUL-terminated. */
char *gets(char *buf, int max) {
  int i = 0;
  while (i + 1 < max) {
    char c;
    if (read(0, &c, 1) < 1)
      break;
    buf[i++] = c;
    if (c == '\n' || c == '\r')
      break;
  }
  buf[i] = 0;
  return buf;
}

int stat(const char *path, struct stat *st) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return -1;
  int r = fstat(fd, st);
  close(fd);
  return r;
}

int atoi(const char *s) {
  int n = 0;
  while (*s >= '0' && *s <= '9')
    n = n * 10 + *s++ - '0';
  return n;
}

/* Overlap-safe: copies backwards when dst lies above src. */
void *memmove(void *dst, const void *src, int n) {
  uchar *d = dst;
  const uchar *s = src;
  if (s > d) {
    while (n-- > 0)
      *d++ = *s++;
  } else {
    d += n;
    s += n;
    while (n-- > 0)
      *--d = *--s;
  }
  return dst;
}

int memcmp(const void *a, const void *b, uint n) {
  const uchar *p = a, *q = b;
  for (; n > 0; n--, p++, q++)
    if (*p != *q)
      return *p - *q;
  return 0;
}

/* GCC may emit calls to memcpy for struct copies even in freestanding code. */
void *memcpy(void *dst, const void *src, uint n) {
  return memmove(dst, src, n);
}
