/* AWS Signature Version 4 (see sigv4.h), as AWS documents it ("Create a signed AWS API
 * request"): a canonical request, a string to sign over its hash, a key derived from the
 * secret for the date, region and service, and HMAC-SHA256 (OpenSSL's libcrypto). */
#include "serve/sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define SIGNED_HEADERS_MAX 32
#define HEADER_NAME_MAX 64

/* ---- a string that grows ------------------------------------------------------------ */

struct sb {
	char *p;
	size_t n, cap;
	bool oom;
};

static void sb_add(struct sb *s, const char *t, size_t n)
{
	if (s->oom)
		return;
	if (s->n + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 256;
		while (cap < s->n + n + 1)
			cap *= 2;
		char *p = realloc(s->p, cap);
		if (!p) {
			s->oom = true;
			return;
		}
		s->p = p;
		s->cap = cap;
	}
	memcpy(s->p + s->n, t, n);
	s->n += n;
	s->p[s->n] = 0;
}

static void sb_str(struct sb *s, const char *t)
{
	sb_add(s, t, strlen(t));
}

/* t URI-encoded as SigV4 wants it: unreserved characters kept, '/' too if keep_slash,
 * everything else %XX (upper case). */
static void sb_uri(struct sb *s, const char *t, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *c = (const unsigned char *)t; *c; c++) {
		if (isalnum(*c) || *c == '-' || *c == '_' || *c == '.' || *c == '~' ||
		    (keep_slash && *c == '/')) {
			sb_add(s, (const char *)c, 1);
		} else {
			char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
			sb_add(s, e, 3);
		}
	}
}

/* ---- hashes ------------------------------------------------------------------------- */

static void to_hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -1;
	to_hex(md, 32, out);
	return 0;
}

static int hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
	unsigned len = 0;
	return HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out,
		    &len) && len == 32
		       ? 0
		       : -1;
}

/* ---- the canonical request ------------------------------------------------------------ */

struct qpair {
	char *name, *value; /* encoded */
};

static int qpair_cmp(const void *a, const void *b)
{
	const struct qpair *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

/* The canonical query string of rq into s. */
static void canonical_query(struct sb *s, const struct sigv4_request *rq)
{
	struct qpair *q = calloc(rq->nquery ? rq->nquery : 1, sizeof(*q));
	if (!q) {
		s->oom = true;
		return;
	}
	for (unsigned i = 0; i < rq->nquery; i++) {
		struct sb n = {0}, v = {0};
		sb_uri(&n, rq->query[2 * i], false);
		sb_uri(&v, rq->query[2 * i + 1] ? rq->query[2 * i + 1] : "", false);
		sb_add(&n, "", 0);
		sb_add(&v, "", 0);
		q[i] = (struct qpair){n.p, v.p};
		s->oom |= n.oom || v.oom;
	}
	if (!s->oom)
		qsort(q, rq->nquery, sizeof(*q), qpair_cmp);
	for (unsigned i = 0; i < rq->nquery; i++) {
		if (!s->oom) {
			sb_str(s, i ? "&" : "");
			sb_str(s, q[i].name);
			sb_str(s, "=");
			sb_str(s, q[i].value);
		}
		free(q[i].name);
		free(q[i].value);
	}
	free(q);
}

/* A header's value as SigV4 signs it: spaces around trimmed, runs of spaces made one. */
static void canonical_value(struct sb *s, const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	bool space = false;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space)
			sb_add(s, " ", 1);
		space = false;
		sb_add(s, v, 1);
	}
}

/* The hash of rq's canonical request over signed_headers into out. Returns 0, or -1 (out of
 * memory, a signed header the request lacks, a list that is not one). */
static int canonical_request_hash(const struct sigv4_request *rq, const char *signed_headers,
				  const char *payload_hash, char out[65])
{
	struct sb s = {0};
	sb_str(&s, rq->method);
	sb_str(&s, "\n");
	/* The path encoded twice, as every service but S3 signs it (the client signs the
	 * encoded path it sent; the server has it decoded). */
	struct sb once = {0};
	sb_uri(&once, rq->path[0] ? rq->path : "/", true);
	if (once.oom) {
		free(once.p);
		free(s.p);
		return -1;
	}
	sb_uri(&s, once.p, true);
	free(once.p);
	sb_str(&s, "\n");
	canonical_query(&s, rq);
	sb_str(&s, "\n");
	int bad = 0;
	for (const char *h = signed_headers; *h && !bad;) {
		size_t n = strcspn(h, ";");
		char name[HEADER_NAME_MAX + 1];
		if (!n || n > HEADER_NAME_MAX) {
			bad = 1;
			break;
		}
		memcpy(name, h, n);
		name[n] = 0;
		const char *v = rq->header(rq->arg, name);
		if (!v) {
			bad = 1;
			break;
		}
		sb_str(&s, name);
		sb_str(&s, ":");
		canonical_value(&s, v);
		sb_str(&s, "\n");
		h += n + (h[n] == ';');
	}
	sb_str(&s, "\n");
	sb_str(&s, signed_headers);
	sb_str(&s, "\n");
	sb_str(&s, payload_hash);
	int r = bad || s.oom || sha256_hex(s.p, s.n, out) < 0 ? -1 : 0;
	free(s.p);
	return r;
}

/* sigv4_sign with the body's hash given (payload). */
static int sign(const struct sigv4_request *rq, const char *payload, const char *secret,
		const char *scope, const char *signed_headers, const char *amz_date, char *sig)
{
	char creq[65];
	if (canonical_request_hash(rq, signed_headers, payload, creq) < 0)
		return -1;
	/* scope: DATE/REGION/SERVICE/aws4_request */
	char parts[4][64];
	const char *p = scope;
	for (unsigned i = 0; i < 4; i++) {
		size_t n = strcspn(p, "/");
		if (n >= sizeof(parts[i]) || (i < 3 && p[n] != '/') || (i == 3 && p[n]))
			return -1;
		memcpy(parts[i], p, n);
		parts[i][n] = 0;
		p += n + (p[n] == '/');
	}
	char key[4 + SIGV4_SECRET_MAX + 1];
	snprintf(key, sizeof(key), "AWS4%s", secret);
	unsigned char k[32];
	char sts[512];
	snprintf(sts, sizeof(sts), ALGORITHM "\n%s\n%s\n%s", amz_date, scope, creq);
	int r = hmac(key, strlen(key), parts[0], k) < 0 || hmac(k, 32, parts[1], k) < 0 ||
			hmac(k, 32, parts[2], k) < 0 || hmac(k, 32, parts[3], k) < 0 ||
			hmac(k, 32, sts, k) < 0
		? -1
		: 0;
	OPENSSL_cleanse(key, sizeof(key));
	if (r == 0)
		to_hex(k, 32, sig);
	OPENSSL_cleanse(k, sizeof(k));
	return r;
}

int sigv4_sign(const struct sigv4_request *rq, const char *secret, const char *scope,
	       const char *signed_headers, const char *amz_date, char *sig)
{
	char payload[65];
	if (sha256_hex(rq->body ? rq->body : "", rq->body_len, payload) < 0)
		return -1;
	return sign(rq, payload, secret, scope, signed_headers, amz_date, sig);
}

/* ---- the check ---------------------------------------------------------------------- */

static enum sigv4_verdict verdict(enum sigv4_verdict v, char *why, size_t whylen,
				  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum sigv4_verdict verdict(enum sigv4_verdict v, char *why, size_t whylen,
				  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return v;
}

/* The value of "NAME=value" among the comma-separated parameters of an Authorization
 * header (after its algorithm) into out (len bytes). Returns 0, or -1 if it has none or
 * it does not fit. */
static int auth_param(const char *params, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);
	for (const char *p = params; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ",");
		if (n > nl && !strncmp(p, name, nl) && p[nl] == '=') {
			size_t v = n - nl - 1;
			while (v && p[nl + v] == ' ')
				v--;
			if (v >= len)
				return -1;
			memcpy(out, p + nl + 1, v);
			out[v] = 0;
			return 0;
		}
		p += n;
	}
	return -1;
}

static bool valid_signed_headers(const char *h)
{
	bool host = false;
	unsigned count = 0;
	for (const char *p = h; *p;) {
		size_t n = strcspn(p, ";");
		if (!n || n > HEADER_NAME_MAX || ++count > SIGNED_HEADERS_MAX)
			return false;
		for (size_t i = 0; i < n; i++)
			if (!islower((unsigned char)p[i]) && !isdigit((unsigned char)p[i]) &&
			    p[i] != '-')
				return false;
		host |= n == 4 && !strncmp(p, "host", 4);
		p += n + (p[n] == ';');
	}
	return host && count;
}

/* "YYYYMMDD'T'HHMMSS'Z'" into *t. Returns 0 or -1. */
static int parse_amz_date(const char *s, time_t *t)
{
	struct tm tm = {0};
	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return -1;
	for (unsigned i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return -1;
	char *end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
	if (!end || *end)
		return -1;
	*t = timegm(&tm);
	return 0;
}

static void amz_date_of(time_t t, char out[17])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

enum sigv4_verdict sigv4_check(const struct sigv4_request *rq, const struct sigv4_keys *k,
			       char *why, size_t whylen)
{
	const char *auth = rq->header(rq->arg, "authorization");
	if (!auth)
		return verdict(SIGV4_MISSING, why, whylen, "Missing Authentication Token");
	size_t al = strlen(ALGORITHM);
	if (strncmp(auth, ALGORITHM, al) || auth[al] != ' ')
		return verdict(SIGV4_INCOMPLETE, why, whylen,
			       "Authorization header requires the " ALGORITHM " algorithm");
	char cred[SIGV4_ID_MAX + 128], headers[SIGNED_HEADERS_MAX * (HEADER_NAME_MAX + 1)];
	char sig[80];
	static const char *const need[] = {"Credential", "SignedHeaders", "Signature"};
	char *outs[] = {cred, headers, sig};
	size_t lens[] = {sizeof(cred), sizeof(headers), sizeof(sig)};
	for (unsigned i = 0; i < 3; i++)
		if (auth_param(auth + al + 1, need[i], outs[i], lens[i]) < 0)
			return verdict(SIGV4_INCOMPLETE, why, whylen,
				       "Authorization header requires '%s' parameter", need[i]);
	/* Credential=ID/DATE/REGION/SERVICE/aws4_request */
	char *scope = strchr(cred, '/');
	const char *date = rq->header(rq->arg, "x-amz-date");
	char service[64] = "";
	unsigned slashes = 0;
	for (const char *p = scope; p && *p; p++)
		slashes += *p == '/';
	if (scope) {
		*scope++ = 0;
		const char *svc = scope;
		for (unsigned i = 0; i < 2 && svc; i++)
			svc = strchr(svc, '/') ? strchr(svc, '/') + 1 : NULL;
		size_t n = svc ? strcspn(svc, "/") : 0;
		if (n < sizeof(service)) {
			memcpy(service, svc ? svc : "", n);
			service[n] = 0;
		}
	}
	size_t sl = scope ? strlen(scope) : 0;
	if (!scope || slashes != 4 || sl < 13 || strcmp(scope + sl - 13, "/aws4_request"))
		return verdict(SIGV4_INCOMPLETE, why, whylen,
			       "Credential should be scoped to a valid region, a service and "
			       "aws4_request");
	if (strcmp(service, "lambda"))
		return verdict(SIGV4_INCOMPLETE, why, whylen,
			       "Credential should be scoped to correct service: 'lambda'");
	if (!valid_signed_headers(headers))
		return verdict(SIGV4_INCOMPLETE, why, whylen,
			       "SignedHeaders must be lower-case header names separated by ';' "
			       "and include host");
	time_t when;
	if (!date || parse_amz_date(date, &when) < 0)
		return verdict(SIGV4_INCOMPLETE, why, whylen,
			       "Authorization header requires existence of either a 'X-Amz-Date' "
			       "or a 'Date' header");
	if (strncmp(scope, date, 8) || scope[8] != '/')
		return verdict(SIGV4_MISMATCH, why, whylen,
			       "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
			       "version of date from HTTP: '%.8s' != '%.8s'", scope, date);
	const struct sigv4_key *key = NULL;
	for (unsigned i = 0; i < k->n && !key; i++)
		if (!strcmp(k->keys[i].id, cred))
			key = &k->keys[i];
	if (!key)
		return verdict(SIGV4_UNKNOWN_KEY, why, whylen,
			       "The security token included in the request is invalid.");
	char now[17];
	amz_date_of(rq->now, now);
	if (when < rq->now - SIGV4_SKEW_S)
		return verdict(SIGV4_MISMATCH, why, whylen,
			       "Signature expired: %s is now earlier than %s (%s - 5 min.)", date,
			       now, now);
	if (when > rq->now + SIGV4_SKEW_S)
		return verdict(SIGV4_MISMATCH, why, whylen,
			       "Signature not yet current: %s is still later than %s (%s + 5 min.)",
			       date, now, now);
	/* A payload hash the client sent must be the body's: no UNSIGNED-PAYLOAD. */
	char payload[65];
	const char *claimed = rq->header(rq->arg, "x-amz-content-sha256");
	if (sha256_hex(rq->body ? rq->body : "", rq->body_len, payload) < 0)
		return verdict(SIGV4_MISMATCH, why, whylen, "out of memory");
	if (claimed && strcmp(claimed, payload))
		return verdict(SIGV4_MISMATCH, why, whylen,
			       "The provided 'x-amz-content-sha256' header does not match what "
			       "was computed.");
	char mine[65];
	if (sign(rq, payload, key->secret, scope, headers, date, mine) < 0 || strlen(sig) != 64 ||
	    CRYPTO_memcmp(mine, sig, 64))
		return verdict(SIGV4_MISMATCH, why, whylen,
			       "The request signature we calculated does not match the signature "
			       "you provided. Check your AWS Secret Access Key and signing method. "
			       "Consult the service documentation for details.");
	why[0] = 0;
	return SIGV4_OK;
}

const char *sigv4_error_type(enum sigv4_verdict v)
{
	switch (v) {
	case SIGV4_MISSING: return "MissingAuthenticationTokenException";
	case SIGV4_INCOMPLETE: return "IncompleteSignatureException";
	case SIGV4_UNKNOWN_KEY: return "UnrecognizedClientException";
	case SIGV4_MISMATCH: return "InvalidSignatureException";
	default: return "";
	}
}

int sigv4_keys_load(const char *path, struct sigv4_keys *k, char *why, size_t whylen)
{
	FILE *f = fopen(path, "re");
	memset(k, 0, sizeof(*k));
	if (!f) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[512];
	unsigned no = 0;
	int r = 0;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		no++;
		char id[SIGV4_ID_MAX + 2], secret[SIGV4_SECRET_MAX + 2], extra[2];
		char *p = line + strspn(line, " \t");
		if (*p == '#' || *p == '\n' || !*p)
			continue;
		int n = sscanf(p, "%129s %129s %1s", id, secret, extra);
		if (n != 2 || strlen(id) > SIGV4_ID_MAX || strlen(secret) > SIGV4_SECRET_MAX) {
			snprintf(why, whylen, "%s:%u: expected ACCESS_KEY_ID SECRET_ACCESS_KEY "
				 "(each at most %u characters)", path, no, SIGV4_ID_MAX);
			r = -1;
		} else if (k->n == SIGV4_KEYS_MAX) {
			snprintf(why, whylen, "%s:%u: more than %u keys", path, no, SIGV4_KEYS_MAX);
			r = -1;
		} else {
			snprintf(k->keys[k->n].id, sizeof(k->keys[k->n].id), "%s", id);
			snprintf(k->keys[k->n].secret, sizeof(k->keys[k->n].secret), "%s", secret);
			k->n++;
		}
		OPENSSL_cleanse(secret, sizeof(secret));
		OPENSSL_cleanse(line, sizeof(line));
	}
	fclose(f);
	if (r == 0 && !k->n) {
		snprintf(why, whylen, "%s holds no key", path);
		r = -1;
	}
	return r;
}
