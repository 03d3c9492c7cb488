/* Randomness across clones: a guest-side generator seeded before a fork repeats itself
 * in every clone (their memory starts as the parent's); bytes read from HF_PORT_RANDOM
 * after the fork do not. The original forks twice; it and both clones print
 *   random: <clone id> stale <16 hex digits> fresh <32 hex digits>
 * where "stale" comes from the generator seeded before the fork, "fresh" from the host. */
#include "hf.h"

static uint64_t state;

static uint64_t xorshift(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

int main(void)
{
	hf_random(&state, sizeof(state));
	state |= 1;
	unsigned id = hf_fork();
	if (id == 0)
		id = hf_fork();
	if (id == HF_FORK_FAILED) {
		hf_printf("random: fork failed\n");
		return 3;
	}
	uint64_t fresh[2];
	hf_random(fresh, sizeof(fresh));
	hf_printf("random: %u stale %016lx fresh %016lx%016lx\n", hf_clone_id(), xorshift(),
		  fresh[0], fresh[1]);
	return 0;
}
