/* printf.c: formatted output to a file descriptor: %d %u %x %p %s %c %% and the
 * l/ll size prefixes (%ld, %lx...), like xv6's user printf.
 *
 * Unlike xv6, which writes one byte per system call, output is gathered in a small
 * buffer so that a short line reaches the console in one write() and lines from
 * concurrent processes do not interleave byte by byte.
 */
#include <stdarg.h>

#include "user.h"

struct out {
  int fd;
  int n;
  char buf[128];
};

static void flush(struct out *o) {
  if (o->n > 0)
    write(o->fd, o->buf, o->n);
  o->n = 0;
}

static void put(struct out *o, char c) {
  if (o->n == (int)sizeof(o->buf))
    flush(o);
  o->buf[o->n++] = c;
}

static void putnum(struct out *o, uint64 x, int base, int neg) {
  static const char digits[] = "0123456789abcdef";
  char tmp[24];
  int i = 0;
  do
    tmp[i++] = digits[x % base];
  while ((x /= base) != 0);
  if (neg)
    put(o, '-');
  while (i > 0)
    put(o, tmp[--i]);
}

static void vprintf(int fd, const char *fmt, va_list ap) {
  struct out o = {.fd = fd, .n = 0};
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      put(&o, *fmt);
      continue;
    }
    int lng = 0;
    while (fmt[1] == 'l')
      lng = 1, fmt++;
    char c = *++fmt;
    if (c == 0)
      break;
    if (c == 'd') {
      long v = lng ? va_arg(ap, long) : va_arg(ap, int);
      putnum(&o, v < 0 ? -(uint64)v : (uint64)v, 10, v < 0);
    } else if (c == 'u' || c == 'x') {
      uint64 v = lng ? va_arg(ap, uint64) : va_arg(ap, uint);
      putnum(&o, v, c == 'u' ? 10 : 16, 0);
    } else if (c == 'p') {
      uint64 v = (uint64)va_arg(ap, void *);
      put(&o, '0');
      put(&o, 'x');
      for (int shift = 60; shift >= 0; shift -= 4)
        put(&o, "0123456789abcdef"[(v >> shift) & 0xf]);
    } else if (c == 's') {
      const char *s = va_arg(ap, const char *);
      for (s = s ? s : "(null)"; *s; s++)
        put(&o, *s);
    } else if (c == 'c') {
      put(&o, (char)va_arg(ap, int));
    } else if (c == '%') {
      put(&o, '%');
    } else {
      /* Unknown directive: print it as written, so the mistake is visible. */
      put(&o, '%');
      put(&o, c);
    }
  }
  flush(&o);
}

void fprintf(int fd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fd, fmt, ap);
  va_end(ap);
}

void printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(1, fmt, ap);
  va_end(ap);
}
