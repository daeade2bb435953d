/*
 * workload.c - the store benchmark's workload (see workload.h).
 *
 * The data are made by a seeded generator, so every engine stores and
 * reads exactly the same bytes: complaint tickets and their timelines in
 * Chinese, English or both, 200 to 2,000 bytes of text each, with card
 * numbers, merchants and branches that searches can find.  Making the
 * data is never timed; only the database work is.
 *
 * The file is divided into: the generator; the schema and the pragmas;
 * the running totals and the WAL hook; the steps of each phase (import,
 * single-reply transactions, point reads, full-text search); and the
 * loop that serves the driver's commands.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "workload.h"

int64_t wl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- the generator ---------------------------------------------------- */

/* splitmix64: small, fast, and the same sequence on every build. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned below(uint64_t *s, unsigned n)
{
	return (unsigned)(rnd(s) % n);
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const en_sentences[] = {
	"The customer says the ATM at the branch retained the card after "
	"a failed withdrawal.",
	"A transfer to another bank was debited twice and only one refund "
	"has arrived so far.",
	"The customer disputes the annual fee charged on the credit card "
	"and asks for a full refund.",
	"Mobile banking rejected the one-time password three times in a "
	"row and then locked the login.",
	"The teller refused to open a savings account without an "
	"appointment made in advance.",
	"Waiting time at the counter exceeded forty minutes on a Monday "
	"morning with two windows closed.",
	"Interest on the fixed deposit was credited at a lower rate than "
	"the one agreed at signing.",
	"The customer asks why the mortgage rate did not follow the cut "
	"in the loan prime rate.",
	"An overdraft fee was applied although the salary had already "
	"arrived in the account.",
	"The wealth management product matured but the funds were not "
	"returned to the account on time.",
	"The customer keeps receiving marketing calls after asking to be "
	"removed from the list.",
	"A foreign currency exchange was settled at a rate the customer "
	"did not accept.",
	"The branch manager promised a call back that never happened.",
	"The customer was asked again for documents that had already "
	"been submitted last month.",
	"A loan prepayment penalty was not explained when the contract "
	"was signed.",
	"Cash deposited at the self-service machine is missing from the "
	"statement.",
	"The customer says an insurance policy was sold to her as a "
	"deposit product.",
	"Online banking shows a pending transaction that the customer "
	"does not recognise.",
	"The customer reports rude behaviour by the security guard at "
	"the entrance.",
	"The card was frozen abroad without any notice by text message.",
	"Staff apologised and explained the refund timeline in detail.",
	"Called the customer back; no answer, will try again tomorrow.",
	"Escalated to the card centre to open a chargeback.",
	"The customer accepts the proposed compensation and asks for a "
	"written confirmation.",
	"Checked the CCTV recording with the branch security team.",
	"Attached the transaction log from the core banking system.",
};

static const char *const zh_sentences[] = {
	"客户反映在网点自助取款机取款失败后银行卡被吞。",
	"客户称跨行转账被重复扣款，目前只退回了一笔。",
	"客户对信用卡年费扣收有异议，要求全额退还。",
	"手机银行连续三次提示动态验证码错误，随后登录被锁定。",
	"柜员以未预约为由拒绝为客户开立储蓄账户。",
	"周一上午柜台排队等候时间超过四十分钟，两个窗口未开放。",
	"定期存款到期利息低于办理时约定的利率。",
	"客户询问房贷利率为何没有随贷款市场报价利率下调。",
	"工资已经到账，仍被收取透支手续费。",
	"理财产品到期后资金未按时划回客户账户。",
	"客户要求停止营销电话后仍然接到推销来电。",
	"外币兑换按客户不认可的汇率成交。",
	"网点负责人承诺回电，但一直没有联系客户。",
	"客户被要求重复提交上月已经提供过的证明材料。",
	"签订合同时未说明提前还款违约金。",
	"在自助存款机存入的现金未在账户明细中显示。",
	"客户称保险产品被当作存款产品向其销售。",
	"网上银行显示一笔客户不认识的待处理交易。",
	"客户投诉网点门口保安态度恶劣。",
	"客户在境外用卡时银行卡被冻结，且未收到短信通知。",
	"已向客户致歉，并详细说明退款时限。",
	"回访客户未接通，明日再次联系。",
	"已升级至信用卡中心办理退单。",
	"客户接受提出的补偿方案，要求出具书面确认。",
	"已与网点安保人员核对监控录像。",
	"已附核心系统交易流水。",
};

static const char *const en_merchants[] = {
	"Hengda Trading", "Xinyuan Mart", "Golden Lotus Travel",
	"Bright Star Telecom", "Sunrise Dental", "Jade River Hotel",
	"Northwind Electronics", "Harbour Fitness", "Red Lantern Foods",
	"Silver Peak Education", "Blue Bay Pharmacy", "Orient Express Air",
	"Maple Leaf Furniture", "Evergreen Insurance", "Lucky Cloud Games",
	"Pearl Garden Florist",
};

static const char *const zh_merchants[] = {
	"恒达商贸", "鑫源超市", "金莲旅行社", "明星通讯", "朝阳口腔",
	"玉河酒店", "北风电子", "港湾健身", "红灯笼食品", "银峰教育",
	"蓝湾药房", "东方航空", "枫叶家具", "长青保险", "祥云游戏",
	"珍珠花店",
};

static const char *const en_branches[] = {
	"Pudong", "Xuhui", "Jing'an", "Huangpu", "Minhang", "Baoshan",
	"Jiading", "Songjiang", "Qingpu", "Fengxian", "Changning",
	"Putuo",
};

static const char *const zh_branches[] = {
	"浦东支行", "徐汇支行", "静安支行", "黄浦支行", "闵行支行",
	"宝山支行", "嘉定支行", "松江支行", "青浦支行", "奉贤支行",
	"长宁支行", "普陀支行",
};

/* Card numbers end in one of this many tails, so a search for one finds
 * a few dozen documents. */
#define CARD_TAILS 400

enum lang { EN, ZH, MIXED };

/* Append one sentence (fixed or with details) in lang to buf. */
static size_t sentence(char *buf, size_t cap, uint64_t *s, enum lang lang)
{
	unsigned tail = 1000 + below(s, CARD_TAILS) * 17;
	unsigned yuan = 10 + below(s, 20000);
	unsigned fen = below(s, 100);
	unsigned k = below(s, 10);
	int n;

	if (lang == MIXED)
		lang = below(s, 2) ? EN : ZH;
	if (k == 0 && lang == EN)
		n = snprintf(buf, cap,
			     "A payment of CNY %u.%02u to %s was charged twice "
			     "on the card ending %u. ",
			     yuan, fen,
			     en_merchants[below(s, COUNT(en_merchants))],
			     tail);
	else if (k == 0)
		n = snprintf(buf, cap,
			     "商户：%s，金额%u.%02u元，"
			     "尾号%u的银行卡被重复扣款。",
			     zh_merchants[below(s, COUNT(zh_merchants))], yuan,
			     fen, tail);
	else if (k == 1 && lang == EN)
		n = snprintf(buf, cap,
			     "The customer came to the %s branch and waited %u "
			     "minutes for the counter. ",
			     en_branches[below(s, COUNT(en_branches))],
			     10 + below(s, 80));
	else if (k == 1)
		n = snprintf(buf, cap, "客户到%s办理业务，排队等候%u分钟。",
			     zh_branches[below(s, COUNT(zh_branches))],
			     10 + below(s, 80));
	else if (lang == EN)
		n = snprintf(buf, cap, "%s ",
			     en_sentences[below(s, COUNT(en_sentences))]);
	else
		n = snprintf(buf, cap, "%s",
			     zh_sentences[below(s, COUNT(zh_sentences))]);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* The longest text made, with room for the sentence that crosses the
 * target length. */
#define TEXT_MAX 2560

/*
 * Fill buf (TEXT_MAX bytes) with whole sentences until it holds at least
 * target bytes.  Returns the length.
 */
static size_t text(char *buf, uint64_t *s, size_t target)
{
	enum lang lang = ZH;
	size_t len = 0;

	/* Half Chinese, a third English, the rest both. */
	if (below(s, 10) >= 5)
		lang = below(s, 3) < 2 ? EN : MIXED;

	buf[0] = '\0';
	while (len < target) {
		size_t n = sentence(buf + len, TEXT_MAX - len, s, lang);

		if (n == 0)
			break;
		len += n;
	}
	return len;
}

/* A subject: one of the fixed sentences, in Chinese or English. */
static void subject(char *buf, size_t cap, uint64_t *s)
{
	const char *src;
	size_t n;

	if (below(s, 2))
		src = en_sentences[below(s, COUNT(en_sentences))];
	else
		src = zh_sentences[below(s, COUNT(zh_sentences))];
	n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(buf, src, n);
	buf[n] = '\0';
}

/* A UUIDv7 in text form for a moment in milliseconds, as the product
 * mints them: time-ordered, so keys mostly append. */
static void uuid7(char out[37], uint64_t *s, int64_t ms)
{
	uint64_t a = rnd(s);
	uint64_t b = rnd(s);

	snprintf(out, 37, "%08x-%04x-7%03x-%04x-%012llx",
		 (unsigned)((uint64_t)ms >> 16), (unsigned)(ms & 0xffff),
		 (unsigned)(a & 0xfff),
		 (unsigned)(0x8000 | ((a >> 12) & 0x3fff)),
		 (unsigned long long)(b & 0xffffffffffffULL));
}

/* A hybrid-logical-clock stamp: 16 hex digits, text order is time
 * order. */
static void hlc(char out[17], int64_t ms, unsigned counter)
{
	snprintf(out, 17, "%012llx%04x",
		 (unsigned long long)ms & 0xffffffffffffULL, counter & 0xffff);
}

static const char *const statuses[] = {
	"received", "dispatched", "acknowledged", "in_progress",
	"pending_external", "resolution_proposed", "closed",
};
static const char *const channels[] = {
	"phone", "app", "branch", "online", "social", "regulator",
};
static const char *const priorities[] = { "urgent", "high", "normal",
					  "low" };
static const char *const kinds[] = { "customer_reply", "internal_note",
				     "call_log", "customer_message" };

#define T0_MS 1717200000000LL /* 2024-06-01 */
#define MAX_ACTIVITIES 8

typedef struct ticket_row {
	char id[37];
	char subject[160];
	char description[TEXT_MAX];
	const char *channel;
	const char *priority;
	const char *status;
	char branch[16];
	char assignee[16];
	int64_t t0_ms;
	int n_act;
} ticket_row;

typedef struct activity_row {
	char id[37];
	char hlc[17];
	const char *kind;
	char author[16];
	int64_t ms;
	char body[TEXT_MAX];
} activity_row;

/* Text of 200 to 2,000 bytes; replies lean to the short end. */
static size_t desc_len(uint64_t *s)
{
	return 200 + below(s, 1801);
}

static size_t body_len(uint64_t *s)
{
	unsigned r = below(s, 1001);

	return 200 + (size_t)r * r * 1800 / 1000000;
}

static void make_ticket(ticket_row *t, activity_row *acts, uint64_t *s,
			int rid)
{
	int64_t ms = T0_MS + (int64_t)rid * 60000;
	int i;

	t->t0_ms = ms;
	uuid7(t->id, s, ms);
	subject(t->subject, sizeof(t->subject), s);
	text(t->description, s, desc_len(s));
	t->channel = channels[below(s, COUNT(channels))];
	t->priority = priorities[below(s, COUNT(priorities))];
	t->status = statuses[below(s, COUNT(statuses))];
	snprintf(t->branch, sizeof(t->branch), "BR%03u", below(s, 40));
	snprintf(t->assignee, sizeof(t->assignee), "staff%03u",
		 below(s, 200));
	t->n_act = 2 + (int)below(s, MAX_ACTIVITIES - 1);
	for (i = 0; i < t->n_act; i++) {
		activity_row *a = &acts[i];

		a->ms = ms + (int64_t)(i + 1) * 3600000 + below(s, 600000);
		uuid7(a->id, s, a->ms);
		hlc(a->hlc, a->ms, (unsigned)i);
		a->kind = kinds[below(s, COUNT(kinds))];
		snprintf(a->author, sizeof(a->author), "staff%03u",
			 below(s, 200));
		text(a->body, s, body_len(s));
	}
}

/* --- schema and pragmas ----------------------------------------------- */

static int exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc != SQLITE_OK) {
		fprintf(stderr, "bench: %s: %s\n", sql,
			err ? err : sqlite3_errstr(rc));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
	if (sqlite3_prepare_v2(db, sql, -1, out, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench: %s: %s\n", sql, sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* Run a statement that returns no rows, and reset it. */
static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		fprintf(stderr, "bench: %s: %s\n", sqlite3_sql(st),
			sqlite3_errmsg(db));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* First column of the first row of sql, as text in buf. */
static int query_text(sqlite3 *db, const char *sql, char *buf, size_t cap)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(db, sql, &st) != 0)
		return -1;
	rc = sqlite3_step(st);
	snprintf(buf, cap, "%s",
		 rc == SQLITE_ROW && sqlite3_column_text(st, 0)
			 ? (const char *)sqlite3_column_text(st, 0)
			 : "?");
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int wl_pragmas(sqlite3 *db)
{
	char v[64];

	/* temp_store first, as the store does: nothing spills to a file. */
	if (exec(db, "PRAGMA temp_store=MEMORY;"
		     "PRAGMA page_size=4096;"
		     "PRAGMA cache_size=-32768;"
		     "PRAGMA foreign_keys=ON;"
		     "PRAGMA journal_mode=WAL;"
		     "PRAGMA synchronous=FULL;") != 0)
		return -1;
	if (query_text(db, "PRAGMA journal_mode", v, sizeof(v)) != 0 ||
	    strcmp(v, "wal") != 0) {
		fprintf(stderr, "bench: journal_mode is %s, not wal\n", v);
		return -1;
	}
	return 0;
}

/*
 * The tables of the store's schema that the workload touches, cut down
 * to what SQLite 3.15 understands: no STRICT, no JSON checks, FTS4 with
 * the unicode61 tokenizer instead of FTS5 with trigrams.  The indexes are
 * the product's: the working queue, the assignee's list, the timeline.
 */
static const char schema_sql[] =
	"CREATE TABLE bench_ticket ("
	" rid INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"
	" channel TEXT NOT NULL,"
	" priority TEXT NOT NULL DEFAULT 'normal',"
	" status TEXT NOT NULL,"
	" subject TEXT NOT NULL DEFAULT '',"
	" description TEXT,"
	" branch TEXT,"
	" assignee TEXT,"
	" t0_ms INTEGER NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" updated_ms INTEGER NOT NULL,"
	" first_response_due_ms INTEGER,"
	" resolution_due_ms INTEGER,"
	" first_response_ms INTEGER,"
	" local_dirty INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX bench_ticket_queue"
	" ON bench_ticket (status, resolution_due_ms);"
	"CREATE INDEX bench_ticket_by_assignee"
	" ON bench_ticket (assignee, status);"
	"CREATE INDEX bench_ticket_dirty"
	" ON bench_ticket (updated_ms) WHERE local_dirty = 1;"
	"CREATE TABLE bench_activity ("
	" rid INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"
	" ticket_id TEXT NOT NULL REFERENCES bench_ticket (id)"
	"  DEFERRABLE INITIALLY DEFERRED,"
	" kind TEXT NOT NULL,"
	" body TEXT,"
	" author TEXT NOT NULL,"
	" device_time_ms INTEGER NOT NULL,"
	" hlc TEXT NOT NULL);"
	"CREATE INDEX bench_activity_by_ticket"
	" ON bench_activity (ticket_id, hlc);"
	"CREATE VIRTUAL TABLE bench_ticket_fts USING fts4 ("
	" content=\"bench_ticket\", subject, description,"
	" tokenize=unicode61);"
	"CREATE TRIGGER bench_ticket_fts_insert AFTER INSERT ON bench_ticket"
	" BEGIN INSERT INTO bench_ticket_fts (docid, subject, description)"
	" VALUES (NEW.rid, NEW.subject, NEW.description); END;"
	"CREATE VIRTUAL TABLE bench_activity_fts USING fts4 ("
	" content=\"bench_activity\", body, tokenize=unicode61);"
	"CREATE TRIGGER bench_activity_fts_insert"
	" AFTER INSERT ON bench_activity"
	" BEGIN INSERT INTO bench_activity_fts (docid, body)"
	" VALUES (NEW.rid, NEW.body); END;";

/* --- running totals and the WAL hook ------------------------------------ */

/*
 * Running totals of one connection.  The page-cipher counters come from
 * the engine; the rest from the WAL hook below.
 */
typedef struct tally {
	wl_counters c;      /* all page-cipher work */
	wl_counters ckpt_c; /* the part done inside checkpoints */
	int64_t frames;     /* WAL frames written */
	int64_t ckpts;      /* checkpoints run */
	int64_t ckpt_ns;    /* time spent in them */
} tally;

/* What a phase prints: the differences of two tallies, plus its own. */
typedef struct phase {
	int64_t ns;
	tally d;
	int64_t count;
	uint64_t hits;
} phase;

static void counters(const wl_engine *e, wl_counters *out)
{
	out->sealed = out->opened = out->crypto_ns = -1;
	if (e->counters != NULL)
		e->counters(e->ctx, out);
}

/* after - before, field by field; -1 (no counters) stays -1. */
static void counters_diff(wl_counters *out, const wl_counters *before,
			  const wl_counters *after)
{
	out->sealed = after->sealed < 0 ? -1 : after->sealed - before->sealed;
	out->opened = after->opened < 0 ? -1 : after->opened - before->opened;
	out->crypto_ns = after->crypto_ns < 0
				 ? -1
				 : after->crypto_ns - before->crypto_ns;
}

static void counters_add(wl_counters *sum, const wl_counters *d)
{
	sum->sealed += d->sealed;
	sum->opened += d->opened;
	sum->crypto_ns += d->crypto_ns;
}

/* The WAL hook's totals, and the WAL's length after the last commit. */
static tally wal_tally;
static int wal_last;

static void snapshot(const wl_engine *e, tally *out)
{
	*out = wal_tally;
	counters(e, &out->c);
	if (e->counters == NULL)
		out->ckpt_c = out->c;
}

static void tally_diff(tally *out, const tally *before, const tally *after)
{
	counters_diff(&out->c, &before->c, &after->c);
	counters_diff(&out->ckpt_c, &before->ckpt_c, &after->ckpt_c);
	out->frames = after->frames - before->frames;
	out->ckpts = after->ckpts - before->ckpts;
	out->ckpt_ns = after->ckpt_ns - before->ckpt_ns;
}

/* A checkpoint, timed and counted.  Returns SQLite's result code. */
static int checkpoint(const wl_engine *e, const char *schema, int mode)
{
	wl_counters c0;
	wl_counters c1;
	wl_counters d;
	int n_log = 0;
	int n_ckpt = 0;
	int64_t t0 = wl_now_ns();
	int rc;

	counters(e, &c0);
	rc = sqlite3_wal_checkpoint_v2(e->db, schema, mode, &n_log, &n_ckpt);
	wal_tally.ckpt_ns += wl_now_ns() - t0;
	wal_tally.ckpts++;
	counters(e, &c1);
	if (e->counters != NULL) {
		counters_diff(&d, &c0, &c1);
		counters_add(&wal_tally.ckpt_c, &d);
	}
	/* Every frame copied: the next commit starts the log over. */
	if (rc == SQLITE_OK && n_log == n_ckpt)
		wal_last = 0;
	return rc;
}

/*
 * SQLite's own automatic checkpoint (sqlite3WalDefaultHook: a passive
 * checkpoint once the log holds 1,000 frames), which this hook replaces
 * unchanged on every engine so as to count the frames each commit writes
 * and time the checkpoints.
 */
#define WL_AUTOCHECKPOINT 1000

static int wal_hook(void *arg, sqlite3 *db, const char *schema, int n)
{
	(void)db;
	wal_tally.frames += n >= wal_last ? n - wal_last : n;
	wal_last = n;
	if (n >= WL_AUTOCHECKPOINT)
		(void)checkpoint(arg, schema, SQLITE_CHECKPOINT_PASSIVE);
	return SQLITE_OK;
}

/* --- the steps ---------------------------------------------------------- */

static int64_t stamp_ms(int rid)
{
	return T0_MS + (int64_t)rid * 60000;
}

/* What a run keeps from one command to the next. */
static struct {
	char (*ticket_ids)[37]; /* by rid, 1-based, for the replies */
	ticket_row *batch;
	activity_row *acts;
	int *rids;
	sqlite3_stmt *ins_ticket;
	sqlite3_stmt *ins_activity;
	sqlite3_stmt *upd_ticket;
	sqlite3_stmt *read;
	sqlite3_stmt *fts[2];
	uint64_t import_seed;
	uint64_t reply_seed;
	int next_rid;    /* the next ticket to import */
	int replies;     /* single replies so far */
	int64_t rows;    /* rows imported */
	uint64_t text;   /* bytes of text imported */
} w;

static const char insert_ticket_sql[] =
	"INSERT INTO bench_ticket (rid, id, channel, priority, status, "
	"subject, description, branch, assignee, t0_ms, created_ms, "
	"updated_ms, first_response_due_ms, resolution_due_ms) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?10, "
	"?10 + 86400000, ?10 + 15 * 86400000)";

static const char insert_activity_sql[] =
	"INSERT INTO bench_activity (id, ticket_id, kind, body, author, "
	"device_time_ms, hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

static const char update_ticket_sql[] =
	"UPDATE bench_ticket SET status = 'in_progress', updated_ms = ?2, "
	"local_dirty = 1, first_response_ms = coalesce(first_response_ms, ?2) "
	"WHERE rid = ?1";

static const char read_sql[] =
	"SELECT id, status, subject, description, updated_ms "
	"FROM bench_ticket WHERE rid = ?1";

/*
 * What a member of staff types into the search box: a card number, a
 * merchant, a branch, a topic, a phrase in Chinese.  Each query lists
 * the newest 100 matching tickets and the newest 100 matching timeline
 * entries, with the rows themselves, as a result page does.  The LIMIT
 * sits in a subquery so that no engine fetches a row it does not list.
 * Terms are joined by a space, not AND: SQLCipher's SQLite is built
 * without the enhanced query syntax and would take AND for a word.
 */
static const char *const fts_queries[] = {
	"\"card ending 2360\"",
	"Hengda",
	"恒达商贸",
	"Pudong counter",
	"mortgage NEAR/6 rate",
	"chargeback",
	"已升级至信用卡中心办理退单",
	"overdraft salary arrived",
};

static const char fts_ticket_sql[] =
	"SELECT t.rid, length(t.subject) + length(t.description) FROM "
	"(SELECT docid FROM bench_ticket_fts WHERE bench_ticket_fts MATCH ?1"
	" ORDER BY docid DESC LIMIT 100) AS f "
	"JOIN bench_ticket t ON t.rid = f.docid";

static const char fts_activity_sql[] =
	"SELECT a.rid, length(a.body) FROM "
	"(SELECT docid FROM bench_activity_fts "
	"WHERE bench_activity_fts MATCH ?1"
	" ORDER BY docid DESC LIMIT 100) AS f "
	"JOIN bench_activity a ON a.rid = f.docid";

static int insert_activity(sqlite3 *db, const activity_row *a,
			   const char *ticket_id)
{
	sqlite3_stmt *st = w.ins_activity;

	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ticket_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->body, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, a->author, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, a->ms);
	sqlite3_bind_text(st, 7, a->hlc, -1, SQLITE_STATIC);
	return step_done(db, st);
}

static int insert_ticket(sqlite3 *db, const ticket_row *t, int rid)
{
	sqlite3_stmt *st = w.ins_ticket;

	sqlite3_bind_int(st, 1, rid);
	sqlite3_bind_text(st, 2, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, t->priority, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, t->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, t->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, t->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, t->branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, t->assignee, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, t->t0_ms);
	return step_done(db, st);
}

/* The schema, the statements and the buffers; nothing is timed. */
static int step_setup(const wl_engine *e)
{
	sqlite3 *db = e->db;
	int i;

	w.ticket_ids = calloc(WL_TICKETS + 1, sizeof(*w.ticket_ids));
	w.batch = malloc(sizeof(*w.batch) * WL_TICKETS_PER_TX);
	w.acts = malloc(sizeof(*w.acts) * WL_TICKETS_PER_TX *
			MAX_ACTIVITIES);
	w.rids = malloc(sizeof(*w.rids) * WL_READS);
	if (w.ticket_ids == NULL || w.batch == NULL || w.acts == NULL ||
	    w.rids == NULL) {
		fprintf(stderr, "bench: out of memory\n");
		return -1;
	}
	w.import_seed = 0x6272616e636873ULL; /* "branchs" */
	w.reply_seed = 0x7265706c696573ULL;  /* "replies" */
	w.next_rid = 1;
	{
		uint64_t s = 0x7265616473ULL; /* "reads" */

		for (i = 0; i < WL_READS; i++)
			w.rids[i] = 1 + (int)below(&s, WL_TICKETS);
	}
	if (exec(db, schema_sql) != 0 ||
	    prepare(db, insert_ticket_sql, &w.ins_ticket) != 0 ||
	    prepare(db, insert_activity_sql, &w.ins_activity) != 0 ||
	    prepare(db, update_ticket_sql, &w.upd_ticket) != 0 ||
	    prepare(db, read_sql, &w.read) != 0 ||
	    prepare(db, fts_ticket_sql, &w.fts[0]) != 0 ||
	    prepare(db, fts_activity_sql, &w.fts[1]) != 0)
		return -1;
	return 0;
}

static void step_teardown(void)
{
	int i;

	sqlite3_finalize(w.ins_ticket);
	sqlite3_finalize(w.ins_activity);
	sqlite3_finalize(w.upd_ticket);
	sqlite3_finalize(w.read);
	for (i = 0; i < 2; i++)
		sqlite3_finalize(w.fts[i]);
	free(w.ticket_ids);
	free(w.batch);
	free(w.acts);
	free(w.rids);
	memset(&w, 0, sizeof(w));
}

/*
 * Import, one transaction: the next WL_TICKETS_PER_TX tickets with their
 * timelines, as a first sync or a migration loads them.  The tickets are
 * made before the clock starts.
 */
static int step_import(const wl_engine *e, phase *out)
{
	sqlite3 *db = e->db;
	int base = w.next_rid;
	tally t0;
	tally t1;
	int64_t start;
	int i;
	int j;

	if (base + WL_TICKETS_PER_TX - 1 > WL_TICKETS) {
		fprintf(stderr, "bench: every ticket is imported\n");
		return -1;
	}
	for (i = 0; i < WL_TICKETS_PER_TX; i++)
		make_ticket(&w.batch[i], &w.acts[i * MAX_ACTIVITIES],
			    &w.import_seed, base + i);
	snapshot(e, &t0);
	start = wl_now_ns();
	if (exec(db, "BEGIN") != 0)
		return -1;
	for (i = 0; i < WL_TICKETS_PER_TX; i++) {
		const ticket_row *t = &w.batch[i];

		if (insert_ticket(db, t, base + i) != 0)
			return -1;
		out->hits += strlen(t->description);
		for (j = 0; j < t->n_act; j++) {
			const activity_row *a = &w.acts[i * MAX_ACTIVITIES + j];

			if (insert_activity(db, a, t->id) != 0)
				return -1;
			out->hits += strlen(a->body);
		}
		out->count += 1 + t->n_act;
		memcpy(w.ticket_ids[base + i], t->id, 37);
	}
	if (exec(db, "COMMIT") != 0)
		return -1;
	out->ns = wl_now_ns() - start;
	snapshot(e, &t1);
	tally_diff(&out->d, &t0, &t1);
	w.next_rid += WL_TICKETS_PER_TX;
	w.rows += out->count;
	w.text += out->hits;
	return 0;
}

/* The end of the import: a checkpoint that moves every page into the
 * database file and empties the log. */
static int step_import_end(const wl_engine *e, phase *out)
{
	tally t0;
	tally t1;
	int64_t start;

	snapshot(e, &t0);
	start = wl_now_ns();
	if (checkpoint(e, NULL, SQLITE_CHECKPOINT_TRUNCATE) != SQLITE_OK) {
		fprintf(stderr, "bench: checkpoint: %s\n",
			sqlite3_errmsg(e->db));
		return -1;
	}
	out->ns = wl_now_ns() - start;
	snapshot(e, &t1);
	tally_diff(&out->d, &t0, &t1);
	return 0;
}

/*
 * Single replies, n of them: each transaction appends one timeline entry
 * and moves its ticket in the queue, committed on its own with
 * synchronous=FULL, as a member of staff answering customers one by one
 * does.  SQLite's automatic checkpoints fall inside the commits that
 * trigger them, as in the product.
 */
static int step_replies(const wl_engine *e, int n, phase *out)
{
	sqlite3 *db = e->db;
	activity_row *a = &w.acts[0];
	tally t0;
	tally t1;
	int i;

	snapshot(e, &t0);
	for (i = 0; i < n; i++) {
		int rid = 1 + (int)below(&w.reply_seed, WL_TICKETS);
		int64_t start;

		a->ms = stamp_ms(WL_TICKETS) + (int64_t)w.replies * 1000;
		uuid7(a->id, &w.reply_seed, a->ms);
		hlc(a->hlc, a->ms, 0);
		a->kind = "customer_reply";
		snprintf(a->author, sizeof(a->author), "staff%03u",
			 below(&w.reply_seed, 200));
		text(a->body, &w.reply_seed, body_len(&w.reply_seed));
		start = wl_now_ns();
		if (exec(db, "BEGIN IMMEDIATE") != 0 ||
		    insert_activity(db, a, w.ticket_ids[rid]) != 0)
			return -1;
		sqlite3_bind_int(w.upd_ticket, 1, rid);
		sqlite3_bind_int64(w.upd_ticket, 2, a->ms);
		if (step_done(db, w.upd_ticket) != 0 ||
		    exec(db, "COMMIT") != 0)
			return -1;
		out->ns += wl_now_ns() - start;
		out->count++;
		out->hits += strlen(a->body);
		w.replies++;
	}
	snapshot(e, &t1);
	tally_diff(&out->d, &t0, &t1);
	return 0;
}

/* One pass of point reads by primary key, of the tickets in w.rids. */
static int read_pass(sqlite3 *db, uint64_t *hits)
{
	sqlite3_stmt *st = w.read;
	int i;

	for (i = 0; i < WL_READS; i++) {
		sqlite3_bind_int(st, 1, w.rids[i]);
		if (sqlite3_step(st) != SQLITE_ROW) {
			fprintf(stderr, "bench: read %d: %s\n", w.rids[i],
				sqlite3_errmsg(db));
			sqlite3_reset(st);
			return -1;
		}
		*hits += (uint64_t)sqlite3_column_bytes(st, 0) +
			 (uint64_t)sqlite3_column_bytes(st, 1) +
			 (uint64_t)sqlite3_column_bytes(st, 2) +
			 (uint64_t)sqlite3_column_bytes(st, 3) +
			 (uint64_t)(sqlite3_column_int64(st, 4) & 0xff);
		sqlite3_reset(st);
	}
	return 0;
}

/* The warm-up before the reads: a scan of the ticket table and one
 * untimed pass. */
static int step_warm(const wl_engine *e)
{
	uint64_t hits = 0;
	char v[32];

	if (query_text(e->db,
		       "SELECT sum(length(description) + length(subject)) "
		       "FROM bench_ticket",
		       v, sizeof(v)) != 0)
		return -1;
	return read_pass(e->db, &hits);
}

/* One timed pass of WL_READS point reads of random tickets. */
static int step_reads(const wl_engine *e, phase *out)
{
	tally t0;
	tally t1;
	int64_t start;

	snapshot(e, &t0);
	start = wl_now_ns();
	if (read_pass(e->db, &out->hits) != 0)
		return -1;
	out->ns = wl_now_ns() - start;
	snapshot(e, &t1);
	tally_diff(&out->d, &t0, &t1);
	out->count = WL_READS;
	return 0;
}

/* One pass of the searches; count is the number of rows listed. */
static int step_fts(const wl_engine *e, phase *out)
{
	tally t0;
	tally t1;
	int64_t start;
	size_t q;
	int k;

	snapshot(e, &t0);
	start = wl_now_ns();
	for (q = 0; q < COUNT(fts_queries); q++) {
		for (k = 0; k < 2; k++) {
			sqlite3_stmt *st = w.fts[k];
			int rc;

			sqlite3_bind_text(st, 1, fts_queries[q], -1,
					  SQLITE_STATIC);
			while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
				out->hits +=
					(uint64_t)sqlite3_column_int64(st, 0) +
					(uint64_t)sqlite3_column_int64(st, 1);
				out->count++;
			}
			sqlite3_reset(st);
			if (rc != SQLITE_DONE) {
				fprintf(stderr, "bench: search %s: %s\n",
					fts_queries[q], sqlite3_errmsg(e->db));
				return -1;
			}
		}
	}
	out->ns = wl_now_ns() - start;
	snapshot(e, &t1);
	tally_diff(&out->d, &t0, &t1);
	return 0;
}

/* --- serving the driver ------------------------------------------------- */

static void print_phase(FILE *out, const char *name, const phase *p)
{
	const tally *d = &p->d;

	fprintf(out,
		"phase %s %lld %lld %lld %lld %lld %llu %lld %lld %lld "
		"%lld %lld %lld\n",
		name, (long long)p->ns, (long long)d->c.sealed,
		(long long)d->c.opened, (long long)d->c.crypto_ns,
		(long long)p->count, (unsigned long long)p->hits,
		(long long)d->frames, (long long)d->ckpts,
		(long long)d->ckpt_ns, (long long)d->ckpt_c.sealed,
		(long long)d->ckpt_c.opened, (long long)d->ckpt_c.crypto_ns);
}

static void print_pragmas(FILE *out, sqlite3 *db)
{
	static const char *const names[] = {
		"page_size",	 "cache_size",	"journal_mode",
		"synchronous",	 "temp_store",	"foreign_keys",
		"secure_delete", "auto_vacuum", "mmap_size",
	};
	size_t i;

	fprintf(out, "info pragmas");
	for (i = 0; i < COUNT(names); i++) {
		char sql[64];
		char v[64];

		snprintf(sql, sizeof(sql), "PRAGMA %s", names[i]);
		if (query_text(db, sql, v, sizeof(v)) != 0)
			snprintf(v, sizeof(v), "?");
		fprintf(out, " %s=%s", names[i], v);
	}
	fprintf(out, "\n");
}

static long long file_size(const char *path, const char *suffix)
{
	char p[1100];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return stat(p, &st) == 0 ? (long long)st.st_size : 0;
}

/* Run one command line; 0, or -1 after a message on stderr. */
static int command(const wl_engine *e, const char *db_path, const char *cmd,
		   FILE *out)
{
	phase p;
	int n;

	memset(&p, 0, sizeof(p));
	if (strcmp(cmd, "import") == 0) {
		if (step_import(e, &p) != 0)
			return -1;
		print_phase(out, "import", &p);
	} else if (strcmp(cmd, "import_end") == 0) {
		if (step_import_end(e, &p) != 0)
			return -1;
		print_phase(out, "import", &p);
		fprintf(out, "info rows %lld\n", (long long)w.rows);
		fprintf(out, "info text_bytes %llu\n",
			(unsigned long long)w.text);
		fprintf(out, "info db_bytes_after_import %lld\n",
			file_size(db_path, "") + file_size(db_path, "-wal"));
	} else if (sscanf(cmd, "replies %d", &n) == 1 && n > 0) {
		if (step_replies(e, n, &p) != 0)
			return -1;
		print_phase(out, "replies", &p);
	} else if (strcmp(cmd, "warm") == 0) {
		return step_warm(e);
	} else if (strcmp(cmd, "reads") == 0) {
		if (step_reads(e, &p) != 0)
			return -1;
		print_phase(out, "reads", &p);
	} else if (strcmp(cmd, "fts") == 0) {
		if (step_fts(e, &p) != 0)
			return -1;
		print_phase(out, "fts", &p);
	} else {
		fprintf(stderr, "bench: unknown command '%s'\n", cmd);
		return -1;
	}
	return 0;
}

int wl_serve(const wl_engine *e, const char *db_path, FILE *in, FILE *out)
{
	char line[128];
	int rc = -1;

	memset(&wal_tally, 0, sizeof(wal_tally));
	wal_last = 0;
	sqlite3_wal_hook(e->db, wal_hook, (void *)e);
	fprintf(out, "info sqlite %s\n", sqlite3_libversion());
	fprintf(out, "info fts_queries %zu\n", COUNT(fts_queries));
	print_pragmas(out, e->db);
	if (step_setup(e) != 0)
		goto cleanup;
	fprintf(out, "ok\n");
	fflush(out);
	while (fgets(line, sizeof(line), in) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "quit") == 0) {
			rc = 0;
			break;
		}
		if (command(e, db_path, line, out) != 0)
			break;
		fprintf(out, "ok\n");
		fflush(out);
	}
cleanup:
	fprintf(out, "%s\n", rc == 0 ? "bye" : "error");
	fflush(out);
	step_teardown();
	/* Back to SQLite's own automatic checkpoint before the caller
	 * closes the connection. */
	sqlite3_wal_autocheckpoint(e->db, WL_AUTOCHECKPOINT);
	return rc;
}
