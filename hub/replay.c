/*
 * replay.c - the nonces a hub has seen, in its own memory: for a hub
 * that is the only process serving its database (SQLite, which
 * bs__hub_serve makes sure of with a lock).  Remembering them in the
 * database instead made every request a write transaction, and every
 * request waited for the disk flushes of the pushes before it.
 *
 * An open-addressing table of (device id, nonce) with the time until
 * which each must be remembered, kept at most half full.  When it fills,
 * it is rebuilt without the entries whose time has passed, twice as
 * large if the living ones still take more than a quarter of it.  A
 * restart forgets everything: bs__hub_authenticate then refuses requests
 * signed before the hub started, so no request from before can be
 * replayed to the new process.
 */
#include <pthread.h>
#include <string.h>

#include "agent/core/common.h"
#include "agent/core/uuid.h"
#include "agent/core/wire.h"
#include "hub/hub.h"

#define KEY_LEN (BS__UUID_TEXT_LEN + BS__WIRE_NONCE_HEX)
#define FIRST_CAP 1024

struct entry {
	int64_t expires_ms; /* 0: an empty slot */
	uint32_t hash;
	char key[KEY_LEN];
};

struct bs_hub_replay {
	pthread_mutex_t mu;
	struct entry *slots;
	size_t cap; /* a power of two */
	size_t used;
};

int bs__hub_replay_new(struct bs_hub_replay **out)
{
	struct bs_hub_replay *r;

	*out = NULL;
	r = bs__calloc(1, sizeof(*r));
	if (r == NULL)
		return bs__error_code(BS_ENOMEM);
	r->slots = bs__calloc(FIRST_CAP, sizeof(*r->slots));
	if (r->slots == NULL) {
		bs__free(r);
		return bs__error_code(BS_ENOMEM);
	}
	r->cap = FIRST_CAP;
	pthread_mutex_init(&r->mu, NULL);
	*out = r;
	return BS_OK;
}

void bs__hub_replay_free(struct bs_hub_replay *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->mu);
	bs__free(r->slots);
	bs__free(r);
}

static uint32_t key_hash(const char *key)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < KEY_LEN; i++)
		h = (h ^ (uint8_t)key[i]) * 16777619u;
	return h;
}

/* Put e in a table known to have room and not to hold its key. */
static void place(struct entry *slots, size_t cap, const struct entry *e)
{
	size_t i = e->hash & (cap - 1);

	while (slots[i].expires_ms != 0)
		i = (i + 1) & (cap - 1);
	slots[i] = *e;
}

/* Rebuild without what expired, larger if still crowded. */
static int rebuild(struct bs_hub_replay *r, int64_t now_ms)
{
	size_t i, live = 0, cap = r->cap;
	struct entry *n;

	for (i = 0; i < r->cap; i++)
		if (r->slots[i].expires_ms >= now_ms)
			live++;
	while (live + 1 > cap / 4)
		cap *= 2;
	n = bs__calloc(cap, sizeof(*n));
	if (n == NULL)
		return bs__error_code(BS_ENOMEM);
	for (i = 0; i < r->cap; i++)
		if (r->slots[i].expires_ms >= now_ms)
			place(n, cap, &r->slots[i]);
	bs__free(r->slots);
	r->slots = n;
	r->cap = cap;
	r->used = live;
	return BS_OK;
}

int bs__hub_replay_check(struct bs_hub_replay *r, const char *device,
			 const char *nonce, int64_t expires_ms, int64_t now_ms)
{
	struct entry e;
	size_t i;
	int rc = BS_OK;

	if (strlen(device) != BS__UUID_TEXT_LEN ||
	    strlen(nonce) != BS__WIRE_NONCE_HEX || expires_ms <= 0)
		return bs__error(BS_EINVAL, "device id or nonce is malformed");
	memcpy(e.key, device, BS__UUID_TEXT_LEN);
	memcpy(e.key + BS__UUID_TEXT_LEN, nonce, BS__WIRE_NONCE_HEX);
	e.hash = key_hash(e.key);
	e.expires_ms = expires_ms;
	pthread_mutex_lock(&r->mu);
	for (i = e.hash & (r->cap - 1); r->slots[i].expires_ms != 0;
	     i = (i + 1) & (r->cap - 1)) {
		const struct entry *s = &r->slots[i];

		/* An expired entry still answers: its request could no
		 * longer pass the clock check anyway. */
		if (s->hash == e.hash && memcmp(s->key, e.key, KEY_LEN) == 0) {
			rc = bs__error(BS_EEXISTS, "nonce seen before");
			goto out;
		}
	}
	if ((r->used + 1) * 2 > r->cap &&
	    (rc = rebuild(r, now_ms)) != BS_OK)
		goto out;
	place(r->slots, r->cap, &e);
	r->used++;
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

size_t bs__hub_replay_count(struct bs_hub_replay *r)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	n = r->used;
	pthread_mutex_unlock(&r->mu);
	return n;
}
