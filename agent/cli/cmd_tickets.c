/*
 * cmd_tickets.c - the commands that work complaints: import, list, show,
 * reply, note, call, move, new, search, categories, templates.  Each
 * calls the ticket API and prints its JSON as is (--json) or as a table
 * for people (the shapes are in schema/cli-json.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "agent/core/common.h"
#include "agent/core/utf8.h"
#include "cli.h"

/* --- reading the JSON the API returns ---------------------------------- */

/* The member at a dotted path ("sla.level"), or NULL. */
static const cJSON *jget(const cJSON *o, const char *path)
{
	char key[64];

	while (o != NULL && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = cJSON_GetObjectItemCaseSensitive(o, key);
		path += n + (dot ? 1 : 0);
	}
	return o;
}

static const char *jstr(const cJSON *o, const char *path)
{
	const cJSON *v = jget(o, path);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static long long jint(const cJSON *o, const char *path)
{
	const cJSON *v = jget(o, path);

	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

/* Local date and time of a millisecond timestamp, "2026-11-22 13:03". */
static const char *when(long long ms)
{
	static char buf[4][32];
	static unsigned next;
	char *out = buf[next++ % 4];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || localtime_r(&t, &tm) == NULL)
		return "";
	strftime(out, 32, "%Y-%m-%d %H:%M", &tm);
	return out;
}

/* "3d 4h", "-2h 10m" (overdue) from a span in milliseconds. */
static const char *span(long long ms)
{
	static char buf[4][32];
	static unsigned next;
	char *out = buf[next++ % 4];
	const char *sign = ms < 0 ? "-" : "";
	long long m = (ms < 0 ? -ms : ms) / 60000;

	if (m >= 1440)
		snprintf(out, 32, "%s%lldd %lldh", sign, m / 1440, m % 1440 / 60);
	else if (m >= 60)
		snprintf(out, 32, "%s%lldh %lldm", sign, m / 60, m % 60);
	else
		snprintf(out, 32, "%s%lldm", sign, m);
	return out;
}

/* Parse the API's JSON; the API's own output failing to parse is a bug
 * worth a clear message rather than a crash. */
static int parse(const char *json, cJSON **out)
{
	*out = cJSON_Parse(json);
	if (*out == NULL)
		return bs__error(BS_ERR, "internal error: unreadable result");
	return BS_OK;
}

/* The clock that matters now: first response while it runs, else
 * resolution. */
static const cJSON *current_clock(const cJSON *t)
{
	const cJSON *fr = jget(t, "sla.first_response");

	if (fr != NULL && strcmp(jstr(fr, "state"), "running") == 0)
		return fr;
	return jget(t, "sla.resolution");
}

/* One queue or search row: ref, status, priority, SLA, subject. */
static void put_ticket_row(const cJSON *t)
{
	const cJSON *clock = current_clock(t);
	const char *level = jstr(clock, "level");
	const char *ref = jstr(t, "ref");

	cli_put_cell(*ref ? ref : jstr(t, "id"), 18);
	putchar(' ');
	cli_put_cell(jstr(t, "status"), 20);
	putchar(' ');
	cli_put_cell(jstr(t, "priority"), 7);
	putchar(' ');
	if (cJSON_IsTrue(jget(t, "sla.overdue")))
		cli_put_cell("BREACHED", 10);
	else if (cJSON_IsNumber(jget(t, "sla.next_due_ms")))
		cli_put_cell(span(jint(t, "sla.next_due_ms") -
				  jint(t, "sla.now_ms")),
			     10);
	else
		cli_put_cell("", 10);
	putchar(' ');
	cli_put_cell(strcmp(level, "urgent_warning") == 0 ? "!!"
		     : strcmp(level, "warning") == 0	   ? "!"
							   : "",
		     2);
	putchar(' ');
	cli_put_cell(jstr(t, "subject"), 40);
	putchar('\n');
}

static void put_ticket_header(void)
{
	cli_put_cell("REF", 18);
	putchar(' ');
	cli_put_cell("STATUS", 20);
	putchar(' ');
	cli_put_cell("PRIO", 7);
	putchar(' ');
	cli_put_cell("DUE IN", 10);
	putchar(' ');
	cli_put_cell("", 2);
	putchar(' ');
	cli_put_cell("SUBJECT", 40);
	putchar('\n');
}

/* --- commands ---------------------------------------------------------- */

int cmd_import(struct cli *c, int argc, char **argv)
{
	const char *pos[1];
	bs_import_report r;
	bs_store *st = NULL;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = cli_parse(c, cli_find("import"), argc, argv, NULL, pos, 1, 1,
		       NULL);
	if (rc == BS_OK)
		rc = cli_open_tickets(c, &st);
	if (rc == BS_OK)
		rc = bs_import(st, pos[0], &r);
	if (rc == BS_OK && c->json)
		printf("{\"lines\":%lu,\"tickets\":%lu,\"activities\":%lu,"
		       "\"customers\":%lu,\"archive\":%lu,\"categories\":%lu,"
		       "\"templates\":%lu}\n",
		       r.lines, r.tickets, r.activities, r.customers, r.archive,
		       r.categories, r.templates);
	else if (rc == BS_OK)
		printf("Imported %lu lines: %lu tickets, %lu timeline entries, "
		       "%lu customers, %lu earlier complaints, %lu categories, "
		       "%lu templates.\n",
		       r.lines, r.tickets, r.activities, r.customers, r.archive,
		       r.categories, r.templates);
	bs_store_close(st);
	return rc;
}

static int parse_limit(const char *s, unsigned *out)
{
	char *end = NULL;
	long v;

	if (s == NULL)
		return BS_OK;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 1 || v > 100000)
		return bs__error(BS_EINVAL, "--limit needs a number from 1 to "
					    "100000, not '%s'",
				 s);
	*out = (unsigned)v;
	return BS_OK;
}

int cmd_list(struct cli *c, int argc, char **argv)
{
	int branch = 0, all = 0;
	const char *status = NULL, *limit = NULL;
	const struct opt opts[] = {
		{ "--branch", NULL, &branch },
		{ "--all", NULL, &all },
		{ "--status", &status, NULL },
		{ "--limit", &limit, NULL },
		{ NULL, NULL, NULL },
	};
	bs_list_opts lo;
	bs_store *st = NULL;
	char *json = NULL;
	cJSON *root = NULL, *t;
	int rc;

	memset(&lo, 0, sizeof(lo));
	rc = cli_parse(c, cli_find("list"), argc, argv, opts, NULL, 0, 0, NULL);
	if (rc == BS_OK)
		rc = parse_limit(limit, &lo.limit);
	if (rc != BS_OK)
		return rc;
	lo.scope = branch ? BS_LIST_BRANCH : BS_LIST_MINE;
	lo.include_closed = all;
	lo.status = status;
	rc = cli_open_tickets(c, &st);
	if (rc == BS_OK)
		rc = bs_ticket_list(st, &lo, &json);
	if (rc == BS_OK && c->json) {
		cli_put_json(json);
	} else if (rc == BS_OK && (rc = parse(json, &root)) == BS_OK) {
		if (cJSON_GetArraySize(root) == 0) {
			printf("No tickets in the queue.\n");
		} else {
			put_ticket_header();
			cJSON_ArrayForEach(t, root) put_ticket_row(t);
		}
	}
	cJSON_Delete(root);
	bs_free(json);
	bs_store_close(st);
	return rc;
}

static void put_field(const char *label, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	cli_put_cell(label, 14);
	printf("%s\n", value);
}

int cmd_show(struct cli *c, int argc, char **argv)
{
	const char *pos[1];
	bs_store *st = NULL;
	char *json = NULL;
	cJSON *root = NULL;
	const cJSON *a;
	int rc;

	rc = cli_parse(c, cli_find("show"), argc, argv, NULL, pos, 1, 1, NULL);
	if (rc == BS_OK)
		rc = cli_open_tickets(c, &st);
	if (rc == BS_OK)
		rc = bs_ticket_show(st, pos[0], &json);
	if (rc == BS_OK && c->json) {
		cli_put_json(json);
	} else if (rc == BS_OK && (rc = parse(json, &root)) == BS_OK) {
		const cJSON *t = jget(root, "ticket") ? jget(root, "ticket")
						      : root;
		char sla[160];

		printf("%s  %s\n", jstr(t, "ref"), jstr(t, "subject"));
		put_field("id", jstr(t, "id"));
		put_field("status", jstr(t, "status"));
		put_field("priority", jstr(t, "priority"));
		put_field("category", jstr(t, "category"));
		put_field("channel", jstr(t, "channel"));
		put_field("risk class", jstr(t, "risk_class"));
		put_field("branch", jstr(t, "branch"));
		put_field("assignee", jstr(t, "assignee"));
		put_field("received", when(jint(t, "t0_ms")));
		snprintf(sla, sizeof(sla), "%s%s%s",
			 jstr(root, "sla.level")[0] ? jstr(root, "sla.level")
						    : jstr(t, "sla.level"),
			 jget(root, "sla.trusted") &&
					 cJSON_IsFalse(jget(root, "sla.trusted"))
				 ? " (device clock not yet checked against "
				   "head office)"
				 : "",
			 "");
		put_field("SLA", sla);
		put_field("customer", jstr(root, "customer.name_masked"));
		put_field("phone", jstr(root, "customer.phone_masked"));
		if (*jstr(t, "description"))
			printf("\n%s\n", jstr(t, "description"));
		if (*jstr(t, "transcript"))
			printf("\nCall transcript:\n%s\n", jstr(t, "transcript"));
		a = jget(root, "archive");
		if (cJSON_GetArraySize(a) > 0) {
			const cJSON *e;
			printf("\nEarlier complaints of this customer:\n");
			cJSON_ArrayForEach(e, a)
			{
				printf("  %s  ", when(jint(e, "received_ms")));
				cli_put_cell(jstr(e, "ticket_ref"), 18);
				printf(" %s", jstr(e, "summary"));
				if (*jstr(e, "outcome"))
					printf(" — %s", jstr(e, "outcome"));
				putchar('\n');
			}
		}
		a = jget(root, "timeline");
		if (cJSON_GetArraySize(a) > 0) {
			const cJSON *e;
			printf("\nTimeline:\n");
			cJSON_ArrayForEach(e, a)
			{
				printf("  %s  ", when(jint(e, "device_time_ms")));
				cli_put_cell(jstr(e, "kind"), 16);
				printf(" %s", jstr(e, "author"));
				if (*jstr(e, "to_status"))
					printf("  → %s", jstr(e, "to_status"));
				if (*jstr(e, "body"))
					printf("\n      %s", jstr(e, "body"));
				putchar('\n');
			}
		}
	}
	cJSON_Delete(root);
	bs_free(json);
	bs_store_close(st);
	return rc;
}

static int add_activity(struct cli *c, int argc, char **argv,
			bs_activity_kind kind, const char *name)
{
	const char *tmpl = NULL;
	const struct opt opts[] = {
		{ "--template", &tmpl, NULL },
		{ NULL, NULL, NULL },
	};
	const char *pos[2];
	char id[37];
	char *text = NULL;
	bs_store *st = NULL;
	int npos = 0;
	int rc;

	rc = cli_parse(c, cli_find(name), argc, argv,
		       kind == BS_ACT_REPLY ? opts : opts + 1, pos,
		       tmpl ? 1 : 1, 2, &npos);
	if (rc != BS_OK)
		return rc;
	if ((tmpl == NULL) != (npos == 2))
		return cli_usage(c, cli_find(name));
	if (tmpl == NULL && (rc = cli_text_arg(pos[1], "the text", &text)) !=
				    BS_OK)
		return rc;
	rc = cli_open_tickets(c, &st);
	if (rc == BS_OK && tmpl != NULL) {
		char *filled = NULL;
		rc = bs_template_render(st, tmpl, pos[0], &filled);
		if (rc == BS_OK) {
			text = strdup(filled);
			if (text == NULL)
				rc = bs__error_code(BS_ENOMEM);
		}
		bs_free(filled);
	}
	if (rc == BS_OK)
		rc = bs_ticket_add(st, pos[0], kind, text, id);
	if (rc == BS_OK && c->json)
		printf("{\"id\":\"%s\"}\n", id);
	else if (rc == BS_OK)
		printf("Saved %s %s on %s; it goes to head office at the next "
		       "sync.\n",
		       name, id, pos[0]);
	free(text);
	bs_store_close(st);
	return rc;
}

int cmd_reply(struct cli *c, int argc, char **argv)
{
	return add_activity(c, argc, argv, BS_ACT_REPLY, "reply");
}

int cmd_note(struct cli *c, int argc, char **argv)
{
	return add_activity(c, argc, argv, BS_ACT_NOTE, "note");
}

int cmd_call(struct cli *c, int argc, char **argv)
{
	return add_activity(c, argc, argv, BS_ACT_CALL, "call");
}

int cmd_move(struct cli *c, int argc, char **argv)
{
	const char *reason = NULL;
	const struct opt opts[] = {
		{ "--reason", &reason, NULL },
		{ NULL, NULL, NULL },
	};
	const char *pos[2];
	char *why = NULL;
	bs_store *st = NULL;
	int rc;

	rc = cli_parse(c, cli_find("move"), argc, argv, opts, pos, 2, 2, NULL);
	if (rc == BS_OK && reason != NULL)
		rc = cli_text_arg(reason, "the reason", &why);
	if (rc == BS_OK)
		rc = cli_open_tickets(c, &st);
	if (rc == BS_OK)
		rc = bs_ticket_move(st, pos[0], pos[1], why);
	if (rc == BS_OK && c->json)
		printf("{\"ticket\":\"%s\",\"status\":\"%s\"}\n", pos[0], pos[1]);
	else if (rc == BS_OK)
		printf("%s is now %s.\n", pos[0], pos[1]);
	free(why);
	bs_store_close(st);
	return rc;
}

int cmd_new(struct cli *c, int argc, char **argv)
{
	bs_new_ticket t;
	const char *desc = NULL;
	const struct opt opts[] = {
		{ "--category", &t.category, NULL },
		{ "--channel", &t.channel, NULL },
		{ "--subject", &t.subject, NULL },
		{ "--description", &desc, NULL },
		{ "--priority", &t.priority, NULL },
		{ "--customer-name", &t.customer_name, NULL },
		{ "--customer-phone", &t.customer_phone, NULL },
		{ "--customer-id", &t.customer_id, NULL },
		{ NULL, NULL, NULL },
	};
	char *text = NULL;
	char id[37];
	bs_store *st = NULL;
	int rc;

	memset(&t, 0, sizeof(t));
	rc = cli_parse(c, cli_find("new"), argc, argv, opts, NULL, 0, 0, NULL);
	if (rc != BS_OK)
		return rc;
	if (t.category == NULL || t.channel == NULL || t.subject == NULL ||
	    desc == NULL)
		return bs__error(BS_EINVAL, "new: --category, --channel, "
					    "--subject and --description are "
					    "required");
	if ((rc = cli_text_arg(desc, "the description", &text)) != BS_OK)
		return rc;
	t.description = text;
	rc = cli_open_tickets(c, &st);
	if (rc == BS_OK)
		rc = bs_ticket_new(st, &t, id);
	if (rc == BS_OK && c->json)
		printf("{\"id\":\"%s\"}\n", id);
	else if (rc == BS_OK)
		printf("Registered complaint %s; head office assigns its "
		       "reference number at the next sync.\n",
		       id);
	free(text);
	bs_store_close(st);
	return rc;
}

int cmd_search(struct cli *c, int argc, char **argv)
{
	const char *limit = NULL;
	const struct opt opts[] = {
		{ "--limit", &limit, NULL },
		{ NULL, NULL, NULL },
	};
	const char *pos[1];
	unsigned n = 50;
	bs_store *st = NULL;
	char *json = NULL;
	cJSON *root = NULL, *h;
	int rc;

	rc = cli_parse(c, cli_find("search"), argc, argv, opts, pos, 1, 1,
		       NULL);
	if (rc == BS_OK)
		rc = parse_limit(limit, &n);
	if (rc == BS_OK && !bs__utf8_valid(pos[0], strlen(pos[0]), NULL))
		rc = bs__error(BS_EINVAL, "the query is not valid UTF-8");
	if (rc == BS_OK)
		rc = cli_open_tickets(c, &st);
	if (rc == BS_OK)
		rc = bs_ticket_search(st, pos[0], n, &json);
	if (rc == BS_OK && c->json) {
		cli_put_json(json);
	} else if (rc == BS_OK && (rc = parse(json, &root)) == BS_OK) {
		if (cJSON_GetArraySize(root) == 0)
			printf("Nothing found for \"%s\".\n", pos[0]);
		else
			put_ticket_header();
		cJSON_ArrayForEach(h, root)
		{
			const cJSON *t = jget(h, "ticket") ? jget(h, "ticket") : h;
			put_ticket_row(t);
			if (*jstr(h, "snippet"))
				printf("    %s\n", jstr(h, "snippet"));
		}
	}
	cJSON_Delete(root);
	bs_free(json);
	bs_store_close(st);
	return rc;
}

int cmd_categories(struct cli *c, int argc, char **argv)
{
	bs_store *st = NULL;
	char *json = NULL;
	cJSON *root = NULL, *e;
	int rc;

	rc = cli_parse(c, cli_find("categories"), argc, argv, NULL, NULL, 0, 0,
		       NULL);
	if (rc == BS_OK)
		rc = cli_open(c, &st);
	if (rc == BS_OK)
		rc = bs_catalogue_categories(st, &json);
	if (rc == BS_OK && c->json) {
		cli_put_json(json);
	} else if (rc == BS_OK && (rc = parse(json, &root)) == BS_OK) {
		cJSON_ArrayForEach(e, root)
		{
			cli_put_cell(jstr(e, "code"), 14);
			putchar(' ');
			cli_put_cell(jstr(e, "risk_class"), 18);
			putchar(' ');
			cli_put_cell(jstr(e, "default_priority"), 7);
			printf(" %s\n", jstr(e, "name"));
		}
	}
	cJSON_Delete(root);
	bs_free(json);
	bs_store_close(st);
	return rc;
}

int cmd_templates(struct cli *c, int argc, char **argv)
{
	const char *category = NULL;
	const struct opt opts[] = {
		{ "--category", &category, NULL },
		{ NULL, NULL, NULL },
	};
	bs_store *st = NULL;
	char *json = NULL;
	cJSON *root = NULL, *e;
	int rc;

	rc = cli_parse(c, cli_find("templates"), argc, argv, opts, NULL, 0, 0,
		       NULL);
	if (rc == BS_OK)
		rc = cli_open(c, &st);
	if (rc == BS_OK)
		rc = bs_catalogue_templates(st, category, &json);
	if (rc == BS_OK && c->json) {
		cli_put_json(json);
	} else if (rc == BS_OK && (rc = parse(json, &root)) == BS_OK) {
		cJSON_ArrayForEach(e, root)
		{
			cli_put_cell(jstr(e, "id"), 16);
			putchar(' ');
			cli_put_cell(jstr(e, "category"), 14);
			printf(" %s\n", jstr(e, "title"));
		}
	}
	cJSON_Delete(root);
	bs_free(json);
	bs_store_close(st);
	return rc;
}
