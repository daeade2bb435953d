/*
 * test_net_page.c - a pull page decoded apart from its request
 * (bs__net_decode): the answer's body inflated and parsed with the
 * protocol's limits, the hub's clock and offline policy taken from it,
 * and the cursor and more its headers announced held against the body.
 * A page whose headers and body disagree is refused, whichever way they
 * differ; so is a body that is not a protocol document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/core/common.h"
#include "agent/core/wire.h"
#include "agent/sync/sync_internal.h"

#define HUB_MS INT64_C(1795000000500)

/* A raw page as the fetching thread hands it over: body deflated,
 * sent at t0 and answered at t1, with the headers given. */
static void raw_page(struct bs__raw *raw, const char *doc, int64_t cursor,
		     int more)
{
	memset(raw, 0, sizeof(*raw));
	assert_int_equal(bs__wire_deflate(&raw->body, &raw->len, doc,
					  strlen(doc)),
			 BS_OK);
	snprintf(raw->encoding, sizeof(raw->encoding), "deflate");
	snprintf(raw->what, sizeof(raw->what), "GET /v1/sync/pull");
	raw->status = 200;
	raw->t0 = INT64_C(1795000000000);
	raw->t1 = INT64_C(1795000000200);
	raw->cursor = cursor;
	raw->more = more;
	raw->sign = 1;
}

static const char page[] =
	"{\"v\":1,\"hub_time_ms\":1795000000500,\"max_offline_ms\":"
	"604800000,\"changes\":[{\"seq\":41,\"kind\":\"drop\","
	"\"ticket_id\":\"t\",\"reason\":\"branch\"}],\"cursor\":41,"
	"\"more\":true}";

static void test_net_page__agrees(void **state)
{
	struct bs__json_pool *pool = bs__json_pool_new();
	struct bs__hub_clock clock;
	struct bs__resp resp;
	struct bs__raw raw;
	const cJSON *ch;
	int round;

	(void)state;
	assert_non_null(pool);
	/* Without a pool, and twice with one: the second page's tree is
	 * built in the chunks the first one gave back. */
	for (round = 0; round < 3; round++) {
		memset(&clock, 0, sizeof(clock));
		raw_page(&raw, page, 41, 1);
		assert_int_equal(bs__net_decode(&raw, round ? pool : NULL,
						&resp, &clock), BS_OK);
		assert_null(raw.body);
		assert_int_equal(resp.status, 200);
		assert_non_null(resp.doc);
		assert_non_null(resp.arena);
		ch = cJSON_GetArrayItem(cJSON_GetObjectItem(resp.doc,
							    "changes"), 0);
		assert_string_equal(cJSON_GetObjectItem(ch, "reason")
					    ->valuestring, "branch");
		assert_int_equal(resp.hub_time_ms, HUB_MS);
		/* Learned from the middle of the request. */
		assert_true(clock.have_offset);
		assert_int_equal(clock.offset_ms,
				 HUB_MS - INT64_C(1795000000100));
		assert_true(clock.have_policy);
		assert_int_equal(clock.max_offline_ms, 604800000);
		bs__resp_free(&resp);
		assert_null(resp.arena);
	}
	bs__json_pool_free(pool);
}

static void test_net_page__headers_disagree(void **state)
{
	static const struct {
		int64_t cursor;
		int more;
	} lies[] = { { 40, 1 }, { 42, 1 }, { 41, 0 }, { 0, 1 } };
	struct bs__hub_clock clock;
	struct bs__resp resp;
	struct bs__raw raw;
	size_t i;

	(void)state;
	for (i = 0; i < BS__ARRAY_LEN(lies); i++) {
		memset(&clock, 0, sizeof(clock));
		raw_page(&raw, page, lies[i].cursor, lies[i].more);
		assert_int_equal(bs__net_decode(&raw, NULL, &resp, &clock),
				 BS_ENETWORK);
		assert_non_null(strstr(bs_last_error(), "headers"));
		assert_null(raw.body);
		bs__resp_free(&resp);
	}
}

static void test_net_page__not_a_document(void **state)
{
	static const char *const bad[] = {
		"not json", "{\"v\":1,\"changes\":[],\"cursor\":41}",
		"{\"v\":1,\"changes\":[],\"more\":true}",
		"{\"v\":1,\"cursor\":\"41\",\"more\":true}",
	};
	struct bs__json_pool *pool = bs__json_pool_new();
	struct bs__hub_clock clock;
	struct bs__resp resp;
	struct bs__raw raw;
	size_t i;

	(void)state;
	assert_non_null(pool);
	for (i = 0; i < BS__ARRAY_LEN(bad); i++) {
		memset(&clock, 0, sizeof(clock));
		raw_page(&raw, bad[i], 41, 1);
		assert_int_equal(bs__net_decode(&raw, pool, &resp, &clock),
				 BS_ENETWORK);
		bs__resp_free(&resp);
	}
	bs__json_pool_free(pool);
	/* Freeing a page never decoded is safe, twice. */
	raw_page(&raw, page, 41, 1);
	bs__raw_free(&raw);
	bs__raw_free(&raw);
	assert_null(raw.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_page__agrees),
		cmocka_unit_test(test_net_page__headers_disagree),
		cmocka_unit_test(test_net_page__not_a_document),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
