/* libFuzzer target: the bare-guest ELF loader's parser (src/loader/elf.c). What it accepts
 * must be what the loader relies on: every segment's data inside the file, file size within
 * memory size, no address overflow, no two segments overlapping, lowest <= highest. */
#include <assert.h>
#include <stdint.h>

#include "loader/elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_image img;
	char err[256];
	if (elf_parse(data, size, &img, err, sizeof(err)) < 0) {
		assert(err[0]); /* a refusal names the problem */
		return 0;
	}
	assert(img.nsegs >= 1 && img.nsegs <= ELF_MAX_SEGMENTS);
	assert(img.lowest < img.highest);
	for (unsigned i = 0; i < img.nsegs; i++) {
		const struct elf_segment *s = &img.segs[i];
		assert(s->filesz <= s->memsz && s->offset <= size && s->filesz <= size - s->offset);
		assert(s->paddr + s->memsz >= s->paddr);
		for (unsigned k = 0; k < i; k++) {
			const struct elf_segment *o = &img.segs[k];
			assert(!(s->paddr < o->paddr + o->memsz && o->paddr < s->paddr + s->memsz));
		}
	}
	return 0;
}
