/* The guest console a sandbox's VMM writes to <dir>: its last lines explain a failed
 * boot, and with debug logging they follow ours. Printable bytes only: the guest is
 * untrusted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/sandbox.h"
#include "host/sandbox_priv.h"
#include "shared/log.h"
#include "shared/util.h"

#define CONSOLE_TAIL_LINES 20
#define CONSOLE_DEBUG_LINES 200

/* The last `max_lines` lines of the guest console, printable bytes only (the guest is
 * untrusted), or NULL when there is none. The caller frees it. */
static char *console_tail(struct sandbox *sb, int max_lines)
{
	char *text = NULL;
	size_t len = 0;
	struct cc_error e;
	if (sb->vm.console_log[0] == '\0' ||
	    cc_read_file(sb->vm.console_log, 16u << 20, &text, &len, &e) < 0 || len == 0) {
		free(text);
		return NULL;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	size_t start = len;
	for (int lines = 0; start > 0; start--)
		if (text[start - 1] == '\n' && ++lines == max_lines)
			break;
	size_t w = 0;
	for (size_t i = start; i < len; i++) {
		if (text[i] == '\r')
			continue;
		bool ok = (unsigned char)text[i] >= 0x20 || text[i] == '\n' || text[i] == '\t';
		text[w++] = ok && text[i] != 0x7f ? text[i] : '?';
	}
	text[w] = '\0';
	return text;
}

/* Appends the last lines of the guest console to err: why the agent never answered. */
void sandbox_add_console_tail(struct sandbox *sb, struct cc_error *err)
{
	cleanup_free char *text = console_tail(sb, CONSOLE_TAIL_LINES);
	if (text == NULL)
		return;
	size_t n = strlen(err->msg);
	const char *tail = text;
	size_t room = sizeof(err->msg) - n;
	size_t tlen = strlen(tail);
	if (tlen + 40 > room && room > 40) {
		tail += tlen - (room - 40);
		const char *nl = strchr(tail, '\n');
		tail = nl != NULL ? nl + 1 : tail; /* start at a whole line */
	}
	snprintf(err->msg + n, room, "\n--- guest console (last lines) ---\n%s", tail);
}

/* With debug logging, the guest's own log (kernel and agent, on its console) follows
 * ours, so one --debug run shows both sides. */
void sandbox_log_console(struct sandbox *sb)
{
	if (cc_log_level() < CC_LOG_DEBUG)
		return;
	cleanup_free char *text = console_tail(sb, CONSOLE_DEBUG_LINES);
	for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		cc_debug("guest: %s", line);
	}
}

/* The VMM's own last words in the console log (why it refused a template). */
void sandbox_vmm_last_words(struct sandbox *sb, char *out, size_t len)
{
	cleanup_free char *text = console_tail(sb, CONSOLE_TAIL_LINES);
	const char *best = NULL;
	for (char *line = text; line != NULL && *line != '\0';) {
		char *next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strncmp(line, "cocoon-vmm: ", 12) == 0)
			best = line + 12;
		line = next;
	}
	snprintf(out, len, "%s", best != NULL ? best : "it exited during startup");
}
