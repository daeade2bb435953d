/*
 * branchsync/tickets.h - working complaints in an open store, offline.
 *
 * Every change (reply, note, status move, new walk-in complaint) is
 * written in one transaction together with its outbox operation for
 * head office (schema/outbox.md), the clocks of the fields it set and a
 * local audit record, so that either all of it is stored or none of it.
 * An import is one transaction too, audited, with no outbox operation:
 * what it brings is head office's own.  The actor is the staff member
 * who opened the store (bs_store_opened_by()); the device is the
 * store's device id.
 *
 * Read functions return JSON text in *json_out, allocated by the library
 * and released with bs_free(); its shapes are documented in
 * schema/cli-json.md.  On failure *json_out is NULL.  A ticket may be
 * named by its id (UUID), its reference number, or a prefix of its id
 * of at least 8 characters that no other ticket shares (BS_EINVAL if
 * it is ambiguous).  Text arguments must be valid UTF-8 (BS_EINVAL).
 */
#ifndef BRANCHSYNC_TICKETS_H
#define BRANCHSYNC_TICKETS_H

#include <stddef.h>
#include <stdint.h>

#include "branchsync/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Release memory the library returned.  Accepts NULL. */
void bs_free(void *p);

/*
 * Set up a new store's ticket side: the device id, the staff member and
 * their role ("staff" or "manager"), their branch, and the default
 * catalogue shipped with the build.  Called once, by `branchsync init`:
 * BS_EEXISTS if the store is already set up.  staff must be the one who
 * opened the store (or the store opened with the device key).
 */
int bs_tickets_init(bs_store *st, const char *staff, const char *branch,
		    const char *role);

/* Which tickets bs_ticket_list() returns. */
typedef enum bs_list_scope {
	BS_LIST_MINE = 0,  /* assigned to the store's staff member */
	BS_LIST_BRANCH = 1 /* the whole branch */
} bs_list_scope;

typedef struct bs_list_opts {
	bs_list_scope scope;
	int include_closed; /* closed, merged and withdrawn too */
	const char *status; /* only this state, or NULL */
	unsigned limit;     /* 0 = no limit */
} bs_list_opts;

/*
 * The queue, most urgent first: breached first, then by the deadline
 * that falls next (first response while no response was made, else
 * resolution).  JSON array of ticket summaries with their SLA state.
 */
int bs_ticket_list(bs_store *st, const bs_list_opts *opts, char **json_out);

/*
 * One ticket: its fields, SLA state, timeline, customer (masked) and the
 * customer's earlier complaints.  BS_ENOTFOUND if there is no such ticket.
 */
int bs_ticket_show(bs_store *st, const char *ticket, char **json_out);

/* Activity kinds that staff write. */
typedef enum bs_activity_kind {
	BS_ACT_REPLY = 1, /* to the customer */
	BS_ACT_NOTE = 2,  /* internal */
	BS_ACT_CALL = 3   /* a call with the customer, logged */
} bs_activity_kind;

/*
 * Append a reply, note or call log to ticket's timeline.  A reply or a
 * call is contact with the customer: it stops the first-response clock
 * if it was running.  The new activity's id goes to *id_out (36
 * characters and a NUL) if not NULL.
 */
int bs_ticket_add(bs_store *st, const char *ticket, bs_activity_kind kind,
		  const char *text, char id_out[37]);

/*
 * Move ticket to state (its name, e.g. "in_progress"), as a branch
 * user (staff or manager, by the store's role), offline; reason is
 * required where the state machine says so (withdrawn, pending_external,
 * resolution_proposed, transfer_requested, extension_requested) and
 * optional elsewhere; for a withdrawal it records the customer's
 * withdrawal (the evidence).  Where the customer must be told (a pause,
 * a proposed resolution, an extension request), a reply or logged call
 * since the ticket's last status change counts as telling them.
 * BS_EREFUSED with the state machine's reason ("only head office can
 * close a ticket") for a move the branch may not make; BS_EINVAL for an
 * unknown state.
 */
int bs_ticket_move(bs_store *st, const char *ticket, const char *state,
		   const char *reason);

/* A complaint registered at the counter. */
typedef struct bs_new_ticket {
	const char *category;    /* catalogue code, required */
	const char *channel;     /* phone, app, branch, ..., required */
	const char *subject;     /* required */
	const char *description; /* required */
	const char *priority;    /* NULL: the category's default */
	const char *customer_name;  /* optional; kept masked on the device */
	const char *customer_phone; /* optional; likewise */
	const char *customer_id;    /* optional: a known customer's id */
} bs_new_ticket;

/*
 * Register a new complaint, received now, in status "received" and
 * assigned to the staff member who registers it.  The device keeps and
 * shows only masked customer data; the full name and phone wait in the
 * outbox for head office and are erased once head office has them.
 */
int bs_ticket_new(bs_store *st, const bs_new_ticket *t, char id_out[37]);

/*
 * Full-text search over subject, description, transcript and timeline,
 * in any script: Chinese substrings of any length, English words; every
 * word of the query must occur.  JSON array of hits with the ticket
 * summary and a snippet, newest first, at most limit (0: no limit).
 */
int bs_ticket_search(bs_store *st, const char *query, unsigned limit,
		     char **json_out);

/* The catalogue: classification codes, and response templates
 * (optionally only those for category). */
int bs_catalogue_categories(bs_store *st, char **json_out);
int bs_catalogue_templates(bs_store *st, const char *category,
			   char **json_out);

/*
 * A template filled in for ticket: placeholders {customer}, {ref},
 * {subject}, {staff}, {branch}, {date} are replaced.  Plain text in
 * *text_out, released with bs_free().  BS_ENOTFOUND for an unknown
 * template or ticket.
 */
int bs_template_render(bs_store *st, const char *template_id,
		       const char *ticket, char **text_out);

/* What bs_import() did. */
typedef struct bs_import_report {
	unsigned long lines;
	unsigned long tickets, activities, customers, archive, categories,
		templates;
	unsigned long bad_line; /* first bad line, 0 if none */
} bs_import_report;

/*
 * Import a head-office export (JSON Lines, schema/import.md) from the
 * file at path ("-" is standard input).  All or nothing: on the first
 * bad line nothing is imported (BS_EINVAL), report->bad_line names it,
 * the counts are zero, and the error message says what is wrong with it
 * ("line 17: field 'channel': 'fax' is not a channel").  BS_ENOTFOUND if
 * there is no such file.  report may be NULL.
 */
int bs_import(bs_store *st, const char *path, bs_import_report *report);

/* Queue, sync and store facts for `branchsync status`, as JSON. */
int bs_tickets_status(bs_store *st, char **json_out);

#ifdef __cplusplus
}
#endif
#endif
