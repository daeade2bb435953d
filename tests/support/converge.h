/*
 * converge.h - the end of a sync scenario: every device syncs until it
 * has nothing left to send and has seen what the others sent, and then
 * each ticket on each device is compared, field by field, with head
 * office's copy in the hub's database: state, assignee, every column both
 * sides keep, the version, and the whole timeline (every entry's kind,
 * text, author, times and clock stamp, in timeline order).  The device
 * must also hold exactly the hub's tickets of its scope.
 *
 * The hub's database is read with SQLite, read-only, beside the running
 * hub (hub.db in its folder); the devices through their open stores.
 */
#ifndef BS_TEST_CONVERGE_H
#define BS_TEST_CONVERGE_H

#include "branchsync.h"

/* A device taking part. */
struct tu_device {
	const char *name; /* for messages */
	bs_store **st;    /* open; stays open */
	/* Called before each of the device's rounds and reads (its clock,
	 * say).  May be NULL. */
	void (*use)(void *ud);
	void *ud;
};

/*
 * Two rounds of every device in turn (the second brings each what the
 * others sent in the first), asserting each succeeds and leaves no
 * operation unanswered, then the comparison with the hub in hub_dir.
 * Fails the test (fail_msg) at the first difference, naming the device,
 * the ticket and the field.  Returns the number of tickets compared.
 */
int tu_converge(const char *hub_dir, const struct tu_device *devs, int n);

#endif
