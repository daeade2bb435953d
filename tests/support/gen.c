/*
 * gen.c - the synthetic export (gen.h).  A small deterministic PRNG
 * (splitmix64) picks from phrase tables written for a retail bank's
 * complaint desk: cards, the mobile app, wealth products, loans, utility
 * and gas payments, marketing eligibility, fees, ATMs, frozen accounts,
 * service at the counter.  JSON is produced with cJSON so that every
 * string is escaped correctly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gen.h"

struct rng {
	uint64_t s;
};

static uint64_t next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned pick(struct rng *r, unsigned n)
{
	return (unsigned)(next(r) % n);
}

#define PICK(r, a) ((a)[pick((r), sizeof(a) / sizeof((a)[0]))])

struct category {
	const char *code, *parent, *name, *risk, *priority;
	const char *subjects[3];
	const char *details[3];
};

/* Head office's classification codes and what customers say about each. */
static const struct category cats[] = {
	{ "CARD", NULL, "信用卡", "product_dispute", "normal", { 0 }, { 0 } },
	{ "CARD-FEE", "CARD", "信用卡年费争议", "product_dispute", "normal",
	  { "信用卡年费未经同意扣收", "年费减免承诺未兑现", "注销后仍被收取年费" },
	  { "客户称办卡时客户经理承诺首年免年费，但账单显示已扣收年费680元。",
	    "客户表示已满足刷卡次数要求，年费仍未退还。",
	    "客户两个月前已注销卡片，本月账单仍出现年费。" } },
	{ "CARD-FRAUD", "CARD", "信用卡盗刷", "operational_risk", "urgent",
	  { "信用卡境外异常交易", "未本人操作的网购扣款", "卡片在身边却被盗刷" },
	  { "客户凌晨收到境外消费短信三笔，合计美元1,240元，本人未出境。",
	    "客户发现某电商平台扣款四笔，均非本人操作，已自行冻结卡片。",
	    "客户称卡片一直随身携带，却出现外地取现记录。" } },
	{ "APP", NULL, "手机银行", "system_fault", "normal", { 0 }, { 0 } },
	{ "APP-LOGIN", "APP", "手机银行登录故障", "system_fault", "high",
	  { "手机银行无法登录", "人脸识别反复失败", "升级后闪退无法使用" },
	  { "客户更新手机银行至最新版本后，登录时提示系统繁忙，已持续三天。",
	    "客户在人脸识别环节连续失败，被锁定24小时，影响工资查询。",
	    "客户反映应用打开即闪退，卸载重装无效。" } },
	{ "APP-TRANSFER", "APP", "转账失败", "system_fault", "high",
	  { "转账显示成功但对方未到账", "转账限额被无故调低", "跨行转账重复扣款" },
	  { "客户通过手机银行向他行转账5万元，显示成功，对方两天未到账。",
	    "客户日转账限额由20万元被调整为5千元，未收到任何通知。",
	    "客户一笔跨行转账被扣款两次，金额3,000元。" } },
	{ "WEALTH", NULL, "理财产品", "product_dispute", "high", { 0 }, { 0 } },
	{ "WEALTH-MISSELL", "WEALTH", "理财销售误导", "product_dispute", "high",
	  { "理财产品亏损与宣传不符", "风险等级未如实告知", "老年客户被推荐高风险产品" },
	  { "客户称购买时被告知保本保息，到期亏损约8%，要求赔偿。",
	    "客户风险测评为保守型，却被推荐了R4级产品。",
	    "客户家属反映七十岁母亲在网点被推荐购买高风险基金。" } },
	{ "LOAN", NULL, "贷款", "product_dispute", "normal", { 0 }, { 0 } },
	{ "LOAN-RATE", "LOAN", "房贷利率调整", "product_dispute", "normal",
	  { "房贷利率未按政策下调", "提前还款违约金争议", "贷款合同条款解释不一致" },
	  { "客户称LPR下调后其房贷利率仍未调整，月供未变。",
	    "客户提前还款被收取违约金，认为合同未约定。",
	    "客户对贷款合同中利率重定价条款的解释与客户经理说法不一。" } },
	{ "PAY", NULL, "生活缴费", "system_fault", "normal", { 0 }, { 0 } },
	{ "PAY-GAS", "PAY", "燃气费代缴", "system_fault", "high",
	  { "燃气费代扣失败导致停气", "燃气缴费重复扣款", "燃气费缴纳后燃气公司未到账" },
	  { "客户签约燃气费自动代扣，本月扣款失败且未通知，家中已被停气。",
	    "客户通过手机银行缴纳燃气费，被扣款两次共计416元。",
	    "客户已缴纳燃气费，燃气公司称未收到款项并催缴。" } },
	{ "PAY-POWER", "PAY", "电费水费代缴", "system_fault", "normal",
	  { "电费代扣金额异常", "水费缴纳记录查不到" },
	  { "客户本月电费代扣金额是往月的三倍，怀疑扣错户号。",
	    "客户称上月已缴水费，在手机银行中查不到缴费记录。" } },
	{ "MKT", NULL, "营销活动", "personnel_service", "low", { 0 }, { 0 } },
	{ "MKT-ELIGIBLE", "MKT", "营销活动资格", "personnel_service", "low",
	  { "满减活动资格被取消", "积分兑换礼品未发放", "新客礼遇未到账" },
	  { "客户参加信用卡满减活动，消费达标后被告知不符合资格。",
	    "客户积分兑换的礼品一个月仍未收到。",
	    "客户开户时被承诺新客礼遇50元，至今未到账。" } },
	{ "SVC", NULL, "服务质量", "personnel_service", "normal", { 0 }, { 0 } },
	{ "SVC-ATTITUDE", "SVC", "网点服务态度", "personnel_service", "normal",
	  { "柜员服务态度恶劣", "排队时间过长无人引导", "大堂经理拒绝协助老人" },
	  { "客户在网点办理业务时，柜员语气生硬并拒绝解释手续费。",
	    "客户在网点排队超过两小时，仅开放一个窗口。",
	    "客户称大堂经理拒绝协助其年迈父亲使用自助设备。" } },
	{ "ACC", NULL, "账户", "regulator_inquiry", "high", { 0 }, { 0 } },
	{ "ACC-FREEZE", "ACC", "账户冻结", "regulator_inquiry", "urgent",
	  { "工资卡被无故冻结", "账户只收不付影响生活", "涉案冻结解除进度" },
	  { "客户工资卡被冻结，银行称涉及可疑交易，客户无法支取生活费。",
	    "客户账户被设置为只收不付，房贷无法正常扣款。",
	    "客户已提交解冻材料十天，仍无进展。" } },
	{ "ATM", NULL, "自助设备", "operational_risk", "high",
	  { "ATM取款未出钞但已扣款", "ATM吞卡", "存款机少计金额" },
	  { "客户在ATM取款2,000元，机器未出钞，账户已扣款。",
	    "客户在自助设备插卡后被吞卡，无人处理。",
	    "客户在存款机存入1万元，入账仅9,900元。" } },
};

static const char *surnames[] = { "张", "王", "李", "赵", "刘", "陈", "杨",
				  "黄", "周", "吴", "徐", "孙", "胡", "朱" };
static const char *channels[] = { "phone", "phone", "phone", "app", "branch",
				  "online", "social", "regulator" };
static const char *segments[] = { "retail", "retail", "private",
				  "elderly", "micro_business" };
static const char *openings[] = {
	"客户来电情绪激动，表示",   "客户通过在线客服反映，",
	"客户来电称，",             "客户在社交媒体发帖投诉，",
	"监管转办：客户向金融监管部门反映，",
};
static const char *demands[] = {
	"要求银行尽快核实并退还款项。",   "要求给出书面解释。",
	"要求当天内回电答复。",           "表示如不处理将向监管部门投诉。",
	"希望网点负责人出面沟通。",       "要求赔偿由此造成的损失。",
};
static const char *agent_lines[] = {
	"坐席：您好，这里是客户服务中心，请问有什么可以帮您？",
	"坐席：非常理解您的心情，我先帮您记录下来。",
	"坐席：请问您方便提供一下交易发生的时间吗？",
	"坐席：我们会在规定时限内由网点联系您。",
};
static const char *outcomes[] = { "已退款", "已解释，客户接受",
				  "已补发", "已赔偿", "客户撤诉" };

/* A UUIDv7-shaped id from the PRNG and a millisecond timestamp. */
static void uuid(char out[37], struct rng *r, int64_t ms)
{
	uint64_t a = next(r), b = next(r);

	snprintf(out, 37, "%08x-%04x-7%03x-%04x-%012llx",
		 (unsigned)((uint64_t)ms >> 16), (unsigned)(ms & 0xffff),
		 (unsigned)(a & 0xfff),
		 (unsigned)(0x8000 | ((a >> 12) & 0x3fff)),
		 (unsigned long long)(b & 0xffffffffffffull));
}

static int emit(FILE *out, cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	int rc = -1;

	if (s != NULL && fputs(s, out) >= 0 && fputc('\n', out) != EOF)
		rc = 0;
	cJSON_free(s);
	cJSON_Delete(o);
	return rc;
}

static const char *first_response_state(unsigned k)
{
	static const char *states[] = { "dispatched", "dispatched",
					"dispatched", "acknowledged",
					"in_progress", "pending_external" };
	return states[k % 6];
}

static int catalogue(FILE *out)
{
	size_t i;

	for (i = 0; i < sizeof(cats) / sizeof(cats[0]); i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "type", "category");
		cJSON_AddStringToObject(o, "code", cats[i].code);
		if (cats[i].parent != NULL)
			cJSON_AddStringToObject(o, "parent", cats[i].parent);
		cJSON_AddStringToObject(o, "name", cats[i].name);
		cJSON_AddStringToObject(o, "risk_class", cats[i].risk);
		cJSON_AddStringToObject(o, "default_priority",
					cats[i].priority);
		if (emit(out, o) != 0)
			return -1;
	}
	return 0;
}

int gen_export(FILE *out, const struct gen_opts *o)
{
	struct rng r = { o->seed };
	unsigned nstaff = 0, i;
	cJSON *h;

	while (o->staff != NULL && o->staff[nstaff] != NULL)
		nstaff++;
	h = cJSON_CreateObject();
	cJSON_AddStringToObject(h, "type", "header");
	cJSON_AddStringToObject(h, "format", "branchsync-export");
	cJSON_AddNumberToObject(h, "version", 1);
	cJSON_AddNumberToObject(h, "generated_ms", (double)o->now_ms);
	if (emit(out, h) != 0)
		return -1;
	if (o->catalogue && catalogue(out) != 0)
		return -1;
	for (i = 0; i < o->tickets; i++) {
		const struct category *c;
		char cid[40], tid[37], aid[37], ref[32], phone[16], idn[24];
		char name[16], desc[1024], transcript[2048];
		/* Most complaints came in over the last hours, a backlog
		 * over the last three weeks. */
		int64_t t0 = o->now_ms -
			     (int64_t)(pick(&r, 3) ? pick(&r, 150) + 5
						   : pick(&r, 20 * 24 * 60) + 5) *
				     60000;
		unsigned k, narch;
		cJSON *t;

		do {
			c = &PICK(&r, cats);
		} while (c->subjects[0] == NULL);
		/* The customer, masked as head office sends it. */
		snprintf(cid, sizeof(cid), "C-%08u", pick(&r, 90000000) + 10000000);
		snprintf(name, sizeof(name), "%s*", PICK(&r, surnames));
		snprintf(phone, sizeof(phone), "1%02u****%04u", 30 + pick(&r, 60),
			 pick(&r, 10000));
		snprintf(idn, sizeof(idn), "%03u***********%03u%c",
			 110 + pick(&r, 400), pick(&r, 1000),
			 pick(&r, 11) == 10 ? 'X' : (char)('0' + pick(&r, 10)));
		t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "type", "customer");
		cJSON_AddStringToObject(t, "id", cid);
		cJSON_AddStringToObject(t, "name_masked", name);
		cJSON_AddStringToObject(t, "phone_masked", phone);
		cJSON_AddStringToObject(t, "id_number_masked", idn);
		cJSON_AddStringToObject(t, "segment", PICK(&r, segments));
		cJSON_AddStringToObject(t, "branch", o->branch);
		if (emit(out, t) != 0)
			return -1;
		/* Their earlier complaints. */
		narch = pick(&r, 4);
		for (k = 0; k < narch; k++) {
			const struct category *pc;
			char arid[37], aref[32];
			int64_t at = t0 - (int64_t)(30 + pick(&r, 700)) * 86400000;

			do {
				pc = &PICK(&r, cats);
			} while (pc->subjects[0] == NULL);
			uuid(arid, &r, at);
			snprintf(aref, sizeof(aref), "VOC-%04u-%06u",
				 2023 + pick(&r, 3), pick(&r, 1000000));
			t = cJSON_CreateObject();
			cJSON_AddStringToObject(t, "type", "archive");
			cJSON_AddStringToObject(t, "id", arid);
			cJSON_AddStringToObject(t, "customer_id", cid);
			cJSON_AddStringToObject(t, "ticket_ref", aref);
			cJSON_AddStringToObject(t, "channel", PICK(&r, channels));
			cJSON_AddNumberToObject(t, "received_ms", (double)at);
			cJSON_AddNumberToObject(t, "closed_ms",
						(double)(at + (int64_t)(1 + pick(&r, 14)) *
								      86400000));
			cJSON_AddStringToObject(t, "category", pc->code);
			cJSON_AddStringToObject(t, "summary",
						pc->subjects[pick(&r, 2)]);
			cJSON_AddStringToObject(t, "outcome", PICK(&r, outcomes));
			if (emit(out, t) != 0)
				return -1;
		}
		/* The complaint itself. */
		k = pick(&r, c->subjects[2] ? 3 : 2);
		snprintf(desc, sizeof(desc), "%s%s%s", PICK(&r, openings),
			 c->details[k], PICK(&r, demands));
		snprintf(transcript, sizeof(transcript),
			 "%s\n客户：%s\n%s\n客户：%s\n%s", agent_lines[0],
			 c->details[k], agent_lines[1 + pick(&r, 2)],
			 PICK(&r, demands), agent_lines[3]);
		uuid(tid, &r, t0);
		snprintf(ref, sizeof(ref), "VOC-2026-%06u", 100000 + i);
		t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "type", "ticket");
		cJSON_AddStringToObject(t, "id", tid);
		cJSON_AddStringToObject(t, "ref", ref);
		cJSON_AddStringToObject(t, "customer_id", cid);
		cJSON_AddStringToObject(t, "channel", PICK(&r, channels));
		cJSON_AddStringToObject(t, "category", c->code);
		cJSON_AddStringToObject(t, "risk_class", c->risk);
		cJSON_AddStringToObject(t, "priority",
					pick(&r, 4) == 0 ? "urgent" : c->priority);
		cJSON_AddStringToObject(t, "status", first_response_state(i));
		cJSON_AddStringToObject(t, "subject", c->subjects[k]);
		cJSON_AddStringToObject(t, "description", desc);
		cJSON_AddStringToObject(t, "transcript", transcript);
		cJSON_AddStringToObject(t, "branch", o->branch);
		if (nstaff > 0)
			cJSON_AddStringToObject(t, "assignee",
						o->staff[i % nstaff]);
		cJSON_AddStringToObject(t, "sla_profile", "cn2020");
		cJSON_AddNumberToObject(t, "t0_ms", (double)t0);
		cJSON_AddNumberToObject(t, "server_version", 1);
		if (emit(out, t) != 0)
			return -1;
		/* The call centre's log of the first call. */
		uuid(aid, &r, t0 + 60000);
		t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "type", "activity");
		cJSON_AddStringToObject(t, "id", aid);
		cJSON_AddStringToObject(t, "ticket_id", tid);
		cJSON_AddStringToObject(t, "kind", "call_log");
		cJSON_AddStringToObject(t, "body", "呼叫中心受理来电，已完成预处理并派发网点。");
		cJSON_AddStringToObject(t, "author", "callcenter");
		cJSON_AddNumberToObject(t, "device_time_ms", (double)(t0 + 60000));
		cJSON_AddNumberToObject(t, "hub_time_ms", (double)(t0 + 61000));
		if (emit(out, t) != 0)
			return -1;
	}
	return fflush(out) == 0 ? 0 : -1;
}
