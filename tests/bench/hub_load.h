/*
 * hub_load.h - simulated devices for the hub benchmark: a fleet of
 * enrolled devices driven by one thread on libcurl's multi interface,
 * each with its own key, scope, outbox counter and pull cursor.
 *
 * Device i is staff member hl_staff(i) of branch hl_branch(i) (ten
 * devices a branch), with HL_TICKETS tickets assigned to it; the names
 * below let the driver write the head-office export and the enrollment
 * codes that match.  Every request after enrollment is signed as
 * schema/protocol.md, "Signed requests", says, and goes over HTTP/1.1
 * on a keep-alive TLS connection checked against the pinned CA.
 *
 * A sync round is what the agent does when it syncs: a push of 1 to 3
 * operations (a reply or a note on one of its tickets), then pulls from
 * its cursor until the hub says there is no more.
 */
#ifndef BS_BENCH_HUB_LOAD_H
#define BS_BENCH_HUB_LOAD_H

#include <stddef.h>
#include <stdint.h>

#define HL_TICKETS 2      /* tickets assigned to each device */
#define HL_PER_BRANCH 10  /* devices of one branch */
#define HL_MAX_HUBS 2

/*
 * Device i reaches its hub as dI.devices.localhost, resolved to
 * 127.0.0.1 by the fleet itself: the hub's certificate must name this
 * pattern (`init --host`).  A name of its own keeps a device on a
 * connection of its own (see hub_load.c).
 */
#define HL_HOST_PATTERN "*.devices.localhost"

/* Names of device i's scope, written into out[cap] (at least 40). */
void hl_device_id(char *out, size_t cap, int i);
void hl_branch(char *out, size_t cap, int i);
void hl_staff(char *out, size_t cap, int i);
void hl_ticket_id(char *out, size_t cap, int i, int k);

typedef struct hl_fleet hl_fleet;

/*
 * n devices with new ECDSA P-256 keys.  The caller owns *out
 * (hl_fleet_free).  0, or -1 with a message on stderr.
 */
int hl_fleet_new(hl_fleet **out, int n);
void hl_fleet_free(hl_fleet *f);

/*
 * Point the fleet at hubs listening on 127.0.0.1 at nhubs ports,
 * device i talking to hub i % nhubs over a connection of its own, with
 * ca_file the CA to pin.  Forgets every device's cursor and the
 * connections of an earlier target.  0, or -1.
 */
int hl_fleet_target(hl_fleet *f, const int *ports, int nhubs,
		    const char *ca_file);

/* Close every connection and forget the target.  Cannot fail. */
void hl_fleet_close(hl_fleet *f);

/* Give device i its enrollment code (copied). */
void hl_fleet_code(hl_fleet *f, int i, const char *code);

/*
 * Enroll devices from to to - 1, all at once, with their codes; then
 * each pulls from cursor 0 until it has all of its scope.  0, or -1
 * with the first failure on stderr.  *secs receives the time it took.
 */
int hl_fleet_enroll(hl_fleet *f, int from, int to, double *secs);

/* Latency percentiles of one kind of request, in milliseconds. */
struct hl_lat {
	long n;
	double p50, p99;
};

/* What one measured phase gives. */
struct hl_result {
	double secs;       /* length of the measured window */
	long rounds;       /* sync rounds in the window: the pushes answered
			    * and the rounds finished, halved, which counts
			    * right even when the devices push, then pull,
			    * all in step (as a closed loop started at once
			    * goes on doing) */
	long requests;     /* requests answered in the window */
	long ops;          /* operations pushed and answered */
	long late;         /* paced: rounds started over 100 ms late */
	long errors;       /* requests or operations that failed */
	long connects;     /* connections opened in the window */
	char first_error[240];
	struct hl_lat push, pull, round;
};

/* How a phase runs. */
struct hl_phase {
	int devices;      /* the first this many devices of the fleet */
	double rate;      /* rounds a second, all devices together;
			   * 0: closed loop (a device syncs again at once) */
	double warm_secs; /* run, not measured; a closed loop also warms
			   * until 90% of the devices have finished a round
			   * (at most 15 s): its steady state */
	double secs;      /* measured */
	int last;         /* nothing follows on these connections: at the
			   * end, drop what is in flight, uncounted */
	/* Called when the measured window opens (begin 1) and closes
	 * (begin 0); may be NULL. */
	void (*window)(void *ctx, int begin);
	void *ctx;
};

/*
 * Run a phase: devices sync rounds through the warm-up and secs more,
 * only the last secs counted, then the rounds in flight are finished
 * (or, after 30 s or when ph->last says so, abandoned).  0, or -1 if
 * the phase could not run at all (failed requests are counted in *out,
 * not returned).
 */
int hl_fleet_run(hl_fleet *f, const struct hl_phase *ph,
		 struct hl_result *out);

#endif
