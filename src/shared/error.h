/* Error reporting: every fallible function returns a negative value and fills a
 * caller-owned struct cc_error with a message that names what went wrong. */
#ifndef COCOON_ERROR_H
#define COCOON_ERROR_H

#include <stddef.h>

struct cc_error {
	int err_no; /* errno at the failure, 0 if none */
	int code;   /* optional protocol status (ttrpc/gRPC code), 0 if none */
	char msg[1024];
};

/* Sets the message; when err_no != 0 appends ": strerror(err_no)". Returns -1. */
int cc_error_set(struct cc_error *err, int err_no, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sets the message and a ttrpc/gRPC status code. Returns -1. */
int cc_error_code(struct cc_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefixes context to an existing message: "ctx: old". Returns -1. */
int cc_error_prefix(struct cc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A failure goes back to an RPC caller: gives it the status code dflt unless the callee
 * chose one. Returns -1. */
int cc_error_fail(struct cc_error *err, int dflt);
void cc_error_clear(struct cc_error *err);

#endif
