/* reseed.node: the Node runtime client's native part. crypto.randomBytes, randomFill,
 * randomUUID, randomInt, getRandomValues, key generation and TLS all draw from OpenSSL's
 * generator (a DRBG in the process's memory, seeded from the kernel when Node started), not
 * from the kernel: every clone of a frozen template would go on with the same generator
 * state and draw the same bytes. OpenSSL goes back to the kernel for a seed only after a
 * fork (a new pid, which a clone of a VM does not get), an hour or some 2^24 draws (its
 * per-thread generators reseed sooner, but from its primary one, which clones share).
 *
 * reseed() reseeds OpenSSL's primary generator from the kernel's (which hf-fork reseeded
 * from the host in this clone), mixing in 48 bytes of getrandom(2) as well; the per-thread
 * generators that draw from it reseed from it at their next draw, as they do whenever it
 * was reseeded. Returns true if OpenSSL took the new seed. */
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/random.h>

static napi_value reseed(napi_env env, napi_callback_info info)
{
	(void)info;
	unsigned char seed[48];
	EVP_RAND_CTX *primary = RAND_get0_primary(NULL);
	int ok = getrandom(seed, sizeof(seed), 0) == (ssize_t)sizeof(seed) && primary &&
		 EVP_RAND_reseed(primary, 0, NULL, 0, seed, sizeof(seed)) == 1;
	OPENSSL_cleanse(seed, sizeof(seed));
	napi_value r;
	if (napi_get_boolean(env, ok, &r) != napi_ok)
		return NULL;
	return r;
}

NAPI_MODULE_INIT()
{
	napi_value fn;
	if (napi_create_function(env, "reseed", NAPI_AUTO_LENGTH, reseed, NULL, &fn) != napi_ok ||
	    napi_set_named_property(env, exports, "reseed", fn) != napi_ok)
		return NULL;
	return exports;
}
