#include "shared/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void append_errno(struct cc_error *err)
{
	size_t n = strlen(err->msg);
	if (err->err_no != 0 && n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(err->err_no));
}

int cc_error_set(struct cc_error *err, int err_no, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->err_no = err_no;
	err->code = 0;
	append_errno(err);
	return -1;
}

int cc_error_code(struct cc_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->err_no = 0;
	err->code = code;
	return -1;
}

int cc_error_prefix(struct cc_error *err, const char *fmt, ...)
{
	char prefix[512], old[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* "prefix: old", cutting old when the two do not fit. */
	size_t n = strlen(prefix);
	memcpy(err->msg, prefix, n);
	memcpy(err->msg + n, ": ", 2);
	n += 2;
	size_t keep = strnlen(old, sizeof(err->msg) - n - 1);
	memcpy(err->msg + n, old, keep);
	err->msg[n + keep] = '\0';
	return -1;
}

int cc_error_fail(struct cc_error *err, int dflt)
{
	if (err->code == 0)
		err->code = dflt;
	return -1;
}

void cc_error_clear(struct cc_error *err)
{
	err->err_no = 0;
	err->code = 0;
	err->msg[0] = '\0';
}
