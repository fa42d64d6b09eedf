/*
 * util: clocks, allocation that cannot fail, formatted strings, the `cause`
 * convention and the small parsers every module needs. Out of memory is not an
 * error mimic tries to recover from: the allocators here print why and abort.
 */
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "testbreak.h"

int64_t util_now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t util_now_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Called when memory runs out: says so with one write (no allocation) and aborts. */
static _Noreturn void
out_of_memory(size_t n)
{
	char msg[96];
	int len;

	len = snprintf(msg, sizeof msg, "mimic: error: out of memory (allocating %zu bytes)\n", n);
	if (len > 0) {
		ssize_t w = write(STDERR_FILENO, msg, (size_t)len);
		(void)w;
	}
	abort();
}

void *util_xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		out_of_memory(n);
	return p;
}

void *util_xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	p = calloc(nmemb, size);
	if (p == NULL) {
		/* calloc also fails on overflow; report the product it was asked for. */
		out_of_memory(size != 0 && nmemb > SIZE_MAX / size ? SIZE_MAX : nmemb * size);
	}
	return p;
}

void *util_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n == 0 ? 1 : n);

	if (q == NULL)
		out_of_memory(n);
	return q;
}

char *util_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = util_xmalloc(n);

	memcpy(p, s, n);
	return p;
}

static char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0), nonnull(1)));

static char *xvasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	char *p;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		/* Only an invalid format or a wide-character failure gets here. */
		return util_xstrdup("(unformattable message)");
	}
	p = util_xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *util_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

int util_fail(char **cause, int err, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL || *cause != NULL)
		return err;
	va_start(ap, fmt);
	*cause = xvasprintf(fmt, ap);
	va_end(ap);
	return err;
}

static int is_utf8_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

size_t util_strlcpy_utf8(char *dst, const char *src, size_t n)
{
	size_t len, cut;

	if (n == 0)
		return 0;
	len = strlen(src);
	if (len < n) {
		memcpy(dst, src, len + 1);
		return len;
	}

	/*
	 * src[cut] is the first byte left out. When it continues a character that
	 * started before it, move the cut back to that character's first byte. A UTF-8
	 * character has at most three continuation bytes, so after three steps the
	 * input is not valid UTF-8 and the byte cut is as good as any.
	 */
	cut = n - 1;
	if (is_utf8_cont((unsigned char)src[cut])) {
		size_t k = cut;
		while (k > 0 && cut - k < 3 && is_utf8_cont((unsigned char)src[k]))
			k--;
		if (!is_utf8_cont((unsigned char)src[k]) && (unsigned char)src[k] >= 0xC0)
			cut = k;
	}
	memcpy(dst, src, cut);
	dst[cut] = '\0';
	return cut;
}

int util_parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *suffix;
		int64_t mult;
	} units[] = {
		{ "ms", INT64_C(1000000) },
		{ "s", INT64_C(1000000000) },
		{ "m", INT64_C(60) * 1000000000 },
		{ "h", INT64_C(3600) * 1000000000 },
		{ "d", INT64_C(86400) * 1000000000 },
		{ "", INT64_C(1000000000) },
	};
	int64_t value = 0;
	const char *p;
	size_t i;

	if (s == NULL || ns == NULL)
		return -EINVAL;
	/*
	 * Only plain digits: strtoll would accept leading spaces, signs and "0x",
	 * none of which belong in a duration a person types.
	 */
	p = s;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	while (*p >= '0' && *p <= '9') {
		int d = *p - '0';
		if (value > (INT64_MAX - d) / 10)
			return -EINVAL;
		value = value * 10 + d;
		p++;
	}
	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(p, units[i].suffix) == 0) {
			if (value > INT64_MAX / units[i].mult)
				return -EINVAL;
			*ns = value * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

int util_parse_size(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v <= 0)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		v *= 1024, end++;
	else if (*end == 'M' || *end == 'm')
		v *= 1024 * 1024, end++;
	else if (*end == 'G' || *end == 'g')
		v *= 1024LL * 1024 * 1024, end++;
	if (*end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

int util_sibling_exe(const char *name, char **out, char **cause)
{
	char self[PATH_MAX], *slash, *path;
	ssize_t n;

	*out = NULL;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return util_fail(cause, -errno, "cannot find the running program: %s", strerror(errno));
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash != NULL)
		*slash = '\0';
	path = util_xasprintf("%s/%s", self, name);
	if (access(path, X_OK) != 0) {
		int err = util_fail(cause, -ENOENT, "%s is missing: install it beside mimic", path);

		free(path);
		return err;
	}
	*out = path;
	return 0;
}

int util_parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

char *util_escape_ctl(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t n = strlen((const char *)p), o = 0;
	/* At most 6 bytes ("\u00NN") for every 2 of a C1, 4 ("\xNN") for every 1 of a C0. */
	char *out = util_xmalloc(4 * n + 1);

	if (testbreak("error-escapes-kept")) {
		memcpy(out, p, n + 1);
		return out;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			o += (size_t)sprintf(out + o, "\\x%02x", p[i]);
		} else if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) {
			o += (size_t)sprintf(out + o, "\\u%04x", p[i + 1]);
			i++;
		} else {
			out[o++] = (char)p[i];
		}
	}
	out[o] = '\0';
	return out;
}
