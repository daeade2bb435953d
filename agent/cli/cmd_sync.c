/*
 * cmd_sync.c - the commands that talk to head office: enroll (once per
 * device), sync (one round, or --watch to keep going), and conflicts
 * (list, show, resolve).  Each calls branchsync/sync.h and prints its
 * result for people, or as JSON with --json.
 *
 * A first sync of a large branch takes a while: on a terminal, sync
 * shows how far it is on standard error as it goes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/core/common.h"
#include "branchsync/sync.h"
#include "cli.h"

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* A JSON value as one short line of text: a string as it is, anything
 * else printed. */
static void put_value(const char *label, const cJSON *v)
{
	char *t;

	printf("%-10s ", label);
	if (v == NULL || cJSON_IsNull(v)) {
		printf("-\n");
	} else if (cJSON_IsString(v)) {
		printf("%s\n", v->valuestring);
	} else if ((t = cJSON_PrintUnformatted(v)) != NULL) {
		printf("%s\n", t);
		free(t);
	}
}

/* --- enroll ------------------------------------------------------------ */

int cmd_enroll(struct cli *c, int argc, char **argv)
{
	const char *pos[2];
	bs_store *st = NULL;
	char *status = NULL;
	cJSON *s = NULL;
	int rc;

	rc = cli_parse(c, cli_find("enroll"), argc, argv, NULL, pos, 2, 2,
		       NULL);
	if (rc == BS_OK)
		rc = cli_open(c, &st);
	if (rc == BS_OK)
		rc = bs_sync_enroll(st, pos[0], pos[1], NULL);
	if (rc == BS_OK)
		rc = bs_tickets_status(st, &status);
	if (rc == BS_OK && (s = cJSON_Parse(status)) == NULL)
		rc = bs__error(BS_ERR, "internal error: unreadable status");
	if (rc == BS_OK && c->json)
		printf("{\"hub\":\"%s\",\"device_id\":\"%s\",\"branch\":\"%s\","
		       "\"staff\":\"%s\",\"role\":\"%s\"}\n",
		       pos[0], jstr(s, "device_id"), jstr(s, "branch"),
		       jstr(s, "staff"), jstr(s, "role"));
	else if (rc == BS_OK)
		printf("Enrolled with %s: device %s, staff %s of branch %s "
		       "(%s).\nThe hub's certificate is pinned; run `%s sync` "
		       "to fetch your tickets.\n",
		       pos[0], jstr(s, "device_id"), jstr(s, "staff"),
		       jstr(s, "branch"), jstr(s, "role"), c->prog);
	cJSON_Delete(s);
	bs_free(status);
	bs_store_close(st);
	return rc;
}

/* --- sync -------------------------------------------------------------- */

/* Progress on standard error, on one line, when it is a terminal. */
static void on_progress(const bs_sync_progress *p, void *ud)
{
	(void)ud;
	if (p->phase == BS_SYNC_PUSH)
		fprintf(stderr, "\rsending: %llu of %llu changes   ",
			(unsigned long long)p->done,
			(unsigned long long)p->total);
	else
		fprintf(stderr, "\rreceiving: %llu changes%s   ",
			(unsigned long long)p->done, p->more ? "..." : "");
	fflush(stderr);
}

static void put_report(const struct cli *c, const bs_sync_report *r)
{
	if (c->json) {
		printf("{\"pushed\":%lu,\"applied\":%lu,\"merged\":%lu,"
		       "\"rejected\":%lu,\"held\":%lu,\"changes\":%lu,"
		       "\"tickets\":%lu,\"dropped\":%lu,\"conflicts\":%lu,"
		       "\"pages\":%lu,\"cursor\":%lld,\"offset_ms\":%lld}\n",
		       r->pushed, r->applied, r->merged, r->rejected, r->held,
		       r->changes, r->tickets, r->dropped, r->conflicts,
		       r->pages, (long long)r->cursor,
		       (long long)r->offset_ms);
		return;
	}
	printf("Sent %lu change%s (%lu applied, %lu merged, %lu refused); "
	       "received %lu (%lu tickets, %lu removed from this device).\n",
	       r->pushed, r->pushed == 1 ? "" : "s", r->applied, r->merged,
	       r->rejected, r->changes, r->tickets, r->dropped);
	if (r->held > 0)
		printf("%lu change%s wait%s for a newer hub.\n", r->held,
		       r->held == 1 ? "" : "s", r->held == 1 ? "s" : "");
	if (r->conflicts > 0)
		printf("%lu new conflict%s: see `%s conflicts`.\n",
		       r->conflicts, r->conflicts == 1 ? "" : "s", c->prog);
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int should_stop(void *ud)
{
	(void)ud;
	return stop_requested != 0;
}

/* One line per round of --watch. */
static void on_round(int rc, const bs_sync_report *r, int64_t next_ms,
		     void *ud)
{
	const struct cli *c = ud;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	stamp[0] = '\0';
	if (localtime_r(&now, &tm) != NULL)
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (c->json) {
		printf("{\"rc\":\"%s\",\"pushed\":%lu,\"changes\":%lu,"
		       "\"conflicts\":%lu,\"next_ms\":%lld}\n",
		       bs_error_reason(rc), r->pushed, r->changes,
		       r->conflicts, (long long)next_ms);
	} else if (rc == BS_OK) {
		printf("%s synced: sent %lu, received %lu%s\n", stamp,
		       r->pushed, r->changes,
		       r->conflicts ? ", new conflicts" : "");
	} else if (next_ms >= 0) {
		printf("%s %s; trying again in %llds\n", stamp,
		       bs_last_error(), (long long)((next_ms + 999) / 1000));
	}
	fflush(stdout);
}

int cmd_sync(struct cli *c, int argc, char **argv)
{
	const char *interval = NULL;
	int watch = 0;
	const struct opt opts[] = {
		{ "--watch", NULL, &watch },
		{ "--interval", &interval, NULL },
		{ NULL, NULL, NULL },
	};
	bs_sync_report rep;
	bs_sync_opts o;
	bs_store *st = NULL;
	int rc, tty;

	rc = cli_parse(c, cli_find("sync"), argc, argv, opts, NULL, 0, 0,
		       NULL);
	if (rc != BS_OK)
		return rc;
	memset(&o, 0, sizeof(o));
	tty = isatty(2) && !c->json;
	if (tty) {
		o.progress = on_progress;
		o.ud = NULL;
	}
	if ((rc = cli_open(c, &st)) != BS_OK)
		return rc;
	if (watch) {
		bs_sync_watch_opts w;
		struct sigaction sa;
		char *end = NULL;

		memset(&w, 0, sizeof(w));
		w.sync = o;
		w.sync.progress = NULL;
		if (interval != NULL) {
			long v = strtol(interval, &end, 10);

			if (*interval == '\0' || *end != '\0' || v < 1 ||
			    v > 86400) {
				bs_store_close(st);
				return bs__error(BS_EINVAL, "--interval is a "
						 "number of seconds, 1 to "
						 "86400");
			}
			w.interval_ms = (int64_t)v * 1000;
		}
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		w.stop = should_stop;
		w.event = on_round;
		w.ud = c;
		rc = bs_sync_watch(&st, &w);
	} else {
		rc = bs_sync_round(&st, &o, &rep);
		if (tty)
			fputs("\r\033[K", stderr);
		if (rc == BS_OK)
			put_report(c, &rep);
	}
	bs_store_close(st);
	return rc;
}

/* --- conflicts --------------------------------------------------------- */

static void put_conflict_row(const cJSON *k)
{
	const cJSON *mine = cJSON_GetObjectItemCaseSensitive(k, "mine");
	const char *ticket = jstr(k, "ticket_ref");
	const char *what = jstr(k, "field");
	const char *text = cJSON_IsString(mine) ? mine->valuestring
						: jstr(mine, "body");
	char id[24];

	if (*ticket == '\0')
		ticket = jstr(k, "ticket_id");
	if (*what == '\0')
		what = jstr(k, "entity");
	if (*text == '\0')
		text = jstr(mine, "reason");
	snprintf(id, sizeof(id), "%.0f",
		 cJSON_GetObjectItemCaseSensitive(k, "id")->valuedouble);
	cli_put_cell(id, 5);
	putchar(' ');
	cli_put_cell(ticket, 18);
	putchar(' ');
	cli_put_cell(what, 11);
	putchar(' ');
	cli_put_cell(jstr(k, "reason"), 16);
	putchar(' ');
	cli_put_cell(text, 30);
	putchar('\n');
}

static int list_conflicts(struct cli *c, bs_store *st, int all)
{
	char *json = NULL;
	cJSON *arr = NULL;
	const cJSON *k;
	int rc;

	if ((rc = bs_conflict_list(st, all, &json)) != BS_OK)
		return rc;
	if (c->json) {
		cli_put_json(json);
	} else if ((arr = cJSON_Parse(json)) == NULL) {
		rc = bs__error(BS_ERR, "internal error: unreadable result");
	} else if (cJSON_GetArraySize(arr) == 0) {
		printf("No %sconflicts.\n", all ? "" : "open ");
	} else {
		cli_put_cell("ID", 5);
		putchar(' ');
		cli_put_cell("TICKET", 18);
		putchar(' ');
		cli_put_cell("WHAT", 11);
		putchar(' ');
		cli_put_cell("REASON", 16);
		putchar(' ');
		cli_put_cell("YOURS", 30);
		putchar('\n');
		cJSON_ArrayForEach(k, arr) put_conflict_row(k);
		printf("\n`%s conflicts show ID` shows both sides.\n", c->prog);
	}
	cJSON_Delete(arr);
	bs_free(json);
	return rc;
}

static int show_conflict(struct cli *c, bs_store *st, int64_t id)
{
	char *json = NULL;
	cJSON *k = NULL;
	int rc;

	if ((rc = bs_conflict_show(st, id, &json)) != BS_OK)
		return rc;
	if (c->json) {
		cli_put_json(json);
	} else if ((k = cJSON_Parse(json)) == NULL) {
		rc = bs__error(BS_ERR, "internal error: unreadable result");
	} else {
		put_value("ticket", cJSON_GetObjectItemCaseSensitive(
					    k, *jstr(k, "ticket_ref")
						       ? "ticket_ref"
						       : "ticket_id"));
		put_value("field", cJSON_GetObjectItemCaseSensitive(k,
								    "field"));
		put_value("reason", cJSON_GetObjectItemCaseSensitive(
					    k, "reason"));
		put_value("why", cJSON_GetObjectItemCaseSensitive(k,
								  "detail"));
		put_value("yours", cJSON_GetObjectItemCaseSensitive(k,
								    "mine"));
		put_value("theirs", cJSON_GetObjectItemCaseSensitive(
					    k, "theirs"));
		if (cJSON_HasObjectItem(k, "current"))
			put_value("now", cJSON_GetObjectItemCaseSensitive(
						 k, "current"));
		put_value("resolved", cJSON_GetObjectItemCaseSensitive(
					      k, "resolution"));
		if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
			    k, "resolved_ms")))
			printf("\nResolve with `%s conflicts resolve %lld "
			       "--keep-mine | --take-theirs | --edit TEXT`; "
			       "the text is kept either way.\n",
			       c->prog, (long long)id);
	}
	cJSON_Delete(k);
	bs_free(json);
	return rc;
}

static int parse_id(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v <= 0)
		return bs__error(BS_EINVAL, "'%s' is not a conflict number",
				 s);
	*out = v;
	return BS_OK;
}

int cmd_conflicts(struct cli *c, int argc, char **argv)
{
	const char *edit = NULL;
	int all = 0, mine = 0, theirs = 0;
	const struct opt opts[] = {
		{ "--all", NULL, &all },
		{ "--keep-mine", NULL, &mine },
		{ "--take-theirs", NULL, &theirs },
		{ "--edit", &edit, NULL },
		{ NULL, NULL, NULL },
	};
	const struct command *cmd = cli_find("conflicts");
	const char *pos[2] = { NULL, NULL };
	bs_store *st = NULL;
	char *text = NULL;
	int64_t id = 0;
	int npos = 0, rc;

	rc = cli_parse(c, cmd, argc, argv, opts, pos, 0, 2, &npos);
	if (rc != BS_OK)
		return rc;
	if (npos == 0) {
		if (mine || theirs || edit != NULL)
			return cli_usage(c, cmd);
	} else if (strcmp(pos[0], "show") == 0) {
		if (npos != 2 || mine || theirs || edit != NULL || all)
			return cli_usage(c, cmd);
	} else if (strcmp(pos[0], "resolve") == 0) {
		if (npos != 2 || all || mine + theirs + (edit != NULL) != 1)
			return bs__error(BS_EINVAL, "resolve needs one of "
					 "--keep-mine, --take-theirs, "
					 "--edit TEXT");
	} else {
		return cli_usage(c, cmd);
	}
	if (npos == 2 && (rc = parse_id(pos[1], &id)) != BS_OK)
		return rc;
	if (edit != NULL && (rc = cli_text_arg(edit, "the text", &text)))
		return rc;
	/* Listing and showing help a locked device on its way back to
	 * head office; resolving writes ticket changes, which wait. */
	if (npos == 2 && strcmp(pos[0], "resolve") == 0)
		rc = cli_open_tickets(c, &st);
	else
		rc = cli_open(c, &st);
	if (rc != BS_OK)
		goto cleanup;
	if (npos == 0) {
		rc = list_conflicts(c, st, all);
	} else if (strcmp(pos[0], "show") == 0) {
		rc = show_conflict(c, st, id);
	} else {
		rc = bs_conflict_resolve(st, id,
					 mine     ? BS_RESOLVE_KEEP_MINE
					 : theirs ? BS_RESOLVE_TAKE_THEIRS
						  : BS_RESOLVE_EDIT,
					 text);
		if (rc == BS_OK && c->json)
			printf("{\"id\":%lld,\"resolution\":\"%s\"}\n",
			       (long long)id,
			       mine     ? "keep_mine"
			       : theirs ? "take_theirs"
					: "edit");
		else if (rc == BS_OK)
			printf("Conflict %lld resolved (%s); both texts "
			       "stay in the record.\n", (long long)id,
			       mine     ? "yours kept"
			       : theirs ? "theirs taken"
					: "edited");
	}
cleanup:
	free(text);
	bs_store_close(st);
	return rc;
}
