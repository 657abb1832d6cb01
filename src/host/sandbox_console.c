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

/* The guest's own log (kernel and agent, on its console) after ours, so one run's log
 * shows both sides: all of it with debug logging, its last lines when a restore failed. */
void sandbox_log_console(struct sandbox *sb, enum cc_log_level level, int max_lines)
{
	if (cc_log_level() < level)
		return;
	cleanup_free char *text = console_tail(sb, max_lines);
	for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		cc_log(level, "sandbox %s: guest: %s", sb->id, line);
	}
}

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
