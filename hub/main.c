/*
 * main.c - the branchsync-hub command: parses the command line and runs
 * one of init, serve, enroll-code, devices, revoke, import, assign,
 * move, export, report.  Exit status: 0, or bs_error_exit_code() of the
 * failure, with one line on stderr; 2 for a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/core/common.h"
#include "agent/core/json.h"
#include "hub/admin.h"
#include "hub/hub.h"
#include "platform/os.h"

#define MAX_HOSTS 16
#define MAX_ARGS 4

static const char usage[] =
	"usage: branchsync-hub COMMAND --dir DIR [--db URL] [options]\n"
	"  init [--host NAME]...          create the CA and server "
	"certificate\n"
	"  serve [--listen ADDR:PORT] [--threads 8] [--max-offline 14d|off]\n"
	"  enroll-code --branch B --staff S [--role staff|manager] "
	"[--ttl 24h]\n"
	"  devices                        list enrolled devices\n"
	"  revoke DEVICE                  refuse a device; it wipes itself\n"
	"  import FILE.jsonl              the head-office export format\n"
	"  assign TICKET --branch B [--staff S]\n"
	"  move TICKET STATE [--reason TEXT] [--target TICKET]\n"
	"  export                         responses and history, JSON Lines\n"
	"  report                         per branch: first response, SLA, "
	"close rate\n"
	"--db defaults to DIR/hub.db (SQLite); postgresql://... for "
	"PostgreSQL.\n";

struct opts {
	const char *cmd, *dir, *db, *listen, *branch, *staff, *role, *ttl;
	const char *reason, *target, *max_offline;
	const char *hosts[MAX_HOSTS];
	int nhosts, threads;
	const char *args[MAX_ARGS];
	int nargs;
};

/* "90s", "15m", "24h", "7d", "500ms" into milliseconds; -1 if bad. */
static int64_t parse_ttl(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (end == s || v <= 0 || v > 100000)
		return -1;
	if (strcmp(end, "ms") == 0)
		return v;
	if (strcmp(end, "s") == 0)
		return v * 1000;
	if (strcmp(end, "m") == 0)
		return v * 60000;
	if (strcmp(end, "h") == 0 || *end == '\0')
		return v * 3600000;
	if (strcmp(end, "d") == 0)
		return v * 86400000;
	return -1;
}

static int parse(struct opts *o, int argc, char **argv)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:8443";
	o->role = "staff";
	o->ttl = "24h";
	o->max_offline = "14d";
	o->threads = 8;
	if (argc < 2)
		return -1;
	o->cmd = argv[1];
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], **dst = NULL;

		if (strncmp(a, "--", 2) != 0) {
			if (o->nargs == MAX_ARGS)
				return -1;
			o->args[o->nargs++] = a;
			continue;
		}
		if (i + 1 >= argc)
			return -1;
		if (strcmp(a, "--dir") == 0)
			dst = &o->dir;
		else if (strcmp(a, "--db") == 0)
			dst = &o->db;
		else if (strcmp(a, "--listen") == 0)
			dst = &o->listen;
		else if (strcmp(a, "--branch") == 0)
			dst = &o->branch;
		else if (strcmp(a, "--staff") == 0)
			dst = &o->staff;
		else if (strcmp(a, "--role") == 0)
			dst = &o->role;
		else if (strcmp(a, "--ttl") == 0)
			dst = &o->ttl;
		else if (strcmp(a, "--max-offline") == 0)
			dst = &o->max_offline;
		else if (strcmp(a, "--reason") == 0)
			dst = &o->reason;
		else if (strcmp(a, "--target") == 0)
			dst = &o->target;
		else if (strcmp(a, "--host") == 0 && o->nhosts < MAX_HOSTS)
			dst = &o->hosts[o->nhosts++];
		else if (strcmp(a, "--threads") == 0) {
			o->threads = atoi(argv[++i]);
			if (o->threads < 1 || o->threads > 64)
				return -1;
			continue;
		} else
			return -1;
		*dst = argv[++i];
	}
	return o->dir != NULL ? 0 : -1;
}

static int need(const struct opts *o, int nargs)
{
	if (o->nargs != nargs) {
		fputs(usage, stderr);
		exit(2);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct bs_hub h;
	bs_hub_store *st = NULL;
	char db[4096];
	int rc, lock_fd = -1;

	if (parse(&o, argc, argv) != 0) {
		fputs(usage, stderr);
		return 2;
	}
	/* The database holds customer data and device keys: nothing the
	 * hub creates is readable by other users. */
	umask(077);
	bs__json_init();
	memset(&h, 0, sizeof(h));
	if (strcmp(o.cmd, "init") == 0) {
		need(&o, 0);
		rc = bs__hub_pki_init(o.dir, o.hosts, o.nhosts);
		if (rc == BS_OK) {
			snprintf(db, sizeof(db), "%s/%s", o.dir,
				 BS_HUB_DB_FILE);
			rc = bs__hub_store_open(&st, o.db ? o.db : db);
		}
		if (rc == BS_OK)
			printf("hub initialised in %s: CA %s/%s (devices pin "
			       "it at enrollment)\n", o.dir, o.dir,
			       BS_HUB_CA_CERT);
		goto done;
	}
	snprintf(db, sizeof(db), "%s/%s", o.dir, BS_HUB_DB_FILE);
	if (!o.db && !bs_os_exists(db)) {
		rc = bs__error(BS_ENOTFOUND, "%s has no hub; run branchsync-hub "
			       "init --dir %s first", o.dir, o.dir);
		goto done;
	}
	if ((rc = bs__hub_store_open(&st, o.db ? o.db : db)) != BS_OK)
		goto done;
	if (strcmp(o.cmd, "serve") == 0) {
		/* A pull page is written, deflated and copied in buffers of
		 * about a megabyte, freed once it is sent: keep them for the
		 * next page instead of mapping fresh memory every time. */
		bs_os_reuse_freed_memory((size_t)64 << 20);
		need(&o, 0);
		h.store = st;
		h.skew_ms = BS__WIRE_SKEW_MS;
		h.max_ahead_ms = BS__HLC_HUB_MAX_AHEAD_MS;
		h.max_offline_ms = strcmp(o.max_offline, "off") == 0 ?
					   0 : parse_ttl(o.max_offline);
		if (h.max_offline_ms < 0) {
			rc = bs__error(BS_EINVAL, "--max-offline must be a "
				       "duration such as 14d or 36h, or off");
			goto done;
		}
		h.start_ms = bs_os_now_ms();
		/* On SQLite one process serves the database, and keeps the
		 * nonces in its memory; several may serve PostgreSQL. */
		if (strcmp(bs__hub_store_backend(st), "sqlite") == 0) {
			char lock[4200];

			snprintf(lock, sizeof(lock), "%s-serve.lock",
				 o.db ? o.db : db);
			rc = bs_os_lock(&lock_fd, lock, 1);
			if (rc == BS_EBUSY)
				rc = bs__error(BS_EBUSY, "another branchsync-"
					       "hub is serving %s; on SQLite one "
					       "process serves a database (use "
					       "PostgreSQL for several)",
					       o.db ? o.db : db);
			if (rc == BS_OK)
				rc = bs__hub_replay_new(&h.replay);
			if (rc != BS_OK)
				goto done;
		}
		if ((rc = bs__hub_pki_load_ca(&h, o.dir)) == BS_OK)
			rc = bs__hub_serve(&h, o.dir, o.listen, o.threads);
	} else if (strcmp(o.cmd, "enroll-code") == 0) {
		int64_t ttl = parse_ttl(o.ttl);

		need(&o, 0);
		if (o.branch == NULL || o.staff == NULL || ttl < 0) {
			fputs(usage, stderr);
			rc = 2;
			goto out;
		}
		rc = bs__hub_admin_enroll_code(st, o.dir, o.branch, o.staff,
					       o.role, ttl);
	} else if (strcmp(o.cmd, "devices") == 0) {
		need(&o, 0);
		rc = bs__hub_admin_devices(st);
	} else if (strcmp(o.cmd, "revoke") == 0) {
		need(&o, 1);
		rc = bs__hub_admin_revoke(st, o.args[0]);
	} else if (strcmp(o.cmd, "import") == 0) {
		need(&o, 1);
		rc = bs__hub_admin_import(st, o.args[0]);
	} else if (strcmp(o.cmd, "assign") == 0) {
		need(&o, 1);
		if (o.branch == NULL) {
			fputs(usage, stderr);
			rc = 2;
			goto out;
		}
		rc = bs__hub_admin_assign(st, o.args[0], o.branch, o.staff);
	} else if (strcmp(o.cmd, "move") == 0) {
		need(&o, 2);
		rc = bs__hub_admin_move(st, o.args[0], o.args[1], o.reason,
					o.target);
	} else if (strcmp(o.cmd, "export") == 0) {
		need(&o, 0);
		rc = bs__hub_admin_export(st);
	} else if (strcmp(o.cmd, "report") == 0) {
		need(&o, 0);
		rc = bs__hub_admin_report(st);
	} else {
		fputs(usage, stderr);
		rc = 2;
		goto out;
	}
done:
	if (rc != BS_OK)
		fprintf(stderr, "branchsync-hub: %s\n", bs_last_error());
	rc = rc == BS_OK ? 0 : bs_error_exit_code(rc);
out:
	bs__hub_replay_free(h.replay);
	if (lock_fd >= 0)
		bs_os_unlock(lock_fd);
	bs__free(h.ca_der);
	bs__free(h.ca_pem);
	bs__hub_store_close(st);
	fflush(stdout);
	return rc;
}
