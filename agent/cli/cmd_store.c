/*
 * cmd_store.c - the commands about the store itself: init, passwd,
 * rekey, doctor, wipe, status.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "agent/core/common.h"
#include "agent/sync/sync_internal.h"
#include "cli.h"

int cmd_init(struct cli *c, int argc, char **argv)
{
	const char *staff = NULL, *branch = NULL, *role = "staff";
	const char *cipher_name = NULL;
	int device = 0;
	const struct opt opts[] = {
		{ "--staff", &staff, NULL },
		{ "--branch", &branch, NULL },
		{ "--role", &role, NULL },
		{ "--device-key", NULL, &device },
		{ "--cipher", &cipher_name, NULL },
		{ NULL, NULL, NULL },
	};
	bs_store_opts so = { 0, 0, 0 };
	char pin[1025];
	bs_key key;
	bs_store *st = NULL;
	int rc;

	rc = cli_parse(c, cli_find("init"), argc, argv, opts, NULL, 0, 0, NULL);
	if (rc != BS_OK)
		return rc;
	if (staff == NULL || branch == NULL)
		return bs__error(BS_EINVAL, "init: --staff ID and --branch CODE "
					    "are required");
	if (strcmp(role, "staff") != 0 && strcmp(role, "manager") != 0)
		return bs__error(BS_EINVAL, "init: --role is staff or manager, "
					    "not '%s'",
				 role);
	if (cipher_name != NULL) {
		if (strcmp(cipher_name, "aes-256-gcm") == 0)
			so.cipher = BS_CIPHER_AES256GCM;
		else if (strcmp(cipher_name, "chacha20-poly1305") == 0)
			so.cipher = BS_CIPHER_CHACHA20POLY1305;
		else
			return bs__error(BS_EINVAL, "init: --cipher is "
						    "aes-256-gcm or "
						    "chacha20-poly1305, not "
						    "'%s'",
					 cipher_name);
	}
	rc = cli_read_pin(c, "New PIN: ", 1, pin, sizeof(pin));
	if (rc != BS_OK)
		return rc;
	if (strlen(pin) < 4) {
		explicit_bzero(pin, sizeof(pin));
		return bs__error(BS_EINVAL, "the PIN must have at least 4 "
					    "characters");
	}
	key.kind = BS_KEY_PIN;
	key.staff = staff;
	key.secret = pin;
	key.secret_len = strlen(pin);
	so.device_slot = device;
	rc = bs_store_create(&st, c->store_dir, &key, &so);
	explicit_bzero(pin, sizeof(pin));
	if (rc != BS_OK)
		return rc;
	rc = bs_tickets_init(st, staff, branch, role);
	if (rc != BS_OK) {
		/* Half a store is worse than none: a second init must work.
		 * The wipe must not replace the message that says why. */
		char why[512];

		snprintf(why, sizeof(why), "%s", bs_last_error());
		bs_store_close(st);
		(void)bs_store_wipe(c->store_dir);
		return bs__error(rc, "%s", why);
	}
	if (c->json) {
		cJSON *o = cJSON_CreateObject();
		char *text;

		cJSON_AddStringToObject(o, "store", c->store_dir);
		cJSON_AddStringToObject(o, "staff", staff);
		text = cJSON_PrintUnformatted(o);
		if (text != NULL)
			cli_put_json(text);
		cJSON_free(text);
		cJSON_Delete(o);
	} else {
		const char *cipher = NULL;
		bs_store_cipher(st, &cipher);
		printf("Created the store in %s for %s (%s).\n", c->store_dir,
		       staff, cipher);
	}
	bs_store_close(st);
	return rc;
}

int cmd_passwd(struct cli *c, int argc, char **argv)
{
	char pin[1025];
	bs_store *st = NULL;
	int rc;

	rc = cli_parse(c, cli_find("passwd"), argc, argv, NULL, NULL, 0, 0,
		       NULL);
	if (rc == BS_OK)
		rc = cli_open(c, &st);
	if (rc == BS_OK)
		rc = cli_read_pin(c, "New PIN: ", 1, pin, sizeof(pin));
	if (rc == BS_OK && strlen(pin) < 4)
		rc = bs__error(BS_EINVAL, "the PIN must have at least 4 "
					  "characters");
	if (rc == BS_OK)
		rc = bs_store_change_pin(st, pin, strlen(pin), 0);
	explicit_bzero(pin, sizeof(pin));
	if (rc == BS_OK && !c->json)
		printf("PIN changed for %s.\n", bs_store_opened_by(st));
	bs_store_close(st);
	return rc;
}

int cmd_rekey(struct cli *c, int argc, char **argv)
{
	char pin[1025];
	bs_store *st = NULL;
	bs_key key;
	unsigned dropped = 0;
	int rc;

	rc = cli_parse(c, cli_find("rekey"), argc, argv, NULL, NULL, 0, 0,
		       NULL);
	if (rc != BS_OK)
		return rc;
	rc = cli_read_pin(c, "PIN: ", 0, pin, sizeof(pin));
	if (rc != BS_OK)
		return rc;
	key.kind = BS_KEY_PIN;
	key.staff = c->staff;
	key.secret = pin;
	key.secret_len = strlen(pin);
	rc = bs_store_open(&st, c->store_dir, &key);
	if (rc == BS_OK)
		rc = bs_store_rekey(st, &key, &dropped);
	explicit_bzero(pin, sizeof(pin));
	if (rc == BS_OK && c->json)
		printf("{\"epoch\":%u,\"dropped_slots\":%u}\n",
		       (unsigned)bs_store_epoch(st), dropped);
	else if (rc == BS_OK)
		printf("Re-encrypted under a new data key (epoch %u).%s\n",
		       (unsigned)bs_store_epoch(st),
		       dropped ? " Other staff PIN slots were removed: "
				 "add them again with their PINs."
			       : "");
	bs_store_close(st);
	return rc;
}

int cmd_doctor(struct cli *c, int argc, char **argv)
{
	bs_store *st = NULL;
	const char *cipher = NULL;
	int rc;

	rc = cli_parse(c, cli_find("doctor"), argc, argv, NULL, NULL, 0, 0,
		       NULL);
	if (rc == BS_OK)
		rc = cli_open(c, &st);
	if (rc == BS_OK)
		rc = bs_store_check(st);
	if (rc == BS_OK) {
		bs_store_cipher(st, &cipher);
		if (c->json)
			printf("{\"ok\":true,\"cipher\":\"%s\",\"epoch\":%u,"
			       "\"schema\":%d}\n",
			       cipher, (unsigned)bs_store_epoch(st),
			       bs_store_schema_version(st));
		else
			printf("Store is healthy: every page authenticates and "
			       "the database is consistent.\n"
			       "cipher %s, key epoch %u, schema version %d\n",
			       cipher, (unsigned)bs_store_epoch(st),
			       bs_store_schema_version(st));
	}
	bs_store_close(st);
	return rc;
}

int cmd_wipe(struct cli *c, int argc, char **argv)
{
	int yes = 0;
	const struct opt opts[] = {
		{ "--yes", NULL, &yes },
		{ NULL, NULL, NULL },
	};
	bs_store *st = NULL;
	int rc;

	rc = cli_parse(c, cli_find("wipe"), argc, argv, opts, NULL, 0, 0, NULL);
	if (rc != BS_OK)
		return rc;
	if (!yes)
		return bs__error(BS_EINVAL, "wipe destroys every ticket on "
					    "this device: confirm with --yes");
	rc = cli_open(c, &st);
	bs_store_close(st);
	if (rc == BS_OK)
		rc = bs_store_wipe(c->store_dir);
	if (rc == BS_OK && !c->json)
		printf("The store in %s is destroyed.\n", c->store_dir);
	return rc;
}

/* One line of `status`: a scalar as it is, an object as its members. */
static void put_status_item(const cJSON *it)
{
	const cJSON *m;
	const char *sep = "";

	printf("%-16s ", it->string);
	if (cJSON_IsString(it)) {
		printf("%s", it->valuestring);
	} else if (cJSON_IsNumber(it)) {
		printf("%.0f", it->valuedouble);
	} else if (cJSON_IsBool(it)) {
		printf("%s", cJSON_IsTrue(it) ? "yes" : "no");
	} else if (cJSON_IsNull(it)) {
		printf("-");
	} else if (cJSON_IsObject(it)) {
		cJSON_ArrayForEach(m, it)
		{
			printf("%s%s ", sep, m->string);
			if (cJSON_IsString(m))
				printf("%s", m->valuestring);
			else if (cJSON_IsNumber(m))
				printf("%.0f", m->valuedouble);
			else if (cJSON_IsBool(m))
				printf("%s", cJSON_IsTrue(m) ? "yes" : "no");
			else
				printf("-");
			sep = ", ";
		}
	}
	putchar('\n');
}

/* Local date and time of a device timestamp, "2026-11-22 13:03". */
static void put_when(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[32];

	if (localtime_r(&t, &tm) != NULL &&
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm) > 0)
		fputs(buf, stdout);
	else
		printf("%lld", (long long)ms);
}

/* The offline policy as the status object "offline_policy". */
static int policy_json(const bs_sync_policy *p, cJSON *root)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || !cJSON_AddItemToObject(root, "offline_policy", o)) {
		cJSON_Delete(o);
		return bs__error_code(BS_ENOMEM);
	}
	if ((p->known ? cJSON_AddNumberToObject(o, "max_offline_ms",
						(double)p->max_offline_ms)
		      : cJSON_AddNullToObject(o, "max_offline_ms")) == NULL ||
	    (p->since_ms > 0 ? cJSON_AddNumberToObject(o, "since_ms",
						       (double)p->since_ms)
			     : cJSON_AddNullToObject(o, "since_ms")) == NULL ||
	    (p->lock_at_ms > 0
		     ? cJSON_AddNumberToObject(o, "lock_at_ms",
					       (double)p->lock_at_ms)
		     : cJSON_AddNullToObject(o, "lock_at_ms")) == NULL ||
	    cJSON_AddBoolToObject(o, "locked", p->locked) == NULL)
		return bs__error_code(BS_ENOMEM);
	return BS_OK;
}

/* The offline policy for people: the limit and when the device locks. */
static void put_policy(const struct cli *c, const bs_sync_policy *p)
{
	char limit[64], left[64];

	printf("%-16s ", "offline limit");
	if (!p->known) {
		printf("not known yet: head office sets it at the first "
		       "sync\n");
		return;
	}
	if (p->max_offline_ms == 0) {
		printf("none set by head office\n");
		return;
	}
	bs__sync_span(limit, sizeof(limit), p->max_offline_ms);
	printf("%s without a sync", limit);
	if (p->locked && p->clock_behind) {
		printf("; LOCKED (the clock is behind the last sync): run "
		       "`%s sync`\n", c->prog);
	} else if (p->locked) {
		printf("; LOCKED since ");
		put_when(p->lock_at_ms);
		printf(": run `%s sync`\n", c->prog);
	} else if (p->lock_at_ms > 0) {
		bs__sync_span(left, sizeof(left), p->lock_at_ms - p->now_ms);
		printf("; locks at ");
		put_when(p->lock_at_ms);
		printf(" (in %s) unless it syncs\n", left);
	} else {
		printf("; counted from the first sync\n");
	}
}

int cmd_status(struct cli *c, int argc, char **argv)
{
	bs_sync_policy pol;
	bs_store *st = NULL;
	cJSON *root = NULL;
	char *json = NULL, *out = NULL;
	int rc;

	rc = cli_parse(c, cli_find("status"), argc, argv, NULL, NULL, 0, 0,
		       NULL);
	if (rc == BS_OK)
		rc = cli_open(c, &st);
	if (rc == BS_OK)
		rc = bs_tickets_status(st, &json);
	if (rc == BS_OK)
		rc = bs_sync_policy_get(st, &pol);
	if (rc == BS_OK && (root = cJSON_Parse(json)) == NULL)
		rc = bs__error(BS_ERR, "internal error: unreadable status");
	if (rc == BS_OK)
		rc = policy_json(&pol, root);
	if (rc == BS_OK && c->json) {
		if ((out = cJSON_PrintUnformatted(root)) == NULL)
			rc = bs__error_code(BS_ENOMEM);
		else
			cli_put_json(out);
	} else if (rc == BS_OK) {
		const cJSON *it;

		printf("%-16s %s\n", "store", c->store_dir);
		cJSON_ArrayForEach(it, root)
		{
			if (strcmp(it->string, "offline_policy") == 0)
				put_policy(c, &pol);
			else
				put_status_item(it);
		}
	}
	cJSON_Delete(root);
	cJSON_free(out);
	bs_free(json);
	bs_store_close(st);
	return rc;
}
