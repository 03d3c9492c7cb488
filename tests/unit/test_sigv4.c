/* Unit tests for serve's check of AWS Signature Version 4 (src/serve/sigv4.c), against
 * requests botocore signed (botocore.auth.SigV4Auth, Debian's python3-botocore, with the
 * clock at 2026-12-06 12:00:00 UTC and AWS's documentation example key): what it accepts,
 * and each way a request is refused, with Lambda's exception. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve/sigv4.h"

#define NOW 1796558400 /* 2026-12-06T12:00:00Z */
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SCOPE "AKIDEXAMPLE/20261206/us-east-1/lambda/aws4_request"
/* POST http://127.0.0.1:9000/2015-03-31/functions/fn/invocations, body {"a":1},
 * X-Amz-Invocation-Type RequestResponse */
#define SIG1 "eb0da1d85b6ea8bbbef395110246ea9fcba9e803e2b0b8d30212a588e16516a5"
/* POST .../functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn/
 * invocations?Qualifier=%24LATEST, no body */
#define SIG2 "02588da2ec8063d9c2852cc3540132f5d62c5f36b96b3cc834d293f251e2f118"

struct hdrs {
	const char *kv[16];
	unsigned n;
};

static const char *lookup(void *arg, const char *name)
{
	struct hdrs *h = arg;
	for (unsigned i = 0; i < h->n; i++)
		if (!strcasecmp(h->kv[2 * i], name))
			return h->kv[2 * i + 1];
	return NULL;
}

static struct sigv4_keys keys(void)
{
	struct sigv4_keys k = {.n = 2};
	snprintf(k.keys[0].id, sizeof(k.keys[0].id), "OTHERKEY");
	snprintf(k.keys[0].secret, sizeof(k.keys[0].secret), "other");
	snprintf(k.keys[1].id, sizeof(k.keys[1].id), "AKIDEXAMPLE");
	snprintf(k.keys[1].secret, sizeof(k.keys[1].secret), SECRET);
	return k;
}

static char auth1[512];

/* The first request, with its headers in h (auth the Authorization value, NULL: none). */
static struct sigv4_request request1(struct hdrs *h, const char *auth, const char *body)
{
	h->n = 0;
	const char *kv[] = {"Host", "127.0.0.1:9000", "X-Amz-Date", "20261206T120000Z",
			    "X-Amz-Invocation-Type", "RequestResponse", "Authorization", auth};
	for (unsigned i = 0; i < (auth ? 4u : 3u); i++) {
		h->kv[2 * i] = kv[2 * i];
		h->kv[2 * i + 1] = kv[2 * i + 1];
		h->n++;
	}
	return (struct sigv4_request){.method = "POST",
				      .path = "/2015-03-31/functions/fn/invocations",
				      .header = lookup,
				      .arg = h,
				      .body = body,
				      .body_len = strlen(body),
				      .now = NOW};
}

static void test_accepts_what_botocore_signed(void **state)
{
	(void)state;
	struct sigv4_keys k = keys();
	struct hdrs h;
	char why[400];
	snprintf(auth1, sizeof(auth1), "AWS4-HMAC-SHA256 Credential=" SCOPE
		 ", SignedHeaders=host;x-amz-date;x-amz-invocation-type, Signature=" SIG1);
	struct sigv4_request rq = request1(&h, auth1, "{\"a\":1}");
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_OK);
	/* within the allowed skew, either way */
	rq.now = NOW + SIGV4_SKEW_S;
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_OK);
	rq.now = NOW - SIGV4_SKEW_S;
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_OK);

	/* A function's ARN in the path (':' sent as %3A, decoded by the server) and a query. */
	const char *q[] = {"Qualifier", "$LATEST"};
	h = (struct hdrs){.kv = {"Host", "127.0.0.1:9000", "X-Amz-Date", "20261206T120000Z",
				 "Authorization",
				 "AWS4-HMAC-SHA256 Credential=" SCOPE
				 ", SignedHeaders=host;x-amz-date, Signature=" SIG2},
			  .n = 3};
	struct sigv4_request arn = {
		.method = "POST",
		.path = "/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:fn/"
			"invocations",
		.query = q,
		.nquery = 1,
		.header = lookup,
		.arg = &h,
		.body = "",
		.now = NOW};
	assert_int_equal(sigv4_check(&arn, &k, why, sizeof(why)), SIGV4_OK);
	arn.nquery = 0; /* the query is signed */
	assert_int_equal(sigv4_check(&arn, &k, why, sizeof(why)), SIGV4_MISMATCH);
}

static void test_refusals(void **state)
{
	(void)state;
	struct sigv4_keys k = keys();
	struct hdrs h;
	char why[400], auth[512];
	const char *good = "AWS4-HMAC-SHA256 Credential=" SCOPE
			   ", SignedHeaders=host;x-amz-date;x-amz-invocation-type, Signature=" SIG1;

	struct sigv4_request rq = request1(&h, NULL, "{\"a\":1}");
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_MISSING);
	assert_string_equal(why, "Missing Authentication Token");
	assert_string_equal(sigv4_error_type(SIGV4_MISSING), "MissingAuthenticationTokenException");

	/* The body changed after it was signed. */
	rq = request1(&h, good, "{\"a\":2}");
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_MISMATCH);
	assert_non_null(strstr(why, "does not match the signature you provided"));
	assert_string_equal(sigv4_error_type(SIGV4_MISMATCH), "InvalidSignatureException");

	/* A signed header changed. */
	rq = request1(&h, good, "{\"a\":1}");
	h.kv[5] = "Event";
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_MISMATCH);

	/* Another secret for the same key id. */
	struct sigv4_keys wrong = k;
	snprintf(wrong.keys[1].secret, sizeof(wrong.keys[1].secret), "not-the-secret");
	rq = request1(&h, good, "{\"a\":1}");
	assert_int_equal(sigv4_check(&rq, &wrong, why, sizeof(why)), SIGV4_MISMATCH);

	/* A key id serve was not given. */
	snprintf(auth, sizeof(auth), "AWS4-HMAC-SHA256 Credential=NOSUCHKEY/20261206/us-east-1/"
		 "lambda/aws4_request, SignedHeaders=host;x-amz-date;x-amz-invocation-type, "
		 "Signature=" SIG1);
	rq = request1(&h, auth, "{\"a\":1}");
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_UNKNOWN_KEY);
	assert_string_equal(sigv4_error_type(SIGV4_UNKNOWN_KEY), "UnrecognizedClientException");

	/* Too old, too new. */
	rq = request1(&h, good, "{\"a\":1}");
	rq.now = NOW + SIGV4_SKEW_S + 1;
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_MISMATCH);
	assert_non_null(strstr(why, "Signature expired: 20261206T120000Z is now earlier than"));
	rq.now = NOW - SIGV4_SKEW_S - 1;
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_MISMATCH);
	assert_non_null(strstr(why, "Signature not yet current"));

	/* A payload hash that is not the body's (no UNSIGNED-PAYLOAD). */
	rq = request1(&h, good, "{\"a\":1}");
	h.kv[2 * h.n] = "X-Amz-Content-Sha256";
	h.kv[2 * h.n + 1] = "UNSIGNED-PAYLOAD";
	h.n++;
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_MISMATCH);

	/* Malformed: each named, none crashes. */
	static const char *const bad[] = {
		"Basic dXNlcjpwYXNz",
		"AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA256 Credential=" SCOPE ", Signature=" SIG1,
		"AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=" SIG1,
		"AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host;x-amz-date",
		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE, SignedHeaders=host, Signature=" SIG1,
		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/us-east-1/s3/aws4_request, "
		"SignedHeaders=host;x-amz-date, Signature=" SIG1,
		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/us-east-1/lambda/aws4_request/x, "
		"SignedHeaders=host;x-amz-date, Signature=" SIG1,
		"AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=x-amz-date, Signature=" SIG1,
		"AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=Host;X-Amz-Date, Signature=" SIG1,
		"AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host;;x, Signature=" SIG1,
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rq = request1(&h, bad[i], "{\"a\":1}");
		enum sigv4_verdict v = sigv4_check(&rq, &k, why, sizeof(why));
		if (v != SIGV4_INCOMPLETE)
			fail_msg("'%s': verdict %d (%s)", bad[i], v, why);
		assert_true(why[0]);
	}
	/* A signed header the request does not have; a signature of another length. */
	static const char *const mismatched[] = {
		"AWS4-HMAC-SHA256 Credential=" SCOPE ", SignedHeaders=host;x-amz-date;x-nothing, "
		"Signature=" SIG1,
		"AWS4-HMAC-SHA256 Credential=" SCOPE
		", SignedHeaders=host;x-amz-date;x-amz-invocation-type, Signature=eb0d",
	};
	for (unsigned i = 0; i < 2; i++) {
		rq = request1(&h, mismatched[i], "{\"a\":1}");
		assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_MISMATCH);
	}
	/* No date, a date of another day than the scope's. */
	rq = request1(&h, good, "{\"a\":1}");
	h.kv[2] = "X-Nothing";
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_INCOMPLETE);
	rq = request1(&h, good, "{\"a\":1}");
	h.kv[3] = "20261207T120000Z";
	rq.now = NOW + 86400;
	assert_int_equal(sigv4_check(&rq, &k, why, sizeof(why)), SIGV4_MISMATCH);
}

static void test_keys_file(void **state)
{
	(void)state;
	char path[] = "/tmp/hf-sigv4-XXXXXX", why[400];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# serve's keys\n\nAKID1 secret1\n  AKID2\tsecret2\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct sigv4_keys k;
	assert_int_equal(sigv4_keys_load(path, &k, why, sizeof(why)), 0);
	assert_int_equal(k.n, 2);
	assert_string_equal(k.keys[1].id, "AKID2");
	assert_string_equal(k.keys[1].secret, "secret2");

	FILE *f = fopen(path, "w");
	fputs("AKID1 secret1 extra\n", f);
	fclose(f);
	assert_int_equal(sigv4_keys_load(path, &k, why, sizeof(why)), -1);
	assert_non_null(strstr(why, ":1: expected ACCESS_KEY_ID SECRET_ACCESS_KEY"));
	f = fopen(path, "w");
	fputs("# nothing\n", f);
	fclose(f);
	assert_int_equal(sigv4_keys_load(path, &k, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "holds no key"));
	unlink(path);
	assert_int_equal(sigv4_keys_load(path, &k, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "No such file or directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_what_botocore_signed),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_keys_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
