/*
 * catalogue.c - the classification codes and response templates head
 * office pushes, and a template filled in for a ticket.
 *
 * Templates for a category include those of its parent categories and
 * the general ones (no category), most specific first, so that a reply
 * to a gas-payment complaint offers the gas template, then the payments
 * one, then the bank's general acknowledgement.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/core/common.h"
#include "tickets_internal.h"

int bs_catalogue_categories(bs_store *st, char **json_out)
{
	struct bs__tk tk;
	cJSON *arr = NULL;
	int rc;

	if (json_out == NULL)
		return bs__error(BS_EINVAL, "no place for the result");
	*json_out = NULL;
	if ((rc = bs__tk_load(&tk, st, 0)) != BS_OK)
		return rc;
	if ((arr = cJSON_CreateArray()) == NULL)
		return bs__error_code(BS_ENOMEM);
	rc = bs__tk_rows(&tk, arr,
			 "SELECT code, parent, name, risk_class, "
			 "default_priority, sla_profile, sort_order "
			 "FROM catalogue_category WHERE active = 1 "
			 "ORDER BY sort_order, code",
			 NULL, NULL);
	if (rc == BS_OK)
		rc = bs__json_print(json_out, arr);
	cJSON_Delete(arr);
	return rc;
}

/* The category and its ancestors (parent chains of at most 8), with
 * their distance from it. */
#define ANCESTORS                                                            \
	"WITH RECURSIVE anc (code, parent, depth) AS (SELECT code, parent, " \
	"0 FROM catalogue_category WHERE code = ?1 UNION ALL SELECT c.code, " \
	"c.parent, anc.depth + 1 FROM catalogue_category c JOIN anc ON "     \
	"c.code = anc.parent WHERE anc.depth < 8) "

int bs_catalogue_templates(bs_store *st, const char *category,
			   char **json_out)
{
	struct bs__tk tk;
	sqlite3_stmt *s = NULL;
	cJSON *arr = NULL;
	int rc, src;

	if (json_out == NULL)
		return bs__error(BS_EINVAL, "no place for the result");
	*json_out = NULL;
	if (category != NULL && !bs__tk_is_code(category))
		return bs__error(BS_EINVAL, "'%.40s' is not a category code",
				 category);
	if ((rc = bs__tk_load(&tk, st, 0)) != BS_OK)
		return rc;
	if (category != NULL) {
		rc = bs__tk_prepare(&tk, &s,
				    "SELECT 1 FROM catalogue_category WHERE "
				    "code = ?1");
		if (rc != BS_OK)
			return rc;
		sqlite3_bind_text(s, 1, category, -1, SQLITE_STATIC);
		src = sqlite3_step(s);
		sqlite3_finalize(s);
		if (src == SQLITE_DONE)
			return bs__error(BS_ENOTFOUND, "no category '%s'",
					 category);
		if (src != SQLITE_ROW)
			return bs__tk_sqlerr(&tk, src, "read catalogue");
	}
	if ((arr = cJSON_CreateArray()) == NULL)
		return bs__error_code(BS_ENOMEM);
	rc = bs__tk_rows(
		&tk, arr,
		category != NULL
			? ANCESTORS
			  "SELECT t.id, t.category_code AS category, t.title, "
			  "t.body, t.language FROM catalogue_template t "
			  "LEFT JOIN anc ON anc.code = t.category_code "
			  "WHERE t.active = 1 AND (t.category_code IS NULL "
			  "OR anc.code IS NOT NULL) ORDER BY "
			  "coalesce(anc.depth, 99), t.sort_order, t.id"
			: "SELECT id, category_code AS category, title, body, "
			  "language FROM catalogue_template WHERE active = 1 "
			  "ORDER BY category_code IS NOT NULL, category_code, "
			  "sort_order, id",
		category, NULL);
	if (rc == BS_OK)
		rc = bs__json_print(json_out, arr);
	cJSON_Delete(arr);
	return rc;
}

/* --- rendering --------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
};

static int append(struct buf *b, const char *s, size_t n)
{
	char *grown;
	size_t cap;

	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((grown = bs__realloc(b->p, cap)) == NULL)
			return bs__error_code(BS_ENOMEM);
		b->p = grown;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return BS_OK;
}

/* Values of the placeholders, in the order of names[] below. */
enum { P_CUSTOMER, P_REF, P_SUBJECT, P_STAFF, P_BRANCH, P_DATE, P_COUNT };

static const char *const names[P_COUNT] = {
	"{customer}", "{ref}", "{subject}", "{staff}", "{branch}", "{date}"
};

/*
 * Fill body's placeholders from v.  Text that is not one of the six
 * placeholders, braces included, is copied as it is.
 */
static int fill(char **out, const char *body, char *const *v)
{
	struct buf b = { NULL, 0, 0 };
	const char *p = body, *brace;
	size_t i, n;
	int rc = BS_OK;

	if ((rc = append(&b, "", 0)) != BS_OK)
		return rc;
	while ((brace = strchr(p, '{')) != NULL) {
		if ((rc = append(&b, p, (size_t)(brace - p))) != BS_OK)
			goto cleanup;
		for (i = 0; i < P_COUNT; i++) {
			n = strlen(names[i]);
			if (strncmp(brace, names[i], n) == 0)
				break;
		}
		if (i < P_COUNT) {
			rc = append(&b, v[i], strlen(v[i]));
			p = brace + n;
		} else {
			rc = append(&b, "{", 1);
			p = brace + 1;
		}
		if (rc != BS_OK)
			goto cleanup;
	}
	if ((rc = append(&b, p, strlen(p))) != BS_OK)
		goto cleanup;
	*out = b.p;
	b.p = NULL;
cleanup:
	bs__free(b.p);
	return rc;
}

/* Copy column i (or dflt if it is NULL or empty) into a new string. */
static char *dup_col(sqlite3_stmt *s, int i, const char *dflt)
{
	const char *v = (const char *)sqlite3_column_text(s, i);

	return bs__strdup(v != NULL && v[0] != '\0' ? v : dflt);
}

int bs_template_render(bs_store *st, const char *template_id,
		       const char *ticket, char **text_out)
{
	char id[BS__UUID_TEXT_LEN + 1], date[48];
	char *v[P_COUNT] = { NULL };
	char *body = NULL;
	struct bs__tk tk;
	sqlite3_stmt *s = NULL;
	struct tm tm;
	time_t secs;
	int zh = 1, rc, src, i;

	if (text_out == NULL)
		return bs__error(BS_EINVAL, "no place for the result");
	*text_out = NULL;
	if (!bs__tk_is_code(template_id))
		return bs__error(BS_EINVAL, "'%.40s' is not a template id",
				 template_id != NULL ? template_id : "");
	if ((rc = bs__tk_load(&tk, st, 0)) != BS_OK)
		return rc;
	rc = bs__tk_prepare(&tk, &s,
			    "SELECT body, language FROM catalogue_template "
			    "WHERE id = ?1");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, template_id, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src != SQLITE_ROW) {
		rc = src == SQLITE_DONE
			     ? bs__error(BS_ENOTFOUND, "no template '%s'",
					 template_id)
			     : bs__tk_sqlerr(&tk, src, "read template");
		goto cleanup;
	}
	body = dup_col(s, 0, "");
	zh = strncmp((const char *)sqlite3_column_text(s, 1), "zh", 2) == 0;
	sqlite3_finalize(s);
	s = NULL;
	if (body == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}

	if ((rc = bs__tk_resolve(&tk, ticket, id)) != BS_OK)
		goto cleanup;
	rc = bs__tk_prepare(&tk, &s,
			    "SELECT cu.name_masked, coalesce(t.ref, "
			    "t.external_ref, t.id), t.subject, "
			    "(SELECT name FROM staff WHERE id = ?2), "
			    "coalesce((SELECT name FROM branch WHERE code = "
			    "t.branch), t.branch, ?3) FROM ticket t "
			    "LEFT JOIN customer cu ON cu.id = t.customer_id "
			    "WHERE t.id = ?1");
	if (rc != BS_OK)
		goto cleanup;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, tk.actor_staff, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, tk.branch, -1, SQLITE_STATIC);
	if ((src = sqlite3_step(s)) != SQLITE_ROW) {
		rc = bs__tk_sqlerr(&tk, src, "read ticket");
		goto cleanup;
	}
	secs = (time_t)(tk.now_ms / 1000);
	if (localtime_r(&secs, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	if (zh)
		snprintf(date, sizeof(date), "%d年%d月%d日", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday);
	else
		snprintf(date, sizeof(date), "%04d-%02d-%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	v[P_CUSTOMER] = dup_col(s, 0, zh ? "客户" : "customer");
	v[P_REF] = dup_col(s, 1, "");
	v[P_SUBJECT] = dup_col(s, 2, "");
	v[P_STAFF] = dup_col(s, 3, tk.actor_staff);
	v[P_BRANCH] = dup_col(s, 4, "");
	v[P_DATE] = bs__strdup(date);
	for (i = 0; i < P_COUNT; i++)
		if (v[i] == NULL) {
			rc = bs__error_code(BS_ENOMEM);
			goto cleanup;
		}
	rc = fill(text_out, body, v);
cleanup:
	sqlite3_finalize(s);
	for (i = 0; i < P_COUNT; i++)
		bs__free(v[i]);
	bs__free(body);
	return rc;
}
